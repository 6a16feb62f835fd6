//! End-to-end tests: identity, catalog, booking, notification, payment and the gateway running for real in this process
//! (as `itinera up` runs them), each with a fresh PostgreSQL database, driven through the gateway.

mod helpers;

mod cancelled_flights;
mod cli;
mod concurrency;
mod flights;
mod idempotency;
mod live;
mod notifications;
mod openapi;
mod payments;
mod seed_api;
mod trips;
