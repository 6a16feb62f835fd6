//! `/api/payments/wallet`: the caller's balances and recent movements, and topping up from a card.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use platform::auth::Caller;
use platform::http::Json;
use platform::money::{Currency, Money, MoneyView};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{AppState, money};
use crate::error::PaymentError;
use crate::processor::{Charge, ProcessorError};
use crate::store::{cards, wallet};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments/wallet", get(show))
        .route("/api/payments/wallet/top-up", post(top_up))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    id: i64,
    kind: String,
    payment_id: Option<i64>,
    created_at: DateTime<Utc>,
    amount: MoneyView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletView {
    balances: Vec<MoneyView>,
    /// The most recent movements, newest first.
    entries: Vec<EntryView>,
}

async fn wallet_view(db: &PgPool, user_id: i64) -> Result<WalletView, PaymentError> {
    let balances = wallet::balances(db, user_id).await?;
    let entries = wallet::recent_entries(db, user_id).await?;
    Ok(WalletView {
        balances: balances.iter().map(|(m, c)| money(*m, c)).collect(),
        entries: entries
            .into_iter()
            .map(|row| EntryView {
                amount: money(row.amount_minor, &row.currency),
                id: row.id,
                kind: row.kind,
                payment_id: row.payment_id,
                created_at: row.created_at,
            })
            .collect(),
    })
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<WalletView>, PaymentError> {
    Ok(JsonResponse(wallet_view(&state.db, caller.user_id).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TopUp {
    /// Decimal text in major units, e.g. `"100.00"`.
    amount: String,
    currency: String,
    /// The saved card to charge; the most recent one when absent. Without a saved card there is
    /// no top-up.
    card_id: Option<String>,
}

/// Most that one top-up may add, in minor units.
const MAX_TOP_UP_MINOR: i64 = 100_000_000;

async fn top_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TopUp>,
) -> Result<JsonResponse<WalletView>, PaymentError> {
    let key = platform::http::idempotency_key(&headers)?;
    let currency = Currency::parse(body.currency.trim().to_ascii_uppercase().as_str())
        .map_err(PaymentError::Invalid)?;
    let amount = Money::parse_major(&body.amount, currency).map_err(PaymentError::Invalid)?;
    if amount.minor() <= 0 || amount.minor() > MAX_TOP_UP_MINOR {
        return Err(PaymentError::Invalid(
            "a top-up is more than 0 and at most 1000000 in major units".into(),
        ));
    }
    // Always one of the caller's own cards: balance bought with the sandbox card would be money
    // for nothing, whatever the mode.
    let token = match (
        cards::token(&state.db, caller.user_id, body.card_id.as_deref()).await?,
        &body.card_id,
    ) {
        (Some(token), _) => token,
        (None, Some(_)) => return Err(PaymentError::CardNotFound),
        (None, None) => return Err(PaymentError::NoSavedCard),
    };
    let request_key = key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let processor_key = format!("top-up-{}-{request_key}", caller.user_id);
    let charge = Charge {
        idempotency_key: &processor_key,
        card_token: &token,
        amount_minor: amount.minor(),
        currency: currency.as_str(),
    };
    let reference = tokio::time::timeout(state.processor_timeout, state.processor.charge(charge))
        .await
        .unwrap_or(Err(ProcessorError::Timeout))?;
    wallet::top_up(
        &state.db,
        caller.user_id,
        currency.as_str(),
        amount.minor(),
        &request_key,
        &reference,
    )
    .await?;
    Ok(JsonResponse(wallet_view(&state.db, caller.user_id).await?))
}
