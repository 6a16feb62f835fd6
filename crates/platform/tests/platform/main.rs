//! The platform's integration tests, against a real PostgreSQL server.

mod events;
mod server;
mod service;
