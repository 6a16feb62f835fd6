//! Booking's events: who is on which flight (kept by the handler for the whole batch), and the
//! notices of confirmed, cancelled and expired bookings.
//!
//! A trip is announced once: its items have no notices of their own (the templates skip them),
//! except an item cancelled on its own. When the whole trip is cancelled, booking cancels its
//! items too, each with its own event; those whose trip's cancellation is in the same batch, or
//! was announced before, are not announced again. Events of different bookings may arrive in any
//! order (on Kafka they are keyed by booking), so an item whose cancellation is handled before
//! its trip's gets a notice of its own as well: one notice too many, never one missing.

use std::collections::HashSet;

use contracts::events::BookingEvent;
use contracts::states::Product;
use platform::events::Envelope;
use sqlx::PgConnection;

use super::{Notifier, Pending};
use crate::domain::templates;
use crate::store::{contacts, trips};

impl Notifier {
    /// The notifications of booking events, with one lookup of the customers' names.
    pub(super) async fn bookings(
        &self,
        tx: &mut PgConnection,
        events: &[(&Envelope, BookingEvent)],
    ) -> Result<Vec<Pending>, sqlx::Error> {
        let user_ids: Vec<i64> = events.iter().map(|(_, e)| e.booking().user_id).collect();
        let names = contacts::names(tx, &user_ids).await?;
        let cancelled_trips: HashSet<i64> = {
            let (mut cancelled, mut items_of) = (Vec::new(), Vec::new());
            for (_, event) in events {
                let BookingEvent::Cancelled(booking) = event else {
                    continue;
                };
                if booking.product == Product::Trip {
                    cancelled.push(booking.booking_id);
                }
                items_of.extend(booking.trip_id);
            }
            trips::cancelled_of(tx, &cancelled, &items_of)
                .await?
                .into_iter()
                .collect()
        };
        let mut pending = Vec::new();
        for (event, booking_event) in events {
            let booking = booking_event.booking();
            if booking
                .trip_id
                .is_some_and(|trip| cancelled_trips.contains(&trip))
            {
                continue;
            }
            let username = names.get(&booking.user_id).map(String::as_str);
            let label = booking_event.kind().replace('.', "-");
            for channel in self.channels() {
                if let Some(rendered) =
                    templates::booking(booking_event.kind(), booking, username, channel)
                {
                    pending.push(Pending::new(
                        event,
                        booking.user_id,
                        &label,
                        channel,
                        rendered,
                    ));
                }
            }
        }
        Ok(pending)
    }
}
