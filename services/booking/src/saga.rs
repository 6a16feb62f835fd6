//! Booking's side of the payment saga: the payment service's answers move a booking on.
//! `payment.succeeded` confirms it, `payment.failed` cancels it and releases its seats, and
//! `payment.refunded` records the refund on it.

use contracts::events::{PaymentSnapshot, types};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::bookings;
use crate::error::BookingError;

pub struct PaymentEvents;

fn handle_error(error: BookingError) -> HandleError {
    match error {
        BookingError::Database(e) => HandleError::Database(e),
        // The booking does not exist here: nothing to move on, and retrying cannot help.
        BookingError::BookingNotFound => {
            HandleError::Reject("the payment is for a booking this service does not have".into())
        }
        other => HandleError::Retry(other.to_string()),
    }
}

impl EventHandler for PaymentEvents {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            let result = match event.kind.as_str() {
                types::PAYMENT_SUCCEEDED => {
                    let payment: PaymentSnapshot = event.payload()?;
                    bookings::confirm(tx, &[(payment.booking_id, payment.payment_id)]).await
                }
                types::PAYMENT_FAILED => {
                    let payment: PaymentSnapshot = event.payload()?;
                    bookings::payment_failed(tx, payment.booking_id).await
                }
                types::PAYMENT_REFUNDED => {
                    let payment: PaymentSnapshot = event.payload()?;
                    crate::store::bookings::set_refunded(
                        &mut *tx,
                        payment.booking_id,
                        payment.payment_id,
                        payment.refunded.amount_minor,
                    )
                    .await
                    .map_err(BookingError::from)
                }
                _ => Ok(()),
            };
            result.map_err(handle_error)
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
            let (succeeded, rest): (Vec<&Envelope>, Vec<&Envelope>) = events
                .into_iter()
                .partition(|event| event.kind == types::PAYMENT_SUCCEEDED);
            let payments = succeeded
                .into_iter()
                .map(|event| {
                    event
                        .payload::<PaymentSnapshot>()
                        .map(|p| (p.booking_id, p.payment_id))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !payments.is_empty() {
                bookings::confirm(tx, &payments)
                    .await
                    .map_err(handle_error)?;
            }
            for event in rest {
                self.handle(event, tx).await?;
            }
            Ok(())
        })
    }
}
