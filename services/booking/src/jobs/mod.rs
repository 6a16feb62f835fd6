//! What booking runs beside its HTTP server.

pub mod hold_expiry;
pub mod settlement;
