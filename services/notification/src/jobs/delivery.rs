//! Delivers pending notifications: email over SMTP, and webhooks for SMS or push providers.
//! Each attempt leases the row for a while, so several instances never send one notification at
//! once; failures are retried with growing delays and recorded, and give up after a bound.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use platform::service::TaskContext;
use sqlx::PgPool;

use crate::store::contacts;
use crate::store::deliveries::{self, Due};

/// Attempts before a notification is marked failed.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long an attempt owns a row.
const LEASE_SECS: f64 = 60.0;
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Where notifications go.
#[derive(Clone, Debug)]
pub struct Channels {
    /// `host:port` of an SMTP server, if email is on.
    pub smtp: Option<(String, u16)>,
    pub from: String,
    pub webhook: Option<String>,
}

pub struct Deliverer {
    db: PgPool,
    channels: Channels,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
}

impl Deliverer {
    pub fn new(db: PgPool, channels: Channels) -> Self {
        let smtp = channels.smtp.as_ref().map(|(host, port)| {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                .port(*port)
                .timeout(Some(Duration::from_secs(10)))
                .build()
        });
        Self {
            db,
            channels,
            smtp,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub async fn run(self, task: TaskContext) {
        let shutdown = task.shutdown;
        loop {
            task.heartbeat.beat();
            let delivered = match self.deliver_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "notification delivery pass failed");
                    0
                }
            };
            if delivered == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Leases and delivers what is due; returns how many rows it took.
    async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let due = deliveries::lease_due(&self.db, LEASE_SECS).await?;
        for notification in &due {
            self.deliver(notification).await?;
        }
        Ok(due.len())
    }

    async fn deliver(&self, n: &Due) -> Result<(), sqlx::Error> {
        let contact = contacts::find(&self.db, n.user_id).await?;
        let outcome = match n.channel.as_str() {
            "email" => match &contact {
                // The user's contact data has not arrived yet: wait for it without using up an attempt.
                None => {
                    deliveries::postpone(&self.db, n.id).await?;
                    return Ok(());
                }
                Some((username, email)) => self
                    .send_email(n, username, email)
                    .await
                    .map(|()| Some(email.clone())),
            },
            "webhook" => self.call_webhook(n).await.map(|()| None),
            other => Err(format!("unknown channel {other}")),
        };
        match outcome {
            Ok(recipient) => {
                deliveries::sent(&self.db, n.id, recipient).await?;
                tracing::info!(notification = n.id, channel = %n.channel, kind = %n.kind, "notification delivered");
            }
            Err(error) => {
                let give_up = n.attempts >= MAX_ATTEMPTS;
                let delay = 2f64.powi(n.attempts.min(10)).min(600.0);
                deliveries::failed(&self.db, n.id, &error, give_up, delay).await?;
                tracing::warn!(notification = n.id, channel = %n.channel, attempts = n.attempts, give_up, %error, "delivery failed");
            }
        }
        Ok(())
    }

    async fn send_email(&self, n: &Due, username: &str, email: &str) -> Result<(), String> {
        let Some(smtp) = &self.smtp else {
            return Err("email is not configured (SMTP_URL)".into());
        };
        let from: Mailbox = self
            .channels
            .from
            .parse()
            .map_err(|e| format!("SMTP_FROM: {e}"))?;
        let to: Mailbox = format!("{username} <{email}>")
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(&n.subject)
            // A stable id, so that a receiver can tell a repeated delivery from a new message.
            .message_id(Some(format!("<notification-{}@itinera.local>", n.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone())
            .map_err(|e| e.to_string())?;
        smtp.send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn call_webhook(&self, n: &Due) -> Result<(), String> {
        let Some(url) = &self.channels.webhook else {
            return Err("no webhook configured (NOTIFICATION_WEBHOOK_URL)".into());
        };
        let body = serde_json::json!({
            "notificationId": n.id, "userId": n.user_id, "kind": n.kind, "subject": n.subject, "body": n.body,
        });
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            // The webhook's URL may carry its credentials (in the user part or the path): the
            // error stored and logged says what failed, not where.
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", response.status()))
        }
    }
}
