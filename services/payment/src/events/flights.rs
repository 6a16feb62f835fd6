//! Catalog's flight events, for what a refund depends on: a flight booking's fare rule counts
//! from the flight's departure, which ops may move after it was booked. The refund of a
//! cancellation follows the departure booking reports then; the refund quote follows it here.

use std::collections::HashMap;

use contracts::events::FlightEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

pub struct FlightTimes;

impl EventHandler for FlightTimes {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        self.handle_batch(vec![event], tx)
    }

    /// A batch is one statement; of several events of one flight, the last (the newest, since a
    /// flight's events come in order) wins.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let mut departures = HashMap::new();
            for event in events {
                // Event types this build does not know move no departure.
                let Some(event) = FlightEvent::decode(&event.kind, &event.data)? else {
                    continue;
                };
                let flight = match &event {
                    FlightEvent::Scheduled(flight)
                    | FlightEvent::Updated(flight)
                    | FlightEvent::StatusChanged(flight) => flight,
                };
                departures.insert(flight.flight_id, flight.departure_at);
            }
            if departures.is_empty() {
                return Ok(());
            }
            let (flights, times): (Vec<_>, Vec<_>) = departures.into_iter().unzip();
            crate::store::terms::flight_moved(tx, &flights, &times).await?;
            Ok(())
        })
    }
}
