//! The fan-out between notification instances, over Redis: updates are published on one channel
//! that every instance listens to, and each instance keeps the set of users connected to it under
//! a key of its own (with a short time to live, renewed while it runs, and listed in the set
//! `<prefix>instances`) so that any instance can tell who is online anywhere.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::{Live, Update};

/// How long one Redis command may take before the caller goes on without it.
const COMMAND_DEADLINE: Duration = Duration::from_secs(1);
/// How often an instance rewrites its presence set, and how long the set outlives a silent
/// instance.
const PRESENCE_EVERY: Duration = Duration::from_secs(5);
const PRESENCE_TTL_SECS: i64 = 15;

#[derive(Clone)]
pub struct Fanout {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    channel: String,
    presence_key: String,
    /// The set of every instance's presence key.
    instances_key: String,
}

type Result<T> = std::result::Result<T, redis::RedisError>;

fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "Redis did not answer in time"))
}

impl Fanout {
    /// A fan-out through the Redis at `url`, under keys and a channel starting with `prefix`.
    /// Nothing is connected until it is used, so a Redis that is down at start only delays the
    /// fan-out.
    pub fn new(url: &str, prefix: &str) -> Result<Self> {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url)?,
                connection: OnceCell::new(),
                channel: format!("{prefix}updates"),
                presence_key: format!("{prefix}presence:{instance}"),
                instances_key: format!("{prefix}instances"),
            }),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        let inner = &self.inner;
        let connect = inner
            .connection
            .get_or_try_init(|| ConnectionManager::new(inner.client.clone()));
        tokio::time::timeout(COMMAND_DEADLINE, connect)
            .await
            .map_err(|_| timed_out())?
            .cloned()
    }

    async fn within<T>(&self, command: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(COMMAND_DEADLINE, command)
            .await
            .map_err(|_| timed_out())?
    }

    pub async fn publish(&self, update: &Update) -> Result<()> {
        let payload = serde_json::to_string(update).map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::TypeError, "update", e.to_string()))
        })?;
        let mut connection = self.connection().await?;
        let channel = self.inner.channel.clone();
        self.within(async move { connection.publish::<_, _, i64>(channel, payload).await })
            .await?;
        Ok(())
    }

    /// Adds `user_id` to this instance's presence set (or removes it), without waiting: a user
    /// counts as online from the moment their first connection is accepted. The set is also
    /// rewritten every few seconds, which settles any add and remove that crossed.
    pub fn mark(&self, user_id: i64, online: bool) {
        let fanout = self.clone();
        tokio::spawn(async move {
            let written = async {
                let mut connection = fanout.connection().await?;
                let key = &fanout.inner.presence_key;
                let mut pipe = redis::pipe();
                if online {
                    pipe.sadd(key, user_id)
                        .ignore()
                        .expire(key, PRESENCE_TTL_SECS)
                        .ignore()
                        .sadd(&fanout.inner.instances_key, key)
                        .ignore();
                } else {
                    pipe.srem(key, user_id).ignore();
                }
                fanout.within(pipe.query_async::<()>(&mut connection)).await
            };
            if let Err(e) = written.await {
                tracing::debug!(error = %e, user_id, "presence not written");
            }
        });
    }

    /// The users among `user_ids` connected to any other instance.
    pub async fn online(&self, user_ids: &[i64]) -> Result<HashSet<i64>> {
        let mut connection = self.connection().await?;
        let inner = self.inner.clone();
        let user_ids = user_ids.to_vec();
        self.within(async move {
            let keys: Vec<String> = connection.smembers(&inner.instances_key).await?;
            let keys: Vec<String> = keys
                .into_iter()
                .filter(|k| *k != inner.presence_key)
                .collect();
            let mut online = HashSet::new();
            for key in keys {
                // An instance that stopped without saying so leaves a key that has expired.
                let (exists, members): (bool, Vec<bool>) = redis::pipe()
                    .exists(&key)
                    .cmd("SMISMEMBER")
                    .arg(&key)
                    .arg(&user_ids)
                    .query_async(&mut connection)
                    .await?;
                if !exists {
                    let _: i64 = connection.srem(&inner.instances_key, &key).await?;
                    continue;
                }
                online.extend(
                    user_ids
                        .iter()
                        .zip(members)
                        .filter(|(_, member)| *member)
                        .map(|(id, _)| *id),
                );
            }
            Ok(online)
        })
        .await
    }

    /// Listens for updates and keeps this instance's presence set until `shutdown`.
    pub async fn run(self, live: Arc<Live>, shutdown: CancellationToken) {
        tokio::join!(
            self.listen(live.clone(), shutdown.clone()),
            self.report_presence(live, shutdown),
        );
    }

    async fn listen(&self, live: Arc<Live>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let listened = tokio::select! {
                () = shutdown.cancelled() => return,
                result = self.listen_once(&live, &mut backoff) => result,
            };
            if let Err(e) = listened {
                tracing::warn!(error = %e, retry_in = ?backoff, "live fan-out disconnected");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn listen_once(&self, live: &Live, backoff: &mut Duration) -> Result<()> {
        let mut pubsub = self.within(self.inner.client.get_async_pubsub()).await?;
        self.within(pubsub.subscribe(&self.inner.channel)).await?;
        tracing::info!(channel = self.inner.channel, "live fan-out listening");
        *backoff = Duration::from_millis(100);
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let payload: Vec<u8> = match message.get_payload() {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable fan-out message");
                    continue;
                }
            };
            match serde_json::from_slice::<Update>(&payload) {
                Ok(update) => live.deliver(update).await,
                Err(e) => tracing::warn!(error = %e, "fan-out message is not an update"),
            }
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "the subscription ended",
        )))
    }

    /// Rewrites this instance's presence set every few seconds (renewing its time to live), and
    /// removes it on shutdown.
    async fn report_presence(&self, live: Arc<Live>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(PRESENCE_EVERY) => {}
            }
            if let Err(e) = self.write_presence(&live.connected_here()).await {
                tracing::debug!(error = %e, "presence not written");
            }
        }
        if let Ok(mut connection) = self.connection().await {
            let inner = self.inner.clone();
            let _ = self
                .within(async move {
                    redis::pipe()
                        .del(&inner.presence_key)
                        .ignore()
                        .srem(&inner.instances_key, &inner.presence_key)
                        .ignore()
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await;
        }
    }

    async fn write_presence(&self, user_ids: &[i64]) -> Result<()> {
        let mut connection = self.connection().await?;
        let key = &self.inner.presence_key;
        let mut pipe = redis::pipe();
        pipe.atomic().del(key).ignore();
        if !user_ids.is_empty() {
            pipe.sadd(key, user_ids)
                .ignore()
                .expire(key, PRESENCE_TTL_SECS)
                .ignore()
                .sadd(&self.inner.instances_key, key)
                .ignore();
        }
        self.within(pipe.query_async::<()>(&mut connection)).await
    }
}
