//! Keeps booking's copy of catalog's hotels and cars (room types and their room counts, rate
//! plans, cars and their prices) current from `catalog.listings`.

use contracts::events::ListingEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

pub struct ListingReplica;

impl EventHandler for ListingReplica {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            // Event types this build does not know are not for this replica.
            let Some(event) = ListingEvent::decode(&event.kind, &event.data)? else {
                return Ok(());
            };
            let deleted = matches!(event, ListingEvent::Deleted(_));
            crate::store::listings::apply(tx, event.listing(), deleted).await?;
            Ok(())
        })
    }
}
