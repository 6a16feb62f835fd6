//! Booking's events: who is on which flight (kept by the handler for the whole batch), and the
//! notices of confirmed, cancelled and expired bookings.

use contracts::events::BookingEvent;
use platform::events::Envelope;
use sqlx::PgConnection;

use super::{Notifier, Pending};
use crate::domain::templates;
use crate::store::contacts;

impl Notifier {
    /// The notifications of booking events, with one lookup of the customers' names.
    pub(super) async fn bookings(
        &self,
        tx: &mut PgConnection,
        events: &[(&Envelope, BookingEvent)],
    ) -> Result<Vec<Pending>, sqlx::Error> {
        let user_ids: Vec<i64> = events.iter().map(|(_, e)| e.booking().user_id).collect();
        let names = contacts::names(tx, &user_ids).await?;
        let mut pending = Vec::new();
        for (event, booking_event) in events {
            let booking = booking_event.booking();
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
