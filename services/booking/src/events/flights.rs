//! Keeps booking's copy of each flight (schedule, status, seat maps, fares) current from catalog's
//! flight events, and creates the seat inventory of new flights. A flight that is cancelled takes
//! its bookings with it.

use contracts::events::FlightEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::error::BookingError;

pub struct FlightReplica;

impl EventHandler for FlightReplica {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            // Event types this build does not know are not for this replica.
            let Some(event) = FlightEvent::decode(&event.kind, &event.data)? else {
                return Ok(());
            };
            let flight = match &event {
                FlightEvent::Scheduled(flight)
                | FlightEvent::Updated(flight)
                | FlightEvent::StatusChanged(flight) => flight,
            };
            crate::bookings::flight_changed(tx, flight)
                .await
                .map_err(|e| match e {
                    BookingError::Database(e) => HandleError::Database(e),
                    other => HandleError::Retry(other.to_string()),
                })
        })
    }
}
