//! Keeps the search read model's seats-left current from booking's events.

use contracts::events::{BookingSnapshot, InventorySnapshot, types};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

/// Applies the inventory carried by the `booking.*` events that change seats (a booking made,
/// cancelled or expired; confirmation changes none); older reports than the one applied are
/// ignored, so redelivery and reordering leave the right number.
pub struct SeatsLeft;

/// Whether the event changes seats left.
fn changes_seats(event: &Envelope) -> bool {
    event.kind.starts_with("booking.") && event.kind != types::BOOKING_CONFIRMED
}

impl EventHandler for SeatsLeft {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        self.handle_batch(vec![event], tx)
    }

    /// A batch becomes one statement: the newest report of each cabin wins, whatever the order.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let bookings = events
                .into_iter()
                .filter(|event| changes_seats(event))
                .map(|event| event.payload::<BookingSnapshot>())
                .collect::<Result<Vec<_>, _>>()?;
            let inventories: Vec<&InventorySnapshot> =
                bookings.iter().map(|booking| &booking.inventory).collect();
            crate::store::flights::apply_inventories(&mut *tx, &inventories).await?;
            Ok(())
        })
    }
}
