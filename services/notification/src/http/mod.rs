//! Notification's HTTP API: a user's in-app notifications (`/api/notifications`), flight
//! subscriptions (`/api/subscriptions`, seed 002's `/api/auth/user-subscriptions/{id}`), and the
//! live updates stream (`/api/live/updates`). Each resource contributes a router; this module
//! merges them.

mod notifications;
mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use platform::auth::JwtVerifier;
use sqlx::PgPool;

use crate::live::Live;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<JwtVerifier>,
    pub live: Arc<Live>,
    /// `NOTIFICATION_MAX_SUBSCRIPTIONS`.
    pub max_subscriptions: u32,
}

impl FromRef<AppState> for Arc<Live> {
    fn from_ref(state: &AppState) -> Self {
        state.live.clone()
    }
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(notifications::router())
        .merge(subscriptions::router())
        .route("/api/live/updates", get(crate::live::sse::stream))
        .with_state(state)
}
