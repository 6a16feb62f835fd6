//! The platform's integration tests, against a real PostgreSQL server.

mod events;
mod service;
