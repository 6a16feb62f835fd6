//! `/api/bookings`: create (with `Idempotency-Key`), read, list and cancel bookings.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use platform::auth::{Caller, Role};
use platform::http::{Json, PageRequest, Paged, Path, Query};
use platform::money::{Money, MoneyView};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::trips::{AnyBookingView, ItemBody, any_view, product_view};
use crate::bookings::{BookingRequest, Created, FlightRef};
use crate::domain::{BookingStatus, PaymentMethod, Seat, passenger_name};
use crate::error::BookingError;
use crate::store::bookings::BookingRow;
use contracts::states::{Cabin, CancelReason, FlightStatus, Product};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/bookings", post(create).get(list))
        .route("/api/bookings/{booking_id}", get(one))
        .route("/api/bookings/{booking_id}/cancel", post(cancel))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlightSummary {
    flight_id: i64,
    flight_code: String,
    origin: String,
    destination: String,
    departure_at: DateTime<Utc>,
    departure_local: String,
    arrival_at: DateTime<Utc>,
    status: FlightStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Passenger {
    name: String,
    seat: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingView {
    booking_id: i64,
    reference: String,
    user_id: i64,
    product: Product,
    /// The trip this flight is an item of.
    #[serde(skip_serializing_if = "Option::is_none")]
    trip_id: Option<i64>,
    status: BookingStatus,
    flight: FlightSummary,
    cabin: Cabin,
    passengers: Vec<Passenger>,
    price: MoneyView,
    payment: PaymentSummary,
    /// Until when the seats are held awaiting payment.
    hold_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<CancelReason>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentSummary {
    method: Option<PaymentMethod>,
    card_id: Option<String>,
    /// The payment service's payment, once it has confirmed the booking.
    payment_id: Option<i64>,
    paid_at: Option<DateTime<Utc>>,
    refunded: MoneyView,
    refunded_at: Option<DateTime<Utc>>,
}

impl From<BookingRow> for BookingView {
    fn from(b: BookingRow) -> Self {
        let price = Money::stored(b.amount_minor, &b.currency);
        let holding = b.status == BookingStatus::PendingPayment;
        Self {
            booking_id: b.id,
            reference: b.reference,
            user_id: b.user_id,
            product: Product::Flight,
            trip_id: b.trip_id,
            status: b.status,
            flight: FlightSummary {
                flight_id: b.flight_id,
                departure_local: platform::time::local_rfc3339(b.departure_at, &b.origin_time_zone),
                flight_code: b.flight_code,
                origin: b.origin,
                destination: b.destination,
                departure_at: b.departure_at,
                arrival_at: b.arrival_at,
                status: b.flight_status,
            },
            cabin: b.cabin,
            passengers: b
                .passengers
                .0
                .into_iter()
                .zip(b.seats)
                .map(|(name, seat)| Passenger { name, seat })
                .collect(),
            price: MoneyView::from(price),
            payment: PaymentSummary {
                method: b.payment_method,
                card_id: b.payment_card_id,
                payment_id: b.payment_id,
                paid_at: b.paid_at,
                refunded: Money::stored(b.refunded_minor, &b.currency).into(),
                refunded_at: b.refunded_at,
            },
            hold_expires_at: b.hold_expires_at.filter(|_| holding),
            created_at: b.created_at,
            cancelled_at: b.cancelled_at,
            cancel_reason: b.cancel_reason,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PassengerInput {
    name: String,
    seat: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    flight_id: Option<i64>,
    flight_code: Option<String>,
    cabin: Option<String>,
    passengers: Vec<PassengerInput>,
    payment_method: Option<String>,
    /// A card saved with the payment service (`POST /api/payments/cards`).
    payment_card_id: Option<String>,
}

/// Most passengers on one booking.
pub const MAX_PASSENGERS: usize = 9;

/// The cabins a booking may ask for, in the order the API names them.
const CABINS: [Cabin; 4] = [
    Cabin::Economy,
    Cabin::PremiumEconomy,
    Cabin::Business,
    Cabin::First,
];

/// Whether the request waits for the payment to settle: yes, unless it sends
/// `Prefer: respond-async` (RFC 7240).
pub fn waits_for_payment(headers: &HeaderMap) -> bool {
    !headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

impl CreateBody {
    pub(crate) fn parse(self) -> Result<BookingRequest, BookingError> {
        let flight = match (self.flight_id, self.flight_code) {
            (Some(id), None) => FlightRef::Id(id),
            (None, Some(code)) if !code.trim().is_empty() => {
                FlightRef::Code(code.trim().to_owned())
            }
            _ => {
                return Err(BookingError::Invalid(
                    "give exactly one of flightId and flightCode".into(),
                ));
            }
        };
        let cabin = match self.cabin {
            None => Cabin::Economy,
            Some(cabin) => cabin
                .trim()
                .to_ascii_lowercase()
                .parse::<Cabin>()
                .map_err(|_| {
                    let names: Vec<&str> = CABINS.iter().map(|c| c.as_str()).collect();
                    BookingError::Invalid(format!("cabin must be one of {}", names.join(", ")))
                })?,
        };
        if self.passengers.is_empty() || self.passengers.len() > MAX_PASSENGERS {
            return Err(BookingError::Invalid(format!(
                "a booking has 1 to {MAX_PASSENGERS} passengers"
            )));
        }
        let passengers = self
            .passengers
            .into_iter()
            .map(|p| {
                let name = passenger_name(&p.name).map_err(BookingError::Invalid)?;
                let seat = p
                    .seat
                    .as_deref()
                    .map(Seat::parse)
                    .transpose()
                    .map_err(BookingError::Invalid)?;
                Ok((name, seat))
            })
            .collect::<Result<Vec<_>, BookingError>>()?;
        let (payment_method, payment_card_id) =
            payment_choice(self.payment_method.as_deref(), self.payment_card_id)?;
        Ok(BookingRequest {
            flight,
            cabin,
            passengers,
            payment_method,
            payment_card_id,
        })
    }
}

/// How a booking says it is paid: a method (seed 002's free text is accepted) and, for a card,
/// a saved card's id.
pub(crate) fn payment_choice(
    method: Option<&str>,
    card: Option<String>,
) -> Result<(Option<PaymentMethod>, Option<String>), BookingError> {
    let payment_method = method
        .map(PaymentMethod::parse)
        .transpose()
        .map_err(BookingError::Invalid)?;
    let payment_card_id = match card {
        Some(id) if payment_method == Some(PaymentMethod::Wallet) => {
            return Err(BookingError::Invalid(format!(
                "paymentCardId {id:?} cannot be used with the wallet"
            )));
        }
        Some(id)
            if id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            return Err(BookingError::Invalid(
                "paymentCardId must be a card id such as card_…".into(),
            ));
        }
        other => other,
    };
    Ok((payment_method, payment_card_id))
}

/// 201 with the booking; a replay of an earlier request with the same key answers the same
/// booking with `Idempotent-Replayed: true`. A body with `"type": "hotel"` or `"car"` books a
/// stay or a rental (the item shapes of `POST /api/trips`); without a type, or with `flight`, a
/// flight.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(mut body): Json<serde_json::Value>,
) -> Result<Response, BookingError> {
    let invalid = |e: serde_json::Error| BookingError::Invalid(e.to_string());
    let kind = body.get("type").cloned();
    match kind.as_ref().map(|k| k.as_str()) {
        None => {}
        Some(Some("flight")) => {
            if let Some(fields) = body.as_object_mut() {
                fields.remove("type");
            }
        }
        Some(_) => {
            let item: ItemBody = serde_json::from_value(body).map_err(invalid)?;
            let request = super::trips::single(item)?;
            return super::trips::ordered(&state, &caller, &headers, request).await;
        }
    }
    let body: CreateBody = serde_json::from_value(body).map_err(invalid)?;
    let key = platform::http::idempotency_key(&headers)?;
    let request = body.parse()?;
    let (booking, replayed) = match state
        .bookings
        .create(
            &caller,
            request,
            key.as_deref(),
            waits_for_payment(&headers),
        )
        .await?
    {
        Created::New(booking) => (booking, false),
        Created::Replayed(booking) => (booking, true),
    };
    Ok(created(BookingView::from(booking), replayed))
}

/// 201 with `body`; a replay of an earlier request with the same key says so with
/// `Idempotent-Replayed: true`.
pub(crate) fn created(body: impl Serialize, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, JsonResponse(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<JsonResponse<AnyBookingView>, BookingError> {
    Ok(JsonResponse(any_view(&state, &caller, id).await?))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<JsonResponse<AnyBookingView>, BookingError> {
    match crate::store::products::kind(&state.bookings.db, id).await? {
        Some((Product::Flight, _)) => Ok(JsonResponse(AnyBookingView::Flight(Box::new(
            state.bookings.cancel(&caller, id).await?.into(),
        )))),
        Some(_) => {
            let booking = state.bookings.cancel_product(&caller, id).await?;
            Ok(JsonResponse(AnyBookingView::Other(Box::new(
                product_view(&state, booking).await?,
            ))))
        }
        None => Err(BookingError::BookingNotFound),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    page: Option<u32>,
    page_size: Option<u32>,
    /// Ops and admins may list another user's bookings.
    user_id: Option<i64>,
    /// The booking with this reference (`BK7Q2M4X`): the caller's own, or anyone's for staff.
    reference: Option<String>,
    /// Ops and admins: the bookings on this flight, of every user.
    flight_id: Option<i64>,
}

/// Every product's bookings, newest first; a trip's items show inside their trip.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<JsonResponse<Paged<AnyBookingView>>, BookingError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let reference = query
        .reference
        .as_deref()
        .map(|r| r.trim().to_ascii_uppercase())
        .filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.len() > 32) {
        return Err(BookingError::Invalid(
            "reference is at most 32 characters".into(),
        ));
    }
    let (rows, total) = if reference.is_some() || query.flight_id.is_some() {
        if query.flight_id.is_some() {
            caller.require(&[Role::Ops, Role::Admin])?;
        }
        // Staff search every user unless they name one; a customer only ever their own.
        let user_id = match query.user_id {
            Some(user_id) => {
                caller.require_self_or_staff(user_id)?;
                Some(user_id)
            }
            None if caller.is_staff() => None,
            None => Some(caller.user_id),
        };
        crate::store::products::search(
            &state.bookings.db,
            user_id,
            reference.as_deref(),
            query.flight_id,
            page.limit(),
            page.offset(),
        )
        .await?
    } else {
        let user_id = query.user_id.unwrap_or(caller.user_id);
        caller.require_self_or_staff(user_id)?;
        crate::store::products::list_for_user(
            &state.bookings.db,
            user_id,
            page.limit(),
            page.offset(),
        )
        .await?
    };
    let mut views = Vec::with_capacity(rows.len());
    for (id, _) in rows {
        views.push(any_view(&state, &caller, id).await?);
    }
    Ok(JsonResponse(Paged::new(views, page, total)))
}
