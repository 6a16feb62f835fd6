//! `/api/payments`: the caller's transaction history, and one payment, each with its refunds (a
//! trip's payment has one per item cancelled on its own).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use contracts::events::PaymentEvent;
use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus};
use platform::auth::Caller;
use platform::http::{Json, PageRequest, Path, Query};
use platform::money::MoneyView;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{AppState, money};
use crate::error::PaymentError;
use crate::store::refunds::{self, RefundRow};
use crate::store::{PaymentRow, cards, payments, wallet};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments", get(list))
        .route("/api/payments/pay", post(pay))
        .route("/api/payments/{payment_id}", get(one))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CardSummary {
    pub brand: String,
    pub last4: String,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundView {
    /// The booking refunded: the payment's own, or an item of the trip it paid.
    pub for_booking_id: i64,
    pub amount: MoneyView,
    pub fee: MoneyView,
    pub reason: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentView {
    pub payment_id: i64,
    pub booking_id: i64,
    pub booking_reference: String,
    pub user_id: i64,
    pub method: PaymentMethod,
    pub card: Option<CardSummary>,
    pub amount: MoneyView,
    pub status: PaymentStatus,
    pub failure_reason: Option<PaymentFailure>,
    pub refunded: MoneyView,
    /// The latest of [`Self::refunds`], as before a payment could have several.
    pub refund: Option<RefundView>,
    /// Every refund of the payment, oldest first.
    pub refunds: Vec<RefundView>,
    pub description: String,
    /// No card was on file: the customer is to pay with `POST /api/payments/pay`.
    pub awaiting_payment_method: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// `payment` with its refunds (oldest first).
pub(super) fn view(payment: PaymentRow, refunds: Vec<RefundRow>) -> PaymentView {
    let currency = payment.currency.clone();
    let awaiting_payment_method = payment.awaits_method();
    let refunds: Vec<RefundView> = refunds
        .into_iter()
        .map(|row| RefundView {
            for_booking_id: row.for_booking_id,
            amount: money(row.amount_minor, &currency),
            fee: money(row.fee_minor, &currency),
            reason: row.reason,
            status: row.status,
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
        .collect();
    PaymentView {
        awaiting_payment_method,
        payment_id: payment.id,
        booking_id: payment.booking_id,
        booking_reference: payment.booking_reference,
        user_id: payment.user_id,
        method: payment.method,
        card: payment
            .card_brand
            .zip(payment.card_last4)
            .map(|(brand, last4)| CardSummary { brand, last4 }),
        amount: money(payment.amount_minor, &currency),
        status: payment.status,
        failure_reason: payment.failure_reason,
        refunded: money(payment.refunded_minor, &currency),
        refund: refunds.last().cloned(),
        refunds,
        description: payment.description,
        created_at: payment.created_at,
        completed_at: payment.completed_at,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    page: Option<u32>,
    page_size: Option<u32>,
    booking_id: Option<i64>,
    /// Staff only: another user's payments.
    user_id: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentPage {
    payments: Vec<PaymentView>,
    page: u32,
    page_size: u32,
    total: i64,
}

/// The caller's transaction history, newest first.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<JsonResponse<PaymentPage>, PaymentError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let user_id = query.user_id.unwrap_or(caller.user_id);
    caller.require_self_or_staff(user_id)?;
    let rows = payments::page_of_user(
        &state.db,
        user_id,
        query.booking_id,
        page.limit(),
        page.offset(),
    )
    .await?;
    let total = payments::count_of_user(&state.db, user_id, query.booking_id).await?;
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let mut refunds: HashMap<i64, Vec<RefundRow>> = HashMap::new();
    for refund in refunds::of_payments(&state.db, &ids).await? {
        refunds.entry(refund.payment_id).or_default().push(refund);
    }
    let payments = rows
        .into_iter()
        .map(|payment| {
            let of_payment = refunds.remove(&payment.id).unwrap_or_default();
            view(payment, of_payment)
        })
        .collect();
    Ok(JsonResponse(PaymentPage {
        payments,
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

/// A payment the caller may see (their own, or any for staff; others' are not found), with its
/// refunds, oldest first.
pub(super) async fn visible(
    db: &PgPool,
    caller: &Caller,
    id: i64,
) -> Result<(PaymentRow, Vec<RefundRow>), PaymentError> {
    let payment = payments::find(db, id)
        .await?
        .filter(|p| p.user_id == caller.user_id || caller.is_staff())
        .ok_or(PaymentError::PaymentNotFound)?;
    let refunds = refunds::of_payments(db, &[id]).await?;
    Ok((payment, refunds))
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(payment_id): Path<i64>,
) -> Result<JsonResponse<PaymentView>, PaymentError> {
    let (payment, refunds) = visible(&state.db, &caller, payment_id).await?;
    Ok(JsonResponse(view(payment, refunds)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Pay {
    payment_id: Option<i64>,
    booking_id: Option<i64>,
    /// `credit_card` (the default), `debit_card` or `wallet`.
    method: Option<String>,
    /// The saved card to charge; the most recent one when absent.
    card_id: Option<String>,
}

/// Pays one of the caller's payments that waits for a card or the wallet (a booking made with no
/// card on file, outside demo mode). The wallet pays at once (200); a card is charged by the
/// payment worker (202), and the booking is confirmed when the charge succeeds.
async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Pay>,
) -> Result<(StatusCode, JsonResponse<PaymentView>), PaymentError> {
    if body.payment_id.is_some() == body.booking_id.is_some() {
        return Err(PaymentError::Invalid(
            "give exactly one of paymentId and bookingId".into(),
        ));
    }
    let method = match body.method.as_deref() {
        None => PaymentMethod::CreditCard,
        Some(method) => PaymentMethod::parse(method).map_err(PaymentError::Invalid)?,
    };
    if !method.by_card() && body.card_id.is_some() {
        return Err(PaymentError::Invalid(
            "cardId is for card payments, not the wallet".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    let payment = payments::find_for_update(&mut tx, body.payment_id, body.booking_id)
        .await?
        .filter(|p| p.user_id == caller.user_id)
        .ok_or(PaymentError::PaymentNotFound)?;
    if !payment.awaits_method() {
        return Err(PaymentError::NotAwaitingPayment {
            payment_id: payment.id,
            status: payment.status,
        });
    }
    if method.by_card() {
        let card = cards::for_payments(
            &mut tx,
            &[caller.user_id],
            std::slice::from_ref(&body.card_id),
        )
        .await?
        .pop()
        .map(|found| found.card);
        let card = match (card, &body.card_id) {
            (Some(card), _) => card,
            (None, Some(_)) => return Err(PaymentError::CardNotFound),
            (None, None) => return Err(PaymentError::NoSavedCard),
        };
        let payment = payments::choose_card(&mut tx, payment.id, method, &card).await?;
        tx.commit().await?;
        tracing::info!(
            payment_id = payment.id,
            "awaiting payment handed to the worker"
        );
        return Ok((
            StatusCode::ACCEPTED,
            JsonResponse(view(payment, Vec::new())),
        ));
    }
    let payment = payments::choose_wallet(&mut tx, payment.id).await?;
    if !wallet::pay(&mut tx, &payment).await? {
        return Err(PaymentError::InsufficientFunds);
    }
    let paid = payments::finish(&mut tx, payment.id, PaymentStatus::Succeeded, None, None).await?;
    payments::publish(&mut tx, PaymentEvent::Succeeded, &paid, None).await?;
    tx.commit().await?;
    tracing::info!(
        payment_id = paid.id,
        "awaiting payment paid from the wallet"
    );
    Ok((StatusCode::OK, JsonResponse(view(paid, Vec::new()))))
}
