//! Identity's tables. SQL lives here and nowhere else in the service.

pub mod keys;
pub mod login_throttles;
pub mod refresh_tokens;
pub mod users;
