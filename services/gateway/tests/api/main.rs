//! Gateway integration tests: identity and the gateway running for real on port 0, a fresh
//! PostgreSQL database per test, driven over HTTP through the gateway.

mod helpers;

mod auth;
mod edge;
mod live;
mod operation_events;
mod operations;
mod rate_limits;
mod resilience;
mod routes;
mod seed_api;
mod websocket;
