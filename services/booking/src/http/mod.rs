//! Booking's HTTP API. Each resource contributes a router; this module merges them.

mod bookings;
mod seats;
mod seed_api;
mod trips;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::JwtVerifier;

use crate::bookings::Bookings;

#[derive(Clone)]
pub struct AppState {
    pub bookings: Arc<Bookings>,
    pub verifier: Arc<JwtVerifier>,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(bookings::router())
        .merge(seats::router())
        .merge(seed_api::router())
        .merge(trips::router())
        .with_state(state)
}
