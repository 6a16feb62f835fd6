//! What booking does with the events it consumes, one module per topic.

pub mod flights;
pub mod listings;
pub mod payments;
