//! The answers of `GET /api/search`, shared by every catalog instance: in Redis when `REDIS_URL`
//! is set, in process otherwise. Entries live for a while (`SEARCH_SHARED_CACHE_SECS`) but are
//! dropped as soon as anything they show may have changed: a listing, a flight or availability.
//!
//! Invalidation is a generation number that is part of every key. Whatever changes what search
//! shows sends `NOTIFY catalog_search` in its transaction; PostgreSQL delivers it to every
//! instance only once that transaction has committed, and each instance then moves the generation
//! on (in Redis, `INCR`; several instances moving it for one change is harmless). An answer
//! computed before the change is stored under the old generation and never read again, and one
//! computed after it cannot miss the change, since the notice comes after the commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use platform::service::TaskContext;
use redis::AsyncCommands;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// The PostgreSQL channel every change of what search shows is announced on.
pub const CHANNEL: &str = "catalog_search";
const GENERATION_KEY: &str = "itinera:catalog:search:generation";
/// Entries kept in process at most; when full, the oldest generation's go first (all of them).
const MAX_LOCAL_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub struct SharedSearchCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    redis: Option<redis::aio::ConnectionManager>,
    generation: AtomicU64,
    local: Mutex<HashMap<String, (Instant, Bytes)>>,
}

impl SharedSearchCache {
    /// A cache whose entries live `ttl` (zero turns it off), in Redis when given.
    pub fn new(ttl: Duration, redis: Option<redis::aio::ConnectionManager>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                redis,
                generation: AtomicU64::new(0),
                local: Mutex::new(HashMap::new()),
            }),
        }
    }

    async fn generation(&self) -> Option<u64> {
        match &self.inner.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                redis
                    .get::<_, Option<u64>>(GENERATION_KEY)
                    .await
                    .map(|g| g.unwrap_or(0))
                    .ok()
            }
            None => Some(self.inner.generation.load(Ordering::Acquire)),
        }
    }

    /// The generation-qualified key of `query`, or `None` when the cache is off or Redis is not
    /// answering (search then goes to the database: a cache outage never fails a search).
    pub async fn key(&self, query: &str) -> Option<String> {
        if self.inner.ttl.is_zero() {
            return None;
        }
        Some(format!(
            "itinera:catalog:search:{}:{query}",
            self.generation().await?
        ))
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match &self.inner.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let found: Option<Vec<u8>> = redis.get(key).await.ok()?;
                found.map(Bytes::from)
            }
            None => {
                let local = self
                    .inner
                    .local
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                local
                    .get(key)
                    .filter(|(stored, _)| stored.elapsed() < self.inner.ttl)
                    .map(|(_, body)| body.clone())
            }
        }
    }

    pub async fn put(&self, key: String, body: Bytes) {
        match &self.inner.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let seconds = self.inner.ttl.as_secs().max(1);
                if let Err(e) = redis.set_ex::<_, _, ()>(&key, &body[..], seconds).await {
                    tracing::debug!(error = %e, "search answer not cached");
                }
            }
            None => {
                let mut local = self
                    .inner
                    .local
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if local.len() >= MAX_LOCAL_ENTRIES {
                    local.clear();
                }
                local.insert(key, (Instant::now(), body));
            }
        }
    }

    /// Something search shows has changed: every answer cached so far is stale.
    pub async fn invalidate(&self) {
        match &self.inner.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                if let Err(e) = redis.incr::<_, _, u64>(GENERATION_KEY, 1).await {
                    tracing::warn!(error = %e, "could not invalidate the shared search cache");
                }
            }
            None => {
                self.inner.generation.fetch_add(1, Ordering::AcqRel);
                self.inner
                    .local
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
            }
        }
    }

    async fn listen(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        self.invalidate().await;
        loop {
            listener.recv().await?;
            self.invalidate().await;
        }
    }

    /// Listens for changes until shutdown, invalidating on each. A lost connection invalidates
    /// too (a change may have been missed while it was down) and is opened again.
    pub async fn follow(self, db: PgPool, task: TaskContext) {
        loop {
            task.heartbeat.beat();
            tokio::select! {
                () = task.shutdown.cancelled() => return,
                result = self.listen(&db) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "search cache listener lost; reconnecting");
                    }
                }
            }
            tokio::select! {
                () = task.shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Announces, in the caller's transaction, that what search shows has changed; delivered to every
/// instance when the transaction commits.
pub async fn changed(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(tx)
        .await
        .map(|_| ())
}

/// A cached answer: its JSON body and how many results it counted (for analytics on a hit).
pub struct Answer {
    pub body: Bytes,
    pub results: i64,
    pub hit: bool,
}

impl SharedSearchCache {
    /// The answer to the search `query` (a text that names it, e.g. `hotels?city=paris`): from the
    /// cache when an unchanged one is there, else from `compute` (the body and its result count),
    /// then kept.
    pub async fn answer<F, Fut, E>(&self, query: &str, compute: F) -> Result<Answer, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, i64), E>>,
    {
        let key = self.key(query).await;
        if let Some(key) = &key
            && let Some(stored) = self.get(key).await
            && let Some(answer) = Answer::stored(stored, true)
        {
            return Ok(answer);
        }
        let (body, results) = compute().await?;
        // Kept as `<results>\n<body>`; the answer is a slice of it, never a copy.
        let prefix = format!("{results}\n");
        let stored = Bytes::from(prefix.clone() + &body);
        if let Some(key) = key {
            self.put(key, stored.clone()).await;
        }
        Ok(Answer {
            body: stored.slice(prefix.len()..),
            results,
            hit: false,
        })
    }
}

impl Answer {
    /// The answer kept as `<results>\n<body>`.
    fn stored(stored: Bytes, hit: bool) -> Option<Self> {
        let newline = stored.iter().position(|b| *b == b'\n')?;
        let results = std::str::from_utf8(&stored[..newline]).ok()?.parse().ok()?;
        Some(Self {
            body: stored.slice(newline + 1..),
            results,
            hit,
        })
    }
}

impl axum::response::IntoResponse for Answer {
    /// The JSON body, with `X-Cache: hit` or `miss`.
    fn into_response(self) -> axum::response::Response {
        use axum::http::header;
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    header::HeaderName::from_static("x-cache"),
                    if self.hit { "hit" } else { "miss" },
                ),
            ],
            axum::body::Body::from(self.body),
        )
            .into_response()
    }
}
