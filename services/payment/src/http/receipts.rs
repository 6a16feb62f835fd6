//! `/api/payments/{payment_id}/receipt`: a receipt for a successful payment, as JSON or HTML.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use contracts::states::PaymentStatus;
use platform::auth::Caller;
use platform::http::Path;
use platform::money::MoneyView;
use serde::Serialize;

use super::payments::{PaymentView, view, visible};
use super::{AppState, money};
use crate::error::PaymentError;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/payments/{payment_id}/receipt", get(receipt))
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
) -> Result<Response, PaymentError> {
    let (payment, refunds) = visible(&state.db, &caller, payment_id).await?;
    if payment.status != PaymentStatus::Succeeded {
        return Err(PaymentError::NoReceipt {
            payment_id,
            status: payment.status,
        });
    }
    let currency = payment.currency.clone();
    let mut lines = vec![ReceiptLine {
        description: payment.description.clone(),
        amount: money(payment.amount_minor, &currency),
    }];
    // One line per refund made (a trip's items are refunded one by one); those still on their way
    // are not on the receipt yet, nor in its total.
    lines.extend(
        refunds
            .iter()
            .filter(|refund| refund.status == "SUCCEEDED")
            .map(|refund| ReceiptLine {
                description: format!("Refund ({})", refund.reason),
                amount: money(-refund.amount_minor, &currency),
            }),
    );
    let receipt = Receipt {
        receipt_number: format!("IT-{}-{:06}", payment.created_at.format("%Y%m"), payment.id),
        issued_at: payment.completed_at.unwrap_or(payment.created_at),
        total_paid: money(payment.amount_minor - payment.refunded_minor, &currency),
        payment: view(payment, refunds),
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
