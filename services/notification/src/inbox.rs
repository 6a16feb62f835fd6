//! Turns events into notifications: keeps contact data from identity's events, and renders one
//! notification per event and channel (the dedupe key makes redelivery harmless).

use contracts::events::{BookingSnapshot, UserSnapshot};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

use crate::templates::{self, Channel, Rendered};

pub struct Notifier {
    /// Channels notifications are created for besides in-app.
    pub email: bool,
    pub webhook: bool,
}

impl Notifier {
    fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::InApp];
        if self.email {
            channels.push(Channel::Email);
        }
        if self.webhook {
            channels.push(Channel::Webhook);
        }
        channels
    }
}

async fn store(
    tx: &mut PgConnection,
    event: &Envelope,
    user_id: i64,
    kind: &str,
    channel: Channel,
    rendered: Rendered,
) -> Result<(), sqlx::Error> {
    // In-app notifications are delivered by being stored.
    let status = if channel == Channel::InApp {
        "sent"
    } else {
        "pending"
    };
    sqlx::query(
        "INSERT INTO notifications (user_id, kind, channel, subject, body, status, dedupe_key, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6 = 'sent' THEN now() END) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(user_id)
    .bind(kind)
    .bind(channel.as_str())
    .bind(rendered.subject)
    .bind(rendered.body)
    .bind(status)
    .bind(format!("{}:{}", event.id, channel.as_str()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn remember(tx: &mut PgConnection, user: &UserSnapshot) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts (user_id, username, email, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email, \
             updated_at = EXCLUDED.updated_at WHERE contacts.updated_at < EXCLUDED.updated_at",
    )
    .bind(user.user_id)
    .bind(&user.username)
    .bind(&user.email)
    .bind(user.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl EventHandler for Notifier {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            match event.kind.as_str() {
                "user.registered" => {
                    let user: UserSnapshot = event.payload()?;
                    remember(tx, &user).await?;
                    for channel in self.channels() {
                        store(
                            tx,
                            event,
                            user.user_id,
                            "welcome",
                            channel,
                            templates::welcome(&user.username, channel),
                        )
                        .await?;
                    }
                }
                "user.updated" => remember(tx, &event.payload()?).await?,
                kind if kind.starts_with("booking.") => {
                    let booking: BookingSnapshot = event.payload()?;
                    let username: Option<String> =
                        sqlx::query_scalar("SELECT username FROM contacts WHERE user_id = $1")
                            .bind(booking.user_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let label = kind.replace('.', "-");
                    for channel in self.channels() {
                        if let Some(rendered) =
                            templates::booking(kind, &booking, username.as_deref(), channel)
                        {
                            store(tx, event, booking.user_id, &label, channel, rendered).await?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }
}
