//! Notification's domain: what each notification says, per type and channel.

pub mod templates;
