//! The payment side of the booking saga, driven by booking's events: a new booking queues its
//! payment; a booking that ends (cancelled, expired) voids a payment not yet made, or queues a
//! refund of one that was.
//!
//! A trip is paid once, by its own booking (product `trip`, price = the total); its items ask
//! for no payment. An item the customer cancels after the trip was confirmed is refunded from
//! the trip's payment by the item's own rule; when the whole trip is cancelled, each item arrives
//! cancelled on its own, so the trip's own event refunds nothing more.

use chrono::{DateTime, Utc};
use contracts::events::{BookingEvent, BookingSnapshot, PaymentEvent};
use contracts::states::{
    BookingStatus, CancelReason, PaymentFailure, PaymentMethod, PaymentStatus, Product,
};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::domain::refunds::{CancellationTerms, Refund, RefundPolicy};
use crate::store::cards::SavedCard;
use crate::store::payments::{self, NewPayments};
use crate::store::terms::NewTerms;
use crate::store::{self, PaymentRow, jobs, refunds};

pub struct BookingEvents {
    /// The processor's always-approving card, for card payments without a saved card; demo
    /// mode only.
    pub sandbox_token: Option<String>,
    pub policy: RefundPolicy,
}

impl EventHandler for BookingEvents {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            let envelope_time = event.time;
            // Event types this build does not know ask nothing of payments.
            let Some(event) = BookingEvent::decode(&event.kind, &event.data)? else {
                return Ok(());
            };
            self.apply(tx, event, envelope_time).await
        })
    }

    /// Every `booking.created` of the batch in two statements, then the endings in order. A
    /// booking is always created before it ends, so its events keep their order.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let mut created = Vec::new();
            let mut rest = Vec::new();
            for event in events {
                match BookingEvent::decode(&event.kind, &event.data)? {
                    // A trip's items go on with the rest, where they ask for nothing.
                    Some(BookingEvent::Created(booking)) if booking.is_paid_alone() => {
                        created.push(booking);
                    }
                    Some(decoded) => rest.push((decoded, event.time)),
                    None => {}
                }
            }
            if !created.is_empty() {
                self.on_created(tx, &created).await?;
            }
            for (event, at) in rest {
                self.apply(tx, event, at).await?;
            }
            Ok(())
        })
    }
}

/// How a booking ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Cancelled,
    Expired,
}

fn method_of(booking: &BookingSnapshot) -> PaymentMethod {
    booking.payment_method.unwrap_or(PaymentMethod::CreditCard)
}

/// Whether the customer cancelled a confirmed booking, whose refund then follows its terms; any
/// other ending (expired, cancelled before it was confirmed, or because its flight was
/// cancelled) gives everything back.
fn by_terms(ending: Ending, booking: &BookingSnapshot) -> bool {
    ending == Ending::Cancelled
        && booking.previous_status == Some(BookingStatus::Confirmed)
        && booking.cancel_reason != Some(CancelReason::FlightCancelled)
}

/// What the customer agreed to about cancelling `booking`: flights (and bookings made before
/// there were other products) the fare rule from the departure as booking knows it now (a delay
/// moves it), not as it was when the payment was created; stays and rentals their deadline.
fn terms_of(booking: &BookingSnapshot) -> CancellationTerms {
    CancellationTerms::of(booking.product, booking.starts_at, booking.refundable_until)
}

impl BookingEvents {
    /// `at` is when the event happened (its envelope's time): a cancellation is refunded by the
    /// terms as they stood when the customer cancelled, however late it is processed.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: BookingEvent,
        at: DateTime<Utc>,
    ) -> Result<(), HandleError> {
        match event {
            BookingEvent::Created(booking) if booking.is_paid_alone() => {
                self.on_created(tx, &[booking]).await
            }
            // The trip's payment covers its items.
            BookingEvent::Created(_) => Ok(()),
            BookingEvent::Cancelled(booking) => {
                self.on_ended(tx, Ending::Cancelled, &booking, at).await
            }
            BookingEvent::Expired(booking) => {
                self.on_ended(tx, Ending::Expired, &booking, at).await
            }
            BookingEvent::Confirmed(_) => Ok(()),
        }
    }

    /// Records a payment (one per booking) for each new booking: `PENDING` for the workers to
    /// charge, `PENDING` awaiting the customer's choice when they pay by card and have none saved
    /// (outside demo mode), or `FAILED` at once (with `payment.failed`) when the card they chose
    /// is not theirs. With each payment, the terms of what it pays for (the booking, or a trip's
    /// items), for refund quotes.
    async fn on_created(
        &self,
        tx: &mut PgConnection,
        bookings: &[BookingSnapshot],
    ) -> Result<(), HandleError> {
        // The one card each card payment uses: the chosen one, or the most recently saved.
        let (users, chosen): (Vec<i64>, Vec<Option<String>>) = bookings
            .iter()
            .filter(|b| method_of(b).by_card())
            .map(|b| (b.user_id, b.payment_card_id.clone()))
            .unzip();
        let mut found = if users.is_empty() {
            Vec::new()
        } else {
            store::cards::for_payments(tx, &users, &chosen).await?
        }
        .into_iter()
        .peekable();
        let mut by_card = 0;
        let mut new = NewPayments::default();
        let mut terms = NewTerms::default();
        for booking in bookings {
            terms.push(booking);
            let method = method_of(booking);
            let card: Option<SavedCard> = if method.by_card() {
                by_card += 1;
                found
                    .next_if(|c| c.position == by_card)
                    .map(|found| found.card)
            } else {
                None
            };
            // Without a saved card, the seed API's clients (which send no card) pay with the
            // processor's sandbox card in demo mode, and choose how to pay afterwards otherwise.
            let (token, awaiting) = match (&card, &booking.payment_card_id) {
                (Some(card), _) => (Some(card.processor_token.clone()), false),
                (None, None) if method.by_card() => match &self.sandbox_token {
                    Some(sandbox) => (Some(sandbox.clone()), false),
                    None => (None, true),
                },
                _ => (None, false),
            };
            let failure = (method.by_card() && token.is_none() && !awaiting)
                .then_some(PaymentFailure::CardNotFound.as_str());
            new.description.push(format!(
                "{}, booking {}",
                booking.description, booking.reference
            ));
            new.booking_id.push(booking.booking_id);
            new.booking_reference.push(booking.reference.clone());
            new.user_id.push(booking.user_id);
            new.method.push(method.as_str());
            new.card_id.push(card.as_ref().map(|c| c.id.clone()));
            new.card_brand.push(card.as_ref().map(|c| c.brand.clone()));
            new.card_last4.push(card.as_ref().map(|c| c.last4.clone()));
            new.card_token.push(token);
            new.amount_minor.push(booking.price.amount_minor);
            new.currency.push(booking.price.currency.clone());
            new.departure_at.push(booking.starts_at);
            new.status.push(if failure.is_some() {
                PaymentStatus::Failed.as_str()
            } else {
                PaymentStatus::Pending.as_str()
            });
            new.failure_reason.push(failure);
            new.awaiting_method.push(awaiting);
            // Derived from the booking: however often the booking's event arrives, and however
            // often the charge is retried, the processor sees one charge.
            new.idempotency_key
                .push(format!("booking-{}", booking.booking_id));
        }
        // One statement for all of them, with the workers' wake-up; a booking already recorded
        // (a redelivered or replayed event) is skipped.
        let inserted = payments::insert_many(tx, &new).await?;
        store::terms::insert_many(tx, &terms).await?;
        let failed: Vec<PaymentRow> = inserted
            .into_iter()
            .filter(|p| p.status == PaymentStatus::Failed)
            .collect();
        if !failed.is_empty() {
            payments::publish_many(tx, PaymentEvent::Failed, &failed).await?;
        }
        Ok(())
    }

    async fn on_ended(
        &self,
        tx: &mut PgConnection,
        ending: Ending,
        booking: &BookingSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), HandleError> {
        if let Some(trip_id) = booking.trip_id {
            return self.on_item_ended(tx, ending, trip_id, booking, at).await;
        }
        let Some(payment) = payments::find_by_booking(tx, booking.booking_id).await? else {
            return Ok(());
        };
        match payment.status {
            // Never tried: nothing to undo.
            PaymentStatus::Pending if payment.attempts == 0 => {
                payments::void(tx, payment.id).await?;
            }
            // An attempt whose outcome is unknown (a timeout) may have charged the card: the
            // worker asks the processor before voiding, and refunds a charge it finds.
            PaymentStatus::Pending => {
                payments::request_void(tx, payment.id).await?;
                jobs::make_due(tx, payment.id).await?;
            }
            // The charge is in flight: the worker voids or refunds it when it returns.
            PaymentStatus::Processing => {
                payments::request_void(tx, payment.id).await?;
            }
            // A confirmed trip cancelled: its items arrive cancelled on their own and are
            // refunded one by one, each by its own rule.
            PaymentStatus::Succeeded
                if booking.product == Product::Trip
                    && booking.previous_status == Some(BookingStatus::Confirmed) => {}
            PaymentStatus::Succeeded => {
                let (refund, reason) = if by_terms(ending, booking) {
                    (
                        self.policy
                            .by_terms(terms_of(booking), payment.amount_minor, at),
                        "cancelled by the customer",
                    )
                } else {
                    (
                        Refund::full(payment.amount_minor),
                        "booking ended before it was confirmed",
                    )
                };
                refunds::queue(tx, payment.id, booking.booking_id, refund, reason).await?;
            }
            PaymentStatus::Failed | PaymentStatus::Voided => {}
        }
        Ok(())
    }

    /// An item of trip `trip_id` ended. One that was confirmed (the trip was paid) is refunded
    /// from the trip's payment, by its own rule applied to its own price; one that ended before
    /// that changes nothing here: the trip's own event voids or refunds the trip's payment.
    async fn on_item_ended(
        &self,
        tx: &mut PgConnection,
        ending: Ending,
        trip_id: i64,
        item: &BookingSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), HandleError> {
        if item.previous_status != Some(BookingStatus::Confirmed) {
            return Ok(());
        }
        let Some(payment) = payments::find_by_booking(tx, trip_id).await? else {
            return Ok(());
        };
        if payment.status != PaymentStatus::Succeeded {
            return Ok(());
        }
        let price = item.price.amount_minor;
        let (refund, why) = if by_terms(ending, item) {
            (
                self.policy.by_terms(terms_of(item), price, at),
                "cancelled by the customer",
            )
        } else {
            (Refund::full(price), "its flight was cancelled")
        };
        let reason = format!("{}, booking {}: {why}", item.description, item.reference);
        refunds::queue(tx, payment.id, item.booking_id, refund, &reason).await?;
        Ok(())
    }
}
