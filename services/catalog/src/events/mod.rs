//! What catalog does with the events it consumes, one module per topic.

pub mod bookings;
pub mod rentals;
pub mod stays;

use std::collections::HashMap;

use contracts::events::BookingEvent;
use platform::events::Envelope;
use platform::events::consumer::HandleError;

use crate::store::cars::progress;

/// What a batch of booking events reports of each booking, once, at its furthest status:
/// statuses only move forward, so within a batch the furthest report is the one that counts.
/// `report` reads what the handler keeps from an event (`None` when the booking is not its
/// product); events of types this build does not know are skipped.
fn furthest_per_booking<T>(
    events: Vec<&Envelope>,
    report: impl Fn(&BookingEvent) -> Result<Option<T>, HandleError>,
) -> Result<Vec<T>, HandleError> {
    let mut latest: HashMap<i64, (i32, T)> = HashMap::new();
    for event in events {
        let Some(event) = BookingEvent::decode(&event.kind, &event.data)? else {
            continue;
        };
        let Some(kept) = report(&event)? else {
            continue;
        };
        let booking = event.booking();
        let rank = progress(booking.status);
        match latest.get(&booking.booking_id) {
            Some((seen, _)) if *seen >= rank => {}
            _ => {
                latest.insert(booking.booking_id, (rank, kept));
            }
        }
    }
    Ok(latest.into_values().map(|(_, kept)| kept).collect())
}
