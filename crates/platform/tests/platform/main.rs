//! The platform's integration tests, against a real PostgreSQL server.

mod errors;
mod events;
mod server;
mod service;
