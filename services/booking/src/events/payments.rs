//! Booking's side of the payment saga: the payment service's answers move a booking on.
//! `payment.succeeded` confirms it, `payment.failed` cancels it and releases its seats, and
//! `payment.refunded` records the refund on it.

use contracts::events::{PaymentEvent, PaymentSnapshot};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::bookings;
use crate::error::BookingError;
use crate::store::bookings::Payment;

pub struct PaymentEvents;

fn handle_error(error: BookingError) -> HandleError {
    match error {
        BookingError::Database(e) => HandleError::Database(e),
        // The booking does not exist here: nothing to move on, and retrying cannot help.
        BookingError::BookingNotFound => {
            HandleError::Reject("the payment is for a booking this service does not have".into())
        }
        // A payment of another amount never confirms the booking; retrying cannot change it.
        BookingError::PaymentMismatch(detail) => HandleError::Reject(detail),
        other => HandleError::Retry(other.to_string()),
    }
}

impl EventHandler for PaymentEvents {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            // Event types this build does not know move no booking.
            let Some(event) = PaymentEvent::decode(&event.kind, &event.data)? else {
                return Ok(());
            };
            apply(tx, event).await
        })
    }

    /// Every `payment.succeeded` of the batch in one statement, then the rest in order. A
    /// booking's success always comes before its refund, so its events keep their order.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let mut payments = Vec::new();
            let mut rest = Vec::new();
            for event in events {
                match PaymentEvent::decode(&event.kind, &event.data)? {
                    Some(PaymentEvent::Succeeded(payment)) => payments.push(paid(payment)),
                    Some(event) => rest.push(event),
                    None => {}
                }
            }
            if !payments.is_empty() {
                bookings::confirm(tx, &payments)
                    .await
                    .map_err(handle_error)?;
            }
            for event in rest {
                apply(tx, event).await?;
            }
            Ok(())
        })
    }
}

fn paid(payment: PaymentSnapshot) -> Payment {
    Payment {
        booking_id: payment.booking_id,
        payment_id: payment.payment_id,
        amount_minor: payment.amount.amount_minor,
        currency: payment.amount.currency,
    }
}

async fn apply(tx: &mut PgConnection, event: PaymentEvent) -> Result<(), HandleError> {
    let result = match event {
        PaymentEvent::Succeeded(payment) => bookings::confirm(tx, &[paid(payment)]).await,
        PaymentEvent::Failed(payment) => bookings::payment_failed(tx, payment.booking_id).await,
        PaymentEvent::Refunded(payment) => refunded(tx, &payment).await,
    };
    result.map_err(handle_error)
}

/// Records a refund: on the booking paid (everything refunded so far) and, for a trip's item
/// refunded on its own, on the item (its price less what its rule kept).
async fn refunded(tx: &mut PgConnection, payment: &PaymentSnapshot) -> Result<(), BookingError> {
    use crate::store::bookings::set_refunded;
    set_refunded(
        &mut *tx,
        payment.booking_id,
        payment.payment_id,
        payment.refunded.amount_minor,
    )
    .await?;
    if let Some(item) = payment.refund_for_booking_id
        && let Some(price) =
            crate::store::bookings::item_price(&mut *tx, item, payment.booking_id).await?
    {
        let kept = payment
            .refund_fee
            .as_ref()
            .map_or(0, |fee| fee.amount_minor);
        set_refunded(&mut *tx, item, payment.payment_id, (price - kept).max(0)).await?;
    }
    Ok(())
}
