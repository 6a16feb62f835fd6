//! What catalog does with the events it consumes, one module per topic.

pub mod bookings;
pub mod rentals;
pub mod stays;
