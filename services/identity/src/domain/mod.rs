//! Identity's domain values. Each is parsed once at the edge; a value that exists is valid.

mod email;
mod password;
mod username;

pub use email::Email;
pub use password::Password;
pub use username::Username;

/// Why an input value was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidValue {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
