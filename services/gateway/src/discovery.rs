//! Finding the instances of services that come from the registry (Redis) or DNS.

use std::sync::Arc;
use std::time::Duration;

use platform::config::Settings;
use platform::service::TaskContext;

use crate::upstream::{Source, Upstreams};

/// Looks up the instances of services found through the registry or DNS.
pub(crate) struct Discovery {
    redis: Option<redis::aio::ConnectionManager>,
    prefix: String,
    interval: Duration,
}

impl Discovery {
    pub(crate) async fn connect(settings: &Settings, interval: Duration) -> anyhow::Result<Self> {
        let redis = match &settings.redis_url {
            Some(url) => Some(
                redis::aio::ConnectionManager::new(redis::Client::open(url.as_str())?)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "service discovery: Redis at {} is not reachable: {e}",
                            platform::config::redact_url(url)
                        )
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            redis,
            prefix: settings.discovery.prefix.clone(),
            interval,
        })
    }

    /// Replaces the service's instances with what the registry or DNS says now; when the lookup
    /// fails, the last known instances stay.
    pub(crate) async fn refresh(&mut self, upstreams: &Upstreams) {
        let service = upstreams.service;
        let found: Result<Vec<(String, String)>, String> = match &upstreams.source {
            Source::Static(_) => return,
            Source::Registry => match self.redis.as_mut() {
                Some(redis) => platform::discovery::instances(redis, &self.prefix, service)
                    .await
                    .map(|entries| entries.into_iter().map(|e| (e.instance, e.url)).collect())
                    .map_err(|e| e.to_string()),
                None => Err("no REDIS_URL".into()),
            },
            Source::Dns { host, port } => tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map(|addresses| {
                    let mut found: Vec<(String, String)> = addresses
                        .map(|address| {
                            (
                                format!("{service}_{}", address.ip()),
                                format!("http://{address}"),
                            )
                        })
                        .collect();
                    found.sort();
                    found.dedup();
                    found
                })
                .map_err(|e| e.to_string()),
        };
        match found {
            Ok(found) => upstreams.replace(found),
            Err(e) => {
                tracing::warn!(service, error = %e, "discovery failed; keeping the last known instances")
            }
        }
    }

    pub(crate) async fn run(mut self, upstreams: Vec<Arc<Upstreams>>, task: TaskContext) {
        loop {
            task.heartbeat.beat();
            tokio::select! {
                () = task.shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            for upstreams in upstreams.iter().filter(|u| u.is_dynamic()) {
                self.refresh(upstreams).await;
            }
        }
    }
}
