//! Payment's domain types: card numbers and the refund policy.

pub mod cards;
pub mod refunds;
