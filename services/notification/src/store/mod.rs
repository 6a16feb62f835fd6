//! Notification's tables. SQL lives here and nowhere else in the service.

pub mod contacts;
pub mod deliveries;
pub mod notifications;
pub mod passengers;
pub mod subscriptions;
pub mod trips;
