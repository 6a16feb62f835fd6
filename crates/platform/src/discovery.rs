//! Self-registration in the service registry: with `REDIS_URL` set, every instance writes where it
//! can be reached under `<DISCOVERY_PREFIX><service>:<instance>`, with a time to live that it
//! renews every third of that time, and deletes the entry when it shuts down. An instance that
//! dies without shutting down leaves the registry when the entry expires. The gateway reads the
//! registry (`<SERVICE>_UPSTREAMS=redis`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// The registry's key prefix for a service's instances.
pub fn key_prefix(prefix: &str, service: &str) -> String {
    format!("{prefix}{service}:")
}

/// What an instance says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub url: String,
    pub instance: String,
}

pub struct Registration {
    redis_url: String,
    key: String,
    entry: Entry,
    ttl: Duration,
}

impl Registration {
    /// The registration of an instance listening on `port`, if it should register at all.
    pub fn from_settings(settings: &Settings, port: u16) -> Option<Self> {
        let discovery = &settings.discovery;
        let redis_url = settings.redis_url.clone().filter(|_| discovery.register)?;
        let host = if settings.host.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            settings.host.to_string()
        };
        let instance = discovery
            .instance
            .clone()
            .unwrap_or_else(|| format!("{}_{port}", discovery.service));
        let url = discovery
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("http://{host}:{port}"));
        Some(Self {
            redis_url,
            key: format!(
                "{}{instance}",
                key_prefix(&discovery.prefix, discovery.service)
            ),
            entry: Entry { url, instance },
            ttl: discovery.ttl,
        })
    }

    /// Keeps the entry alive until `shutdown`, then removes it. A registry that is down is
    /// retried at every renewal; the service keeps serving meanwhile.
    pub async fn run(self, shutdown: CancellationToken) {
        let value = serde_json::to_string(&self.entry).unwrap_or_default();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut connection = None;
        loop {
            if connection.is_none() {
                connection = match redis::Client::open(self.redis_url.as_str()) {
                    Ok(client) => redis::aio::ConnectionManager::new(client).await.ok(),
                    Err(_) => None,
                };
            }
            if let Some(redis) = connection.as_mut() {
                let renewed: Result<(), redis::RedisError> = redis::cmd("SET")
                    .arg(&self.key)
                    .arg(&value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(redis)
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(error = %e, key = %self.key, "could not renew the registration");
                }
            } else {
                tracing::warn!(key = %self.key, "the registry (Redis) is not reachable");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.ttl / 3) => {}
            }
        }
        if let Some(redis) = connection.as_mut() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&self.key).query_async(redis).await;
            tracing::info!(key = %self.key, "deregistered");
        }
    }
}

/// The instances of `service` in the registry.
pub async fn instances(
    redis: &mut redis::aio::ConnectionManager,
    prefix: &str,
    service: &str,
) -> Result<Vec<Entry>, redis::RedisError> {
    let pattern = format!("{}*", key_prefix(prefix, service));
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(redis)
            .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    keys.sort();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(redis).await?;
    Ok(values
        .into_iter()
        .flatten()
        .filter_map(|value| serde_json::from_str(&value).ok())
        .collect())
}
