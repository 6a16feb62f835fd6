//! What every checkout form shares: how to pay (a saved card, the wallet, or a new card saved on
//! the way), the idempotency key that makes a resubmitted form book once, and reading the
//! submitted fields.

use maud::{Markup, html};
use reqwest::Method;
use serde_json::{Value, json};

use super::{AppState, shown_beside_form};
use crate::api::types::{Card, Cards};
use crate::error::PageError;
use crate::session::Session;

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

/// How the form says to pay, as the booking API's `paymentMethod` and `paymentCardId` members;
/// a new card is saved first. `Err(Ok(message))` is a refusal to show beside the form.
pub async fn payment_members(
    state: &AppState,
    session: &Session,
    pairs: &[(String, String)],
) -> Result<serde_json::Map<String, Value>, Result<String, PageError>> {
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
                field(pairs, "expYear").parse::<i32>().unwrap_or(0),
            );
            // The same card sent again (a double click, a retry) is the card saved the first
            // time, so that the retried booking is the same request and books once.
            let last4 = digits
                .get(digits.len().saturating_sub(4)..)
                .unwrap_or_default();
            let known = cards(state, session).await.into_iter().find(|card| {
                digits.len() >= 12
                    && card.last4 == last4
                    && card.exp_month == month
                    && card.exp_year == year
            });
            let saved = match known {
                Some(card) => Ok(card),
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
                }
            };
            match saved {
                Ok(card) => {
                    members.insert("paymentMethod".into(), json!("credit_card"));
                    members.insert("paymentCardId".into(), json!(card.card_id));
                }
                Err(e) if shown_beside_form(e.status) => {
                    return Err(Ok(format!("The card was not accepted: {}", e.message)));
                }
                Err(e) => return Err(Err(PageError::from_api(e, "/"))),
            }
        }
        chosen => match chosen.strip_prefix("card:") {
            Some(card_id) => {
                members.insert("paymentMethod".into(), json!("credit_card"));
                members.insert("paymentCardId".into(), json!(card_id));
            }
            None => return Err(Ok("Choose how to pay.".into())),
        },
    }
    Ok(members)
}

/// Books `body` (with the payment members added) and answers the new booking's id, or a refusal
/// to show beside the form.
pub async fn book(
    state: &AppState,
    session: &Session,
    path: &str,
    mut body: serde_json::Map<String, Value>,
    pairs: &[(String, String)],
) -> Result<i64, Result<String, PageError>> {
    body.extend(payment_members(state, session, pairs).await?);
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
        Ok(booking) => booking["bookingId"]
            .as_i64()
            .ok_or_else(|| Err(PageError::internal("a booking without its id"))),
        Err(e) if shown_beside_form(e.status) => Err(Ok(e.message)),
        Err(e) => Err(Err(PageError::from_api(e, "/bookings"))),
    }
}
