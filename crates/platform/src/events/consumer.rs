//! Idempotent consumers: each event's id is recorded in the `inbox` table in the same transaction
//! as its effect, so a redelivered event changes nothing. Failures are retried with backoff; an
//! event that keeps failing, or that cannot be understood at all, is moved to `dead_letters` with
//! the error, and the consumer goes on with the next one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use super::{Delivery, Envelope, EventBus, Message, Subscription};
use crate::service::Heartbeat;

/// Most events applied in one transaction.
const MAX_BATCH: usize = 256;
/// How often an idle consumer beats its heartbeat.
const IDLE_BEAT: Duration = Duration::from_secs(1);

pub type HandleFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HandleError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again (a lock timeout, a conflict).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (a payload that does not parse): dead-letter at once.
    #[error("{0}")]
    Reject(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<serde_json::Error> for HandleError {
    fn from(error: serde_json::Error) -> Self {
        Self::Reject(format!("malformed payload: {error}"))
    }
}

/// What a service does with the events it consumes.
pub trait EventHandler: Send + Sync + 'static {
    /// Applies the event's effect inside `tx`. Events of types the handler does not care about
    /// should return `Ok(())`.
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a>;

    /// Applies the new events of one delivered batch inside `tx`. The default applies them one by
    /// one, in order. A handler on a hot path may apply a batch in a few statements instead, as
    /// long as each aggregate's events keep their order (events of different aggregates may be
    /// reordered). If it fails, the consumer retries the events one at a time with `handle`.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            for event in events {
                self.handle(event, tx).await?;
            }
            Ok(())
        })
    }
}

/// Refuses an event on one of the platform's topics that does not come from the service that
/// owns the topic (`source` `itinera/<producer>`): nobody else may, say, confirm a booking by
/// publishing `payment.succeeded`.
fn from_its_producer(message: &Message) -> Result<(), HandleError> {
    let Some(producer) = contracts::events::topics::producer(&message.topic) else {
        return Ok(());
    };
    if message.envelope.source.strip_prefix("itinera/") == Some(producer) {
        return Ok(());
    }
    Err(HandleError::Reject(format!(
        "{} on {} comes from {}, not from {producer}",
        message.envelope.kind, message.topic, message.envelope.source
    )))
}

pub struct Consumer {
    /// Unique per consuming service and purpose, e.g. `booking.inventory`.
    pub name: String,
    pub db: PgPool,
    pub handler: Arc<dyn EventHandler>,
    /// Attempts before an event that keeps failing is dead-lettered.
    pub max_attempts: u32,
    /// Where dead letters are also published (the transport's dead-letter topic), if anywhere.
    pub bus: Option<Arc<dyn EventBus>>,
    /// Beaten at least every second while the consumer is healthy, waiting or working.
    heartbeat: Heartbeat,
}

enum Outcome {
    Applied,
    AlreadyProcessed,
}

impl Consumer {
    pub fn new(name: impl Into<String>, db: PgPool, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            name: name.into(),
            db,
            handler,
            max_attempts: 5,
            bus: None,
            heartbeat: Heartbeat::detached(),
        }
    }

    /// Beats `heartbeat` while it runs (for the host's supervision).
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Also publishes dead letters through `bus`.
    #[must_use]
    pub fn with_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Consumes until `shutdown` is cancelled. An event being retried when shutdown comes is not
    /// acknowledged, so it is delivered again later.
    pub async fn run(self, mut subscription: Subscription, shutdown: CancellationToken) {
        // One timer for the whole run: a busy consumer does not set one up per batch.
        let mut idle = tokio::time::interval(IDLE_BEAT);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = idle.tick() => continue,
                delivery = subscription.receiver.recv() => match delivery {
                    Some(delivery) => delivery,
                    None => return,
                },
            };
            // Whatever else is already waiting is applied in the same transaction: one commit for
            // a burst instead of one per event.
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match subscription.receiver.try_recv() {
                    Ok(delivery) => batch.push(delivery),
                    Err(_) => break,
                }
            }
            if batch.len() > 1 && self.apply_batch(&batch).await.is_ok() {
                batch.into_iter().for_each(Delivery::ack);
                continue;
            }
            // One at a time, with retries and dead letters, when the batch failed as a whole.
            for delivery in batch {
                if self.process(&delivery.message, &shutdown).await {
                    delivery.ack();
                }
            }
        }
    }

    /// Applies several events in one transaction; any failure rolls back all of them.
    async fn apply_batch(&self, batch: &[Delivery]) -> Result<(), HandleError> {
        for delivery in batch {
            from_its_producer(&delivery.message)?;
        }
        let mut tx = self.db.begin().await?;
        // The whole batch is recorded in the inbox in one statement; what comes back is what
        // this consumer has not seen before.
        let ids: Vec<uuid::Uuid> = batch.iter().map(|d| d.message.envelope.id).collect();
        let mut new: std::collections::HashSet<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) \
             ON CONFLICT DO NOTHING RETURNING event_id",
        )
        .bind(&self.name)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        // Each new event once, in delivery order (the same event twice in a batch counts once).
        let events: Vec<&Envelope> = batch
            .iter()
            .map(|delivery| &delivery.message.envelope)
            .filter(|envelope| new.remove(&envelope.id))
            .collect();
        if !events.is_empty() {
            self.handler.handle_batch(events, &mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Returns whether the event is done with (applied, already processed, or dead-lettered).
    async fn process(&self, message: &Message, shutdown: &CancellationToken) -> bool {
        if let Err(refused) = from_its_producer(message) {
            return self.dead_letter(message, &refused, 1).await;
        }
        let mut attempts = 0u32;
        let mut backoff = Duration::from_millis(50);
        loop {
            attempts += 1;
            self.heartbeat.beat();
            let error = match self.apply(&message.envelope).await {
                Ok(Outcome::Applied | Outcome::AlreadyProcessed) => return true,
                Err(error) => error,
            };
            let unavailable =
                matches!(&error, HandleError::Database(e) if crate::db::is_unavailable(e));
            let give_up = matches!(error, HandleError::Reject(_))
                || (!unavailable && attempts >= self.max_attempts);
            if give_up {
                return self.dead_letter(message, &error, attempts).await;
            }
            tracing::warn!(
                consumer = %self.name, event = %message.envelope.id, kind = %message.envelope.kind,
                attempts, error = %error, "event handling failed; retrying"
            );
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn apply(&self, envelope: &Envelope) -> Result<Outcome, HandleError> {
        let mut tx = self.db.begin().await?;
        let first_time = sqlx::query(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&self.name)
        .bind(envelope.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !first_time {
            return Ok(Outcome::AlreadyProcessed);
        }
        self.handler.handle(envelope, &mut tx).await?;
        tx.commit().await?;
        Ok(Outcome::Applied)
    }

    /// Records the event and its error, and marks it processed so redelivery skips it.
    async fn dead_letter(&self, message: &Message, error: &HandleError, attempts: u32) -> bool {
        tracing::error!(
            consumer = %self.name, event = %message.envelope.id, kind = %message.envelope.kind,
            attempts, error = %error, "event dead-lettered"
        );
        let result = async {
            let mut tx = self.db.begin().await?;
            sqlx::query(
                "INSERT INTO dead_letters (consumer, topic, envelope, error, attempts) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&self.name)
            .bind(&message.topic)
            .bind(serde_json::to_value(&message.envelope).unwrap_or_default())
            .bind(error.to_string())
            .bind(attempts as i32)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&self.name)
                .bind(message.envelope.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                if let Some(bus) = &self.bus
                    && let Err(e) = bus.dead_letter(message, &error.to_string()).await
                {
                    tracing::warn!(consumer = %self.name, error = %e, "dead letter kept in the table only");
                }
                true
            }
            Err(e) => {
                tracing::error!(consumer = %self.name, error = %e, "cannot store a dead letter; the event stays unacknowledged");
                false
            }
        }
    }
}
