//! The traveller's account: profile and password, saved cards, the wallet with its top-ups and
//! ledger, and payments with their receipts.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, failure_reason, status_badge};
use crate::api::types::{Cards, Payments, Profile, Receipt, Wallet};
use crate::error::PageError;
use crate::layout::{self, alert, csrf, notice};
use crate::session::{Form, Session, SessionChange};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/password", post(change_password))
        .route("/account/cards", post(add_card))
        .route("/account/cards/{id}/delete", post(remove_card))
        .route("/account/wallet/top-up", post(top_up))
        .route("/account/payments", get(payments))
        .route("/account/payments/{id}/receipt", get(receipt))
}

/// What the last action did, by code (never text from the address bar).
#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
    error: Option<String>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "card-added" => "The card is saved.",
        "card-removed" => "The card is removed.",
        "topped-up" => "Your wallet is topped up.",
        _ => return None,
    })
}

fn error_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "card" => "The card was not accepted: check its number, expiry and security code.",
        "top-up" => {
            "The top-up did not go through: check the amount, and that a card is saved and accepted."
        }
        _ => return None,
    })
}

async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    session.user("/account")?;
    let caller = session.caller();
    let (profile, cards, wallet) = tokio::join!(
        state.api.get::<Profile>(caller, "/api/users/me"),
        state.api.get::<Cards>(caller, "/api/payments/cards"),
        state.api.get::<Wallet>(caller, "/api/payments/wallet"),
    );
    let profile = profile.map_err(|e| PageError::from_api(e, "/account"))?;
    let cards = cards.map(|c| c.cards).unwrap_or_default();
    let wallet = wallet.ok();
    let body = html! {
        h1 { "Account" }
        (notice(shown.done.as_deref().and_then(done_text)))
        (alert(shown.error.as_deref().and_then(error_text)))
        section.card aria-labelledby="profile-title" {
            h2 id="profile-title" { "Profile" }
            dl {
                dt { "Username" } dd { (profile.username) }
                dt { "Email" } dd { (profile.email) }
                dt { "Role" } dd { (profile.role) }
                dt { "Member since" } dd { (profile.created_at.format("%Y-%m-%d")) }
            }
            details {
                summary { "Change password" }
                form.stack method="post" action="/account/password" {
                    (csrf(&session))
                    label { "Current password" input type="password" name="currentPassword" autocomplete="current-password" required; }
                    label { "New password" input type="password" name="password" autocomplete="new-password" required minlength="8"; }
                    small { "Changing it signs you out everywhere; sign in again with the new one." }
                    button type="submit" { "Change password" }
                }
            }
        }
        section.card aria-labelledby="cards-title" {
            h2 id="cards-title" { "Saved cards" }
            @if cards.is_empty() { p { "No card saved." } }
            ul {
                @for card in &cards {
                    li {
                        (card.brand) " ending " (card.last4) ", expires " (card.exp_month) "/" (card.exp_year)
                        form.inline method="post" action={"/account/cards/" (card.card_id) "/delete"} {
                            (csrf(&session))
                            button.link type="submit" { "Remove" span.visually-hidden { " card ending " (card.last4) } }
                        }
                    }
                }
            }
            form.stack method="post" action="/account/cards" {
                (csrf(&session))
                label { "Card number" input name="number" inputmode="numeric" autocomplete="cc-number" required maxlength="23"; }
                label { "Expiry month" input name="expMonth" inputmode="numeric" autocomplete="cc-exp-month" required maxlength="2"; }
                label { "Expiry year" input name="expYear" inputmode="numeric" autocomplete="cc-exp-year" required maxlength="4"; }
                label { "Security code" input name="cvc" inputmode="numeric" autocomplete="cc-csc" required maxlength="4"; }
                button type="submit" { "Save card" }
            }
        }
        section.card aria-labelledby="wallet-title" {
            h2 id="wallet-title" { "Wallet" }
            @match &wallet {
                None => p { "The wallet cannot be shown right now." },
                Some(wallet) => {
                    p { "Balance: "
                        @if wallet.balances.is_empty() { strong { "USD 0.00" } }
                        @for (i, balance) in wallet.balances.iter().enumerate() { @if i > 0 { ", " } strong data-wallet-balance { (balance) } }
                    }
                    form.inline method="post" action="/account/wallet/top-up" {
                        (csrf(&session))
                        input type="hidden" name="key" value=(uuid::Uuid::new_v4());
                        label { "Amount (USD)" input name="amount" inputmode="decimal" required pattern="[0-9]+(\\.[0-9]{1,2})?" placeholder="100.00"; }
                        button type="submit" { "Top up from my card" }
                    }
                    @if !wallet.entries.is_empty() {
                        table {
                            caption { "Ledger" }
                            thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Amount" } } }
                            tbody { @for entry in &wallet.entries {
                                tr { td { (entry.created_at.format("%Y-%m-%d %H:%M")) } td { (entry.kind.replace('_', " ")) } td { (entry.amount) } }
                            } }
                        }
                    }
                }
            }
        }
        p { a href="/account/payments" { "Payments and receipts" } }
    };
    Ok(layout::page(&session, "Account", body).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordChange {
    current_password: String,
    password: String,
}

async fn change_password(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<PasswordChange>,
) -> Result<Response, PageError> {
    session.user("/account")?;
    let body = json!({ "currentPassword": form.current_password, "password": form.password });
    match state
        .api
        .act(
            session.caller(),
            Method::PATCH,
            "/api/users/me",
            Some(&body),
        )
        .await
    {
        // Every session of the user has ended, this one too.
        Ok(()) => Ok((SessionChange::End, Redirect::to("/login?next=/account")).into_response()),
        Err(e) if super::shown_beside_form(e.status) => {
            let page = layout::page(
                &session,
                "Change password",
                html! {
                    h1 { "Change password" }
                    (alert(Some(&e.message)))
                    p { a href="/account" { "Back to the account" } }
                },
            );
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(PageError::from_api(e, "/account")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCard {
    number: String,
    exp_month: String,
    exp_year: String,
    cvc: String,
}

async fn add_card(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(card): Form<NewCard>,
) -> Result<Response, PageError> {
    session.user("/account")?;
    let body = json!({
        "number": card.number.trim(),
        "expMonth": card.exp_month.trim().parse::<u32>().unwrap_or(0),
        "expYear": card.exp_year.trim().parse::<i32>().unwrap_or(0),
        "cvc": card.cvc.trim(),
    });
    let to = match state
        .api
        .act(
            session.caller(),
            Method::POST,
            "/api/payments/cards",
            Some(&body),
        )
        .await
    {
        Ok(()) => "/account?done=card-added",
        Err(e) if super::shown_beside_form(e.status) => "/account?error=card",
        Err(e) => return Err(PageError::from_api(e, "/account")),
    };
    Ok(Redirect::to(to).into_response())
}

async fn remove_card(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    session.user("/account")?;
    let path = format!("/api/payments/cards/{}", super::segment(&id)?);
    state
        .api
        .act(session.caller(), Method::DELETE, &path, None)
        .await
        .map_err(|e| PageError::from_api(e, "/account"))?;
    Ok(Redirect::to("/account?done=card-removed").into_response())
}

#[derive(Deserialize)]
struct TopUp {
    amount: String,
    key: String,
}

async fn top_up(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<TopUp>,
) -> Result<Response, PageError> {
    session.user("/account")?;
    let body = json!({ "amount": form.amount.trim(), "currency": "USD" });
    let to = match state
        .api
        .send::<serde_json::Value>(
            session.caller(),
            Method::POST,
            "/api/payments/wallet/top-up",
            &body,
            Some(&form.key),
        )
        .await
    {
        Ok(_) => "/account?done=topped-up",
        Err(e) if super::shown_beside_form(e.status) => "/account?error=top-up",
        Err(e) => return Err(PageError::from_api(e, "/account")),
    };
    Ok(Redirect::to(to).into_response())
}

async fn payments(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, PageError> {
    session.user("/account/payments")?;
    let payments: Payments = state
        .api
        .get(session.caller(), "/api/payments?pageSize=50")
        .await
        .map_err(|e| PageError::from_api(e, "/account/payments"))?;
    let body = html! {
        h1 { "Payments" }
        @if payments.payments.is_empty() { p { "No payment yet." } }
        @else {
            table {
                caption { "Payments, newest first" }
                thead { tr {
                    th scope="col" { "Booking" } th scope="col" { "What" } th scope="col" { "Amount" }
                    th scope="col" { "Status" } th scope="col" { "Receipt" }
                } }
                tbody { @for p in &payments.payments {
                    tr {
                        td { a href={"/bookings/" (p.booking_id)} { (p.booking_reference) } }
                        td { (p.description.as_deref().unwrap_or("")) }
                        td { (p.amount) }
                        td { (status_badge(&p.status)) @if let Some(r) = &p.failure_reason { " " (failure_reason(r)) } }
                        td { @if p.status == "SUCCEEDED" { a href={"/account/payments/" (p.payment_id) "/receipt"} { "Receipt" } } }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&session, "Payments", body).into_response())
}

/// A receipt of a successful payment: the charge, each refund, and what was paid in the end.
async fn receipt(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let here = format!("/account/payments/{id}/receipt");
    session.user(&here)?;
    let receipt: Receipt = state
        .api
        .get(session.caller(), &format!("/api/payments/{id}/receipt"))
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let title = format!("Receipt {}", receipt.receipt_number);
    let body = html! {
        h1 { (title) }
        p { "Issued " (receipt.issued_at.format("%Y-%m-%d %H:%M UTC")) " for booking "
            a href={"/bookings/" (receipt.payment.booking_id)} { (receipt.payment.booking_reference) } "." }
        p { "Paid by "
            @match &receipt.payment.card { Some(card) => { (card.brand) " ending " (card.last4) }, None => { (receipt.payment.method.replace('_', " ")) } }
            "." }
        table {
            caption { "Lines" }
            thead { tr { th scope="col" { "What" } th scope="col" { "Amount" } } }
            tbody { @for line in &receipt.lines { tr { td { (line.description) } td { (line.amount) } } } }
            tfoot { tr { th scope="row" { "Total paid" } td { strong data-total-paid { (receipt.total_paid) } } } }
        }
    };
    Ok(layout::page(&session, &title, body).into_response())
}
