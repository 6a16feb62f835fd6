//! `/api/payments`: saved cards, the wallet (balance, movements, top-up), the caller's payments
//! with their refunds, and a receipt per payment.

use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus};
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Datelike, Utc};
use platform::Problem;
use platform::auth::{Caller, JwtVerifier};
use platform::http::{Json, PageRequest, Path, Query};
use platform::money::{Currency, Money, MoneyView};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::domain::cards::CardNumber;
use crate::processor::{CardProcessor, Charge, ProcessorError};
use crate::store::{COLUMNS, PaymentRow};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<JwtVerifier>,
    pub processor: Arc<dyn CardProcessor>,
    pub processor_timeout: std::time::Duration,
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/payments", get(list))
        .route("/api/payments/{payment_id}", get(one))
        .route("/api/payments/{payment_id}/receipt", get(receipt))
        .route("/api/payments/cards", post(add_card).get(cards))
        .route("/api/payments/cards/{card_id}", delete(remove_card))
        .route("/api/payments/wallet", get(wallet))
        .route("/api/payments/wallet/top-up", post(top_up))
        .with_state(state)
}

fn money(minor: i64, currency: &str) -> MoneyView {
    Money::stored(minor, currency).into()
}

// ---- cards ----

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

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct CardView {
    #[sqlx(rename = "id")]
    card_id: String,
    brand: String,
    last4: String,
    exp_month: i16,
    exp_year: i16,
    created_at: DateTime<Utc>,
}

async fn add_card(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewCard>,
) -> Result<(StatusCode, JsonResponse<CardView>), Problem> {
    let number = body.number.as_str().ok_or_else(|| {
        Problem::bad_request("number must be a string of digits, e.g. \"4242 4242 4242 4242\"")
    })?;
    let card = CardNumber::parse(number).map_err(|e| Problem::bad_request(e.to_string()))?;
    if !(1..=12).contains(&body.exp_month) {
        return Err(Problem::bad_request("expMonth must be 1 to 12"));
    }
    let now = Utc::now();
    let exp_year = if body.exp_year < 100 {
        2000 + body.exp_year
    } else {
        body.exp_year
    };
    if (exp_year, body.exp_month) < (now.year(), now.month()) || exp_year > now.year() + 20 {
        return Err(Problem::bad_request(
            "the card has expired or its expiry is not valid",
        ));
    }
    if let Some(cvc) = &body.cvc
        && !(3..=4).contains(&cvc.len())
    {
        return Err(Problem::bad_request("cvc must be 3 or 4 digits"));
    }
    let token = state.processor.tokenize(&card);
    let view: CardView = sqlx::query_as(
        "INSERT INTO cards (id, user_id, brand, last4, exp_month, exp_year, processor_token) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, brand, last4, exp_month, exp_year, created_at",
    )
    .bind(format!("card_{}", uuid::Uuid::new_v4().simple()))
    .bind(caller.user_id)
    .bind(card.brand())
    .bind(card.last4())
    .bind(i16::try_from(body.exp_month).unwrap_or(1))
    .bind(i16::try_from(exp_year).unwrap_or(i16::MAX))
    .bind(token)
    .fetch_one(&state.db)
    .await?;
    tracing::info!(user_id = caller.user_id, card = %card, "card saved");
    Ok((StatusCode::CREATED, JsonResponse(view)))
}

#[derive(Serialize)]
struct Cards {
    cards: Vec<CardView>,
}

async fn cards(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<Cards>, Problem> {
    let cards = sqlx::query_as(
        "SELECT id, brand, last4, exp_month, exp_year, created_at FROM cards \
         WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC",
    )
    .bind(caller.user_id)
    .fetch_all(&state.db)
    .await?;
    Ok(JsonResponse(Cards { cards }))
}

async fn remove_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> Result<StatusCode, Problem> {
    let removed = sqlx::query(
        "UPDATE cards SET deleted_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
    )
    .bind(&card_id)
    .bind(caller.user_id)
    .execute(&state.db)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(Problem::not_found("Card not found"));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- wallet ----

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct EntryRow {
    id: i64,
    kind: String,
    #[serde(skip)]
    amount_minor: i64,
    #[serde(skip)]
    currency: String,
    payment_id: Option<i64>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    #[serde(flatten)]
    row: EntryRow,
    amount: MoneyView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletView {
    balances: Vec<MoneyView>,
    /// The most recent movements, newest first.
    entries: Vec<EntryView>,
}

async fn wallet_view(db: &PgPool, user_id: i64) -> Result<WalletView, Problem> {
    let balances: Vec<(i64, String)> = sqlx::query_as(
        "SELECT balance_minor, currency FROM wallets WHERE user_id = $1 ORDER BY currency",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let entries: Vec<EntryRow> = sqlx::query_as(
        "SELECT id, kind, amount_minor, currency, payment_id, created_at FROM wallet_entries \
         WHERE user_id = $1 ORDER BY id DESC LIMIT 50",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(WalletView {
        balances: balances.iter().map(|(m, c)| money(*m, c)).collect(),
        entries: entries
            .into_iter()
            .map(|row| EntryView {
                amount: money(row.amount_minor, &row.currency),
                row,
            })
            .collect(),
    })
}

async fn wallet(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<WalletView>, Problem> {
    Ok(JsonResponse(wallet_view(&state.db, caller.user_id).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TopUp {
    /// Decimal text in major units, e.g. `"100.00"`.
    amount: String,
    currency: String,
    /// The saved card to charge; the most recent one when absent.
    card_id: Option<String>,
}

/// Most that one top-up may add, in minor units.
const MAX_TOP_UP_MINOR: i64 = 100_000_000;

fn declined(error: &ProcessorError) -> Problem {
    match error {
        ProcessorError::Declined(code) => Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            format!("The card was declined ({code})"),
        )
        .with_type("card-declined")
        .with_extension("reason", *code),
        ProcessorError::Timeout => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "The card processor did not answer in time; try again with the same Idempotency-Key",
        )
        .with_extension("retryable", true),
        ProcessorError::Unavailable(cause) => {
            Problem::dependency_unavailable("card processor", cause)
        }
    }
}

async fn top_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TopUp>,
) -> Result<JsonResponse<WalletView>, Problem> {
    let key = platform::http::idempotency_key(&headers)?;
    let currency = Currency::parse(body.currency.trim().to_ascii_uppercase().as_str())
        .map_err(Problem::bad_request)?;
    let amount = Money::parse_major(&body.amount, currency).map_err(Problem::bad_request)?;
    if amount.minor() <= 0 || amount.minor() > MAX_TOP_UP_MINOR {
        return Err(Problem::bad_request(
            "a top-up is more than 0 and at most 1000000 in major units",
        ));
    }
    let card: Option<(String, String)> = sqlx::query_as(
        "SELECT processor_token, id FROM cards \
         WHERE user_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id = $2) \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(caller.user_id)
    .bind(body.card_id.as_deref())
    .fetch_optional(&state.db)
    .await?;
    let token = match (&card, &body.card_id) {
        (Some((token, _)), _) => token.clone(),
        (None, Some(_)) => return Err(Problem::not_found("Card not found")),
        (None, None) => state
            .processor
            .sandbox_token()
            .map(str::to_owned)
            .ok_or_else(|| Problem::bad_request("save a card first (POST /api/payments/cards)"))?,
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
        .unwrap_or(Err(ProcessorError::Timeout))
        .map_err(|e| declined(&e))?;
    let mut tx = state.db.begin().await?;
    let recorded = sqlx::query(
        "INSERT INTO wallet_entries (user_id, currency, amount_minor, kind, request_key, processor_reference) \
         VALUES ($1, $2, $3, 'top_up', $4, $5) ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING",
    )
    .bind(caller.user_id)
    .bind(currency.as_str())
    .bind(amount.minor())
    .bind(&request_key)
    .bind(&reference)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    // A replayed top-up (same Idempotency-Key) credits nothing more.
    if recorded {
        sqlx::query(
            "INSERT INTO wallets (user_id, currency, balance_minor) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, currency) DO UPDATE SET balance_minor = wallets.balance_minor + $3",
        )
        .bind(caller.user_id)
        .bind(currency.as_str())
        .bind(amount.minor())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(JsonResponse(wallet_view(&state.db, caller.user_id).await?))
}

// ---- payments ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardSummary {
    brand: String,
    last4: String,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct RefundRow {
    #[serde(skip)]
    payment_id: i64,
    #[serde(skip)]
    amount_minor: i64,
    #[serde(skip)]
    fee_minor: i64,
    reason: String,
    status: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundView {
    amount: MoneyView,
    fee: MoneyView,
    #[serde(flatten)]
    row: RefundRow,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentView {
    payment_id: i64,
    booking_id: i64,
    booking_reference: String,
    user_id: i64,
    method: PaymentMethod,
    card: Option<CardSummary>,
    amount: MoneyView,
    status: PaymentStatus,
    failure_reason: Option<PaymentFailure>,
    refunded: MoneyView,
    refund: Option<RefundView>,
    description: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

fn view(payment: PaymentRow, refund: Option<RefundRow>) -> PaymentView {
    let currency = payment.currency.clone();
    PaymentView {
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
        refund: refund.map(|row| RefundView {
            amount: money(row.amount_minor, &currency),
            fee: money(row.fee_minor, &currency),
            row,
        }),
        description: payment.description,
        created_at: payment.created_at,
        completed_at: payment.completed_at,
    }
}

async fn refunds_of(db: &PgPool, ids: &[i64]) -> Result<Vec<RefundRow>, Problem> {
    sqlx::query_as(
        "SELECT payment_id, amount_minor, fee_minor, reason, status, created_at, completed_at \
         FROM refunds WHERE payment_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .map_err(Problem::from)
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
) -> Result<JsonResponse<PaymentPage>, Problem> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let user_id = query.user_id.unwrap_or(caller.user_id);
    caller.require_self_or_staff(user_id)?;
    let rows: Vec<PaymentRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND ($2::bigint IS NULL OR booking_id = $2) \
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(user_id)
    .bind(query.booking_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&state.db)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payments WHERE user_id = $1 AND ($2::bigint IS NULL OR booking_id = $2)",
    )
    .bind(user_id)
    .bind(query.booking_id)
    .fetch_one(&state.db)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let mut refunds = refunds_of(&state.db, &ids).await?;
    let payments = rows
        .into_iter()
        .map(|payment| {
            let refund = refunds
                .iter()
                .position(|r| r.payment_id == payment.id)
                .map(|i| refunds.swap_remove(i));
            view(payment, refund)
        })
        .collect();
    Ok(JsonResponse(PaymentPage {
        payments,
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

/// A payment the caller may see: their own, or any for staff; others' are not found.
async fn visible(
    db: &PgPool,
    caller: &Caller,
    id: i64,
) -> Result<(PaymentRow, Option<RefundRow>), Problem> {
    let payment: PaymentRow =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?
            .filter(|p: &PaymentRow| p.user_id == caller.user_id || caller.is_staff())
            .ok_or_else(|| Problem::not_found("Payment not found"))?;
    let refund = refunds_of(db, &[id]).await?.pop();
    Ok((payment, refund))
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(payment_id): Path<i64>,
) -> Result<JsonResponse<PaymentView>, Problem> {
    let (payment, refund) = visible(&state.db, &caller, payment_id).await?;
    Ok(JsonResponse(view(payment, refund)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    receipt_number: String,
    issued_at: DateTime<Utc>,
    payment: PaymentView,
    lines: Vec<ReceiptLine>,
    total_paid: MoneyView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptLine {
    description: String,
    amount: MoneyView,
}

/// A receipt for a successful payment: JSON, or HTML for `Accept: text/html`.
async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(payment_id): Path<i64>,
) -> Result<Response, Problem> {
    let (payment, refund) = visible(&state.db, &caller, payment_id).await?;
    if payment.status != PaymentStatus::Succeeded {
        return Err(Problem::conflict(format!(
            "Payment {payment_id} is {}; receipts exist for successful payments only",
            payment.status
        )));
    }
    let currency = payment.currency.clone();
    let mut lines = vec![ReceiptLine {
        description: payment.description.clone(),
        amount: money(payment.amount_minor, &currency),
    }];
    if let Some(refund) = &refund
        && refund.status == "SUCCEEDED"
    {
        lines.push(ReceiptLine {
            description: format!("Refund ({})", refund.reason),
            amount: money(-refund.amount_minor, &currency),
        });
    }
    let receipt = Receipt {
        receipt_number: format!("IT-{}-{:06}", payment.created_at.format("%Y%m"), payment.id),
        issued_at: payment.completed_at.unwrap_or(payment.created_at),
        total_paid: money(payment.amount_minor - payment.refunded_minor, &currency),
        payment: view(payment, refund),
        lines,
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return Ok(Html(receipt_html(&receipt)).into_response());
    }
    Ok(JsonResponse(receipt).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn receipt_html(receipt: &Receipt) -> String {
    let rows: String = receipt
        .lines
        .iter()
        .map(|line| {
            format!(
                "<tr><td>{}</td><td class=\"amount\">{} {}</td></tr>",
                escape(&line.description),
                escape(&line.amount.amount),
                escape(&line.amount.currency)
            )
        })
        .collect();
    let card = receipt
        .payment
        .card
        .as_ref()
        .map(|c| format!("{} ending {}", escape(&c.brand), escape(&c.last4)))
        .unwrap_or_else(|| escape(receipt.payment.method.as_str()));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Receipt {number}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}td{{padding:.3em 1em}}\
         .amount{{text-align:right}}</style></head><body>\
         <h1>Itinera receipt {number}</h1><p>Issued {issued} (UTC). Booking {booking}. Paid by {card}.</p>\
         <table>{rows}<tr><th>Total paid</th><th class=\"amount\">{total} {currency}</th></tr></table>\
         </body></html>",
        number = escape(&receipt.receipt_number),
        issued = receipt.issued_at.format("%Y-%m-%d %H:%M"),
        booking = escape(&receipt.payment.booking_reference),
        total = escape(&receipt.total_paid.amount),
        currency = escape(&receipt.total_paid.currency),
    )
}
