//! `/api/payments/refund-quote`: what the customer would get back if they cancelled a booking
//! now, by the rules and the terms its refund would follow, so that a quote and the refund made
//! afterwards agree.

use std::collections::HashSet;

use axum::extract::State;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use contracts::states::PaymentStatus;
use platform::auth::Caller;
use platform::http::Query;
use platform::money::MoneyView;
use serde::{Deserialize, Serialize};

use super::{AppState, money};
use crate::domain::refunds::{Booked, Quote};
use crate::error::PaymentError;
use crate::store::{payments, refunds, terms};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/payments/refund-quote", get(quote))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QuoteQuery {
    /// A booking paid alone, a trip, or an item of a trip.
    booking_id: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundQuoteView {
    booking_id: i64,
    payment_id: i64,
    /// What was paid for what would be cancelled: the booking, or a trip's items not yet
    /// cancelled (nothing before the payment succeeded).
    paid: MoneyView,
    refund: MoneyView,
    fee: MoneyView,
    rule: String,
    /// Until when cancelling gives everything back; null once it no longer does, or never did.
    refundable_until: Option<DateTime<Utc>>,
}

/// The owner's quote, or staff's; anyone else's is not found. A booking already cancelled (and
/// refunded), or that ended unpaid, has nothing to quote: 409. A trip's quote covers its items
/// not yet cancelled; an item's, that item, from the trip's payment.
async fn quote(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<QuoteQuery>,
) -> Result<JsonResponse<RefundQuoteView>, PaymentError> {
    let booking_id = query.booking_id;
    let rows = terms::of_booking(&state.db, booking_id).await?;
    let payment_id = rows
        .first()
        .map(|row| row.payment_id)
        .ok_or(PaymentError::BookingNotFound)?;
    let payment = payments::find(&state.db, payment_id)
        .await?
        .filter(|p| p.user_id == caller.user_id || caller.is_staff())
        .ok_or(PaymentError::BookingNotFound)?;
    let made = refunds::of_payments(&state.db, &[payment.id]).await?;
    // A refund is queued for each booking the customer (or anyone) cancelled after it was paid.
    let cancelled: HashSet<i64> = made.iter().map(|r| r.for_booking_id).collect();
    let open: Vec<Booked> = rows
        .iter()
        .filter(|row| !cancelled.contains(&row.booking_id))
        .map(terms::TermsRow::booked)
        .collect();
    let ended = payment.void_requested
        || matches!(
            payment.status,
            PaymentStatus::Failed | PaymentStatus::Voided
        );
    if ended || open.is_empty() {
        return Err(PaymentError::BookingEnded(booking_id));
    }
    let quote = if payment.status == PaymentStatus::Succeeded {
        let left_minor = payment.amount_minor - made.iter().map(|r| r.amount_minor).sum::<i64>();
        state.policy.quote(&open, left_minor, Utc::now())
    } else {
        Quote::unpaid()
    };
    let currency = &payment.currency;
    Ok(JsonResponse(RefundQuoteView {
        booking_id,
        payment_id: payment.id,
        paid: money(quote.paid_minor, currency),
        refund: money(quote.refund.amount_minor, currency),
        fee: money(quote.refund.fee_minor, currency),
        rule: quote.rule,
        refundable_until: quote.refundable_until,
    }))
}
