//! `/api/flights/{flight_id}/seats`: a flight's seat map, public (it names no passenger): each
//! cabin's rows, seat letters, fare, seats left and the seats already held or sold.

use axum::extract::State;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use contracts::states::Cabin;
use platform::http::Path;
use platform::money::{Money, MoneyView};
use serde::Serialize;

use super::AppState;
use crate::domain::CabinSeats;
use crate::error::BookingError;
use crate::store::inventory::{self, SeatMapCabin};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/flights/{flight_id}/seats", get(seat_map))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatMapView {
    flight_id: i64,
    flight_code: String,
    /// Front to back.
    cabins: Vec<CabinView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CabinView {
    cabin: Cabin,
    first_row: i32,
    last_row: i32,
    seat_letters: String,
    /// Per passenger.
    fare: MoneyView,
    capacity: i32,
    seats_left: i32,
    /// Seats held awaiting payment or sold, front to back (`12A`).
    taken: Vec<String>,
}

impl From<SeatMapCabin> for CabinView {
    fn from(row: SeatMapCabin) -> Self {
        let cabin = row.inventory;
        let seats = CabinSeats {
            first_row: cabin.first_row,
            last_row: cabin.last_row,
            letters: cabin.seat_letters,
        };
        let taken = seats
            .taken(row.flight_seats_taken.iter().map(String::as_str))
            .iter()
            .map(ToString::to_string)
            .collect();
        Self {
            cabin: cabin.cabin,
            first_row: seats.first_row,
            last_row: seats.last_row,
            seat_letters: seats.letters,
            fare: Money::stored(cabin.fare_minor, &cabin.currency).into(),
            capacity: cabin.capacity,
            seats_left: cabin.capacity - cabin.taken,
            taken,
        }
    }
}

/// Anyone may read it, without a token. 404 for a flight booking does not know.
async fn seat_map(
    State(state): State<AppState>,
    Path(flight_id): Path<i64>,
) -> Result<JsonResponse<SeatMapView>, BookingError> {
    let cabins = inventory::seat_map(&state.bookings.db, flight_id).await?;
    let flight_code = cabins
        .first()
        .map(|cabin| cabin.flight_code.clone())
        .ok_or(BookingError::FlightNotFound)?;
    Ok(JsonResponse(SeatMapView {
        flight_id,
        flight_code,
        cabins: cabins.into_iter().map(CabinView::from).collect(),
    }))
}
