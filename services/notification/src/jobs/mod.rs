//! Notification's background jobs.

pub mod delivery;
