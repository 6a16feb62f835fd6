//! Catalog's flight events: a status change goes out as a live update and as notices.

use contracts::events::FlightSnapshot;
use platform::events::Envelope;
use sqlx::PgConnection;

use super::{Notifier, Pending};
use crate::domain::templates::{self, Channel};
use crate::live::Update;
use crate::store::passengers;

impl Notifier {
    /// A flight's change goes live to its room on every instance; everyone it concerns finds it
    /// in their inbox, and those not connected anywhere are also told by email (and webhook).
    pub(super) async fn flight_changed(
        &self,
        tx: &mut PgConnection,
        event: &Envelope,
        flight: &FlightSnapshot,
    ) -> Result<Vec<Pending>, sqlx::Error> {
        self.live
            .publish(&Update::of_flight(
                &event.id.to_string(),
                flight,
                event.time,
            ))
            .await;
        let recipients = passengers::concerned(tx, flight).await?;
        let ids: Vec<i64> = recipients.iter().map(|(id, _)| *id).collect();
        let offline = self.live.offline(&ids).await;
        let mut pending = Vec::new();
        for (user_id, username) in &recipients {
            for channel in self.channels() {
                if channel != Channel::InApp && !offline.contains(user_id) {
                    continue;
                }
                pending.push(Pending::to_one_of_many(
                    event,
                    *user_id,
                    "flight-status-changed",
                    channel,
                    templates::flight_status(flight, username.as_deref(), channel),
                ));
            }
        }
        Ok(pending)
    }
}
