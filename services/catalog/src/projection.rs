//! Keeps the search read model's seats-left current from booking's events.

use contracts::events::BookingSnapshot;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

/// Applies the inventory carried by every `booking.*` event; older reports than the one applied
/// are ignored, so redelivery and reordering leave the right number.
pub struct SeatsLeft;

impl EventHandler for SeatsLeft {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            if !event.kind.starts_with("booking.") {
                return Ok(());
            }
            let booking: BookingSnapshot = event.payload()?;
            crate::store::flights::apply_inventory(&mut *tx, &booking.inventory).await?;
            Ok(())
        })
    }
}
