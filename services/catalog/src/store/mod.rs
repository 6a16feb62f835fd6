//! Catalog's tables. SQL lives here and nowhere else in the service.

pub mod aircraft;
pub mod airports;
pub mod cars;
pub mod flights;
pub mod hotels;
pub mod reviews;
pub mod search;

/// Whether a booking in `status` (as booking reports it) holds what it booked: rooms, a car.
pub fn holds(status: &str) -> bool {
    matches!(status, "PENDING_PAYMENT" | "CONFIRMED")
}
