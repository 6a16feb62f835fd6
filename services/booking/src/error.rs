//! Every way a booking request can fail, and the problem+json each becomes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::Problem;

use crate::domain::holds::LimitReached;

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("{0}")]
    Invalid(String),
    /// Seed 002: `404 {"message": "Flight not found"}`.
    #[error("Flight not found")]
    FlightNotFound,
    /// Seed 002: `404 {"message": "Booking not found"}`.
    #[error("Booking not found")]
    BookingNotFound,
    #[error("Not enough seats left in this cabin")]
    SoldOut,
    #[error("Seat {0} is already taken")]
    SeatTaken(String),
    #[error("The flight has already departed")]
    Departed,
    #[error("The flight is cancelled")]
    FlightCancelled,
    #[error("Hotel not found")]
    HotelNotFound,
    #[error("Car not found")]
    CarNotFound,
    #[error("Not enough rooms of this type are free on every night of the stay")]
    RoomsUnavailable,
    #[error("This car is already rented for some of those days")]
    CarTaken,
    #[error("This car is not available for rental")]
    CarUnavailable,
    /// A stay or rental that has begun can no longer be cancelled.
    #[error("{0}")]
    Started(String),
    /// A trip's items are priced in different currencies and cannot be paid together.
    #[error("{0}")]
    Currencies(String),
    /// The booking would pass one of the user's limits on unpaid holds.
    #[error("{0}")]
    UnpaidLimit(LimitReached),
    #[error("This Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// A payment event whose amount or currency is not the booking's price.
    #[error("{0}")]
    PaymentMismatch(String),
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for BookingError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            Self::Invalid(_) => Problem::bad_request(detail),
            Self::FlightNotFound
            | Self::BookingNotFound
            | Self::HotelNotFound
            | Self::CarNotFound => Problem::not_found(detail),
            Self::RoomsUnavailable => Problem::conflict(detail).with_type("rooms-unavailable"),
            Self::CarTaken => Problem::conflict(detail).with_type("car-taken"),
            Self::CarUnavailable => Problem::conflict(detail).with_type("car-unavailable"),
            Self::Started(_) => Problem::conflict(detail).with_type("already-started"),
            Self::Currencies(_) => Problem::conflict(detail).with_type("mixed-currencies"),
            Self::SoldOut => Problem::conflict(detail).with_type("sold-out"),
            Self::SeatTaken(_) => Problem::conflict(detail).with_type("seat-taken"),
            Self::Departed => Problem::conflict(detail).with_type("flight-departed"),
            Self::FlightCancelled => Problem::conflict(detail).with_type("flight-cancelled"),
            Self::UnpaidLimit(limit) => Problem::conflict(detail)
                .with_type("unpaid-hold-limit")
                .with_extension("limit", limit.setting())
                .with_extension("max", limit.max()),
            Self::IdempotencyMismatch => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
                .with_type("idempotency-key-reused"),
            Self::Refused(problem) => problem,
            // Only events carry payments; an HTTP request never meets this.
            Self::PaymentMismatch(detail) => Problem::internal(detail),
            Self::Database(e) => Problem::database(&e),
            Self::Internal(e) => Problem::internal(format!("{e:#}")),
        }
        .into_response()
    }
}
