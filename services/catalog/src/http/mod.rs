//! Catalog's HTTP API. Each resource contributes a router; this module merges them.

mod cars;
mod flights;
mod hotels;
mod reference;
mod reviews;
mod search;
mod seed_api;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::JwtVerifier;
use platform::config::Mode;

use crate::activity::Activity;
use crate::cars::CarCatalog;
use crate::catalog::Catalog;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub cars: Arc<CarCatalog>,
    /// Answers of the search across products, shared by every instance.
    pub searches: crate::search_cache::SharedSearchCache,
    /// Where searches and views are recorded for analytics.
    pub activity: Activity,
    pub verifier: Arc<JwtVerifier>,
    /// How much of the demo schedule `GET /seed` loads.
    pub seed: SeedSize,
}

#[derive(Clone, Copy, Debug)]
pub struct SeedSize {
    pub days: u32,
    pub per_day: u32,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState, mode: Mode) -> Router {
    Router::new()
        .merge(cars::router())
        .merge(flights::router())
        .merge(reference::router())
        .merge(hotels::router())
        .merge(reviews::router())
        .merge(search::router())
        .merge(seed_api::router(mode))
        .with_state(state)
}
