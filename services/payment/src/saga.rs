//! The payment side of the booking saga, driven by booking's events: a new booking queues its
//! payment; a booking that ends (cancelled, expired) voids a payment not yet made, or queues a
//! refund of one that was.

use std::sync::Arc;

use chrono::Utc;
use contracts::events::{BookingSnapshot, types};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::processor::CardProcessor;
use crate::refunds::{Refund, RefundPolicy};
use crate::store::{self, COLUMNS, PaymentRow};

pub struct BookingEvents {
    pub processor: Arc<dyn CardProcessor>,
    pub policy: RefundPolicy,
}

impl EventHandler for BookingEvents {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            match event.kind.as_str() {
                types::BOOKING_CREATED => self.on_created(tx, &event.payload()?).await,
                types::BOOKING_CANCELLED | types::BOOKING_EXPIRED => {
                    self.on_ended(tx, &event.kind, &event.payload()?).await
                }
                _ => Ok(()),
            }
        })
    }
}

/// The card a booking is paid with.
struct CardChoice {
    id: Option<String>,
    brand: Option<String>,
    last4: Option<String>,
    token: String,
}

impl BookingEvents {
    async fn card_for(
        &self,
        tx: &mut PgConnection,
        booking: &BookingSnapshot,
    ) -> Result<Option<CardChoice>, HandleError> {
        // The chosen card, or else the customer's most recently saved one.
        let saved: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, brand, last4, processor_token FROM cards \
             WHERE user_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id = $2) \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(booking.user_id)
        .bind(booking.payment_card_id.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id, brand, last4, token)) = saved {
            return Ok(Some(CardChoice {
                id: Some(id),
                brand: Some(brand),
                last4: Some(last4),
                token,
            }));
        }
        if booking.payment_card_id.is_some() {
            return Ok(None);
        }
        Ok(self.processor.sandbox_token().map(|token| CardChoice {
            id: None,
            brand: None,
            last4: None,
            token: token.to_owned(),
        }))
    }

    async fn on_created(
        &self,
        tx: &mut PgConnection,
        booking: &BookingSnapshot,
    ) -> Result<(), HandleError> {
        let method = booking.payment_method.as_deref().unwrap_or("credit_card");
        if !matches!(method, "credit_card" | "debit_card" | "wallet") {
            return Err(HandleError::Reject(format!(
                "booking {} has unknown payment method {method}",
                booking.booking_id
            )));
        }
        let card = if method == "wallet" {
            None
        } else {
            self.card_for(tx, booking).await?
        };
        let failure = (method != "wallet" && card.is_none()).then_some("card_not_found");
        let description = format!(
            "{} {}, {} passenger{}, booking {}",
            booking.flight_code,
            booking.cabin,
            booking.passengers.len(),
            if booking.passengers.len() == 1 {
                ""
            } else {
                "s"
            },
            booking.reference
        );
        let inserted: Option<PaymentRow> = sqlx::query_as(&format!(
            "INSERT INTO payments (booking_id, booking_reference, user_id, method, card_id, card_brand, \
                 card_last4, card_token, amount_minor, currency, departure_at, description, status, \
                 failure_reason, idempotency_key, completed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                     CASE WHEN $13 = 'FAILED' THEN now() END) \
             ON CONFLICT (booking_id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(booking.booking_id)
        .bind(&booking.reference)
        .bind(booking.user_id)
        .bind(method)
        .bind(card.as_ref().and_then(|c| c.id.as_deref()))
        .bind(card.as_ref().and_then(|c| c.brand.as_deref()))
        .bind(card.as_ref().and_then(|c| c.last4.as_deref()))
        .bind(card.as_ref().map(|c| c.token.as_str()))
        .bind(booking.price.amount_minor)
        .bind(&booking.price.currency)
        .bind(booking.departure_at)
        .bind(description)
        .bind(if failure.is_some() { "FAILED" } else { "PENDING" })
        .bind(failure)
        // Derived from the booking: however often the booking's event arrives, and however
        // often the charge is retried, the processor sees one charge.
        .bind(format!("booking-{}", booking.booking_id))
        .fetch_optional(&mut *tx)
        .await?;
        match inserted {
            // Already recorded: a redelivered or replayed event.
            None => Ok(()),
            Some(payment) if failure.is_some() => {
                store::publish(tx, types::PAYMENT_FAILED, &payment, None).await?;
                Ok(())
            }
            Some(_) => Ok(store::wake_workers(tx).await?),
        }
    }

    async fn on_ended(
        &self,
        tx: &mut PgConnection,
        kind: &str,
        booking: &BookingSnapshot,
    ) -> Result<(), HandleError> {
        let Some(payment) = store::find_by_booking(tx, booking.booking_id).await? else {
            return Ok(());
        };
        match payment.status.as_str() {
            "PENDING" => {
                sqlx::query(
                    "UPDATE payments SET status = 'VOIDED', completed_at = now() WHERE id = $1",
                )
                .bind(payment.id)
                .execute(&mut *tx)
                .await?;
            }
            // The charge is in flight: the worker voids or refunds it when it returns.
            "PROCESSING" => {
                sqlx::query("UPDATE payments SET void_requested = true WHERE id = $1")
                    .bind(payment.id)
                    .execute(&mut *tx)
                    .await?;
            }
            "SUCCEEDED" => {
                // A confirmed booking the customer cancels is refunded by the fare rule; one that
                // ended before it was confirmed (expired, or paid after it was cancelled), or
                // whose flight was cancelled, is refunded in full.
                let by_rule = kind == types::BOOKING_CANCELLED
                    && booking.previous_status.as_deref() == Some("CONFIRMED")
                    && booking.cancel_reason.as_deref() != Some("flight-cancelled");
                let (refund, reason) = if by_rule {
                    (
                        self.policy.on_cancellation(
                            payment.amount_minor,
                            payment.departure_at,
                            Utc::now(),
                        ),
                        "cancelled by the customer",
                    )
                } else {
                    (
                        Refund::full(payment.amount_minor),
                        "booking ended before it was confirmed",
                    )
                };
                store::queue_refund(
                    tx,
                    payment.id,
                    refund.amount_minor,
                    refund.fee_minor,
                    reason,
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
