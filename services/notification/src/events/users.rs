//! Identity's user events: the contact data notification keeps, and the welcome of a new user.

use contracts::events::UserSnapshot;
use platform::events::Envelope;
use sqlx::PgConnection;

use super::{Notifier, Pending};
use crate::domain::templates;
use crate::store::contacts;

impl Notifier {
    /// A new user: their contact data, and a welcome on every channel.
    pub(super) async fn user_registered(
        &self,
        tx: &mut PgConnection,
        event: &Envelope,
        user: &UserSnapshot,
    ) -> Result<Vec<Pending>, sqlx::Error> {
        contacts::remember(tx, user).await?;
        Ok(self.welcome(event, user))
    }

    /// A user's changed contact data.
    pub(super) async fn user_updated(
        &self,
        tx: &mut PgConnection,
        user: &UserSnapshot,
    ) -> Result<(), sqlx::Error> {
        contacts::remember(tx, user).await
    }

    fn welcome(&self, event: &Envelope, user: &UserSnapshot) -> Vec<Pending> {
        self.channels()
            .into_iter()
            .map(|channel| {
                Pending::new(
                    event,
                    user.user_id,
                    "welcome",
                    channel,
                    templates::welcome(&user.username, channel),
                )
            })
            .collect()
    }
}
