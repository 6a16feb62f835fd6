//! Booking's tables. SQL lives here and nowhere else in the service.

pub mod bookings;
pub mod flights;
pub mod inventory;
