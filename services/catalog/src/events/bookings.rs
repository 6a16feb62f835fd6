//! Keeps the search read model's seats-left current from booking's events.

use contracts::events::{BookingEvent, InventorySnapshot};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

/// Applies the inventory carried by the booking events that change seats (a booking made,
/// cancelled or expired; confirmation changes none); older reports than the one applied are
/// ignored, so redelivery and reordering leave the right number.
pub struct SeatsLeft;

/// The seats left the event reports, if it changes them.
fn seats_left(event: BookingEvent) -> Option<InventorySnapshot> {
    match event {
        BookingEvent::Created(booking)
        | BookingEvent::Cancelled(booking)
        | BookingEvent::Expired(booking) => booking.flight.map(|flight| flight.inventory),
        BookingEvent::Confirmed(_) => None,
    }
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
            let mut inventories = Vec::new();
            for event in events {
                // Event types this build does not know change no seats.
                if let Some(event) = BookingEvent::decode(&event.kind, &event.data)? {
                    inventories.extend(seats_left(event));
                }
            }
            let inventories: Vec<&InventorySnapshot> = inventories.iter().collect();
            crate::store::flights::apply_inventories(&mut *tx, &inventories).await?;
            if !inventories.is_empty() {
                crate::search_cache::changed(&mut *tx).await?;
            }
            Ok(())
        })
    }
}
