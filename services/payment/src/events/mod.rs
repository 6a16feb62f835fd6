//! The events payment consumes, one module per topic.

pub mod bookings;
pub mod flights;
