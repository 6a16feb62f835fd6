//! Notification's tables. SQL lives here and nowhere else in the service.

pub mod notifications;
pub mod subscriptions;
