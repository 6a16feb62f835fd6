//! `/api/payments`: saved cards, the wallet (balance, movements, top-up), the caller's payments
//! with their refunds, a receipt per payment, and what cancelling a booking would refund. Each
//! resource contributes a router; this module merges them.

mod cards;
mod payments;
mod receipts;
mod refund_quotes;
mod wallet;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use platform::auth::JwtVerifier;
use platform::money::{Money, MoneyView};
use sqlx::PgPool;

use crate::domain::refunds::RefundPolicy;
use crate::processor::CardProcessor;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<JwtVerifier>,
    pub processor: Arc<dyn CardProcessor>,
    pub processor_timeout: std::time::Duration,
    /// How many cards one user may keep saved.
    pub max_cards: i64,
    /// The refund rules, for quotes: the ones refunds follow.
    pub policy: RefundPolicy,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(payments::router())
        .merge(receipts::router())
        .merge(refund_quotes::router())
        .merge(cards::router())
        .merge(wallet::router())
        .with_state(state)
}

fn money(minor: i64, currency: &str) -> MoneyView {
    Money::stored(minor, currency).into()
}
