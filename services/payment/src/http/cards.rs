//! `/api/payments/cards`: the caller's saved cards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Datelike, Utc};
use platform::auth::Caller;
use platform::http::{Json, Path};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::domain::cards::CardNumber;
use crate::error::PaymentError;
use crate::store::cards::{self, CardRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments/cards", post(add_card).get(list))
        .route("/api/payments/cards/{card_id}", delete(remove_card))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewCard {
    /// Taken as any JSON value so that a wrongly typed number is refused without being echoed
    /// (serde's messages quote the value they reject).
    number: serde_json::Value,
    exp_month: u32,
    exp_year: i32,
    /// Accepted for a real processor's sake; never stored.
    #[serde(default)]
    cvc: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardView {
    card_id: String,
    brand: String,
    last4: String,
    exp_month: i16,
    exp_year: i16,
    created_at: DateTime<Utc>,
}

impl From<CardRow> for CardView {
    fn from(card: CardRow) -> Self {
        Self {
            card_id: card.id,
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            created_at: card.created_at,
        }
    }
}

async fn add_card(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewCard>,
) -> Result<(StatusCode, JsonResponse<CardView>), PaymentError> {
    let number = body.number.as_str().ok_or_else(|| {
        PaymentError::Invalid(
            "number must be a string of digits, e.g. \"4242 4242 4242 4242\"".into(),
        )
    })?;
    let card = CardNumber::parse(number).map_err(|e| PaymentError::Invalid(e.to_string()))?;
    if !(1..=12).contains(&body.exp_month) {
        return Err(PaymentError::Invalid("expMonth must be 1 to 12".into()));
    }
    let now = Utc::now();
    let exp_year = if body.exp_year < 100 {
        2000 + body.exp_year
    } else {
        body.exp_year
    };
    if (exp_year, body.exp_month) < (now.year(), now.month()) || exp_year > now.year() + 20 {
        return Err(PaymentError::Invalid(
            "the card has expired or its expiry is not valid".into(),
        ));
    }
    if let Some(cvc) = &body.cvc
        && !(3..=4).contains(&cvc.len())
    {
        return Err(PaymentError::Invalid("cvc must be 3 or 4 digits".into()));
    }
    let token = state.processor.tokenize(&card);
    let saved = cards::insert_within(
        &state.db,
        cards::NewCard {
            user_id: caller.user_id,
            brand: card.brand(),
            last4: card.last4(),
            exp_month: i16::try_from(body.exp_month).unwrap_or(1),
            exp_year: i16::try_from(exp_year).unwrap_or(i16::MAX),
            processor_token: &token,
        },
        state.max_cards,
    )
    .await?
    .ok_or(PaymentError::TooManyCards(state.max_cards))?;
    tracing::info!(user_id = caller.user_id, card = %card, "card saved");
    Ok((StatusCode::CREATED, JsonResponse(saved.into())))
}

#[derive(Serialize)]
struct Cards {
    cards: Vec<CardView>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<Cards>, PaymentError> {
    let cards = cards::of_user(&state.db, caller.user_id).await?;
    Ok(JsonResponse(Cards {
        cards: cards.into_iter().map(CardView::from).collect(),
    }))
}

async fn remove_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<StatusCode, PaymentError> {
    if !cards::remove(&state.db, &card_id, caller.user_id).await? {
        return Err(PaymentError::CardNotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
