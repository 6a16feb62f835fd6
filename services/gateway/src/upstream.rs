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

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
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
    /// `<SERVICE>_LOAD_BALANCING`, else `GATEWAY_LOAD_BALANCING`, else least outstanding.
    pub fn load(source: &ConfigSource, service: &str) -> Result<Self, ConfigError> {
        let own = format!("{}_LOAD_BALANCING", service.to_ascii_uppercase());
        let (key, value) = match source.get(&own) {
            Some(value) => (own.as_str(), Some(value)),
            None => (
                "GATEWAY_LOAD_BALANCING",
                source.get("GATEWAY_LOAD_BALANCING"),
            ),
        };
        match value {
            None | Some("least-outstanding") => Ok(Self::LeastOutstanding),
            Some("round-robin") => Ok(Self::RoundRobin),
            Some(other) => Err(ConfigError::invalid(
                key,
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
    fn new(name: String, base: &str) -> Self {
        Self {
            name,
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
pub struct Lease {
    pub instance: Arc<Instance>,
}

impl Drop for Lease {
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

/// Where a service's instances come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fixed list of base URLs.
    Static(Vec<String>),
    /// The registry in Redis that instances write themselves into.
    Registry,
    /// Every address a DNS name resolves to (a Kubernetes headless service), on one port.
    Dns { host: String, port: u16 },
}

/// The instances of one service.
#[derive(Debug)]
pub struct Upstreams {
    pub service: &'static str,
    pub source: Source,
    instances: RwLock<Arc<Vec<Arc<Instance>>>>,
    next: AtomicUsize,
    pub balance: Balance,
    pub outlier: OutlierPolicy,
}

/// A comma-separated list of `http://host:port` base URLs.
fn parse_bases(key: &str, list: &str) -> Result<Vec<String>, ConfigError> {
    let bases: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if bases.is_empty() {
        return Err(ConfigError::invalid(key, "", "needs at least one URL"));
    }
    for base in &bases {
        let valid = base.starts_with("http://")
            && base.parse::<Uri>().is_ok_and(|uri| {
                uri.host().is_some() && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
            });
        if !valid {
            return Err(ConfigError::invalid(
                key,
                base,
                "expected http://host:port, redis or dns://name:port",
            ));
        }
    }
    Ok(bases)
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
    pub fn with_policies(
        service: &'static str,
        source: Source,
        balance: Balance,
        outlier: OutlierPolicy,
    ) -> Self {
        let instances = match &source {
            Source::Static(bases) => bases
                .iter()
                .enumerate()
                .map(|(i, base)| Arc::new(Instance::new(format!("{service}_{}", i + 1), base)))
                .collect(),
            Source::Registry | Source::Dns { .. } => Vec::new(),
        };
        Self {
            service,
            source,
            instances: RwLock::new(Arc::new(instances)),
            next: AtomicUsize::new(0),
            balance,
            outlier,
        }
    }

    /// Reads `<SERVICE>_UPSTREAMS`: a comma-separated list of base URLs, `redis` for the
    /// registry, or `dns://name:port`; unset, the registry when `GATEWAY_DISCOVERY=redis`, else
    /// the service's own port on this host. Also the balancing and ejection settings.
    pub fn load(
        source: &ConfigSource,
        service: &'static str,
        default_port: u16,
    ) -> Result<Arc<Self>, ConfigError> {
        let key = format!("{}_UPSTREAMS", service.to_ascii_uppercase());
        let port_key = format!("{}_PORT", service.to_ascii_uppercase());
        let discovery = source.get("GATEWAY_DISCOVERY").unwrap_or("static");
        if !matches!(discovery, "static" | "redis") {
            return Err(ConfigError::invalid(
                "GATEWAY_DISCOVERY",
                discovery,
                "expected static or redis",
            ));
        }
        let upstreams = match source.get(&key) {
            Some("redis") => Source::Registry,
            Some(dns) if dns.starts_with("dns://") => {
                let target = dns.trim_start_matches("dns://").trim_end_matches('/');
                let (host, port) = target
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                    .filter(|(host, _)| !host.is_empty())
                    .ok_or_else(|| ConfigError::invalid(&key, dns, "expected dns://name:port"))?;
                Source::Dns {
                    host: host.to_owned(),
                    port,
                }
            }
            Some(list) => Source::Static(parse_bases(&key, list)?),
            None if discovery == "redis" => Source::Registry,
            None => {
                let port = source.parse::<u16>(&port_key)?.unwrap_or(default_port);
                Source::Static(vec![format!("http://127.0.0.1:{port}")])
            }
        };
        if upstreams == Source::Registry && source.get("REDIS_URL").is_none() {
            return Err(ConfigError::invalid(
                &key,
                "redis",
                "the registry needs REDIS_URL",
            ));
        }
        Ok(Arc::new(Self::with_policies(
            service,
            upstreams,
            Balance::load(source, service)?,
            OutlierPolicy::load(source)?,
        )))
    }

    /// Whether the instances change at run time (registry, DNS).
    pub fn is_dynamic(&self) -> bool {
        !matches!(self.source, Source::Static(_))
    }

    /// Replaces the instance set with what discovery found. Instances still present keep their
    /// health and requests in flight.
    pub fn replace(&self, found: Vec<(String, String)>) {
        let current = self.instances();
        let next: Vec<Arc<Instance>> = found
            .into_iter()
            .map(|(name, base)| {
                let base = base.trim_end_matches('/').to_owned();
                current
                    .iter()
                    .find(|instance| instance.base == base)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Instance::new(name, &base)))
            })
            .collect();
        let names = |set: &[Arc<Instance>]| {
            set.iter()
                .map(|i| i.base.clone())
                .collect::<std::collections::BTreeSet<_>>()
        };
        if names(&current) != names(&next) {
            tracing::info!(
                service = self.service,
                instances = ?next.iter().map(|i| &i.name).collect::<Vec<_>>(),
                "instances changed"
            );
        }
        *self
            .instances
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }

    /// The instance for the next request, among those in service and not in `tried`; or, when
    /// none is, which one comes back first.
    pub fn pick(&self, tried: &[Arc<Instance>]) -> Result<Lease, Unavailable> {
        let now = now_ms();
        let instances = self.instances();
        let count = instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let untried = |i: &usize| !tried.iter().any(|t| Arc::ptr_eq(t, &instances[*i]));
        let candidates = (0..count)
            .map(|offset| (start + offset) % count.max(1))
            .filter(|i| untried(i) && instances[*i].available(now));
        let chosen = match self.balance {
            Balance::RoundRobin => candidates.into_iter().next(),
            // The first of the least loaded in rotation order, so ties are spread.
            Balance::LeastOutstanding => candidates.min_by_key(|i| instances[*i].outstanding()),
        };
        match chosen {
            Some(index) => {
                let instance = instances[index].clone();
                instance.outstanding.fetch_add(1, Ordering::Relaxed);
                Ok(Lease { instance })
            }
            None => {
                let soonest = (0..count)
                    .filter(|i| untried(i))
                    .map(|i| &instances[i])
                    .min_by_key(|instance| instance.ejected_for(now));
                Err(Unavailable {
                    instance: soonest.map(|instance| instance.name.clone()),
                    retry_after: Duration::from_millis(
                        soonest.map_or(0, |instance| instance.ejected_for(now)),
                    ),
                })
            }
        }
    }

    /// The instance for a long-lived connection of `key` (a user, a client address): the same
    /// one every time while it is in service (rendezvous hashing, so that instances coming and
    /// going move only the keys they must).
    pub fn pick_sticky(&self, key: &str) -> Result<Lease, Unavailable> {
        use std::hash::{Hash, Hasher};
        let now = now_ms();
        let instances = self.instances();
        let weight = |instance: &Instance| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut hasher);
            instance.base.hash(&mut hasher);
            hasher.finish()
        };
        match instances
            .iter()
            .filter(|instance| instance.available(now))
            .max_by_key(|instance| weight(instance))
        {
            Some(instance) => {
                instance.outstanding.fetch_add(1, Ordering::Relaxed);
                Ok(Lease {
                    instance: instance.clone(),
                })
            }
            None => self.pick(&[]),
        }
    }

    /// A lease on the instance at `base`, if it is still one of the instances and available.
    pub fn pick_instance(&self, base: &str) -> Option<Lease> {
        let now = now_ms();
        let instance = self
            .instances()
            .iter()
            .find(|instance| instance.base == base && instance.available(now))?
            .clone();
        instance.outstanding.fetch_add(1, Ordering::Relaxed);
        Some(Lease { instance })
    }

    /// The current instances.
    pub fn instances(&self) -> Arc<Vec<Arc<Instance>>> {
        self.instances
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        let now = now_ms();
        self.instances()
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
    fn balancing_is_chosen_per_service() {
        let source = ConfigSource::from_pairs([
            ("GATEWAY_LOAD_BALANCING", "round-robin"),
            ("BOOKING_LOAD_BALANCING", "least-outstanding"),
        ]);
        assert_eq!(
            Upstreams::load(&source, "booking", 5002).unwrap().balance,
            Balance::LeastOutstanding
        );
        assert_eq!(
            Upstreams::load(&source, "catalog", 5004).unwrap().balance,
            Balance::RoundRobin
        );
        let bad = ConfigSource::from_pairs([("CATALOG_LOAD_BALANCING", "random")]);
        let error = Upstreams::load(&bad, "catalog", 5004).unwrap_err();
        assert!(error.to_string().contains("CATALOG_LOAD_BALANCING"));
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
            Source::Static(vec![
                "http://127.0.0.1:1".into(),
                "http://127.0.0.1:2".into(),
                "http://127.0.0.1:3".into(),
            ]),
            Balance::LeastOutstanding,
            policy,
        )
    }

    #[test]
    fn the_least_loaded_instance_gets_the_next_request() {
        let upstreams = three(OutlierPolicy::default());
        let port = |lease: &Lease| lease.instance.base.clone();
        let first = upstreams.pick(&[]).unwrap();
        let second = upstreams.pick(&[]).unwrap();
        assert_ne!(port(&first), port(&second));
        let third = upstreams.pick(&[]).unwrap();
        assert_ne!(port(&third), port(&first));
        assert_ne!(port(&third), port(&second));
        // The one that finishes first is the only idle one.
        let idle = port(&second);
        drop(second);
        assert_eq!(port(&upstreams.pick(&[]).unwrap()), idle);
        // A retry avoids the instances already tried.
        let retry = upstreams
            .pick(&[first.instance.clone(), third.instance.clone()])
            .unwrap();
        assert_eq!(port(&retry), idle);
    }

    #[test]
    fn discovery_replaces_instances_and_keeps_the_health_of_those_that_stay() {
        let policy = OutlierPolicy {
            consecutive_failures: 1,
            ..OutlierPolicy::default()
        };
        let upstreams = three(policy);
        assert!(upstreams.instances()[0].report(Outcome::Failure, &policy));
        upstreams.replace(vec![
            ("booking_a".into(), "http://127.0.0.1:1/".into()),
            ("booking_d".into(), "http://127.0.0.1:4".into()),
        ]);
        let now = upstreams.instances();
        assert_eq!(now.len(), 2);
        assert_eq!(
            now[0].name, "booking_1",
            "an instance that stays keeps its name"
        );
        assert_eq!(now[0].state(), HealthState::Ejected, "and its health");
        assert_eq!(now[1].name, "booking_d");
        assert_eq!(
            upstreams.pick(&[]).unwrap().instance.base,
            "http://127.0.0.1:4"
        );
    }

    #[test]
    fn consecutive_failures_eject_with_growing_intervals_and_a_success_restores() {
        let policy = OutlierPolicy {
            consecutive_failures: 3,
            base_ejection: Duration::from_millis(40),
            max_ejection: Duration::from_secs(1),
        };
        let upstreams = three(policy);
        let sick = upstreams.instances()[0].clone();
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(!sick.report(Outcome::Failure, &policy));
        // A success in between starts the count again.
        sick.report(Outcome::Success, &policy);
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(!sick.report(Outcome::Failure, &policy));
        assert!(sick.report(Outcome::Failure, &policy));
        assert_eq!(sick.state(), HealthState::Ejected);
        for _ in 0..20 {
            assert_ne!(
                upstreams.pick(&[]).unwrap().instance.base,
                sick.base,
                "ejected: not picked"
            );
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
