//! What every checkout form shares: how to pay (a saved card, the wallet, or a new card saved on
//! the way), the idempotency key that makes a resubmitted form book once, reading the submitted
//! fields, and answering with the booking or the form again beside its refusal.
//!
//! A form is submitted once per key however often it arrives: the first submission runs in a
//! task of its own (a browser that gives up waiting cannot cut it short), and a copy that
//! arrives while it runs, or within [`REMEMBERED_FOR`] after, gets its outcome. A double click
//! therefore saves one card and makes one booking. (Per web instance; across instances the
//! booking API's `Idempotency-Key` still books once.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{AppState, shown_beside_form};
use crate::api::ApiError;
use crate::api::types::{Card, Cards};
use crate::error::PageError;
use crate::session::Session;

/// How long a submission's outcome answers copies of it.
const REMEMBERED_FOR: Duration = Duration::from_secs(60);
/// Submissions remembered at most; past it, expired ones are forgotten, and a submission that
/// still finds no room is not remembered.
const MAX_REMEMBERED: usize = 10_000;

/// The value of field `name` in a submitted form, trimmed; empty when absent.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
}

/// The signed-in user's saved cards (none when they cannot be read: the new-card choice stays).
pub async fn cards(state: &AppState, session: &Session) -> Vec<Card> {
    if session.user.is_none() {
        return Vec::new();
    }
    state
        .api
        .get::<Cards>(session.caller(), "/api/payments/cards")
        .await
        .map(|c| c.cards)
        .unwrap_or_default()
}

/// The hidden key that makes a resubmitted form (a double click, a retry) book once.
pub fn idempotency_key() -> Markup {
    html! { input type="hidden" name="key" value=(uuid::Uuid::new_v4()); }
}

/// The payment choices: each saved card, the wallet, or a new card (chosen by default without
/// a saved one). `chosen` keeps a choice across a refusal.
pub fn payment_fieldset(cards: &[Card], chosen: &str) -> Markup {
    let chosen = if chosen.is_empty() {
        cards
            .first()
            .map_or_else(|| "new".to_owned(), |c| format!("card:{}", c.card_id))
    } else {
        chosen.to_owned()
    };
    html! {
        fieldset {
            legend { "Payment" }
            @for card in cards {
                @let value = format!("card:{}", card.card_id);
                label.inline {
                    input type="radio" name="payment" value=(value) checked[chosen == value];
                    (card.brand) " ending " (card.last4) " (expires " (card.exp_month) "/" (card.exp_year) ")"
                }
            }
            label.inline { input type="radio" name="payment" value="wallet" checked[chosen == "wallet"]; "Wallet balance" }
            label.inline { input type="radio" name="payment" value="new" checked[chosen == "new"]; "A new card" }
            div.newcard {
                label { "Card number" input name="number" inputmode="numeric" autocomplete="cc-number" maxlength="23"; }
                label { "Expiry month" input name="expMonth" inputmode="numeric" autocomplete="cc-exp-month" maxlength="2" placeholder="MM"; }
                label { "Expiry year" input name="expYear" inputmode="numeric" autocomplete="cc-exp-year" maxlength="4" placeholder="YYYY"; }
                label { "Security code" input name="cvc" inputmode="numeric" autocomplete="cc-csc" maxlength="4"; }
                small { "A new card is saved to your account for next time; Itinera keeps only its brand and last four digits." }
            }
        }
    }
}

/// A refused form, shown again: the refusal, and what was sent (so that nothing typed or chosen
/// is lost).
#[derive(Clone, Copy)]
pub struct Resubmit<'a> {
    pub message: &'a str,
    pub form: &'a [(String, String)],
}

/// What the form sent for `name`, if it is being shown again.
pub fn sent<'a>(again: Option<Resubmit<'a>>, name: &str) -> Option<&'a str> {
    again.map(|again| field(again.form, name))
}

/// A year as the payment API keeps it: `31` is 2031.
fn full_year(year: i32) -> i32 {
    if (0..100).contains(&year) {
        2000 + year
    } else {
        year
    }
}

fn refusal(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// How the form says to pay, as the booking API's `paymentMethod` and `paymentCardId` members;
/// a new card is saved first, unless the same card is already saved.
async fn payment_members(
    state: &AppState,
    session: &Session,
    pairs: &[(String, String)],
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let mut members = serde_json::Map::new();
    match field(pairs, "payment") {
        "wallet" => {
            members.insert("paymentMethod".into(), json!("wallet"));
        }
        "new" => {
            let digits: String = field(pairs, "number")
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let (month, year) = (
                field(pairs, "expMonth").parse::<u32>().unwrap_or(0),
                full_year(field(pairs, "expYear").parse::<i32>().unwrap_or(0)),
            );
            let last4 = digits
                .get(digits.len().saturating_sub(4)..)
                .unwrap_or_default();
            let known = cards(state, session).await.into_iter().find(|card| {
                digits.len() >= 12
                    && card.last4 == last4
                    && card.exp_month == month
                    && card.exp_year == year
            });
            let card = match known {
                Some(card) => card,
                None => {
                    let card = json!({
                        "number": field(pairs, "number"),
                        "expMonth": month,
                        "expYear": year,
                        "cvc": field(pairs, "cvc"),
                    });
                    state
                        .api
                        .send::<Card>(
                            session.caller(),
                            Method::POST,
                            "/api/payments/cards",
                            &card,
                            None,
                        )
                        .await
                        .map_err(|e| ApiError {
                            message: format!("The card was not accepted: {}", e.message),
                            ..e
                        })?
                }
            };
            members.insert("paymentMethod".into(), json!("credit_card"));
            members.insert("paymentCardId".into(), json!(card.card_id));
        }
        chosen => match chosen.strip_prefix("card:") {
            Some(card_id) => {
                members.insert("paymentMethod".into(), json!("credit_card"));
                members.insert("paymentCardId".into(), json!(card_id));
            }
            None => return Err(refusal(StatusCode::BAD_REQUEST, "Choose how to pay.")),
        },
    }
    Ok(members)
}

/// What a checkout came to.
#[derive(Clone)]
pub enum Outcome {
    Booked(i64),
    Refused(ApiError),
}

/// A submission: when it began, and its outcome once it has one.
type Submission = (Instant, watch::Receiver<Option<Outcome>>);

/// Submissions by user and idempotency key. Cheap to clone.
#[derive(Clone, Default)]
pub struct Submissions {
    seen: Arc<Mutex<HashMap<(i64, String), Submission>>>,
}

/// Books `body` at `path` (with the payment the form chose added), once per form: see the
/// module's notes.
pub async fn book(
    state: &AppState,
    session: &Session,
    path: &'static str,
    body: serde_json::Map<String, Value>,
    pairs: Vec<(String, String)>,
) -> Outcome {
    let (Some(user), key) = (&session.user, field(&pairs, "key").to_owned()) else {
        return Outcome::Refused(refusal(StatusCode::UNAUTHORIZED, "Sign in to book."));
    };
    let mut outcome = {
        let mut seen = state
            .submissions
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = (user.id, key);
        match seen.get(&id) {
            Some((at, outcome)) if at.elapsed() < REMEMBERED_FOR && !id.1.is_empty() => {
                outcome.clone()
            }
            _ => {
                if seen.len() >= MAX_REMEMBERED {
                    seen.retain(|_, (at, _)| at.elapsed() < REMEMBERED_FOR);
                }
                let (answer, outcome) = watch::channel(None);
                if seen.len() < MAX_REMEMBERED && !id.1.is_empty() {
                    seen.insert(id, (Instant::now(), outcome.clone()));
                }
                let (state, session) = (state.clone(), session.clone());
                tokio::spawn(async move {
                    let outcome = book_once(&state, &session, path, body, &pairs).await;
                    let _ = answer.send(Some(outcome));
                });
                outcome
            }
        }
    };
    match outcome.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(unavailable),
        Err(_) => unavailable(),
    }
}

fn unavailable() -> Outcome {
    Outcome::Refused(refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "The booking could not be finished; look in My trips before trying again.",
    ))
}

async fn book_once(
    state: &AppState,
    session: &Session,
    path: &str,
    mut body: serde_json::Map<String, Value>,
    pairs: &[(String, String)],
) -> Outcome {
    match payment_members(state, session, pairs).await {
        Ok(members) => body.extend(members),
        Err(refused) => return Outcome::Refused(refused),
    }
    let key = field(pairs, "key");
    let booked = state
        .api
        .send::<Value>(
            session.caller(),
            Method::POST,
            path,
            &Value::Object(body),
            (!key.is_empty()).then_some(key),
        )
        .await;
    match booked {
        Ok(booking) => match booking["bookingId"].as_i64() {
            Some(id) => Outcome::Booked(id),
            None => Outcome::Refused(refusal(
                StatusCode::BAD_GATEWAY,
                "The platform answered a booking without its number.",
            )),
        },
        Err(e) => Outcome::Refused(e),
    }
}

/// The answer to a checkout: the booking's page, or the form again (from `again`) beside the
/// refusal with the API's status, or the page for a failure (signing in again comes back to
/// `here`).
pub async fn respond<F, Fut>(outcome: Outcome, here: &str, again: F) -> Result<Response, PageError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Response, PageError>>,
{
    match outcome {
        Outcome::Booked(id) => Ok(Redirect::to(&format!("/bookings/{id}")).into_response()),
        Outcome::Refused(e) if shown_beside_form(e.status) => {
            let mut page = again(e.message).await?;
            *page.status_mut() = e.status;
            Ok(page)
        }
        Outcome::Refused(e) => Err(PageError::from_api(e, here)),
    }
}

#[cfg(test)]
mod tests {
    use super::full_year;

    #[test]
    fn two_digit_years_are_this_century() {
        assert_eq!(
            (full_year(31), full_year(2031), full_year(0)),
            (2031, 2031, 2000)
        );
    }
}
