//! Where requests for a service go: its instances, their health, and the choice of one per
//! request.
//!
//! Health is passive and active. Every proxied request reports how it went: consecutive failures
//! (a connection that fails, a timeout, a 5xx) eject an instance for an interval that doubles with
//! each ejection in a row; when the interval ends the instance is back on probation, where one
//! failure ejects it again and one success restores it. An active check (`GET /ready`) does the
//! same on a timer, so a failing instance is found without sacrificing requests to it, and an
//! ejected one comes back without waiting for traffic. This is the circuit breaker: when every
//! instance of a service is ejected, the gateway answers 503 at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::Uri;
use platform::config::{ConfigError, ConfigSource};
use serde::Serialize;

/// Milliseconds on a clock that starts with the process (never zero once running).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// When to eject an instance and for how long.
#[derive(Clone, Copy, Debug)]
pub struct OutlierPolicy {
    /// Consecutive failures that eject an instance in service.
    pub consecutive_failures: u32,
    /// The first ejection; each further one in a row doubles it.
    pub base_ejection: Duration,
    pub max_ejection: Duration,
}

impl Default for OutlierPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(60),
        }
    }
}

impl OutlierPolicy {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let millis = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(source
                .parse::<u64>(key)?
                .map_or(default, Duration::from_millis))
        };
        let policy = Self {
            consecutive_failures: source
                .parse::<u32>("GATEWAY_EJECT_AFTER_FAILURES")?
                .unwrap_or(defaults.consecutive_failures)
                .max(1),
            base_ejection: millis("GATEWAY_EJECTION_MS", defaults.base_ejection)?,
            max_ejection: millis("GATEWAY_MAX_EJECTION_MS", defaults.max_ejection)?,
        };
        Ok(policy)
    }
}

/// How an instance is chosen among the healthy ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    /// The instance with the fewest requests in flight (ties go round robin).
    LeastOutstanding,
}

impl Balance {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        match source.get("GATEWAY_LOAD_BALANCING") {
            None | Some("least-outstanding") => Ok(Self::LeastOutstanding),
            Some("round-robin") => Ok(Self::RoundRobin),
            Some(other) => Err(ConfigError::invalid(
                "GATEWAY_LOAD_BALANCING",
                other,
                "expected least-outstanding or round-robin",
            )),
        }
    }
}

/// One running instance of a service, and what the gateway knows of its health.
#[derive(Debug)]
pub struct Instance {
    /// `scheme://host:port`, without a path.
    pub base: String,
    /// A name for logs and status pages, e.g. `identity_1`.
    pub name: String,
    outstanding: AtomicUsize,
    consecutive_failures: AtomicU32,
    /// Ejections in a row; the next one lasts `base_ejection × 2^ejections`.
    ejections: AtomicU32,
    /// 0: in service. Otherwise ejected until this time (`now_ms`), and on probation after it.
    ejected_until: AtomicU64,
}

/// An instance's health as the status page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HealthState {
    Healthy,
    Ejected,
    /// Back after an ejection: one failure ejects it again, one success restores it.
    Probation,
}

/// How a request to an instance went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Instance {
    fn new(service: &str, index: usize, base: &str) -> Self {
        Self {
            name: format!("{service}_{}", index + 1),
            base: base.trim_end_matches('/').to_owned(),
            outstanding: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> HealthState {
        match self.ejected_until.load(Ordering::Acquire) {
            0 => HealthState::Healthy,
            until if until > now_ms() => HealthState::Ejected,
            _ => HealthState::Probation,
        }
    }

    fn available(&self, now: u64) -> bool {
        self.ejected_until.load(Ordering::Acquire) <= now
    }

    /// Milliseconds until an ejected instance is back on probation.
    fn ejected_for(&self, now: u64) -> u64 {
        self.ejected_until
            .load(Ordering::Acquire)
            .saturating_sub(now)
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Records how a request (or an active check) went; returns true when it ejected the
    /// instance.
    pub fn report(&self, outcome: Outcome, policy: &OutlierPolicy) -> bool {
        let now = now_ms();
        let until = self.ejected_until.load(Ordering::Acquire);
        match outcome {
            Outcome::Success => {
                self.consecutive_failures.store(0, Ordering::Relaxed);
                // A success on probation restores the instance.
                if until != 0
                    && until <= now
                    && self
                        .ejected_until
                        .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    self.ejections.store(0, Ordering::Relaxed);
                    tracing::info!(instance = %self.name, "instance restored after ejection");
                }
                false
            }
            Outcome::Failure => {
                if until > now {
                    // Already ejected: what was in flight when it went is not counted again.
                    return false;
                }
                let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                let on_probation = until != 0;
                if failures < policy.consecutive_failures && !on_probation {
                    return false;
                }
                let ejections = self.ejections.fetch_add(1, Ordering::Relaxed);
                let interval = policy
                    .base_ejection
                    .saturating_mul(2u32.saturating_pow(ejections.min(16)))
                    .min(policy.max_ejection);
                let next = now + u64::try_from(interval.as_millis()).unwrap_or(u64::MAX / 2);
                if self
                    .ejected_until
                    .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return false;
                }
                self.consecutive_failures.store(0, Ordering::Relaxed);
                tracing::warn!(instance = %self.name, ?interval, failures, "instance ejected");
                true
            }
        }
    }
}

/// An instance chosen for one request; counts as outstanding until dropped.
pub struct Lease<'a> {
    pub instance: &'a Instance,
    pub index: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.instance.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// No instance can take the request.
#[derive(Debug)]
pub struct Unavailable {
    /// The instance that comes back first, if any is configured.
    pub instance: Option<String>,
    /// How long until then.
    pub retry_after: Duration,
}

/// The instances of one service.
#[derive(Debug)]
pub struct Upstreams {
    pub service: &'static str,
    instances: Vec<Instance>,
    next: AtomicUsize,
    pub balance: Balance,
    pub outlier: OutlierPolicy,
}

/// One instance as `GET /api/discovery/status` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    pub url: String,
    pub instance: String,
    pub health: HealthState,
    /// While ejected: how long until it is back on probation.
    pub ejected_for_ms: u64,
    pub outstanding: usize,
}

impl Upstreams {
    pub fn new(service: &'static str, bases: Vec<String>) -> Self {
        Self::with_policies(
            service,
            bases,
            Balance::LeastOutstanding,
            OutlierPolicy::default(),
        )
    }

    pub fn with_policies(
        service: &'static str,
        bases: Vec<String>,
        balance: Balance,
        outlier: OutlierPolicy,
    ) -> Self {
        let instances = bases
            .iter()
            .enumerate()
            .map(|(i, base)| Instance::new(service, i, base))
            .collect();
        Self {
            service,
            instances,
            next: AtomicUsize::new(0),
            balance,
            outlier,
        }
    }

    /// Reads `<SERVICE>_UPSTREAMS` (a comma-separated list of base URLs), defaulting to the
    /// service's own port on this host, and the balancing and ejection settings.
    pub fn load(
        source: &ConfigSource,
        service: &'static str,
        default_port: u16,
    ) -> Result<Arc<Self>, ConfigError> {
        let key = format!("{}_UPSTREAMS", service.to_ascii_uppercase());
        let port_key = format!("{}_PORT", service.to_ascii_uppercase());
        let bases: Vec<String> = match source.get(&key) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => {
                let port = source.parse::<u16>(&port_key)?.unwrap_or(default_port);
                vec![format!("http://127.0.0.1:{port}")]
            }
        };
        if bases.is_empty() {
            return Err(ConfigError::invalid(&key, "", "needs at least one URL"));
        }
        for base in &bases {
            let valid = base.starts_with("http://")
                && base.parse::<Uri>().is_ok_and(|uri| {
                    uri.host().is_some() && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                });
            if !valid {
                return Err(ConfigError::invalid(
                    &key,
                    base,
                    "expected http://host:port",
                ));
            }
        }
        Ok(Arc::new(Self::with_policies(
            service,
            bases,
            Balance::load(source)?,
            OutlierPolicy::load(source)?,
        )))
    }

    /// The instance for the next request, among those in service and not in `tried`; or, when
    /// every instance is ejected, which one comes back first.
    pub fn pick(&self, tried: &[usize]) -> Result<Lease<'_>, Unavailable> {
        let now = now_ms();
        let count = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let candidates = (0..count)
            .map(|offset| (start + offset) % count.max(1))
            .filter(|i| !tried.contains(i) && self.instances[*i].available(now));
        let chosen = match self.balance {
            Balance::RoundRobin => candidates.into_iter().next(),
            // The first of the least loaded in rotation order, so ties are spread.
            Balance::LeastOutstanding => {
                candidates.min_by_key(|i| self.instances[*i].outstanding())
            }
        };
        match chosen {
            Some(index) => {
                let instance = &self.instances[index];
                instance.outstanding.fetch_add(1, Ordering::Relaxed);
                Ok(Lease { instance, index })
            }
            None => {
                let soonest = self
                    .instances
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !tried.contains(i))
                    .min_by_key(|(_, instance)| instance.ejected_for(now));
                Err(Unavailable {
                    instance: soonest.map(|(_, instance)| instance.name.clone()),
                    retry_after: Duration::from_millis(
                        soonest.map_or(0, |(_, instance)| instance.ejected_for(now)),
                    ),
                })
            }
        }
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        let now = now_ms();
        self.instances
            .iter()
            .map(|instance| InstanceStatus {
                url: instance.base.clone(),
                instance: instance.name.clone(),
                health: instance.state(),
                ejected_for_ms: instance.ejected_for(now),
                outstanding: instance.outstanding(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_over_configured_instances() {
        let source = ConfigSource::from_pairs([(
            "IDENTITY_UPSTREAMS",
            "http://127.0.0.1:1/, http://127.0.0.1:2",
        )]);
        let upstreams = Upstreams::load(&source, "identity", 5001).unwrap();
        let picked: Vec<_> = (0..4)
            .map(|_| upstreams.pick(&[]).unwrap().instance.base.clone())
            .collect();
        assert_eq!(
            picked,
            [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2"
            ]
        );
        assert_eq!(upstreams.instances()[1].name, "identity_2");
    }

    #[test]
    fn defaults_to_the_service_port_and_rejects_bad_urls() {
        let upstreams = Upstreams::load(&ConfigSource::default(), "identity", 5001).unwrap();
        assert_eq!(
            upstreams.pick(&[]).unwrap().instance.base,
            "http://127.0.0.1:5001"
        );
        for bad in [
            "127.0.0.1:5001",
            "http://",
            "http://h:1/path",
            "https://h:1",
        ] {
            let source = ConfigSource::from_pairs([("IDENTITY_UPSTREAMS", bad)]);
            let err = Upstreams::load(&source, "identity", 5001).unwrap_err();
            assert!(
                err.to_string().contains("IDENTITY_UPSTREAMS"),
                "{bad}: {err}"
            );
        }
    }

    fn three(policy: OutlierPolicy) -> Upstreams {
        Upstreams::with_policies(
            "booking",
            vec![
                "http://127.0.0.1:1".into(),
                "http://127.0.0.1:2".into(),
                "http://127.0.0.1:3".into(),
            ],
            Balance::LeastOutstanding,
            policy,
        )
    }

    #[test]
    fn the_least_loaded_instance_gets_the_next_request() {
        let upstreams = three(OutlierPolicy::default());
        let first = upstreams.pick(&[]).unwrap();
        let second = upstreams.pick(&[]).unwrap();
        assert_ne!(first.index, second.index);
        let third = upstreams.pick(&[]).unwrap();
        assert_ne!(third.index, first.index);
        assert_ne!(third.index, second.index);
        // The one that finishes first is the only idle one.
        let idle = second.index;
        drop(second);
        assert_eq!(upstreams.pick(&[]).unwrap().index, idle);
        // A retry avoids the instances already tried.
        let retry = upstreams.pick(&[first.index, third.index]).unwrap();
        assert_eq!(retry.index, idle);
    }

    #[test]
    fn consecutive_failures_eject_with_growing_intervals_and_a_success_restores() {
        let policy = OutlierPolicy {
            consecutive_failures: 3,
            base_ejection: Duration::from_millis(40),
            max_ejection: Duration::from_secs(1),
        };
        let upstreams = three(policy);
        let sick = &upstreams.instances()[0];
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(!sick.report(Outcome::Failure, &policy));
        // A success in between starts the count again.
        sick.report(Outcome::Success, &policy);
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(sick.report(Outcome::Failure, &policy));
        assert_eq!(sick.state(), HealthState::Ejected);
        for _ in 0..20 {
            assert_ne!(upstreams.pick(&[]).unwrap().index, 0, "ejected: not picked");
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(sick.state(), HealthState::Probation);
        // On probation one failure ejects again, for twice as long.
        assert!(sick.report(Outcome::Failure, &policy));
        let ejected_for = sick.ejected_for(now_ms());
        assert!(ejected_for > 50 && ejected_for <= 80, "{ejected_for}");
        std::thread::sleep(Duration::from_millis(90));
        sick.report(Outcome::Success, &policy);
        assert_eq!(sick.state(), HealthState::Healthy);
    }

    #[test]
    fn with_every_instance_ejected_the_first_to_return_is_named() {
        let policy = OutlierPolicy {
            consecutive_failures: 1,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(60),
        };
        let upstreams = three(policy);
        for (i, instance) in upstreams.instances().iter().enumerate() {
            if i == 1 {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(instance.report(Outcome::Failure, &policy));
        }
        let unavailable = upstreams.pick(&[]).err().unwrap();
        assert_eq!(unavailable.instance.as_deref(), Some("booking_1"));
        assert!(unavailable.retry_after <= Duration::from_secs(5));
        assert!(unavailable.retry_after > Duration::from_secs(4));
    }
}
