//! Publishes committed outbox rows, in order, and marks them sent once the bus has them.
//!
//! One relay per database is active at a time (a PostgreSQL advisory lock elects it), so events of
//! one key are never published out of order by two instances racing. The relay wakes on the
//! outbox's NOTIFY, falls back to polling every second, and backs off while the bus is down; the
//! request path only ever inserts rows and never waits for it.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use super::outbox::NOTIFY_CHANNEL;
use super::{Envelope, EventBus, Message};
use crate::service::Heartbeat;

const BATCH: i64 = 512;
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long the relay waits after being woken before it reads the outbox.
const LINGER: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a relay that is stopping waits to take the lead for a last publish.
const FINAL_FLUSH_WAIT: Duration = Duration::from_secs(2);
/// Sent rows are kept this long for inspection, then deleted.
const KEEP_SENT_FOR_SECS: f64 = 24.0 * 3600.0;

pub struct Relay {
    db: PgPool,
    bus: Arc<dyn EventBus>,
    /// The advisory lock that elects the active relay of this database.
    lock_key: i64,
    /// Beaten at least every second while the relay is healthy.
    heartbeat: Heartbeat,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("bus: {0}")]
    Bus(#[from] super::bus::BusError),
}

impl Relay {
    pub fn new(db: PgPool, bus: Arc<dyn EventBus>) -> Self {
        Self {
            db,
            bus,
            lock_key: crate::db::locks::OUTBOX_RELAY,
            heartbeat: Heartbeat::detached(),
        }
    }

    /// Beats `heartbeat` while it runs (for the host's supervision).
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Runs until `shutdown` is cancelled, then publishes what is left in the outbox (once it
    /// can take the lead, within [`FINAL_FLUSH_WAIT`]) before it returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            self.heartbeat.beat();
            match self.lead(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay interrupted");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        // Whichever instance led has published what was committed before it stopped; an event
        // committed since (a request this instance drained) is published by this one, if it can
        // take the lead before long.
        if let Err(e) = self.flush_once_leading().await {
            tracing::warn!(error = %e, "the last outbox events wait for the next relay");
        }
    }

    /// Takes the lead within [`FINAL_FLUSH_WAIT`] and publishes what is left, then lets go.
    async fn flush_once_leading(&self) -> Result<(), RelayError> {
        let deadline = tokio::time::Instant::now() + FINAL_FLUSH_WAIT;
        let mut connection = self.db.acquire().await?;
        loop {
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(self.lock_key)
                .fetch_one(&mut *connection)
                .await?;
            if leader {
                let result = self.flush(&mut connection).await;
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(self.lock_key)
                    .execute(&mut *connection)
                    .await;
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Becomes the active relay if no other instance is, then relays until shutdown or an error.
    async fn lead(&self, shutdown: &CancellationToken) -> Result<(), RelayError> {
        let mut connection = self.db.acquire().await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.lock_key)
            .fetch_one(&mut *connection)
            .await?;
        if !leader {
            drop(connection);
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(POLL_EVERY * 2) => {}
            }
            return Ok(());
        }
        let result = self.relay(&mut connection, shutdown).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.lock_key)
            .execute(&mut *connection)
            .await;
        result
    }

    async fn relay(
        &self,
        connection: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<(), RelayError> {
        let mut listener = PgListener::connect_with(&self.db).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let mut backoff = Duration::from_millis(100);
        let mut last_cleanup = std::time::Instant::now();
        loop {
            self.heartbeat.beat();
            if shutdown.is_cancelled() {
                return Ok(());
            }
            match self.publish_batch(connection).await {
                Ok(0) => {
                    backoff = Duration::from_millis(100);
                    if last_cleanup.elapsed() > Duration::from_secs(600) {
                        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)")
                            .bind(KEEP_SENT_FOR_SECS)
                            .execute(&mut *connection)
                            .await?;
                        last_cleanup = std::time::Instant::now();
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        notified = listener.recv() => {
                            notified?;
                            // Let the commits that arrive together leave together: under load a
                            // batch then carries many events for about the cost of one.
                            tokio::time::sleep(LINGER).await;
                        }
                        () = tokio::time::sleep(POLL_EVERY) => {}
                    }
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(RelayError::Bus(e)) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "publishing outbox events failed; will retry");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes what is left in the outbox, at shutdown. Rows the bus does not take stay for
    /// the next run.
    async fn flush(&self, connection: &mut PgConnection) -> Result<(), RelayError> {
        loop {
            if self.publish_batch(connection).await? == 0 {
                return Ok(());
            }
        }
    }

    /// Publishes the oldest unsent rows; returns how many were sent.
    async fn publish_batch(&self, connection: &mut PgConnection) -> Result<usize, RelayError> {
        let rows: Vec<(i64, String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT position, topic, event_key, envelope FROM outbox \
             WHERE published_at IS NULL ORDER BY position LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&mut *connection)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let positions: Vec<i64> = rows.iter().map(|row| row.0).collect();
        let mut messages = Vec::with_capacity(rows.len());
        for (position, topic, key, envelope) in rows {
            match serde_json::from_value::<Envelope>(envelope) {
                Ok(envelope) => messages.push(Message {
                    topic,
                    key,
                    envelope,
                }),
                Err(e) => {
                    tracing::error!(position, error = %e, "outbox row is not an event; skipping it")
                }
            }
        }
        match self.bus.publish(&messages).await {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE position = ANY($1)",
                )
                .bind(&positions)
                .execute(&mut *connection)
                .await?;
                Ok(positions.len())
            }
            Err(e) => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE position = ANY($1)")
                    .bind(&positions)
                    .bind(e.to_string())
                    .execute(&mut *connection)
                    .await?;
                Err(e.into())
            }
        }
    }
}
