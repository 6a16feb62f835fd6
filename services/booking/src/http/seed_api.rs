//! Seed 002's booking endpoints, exactly as documented: book, list a user's bookings, cancel.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json as JsonResponse, Router};
use platform::auth::Caller;
use platform::http::{Json, PageRequest, Path};
use platform::money::Money;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::bookings::waits_for_payment;
use crate::bookings::{BookingRequest, Created, FlightRef};
use crate::domain::{BookingStatus, PaymentMethod};
use crate::error::BookingError;
use contracts::states::Cabin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/flight/book-flight", post(book_flight))
        .route("/api/flight/bookings/{user_id}", get(user_bookings))
        .route(
            "/api/flight/cancel-booking/{booking_id}",
            delete(cancel_booking),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookFlight {
    /// The flight code.
    flight_id: String,
    payment_method: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Booked {
    message: String,
    booking_id: i64,
    flight_id: String,
    price: Value,
    currency: String,
    status: &'static str,
    seat: Option<String>,
    reference: String,
}

/// One economy seat for the caller on the flight with that code.
async fn book_flight(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<BookFlight>,
) -> Result<(StatusCode, JsonResponse<Booked>), BookingError> {
    let key = platform::http::idempotency_key(&headers)?;
    let code = body.flight_id.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(BookingError::Invalid(
            "flightId must be a flight code".into(),
        ));
    }
    let payment_method = body
        .payment_method
        .as_deref()
        .map(PaymentMethod::parse)
        .transpose()
        .map_err(BookingError::Invalid)?;
    let request = BookingRequest {
        flight: FlightRef::Code(code.to_owned()),
        cabin: Cabin::Economy,
        passengers: vec![(caller.username.clone(), None)],
        payment_method,
        payment_card_id: None,
    };
    let booking = match state
        .bookings
        .create(
            &caller,
            request,
            key.as_deref(),
            waits_for_payment(&headers),
        )
        .await?
    {
        Created::New(booking) | Created::Replayed(booking) => booking,
    };
    let price = Money::stored(booking.amount_minor, &booking.currency);
    Ok((
        StatusCode::CREATED,
        JsonResponse(Booked {
            // Unpaid after the wait: most likely no card on file (production has no sandbox card).
            message: if booking.status == BookingStatus::PendingPayment {
                format!(
                    "Flight booked successfully; payment is pending. With no card on file, save \
                     one (POST /api/payments/cards) or top up your wallet, then pay with POST \
                     /api/payments/pay {{\"bookingId\": {}}} before the hold runs out",
                    booking.id
                )
            } else {
                "Flight booked successfully".to_owned()
            },
            booking_id: booking.id,
            flight_id: booking.flight_code,
            price: price.json_number(),
            currency: price.currency().to_string(),
            status: booking.status.display(),
            seat: booking.seats.first().cloned(),
            reference: booking.reference,
        }),
    ))
}

/// The seed lets anyone read anyone's bookings by id; here only the user themself, ops and admins may.
async fn user_bookings(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> Result<JsonResponse<Value>, BookingError> {
    caller.require_self_or_staff(user_id)?;
    // Seed 002's list has no paging: it shows the newest page of the largest size.
    let newest = PageRequest {
        page: 1,
        page_size: PageRequest::MAX_SIZE,
    };
    let (rows, _) = state.bookings.list(user_id, newest).await?;
    if rows.is_empty() {
        return Err(platform::Problem::not_found("No bookings found for this user").into());
    }
    let bookings: Vec<Value> = rows
        .into_iter()
        .map(|b| {
            json!({
                "bookingId": b.id,
                "flightCode": b.flight_code,
                "bookingStatus": b.status.display(),
                "departure": platform::time::local_minutes(b.departure_at, &b.origin_time_zone),
                "flightStatus": b.flight_status,
                "seats": b.seats,
                "reference": b.reference,
            })
        })
        .collect();
    Ok(JsonResponse(
        json!({ "userId": user_id, "bookings": bookings }),
    ))
}

async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    Path(booking_id): Path<i64>,
) -> Result<JsonResponse<Value>, BookingError> {
    state.bookings.cancel(&caller, booking_id).await?;
    Ok(JsonResponse(
        json!({ "message": "Booking canceled successfully" }),
    ))
}
