//! Keeps booking's copy of each flight (schedule, status, seat maps, fares) current from catalog's
//! flight events, and creates the seat inventory of new flights.

use contracts::events::FlightSnapshot;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

pub struct FlightReplica;

impl EventHandler for FlightReplica {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            if !event.kind.starts_with("flight.") {
                return Ok(());
            }
            let flight: FlightSnapshot = event.payload()?;
            crate::store::flights::apply(tx, &flight).await?;
            Ok(())
        })
    }
}
