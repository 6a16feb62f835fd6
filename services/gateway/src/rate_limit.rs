//! Rate limits per route class and per caller (the user from the token, or the client address),
//! with the generic cell rate algorithm: each key keeps one number, the theoretical arrival time of
//! its next request. Limits are shared across gateway instances through Redis when `REDIS_URL` is
//! set (one Lua script per request, timed by Redis's own clock), and kept in this process
//! otherwise. If Redis stops answering, the gateway falls back to its local limits rather than
//! refusing traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use platform::Problem;
use platform::config::{ConfigError, ConfigSource};

/// Which limit a route falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Login, registration, token refresh: strict, per client address.
    Login,
    /// Public reads such as flight search.
    Search,
    /// Everything else.
    Default,
    /// Every request from one client address, whatever its class or token: counted before the
    /// token is verified, so that forged tokens cost their sender, not the gateway.
    Address,
}

impl LimitClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Search => "search",
            Self::Default => "default",
            Self::Address => "address",
        }
    }
}

/// `count` requests per `period`, all of which may come at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// Parses `<count>/<period>`, e.g. `20/1m`, `100/1s`, `5/500ms`.
    pub fn parse(key: &str, text: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::invalid(key, text, "expected <count>/<period>, e.g. 20/1m");
        let (count, period) = text.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = period.trim();
        let (number, unit) = period.split_at(
            period
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(period.len()),
        );
        let number: u64 = if number.is_empty() {
            1
        } else {
            number.parse().map_err(|_| invalid())?
        };
        let period = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" | "min" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            _ => return Err(invalid()),
        };
        if count == 0 || period.is_zero() {
            return Err(invalid());
        }
        Ok(Self { count, period })
    }

    /// The interval between requests at the sustained rate, in microseconds.
    fn interval_us(self) -> u64 {
        (self.period.as_micros() / u128::from(self.count)).max(1) as u64
    }

    /// How far ahead of now the theoretical arrival time may run: the whole burst.
    fn capacity_us(self) -> u64 {
        self.interval_us() * u64::from(self.count)
    }
}

/// The limits in force.
#[derive(Clone, Debug)]
pub struct LimitConfig {
    pub enabled: bool,
    pub login: Limit,
    pub search: Limit,
    pub default: Limit,
    pub address: Limit,
    /// Most keys the in-process limiter keeps (`RATE_LIMIT_LOCAL_MAX_KEYS`); past it, keys whose
    /// burst is whole again are dropped, then those closest to it.
    pub local_max_keys: usize,
    /// Put before every Redis key, so that several platforms can share one Redis.
    pub key_prefix: String,
}

impl LimitConfig {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let limit =
            |key: &str, default: &str| Limit::parse(key, source.get(key).unwrap_or(default));
        Ok(Self {
            enabled: source.flag("RATE_LIMIT_ENABLED")?.unwrap_or(true),
            login: limit("RATE_LIMIT_LOGIN", "20/1m")?,
            search: limit("RATE_LIMIT_SEARCH", "100/1s")?,
            default: limit("RATE_LIMIT_DEFAULT", "50/1s")?,
            address: limit("RATE_LIMIT_ADDRESS", "200/1s")?,
            local_max_keys: match source.parse::<usize>("RATE_LIMIT_LOCAL_MAX_KEYS")? {
                Some(0) => {
                    return Err(ConfigError::invalid(
                        "RATE_LIMIT_LOCAL_MAX_KEYS",
                        "0",
                        "must be at least 1",
                    ));
                }
                Some(keys) => keys,
                None => DEFAULT_LOCAL_MAX_KEYS,
            },
            key_prefix: source
                .get("RATE_LIMIT_KEY_PREFIX")
                .unwrap_or("itinera:rate:")
                .to_owned(),
        })
    }

    fn limit(&self, class: LimitClass) -> Limit {
        match class {
            LimitClass::Login => self.login,
            LimitClass::Search => self.search,
            LimitClass::Default => self.default,
            LimitClass::Address => self.address,
        }
    }
}

/// What one request came to.
#[derive(Debug)]
pub struct Decision {
    pub allowed: bool,
    pub limit: Limit,
    /// Requests left in the burst.
    pub remaining: u64,
    /// Until the burst is whole again.
    pub reset: Duration,
    /// When refused: until the next request would be let through.
    pub retry_after: Duration,
}

impl Decision {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and
    /// `RateLimit-Policy` (count and window), as the IETF draft describes them.
    pub fn headers(&self, headers: &mut HeaderMap) {
        let pairs = [
            ("ratelimit-limit", self.limit.count.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            (
                "ratelimit-reset",
                self.reset.as_secs_f64().ceil().to_string(),
            ),
            (
                "ratelimit-policy",
                format!(
                    "{};w={}",
                    self.limit.count,
                    self.limit.period.as_secs().max(1)
                ),
            ),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    pub fn refusal(&self, class: LimitClass) -> Problem {
        let seconds = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let detail = match class {
            LimitClass::Address => format!(
                "Too many requests from this address: at most {} per {:?} (RATE_LIMIT_ADDRESS); try again in {seconds} s",
                self.limit.count, self.limit.period,
            ),
            _ => format!(
                "Too many requests: at most {} per {:?} for {} requests; try again in {seconds} s",
                self.limit.count,
                self.limit.period,
                class.name()
            ),
        };
        Problem::new(StatusCode::TOO_MANY_REQUESTS, detail)
            .with_type("rate-limited")
            .with_retry_after(seconds)
    }
}

/// GCRA on a theoretical arrival time; returns the new one when the request is allowed.
fn gcra(stored_tat: Option<u64>, now: u64, limit: Limit) -> (Option<u64>, Decision) {
    let interval = limit.interval_us();
    let capacity = limit.capacity_us();
    let tat = stored_tat.unwrap_or(now).max(now);
    let next = tat + interval;
    let ahead = next - now;
    if ahead > capacity {
        return (
            None,
            Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset: Duration::from_micros(tat - now),
                retry_after: Duration::from_micros(ahead - capacity),
            },
        );
    }
    (
        Some(next),
        Decision {
            allowed: true,
            limit,
            remaining: (capacity - ahead) / interval,
            reset: Duration::from_micros(ahead),
            retry_after: Duration::ZERO,
        },
    )
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The GCRA step in Redis, atomic per key, on Redis's clock (so gateways with skewed clocks
/// agree). Returns {allowed, remaining, reset µs, retry after µs}.
const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > capacity then
  return {0, 0, tat - now, ahead - capacity}
end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(ahead / 1000) + 1)
return {1, math.floor((capacity - ahead) / interval), ahead, 0}
";

pub struct RateLimiter {
    config: LimitConfig,
    redis: Option<redis::aio::ConnectionManager>,
    script: redis::Script,
    local: Mutex<HashMap<String, u64>>,
}

impl RateLimiter {
    /// Connects to Redis when a URL is given; a Redis that cannot be reached at start is an error
    /// (it is configuration), one that goes away later is survived.
    pub async fn new(config: LimitConfig, redis_url: Option<&str>) -> anyhow::Result<Self> {
        let redis = match (config.enabled, redis_url) {
            (true, Some(url)) => {
                let client = redis::Client::open(url)?;
                Some(
                    redis::aio::ConnectionManager::new(client)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "rate limits: Redis at {} is not reachable: {e}",
                                platform::config::redact_url(url)
                            )
                        })?,
                )
            }
            _ => None,
        };
        Ok(Self {
            config,
            redis,
            script: redis::Script::new(SCRIPT),
            local: Mutex::new(HashMap::new()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Counts one request of `class` from `caller` (`user:<id>` or `ip:<address>`).
    pub async fn check(&self, class: LimitClass, caller: &str) -> Option<Decision> {
        if !self.config.enabled {
            return None;
        }
        let limit = self.config.limit(class);
        let key = format!("{}{}:{caller}", self.config.key_prefix, class.name());
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let result: Result<(u8, u64, u64, u64), _> = self
                .script
                .key(&key)
                .arg(limit.interval_us())
                .arg(limit.capacity_us())
                .invoke_async(&mut connection)
                .await;
            match result {
                Ok((allowed, remaining, reset, retry_after)) => {
                    return Some(Decision {
                        allowed: allowed == 1,
                        limit,
                        remaining,
                        reset: Duration::from_micros(reset),
                        retry_after: Duration::from_micros(retry_after),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: Redis failed; using this gateway's own limits");
                }
            }
        }
        Some(self.check_locally(&key, limit))
    }

    fn check_locally(&self, key: &str, limit: Limit) -> Decision {
        let now = now_us();
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, decision) = gcra(local.get(key).copied(), now, limit);
        if let Some(next) = next {
            if local.len() >= self.config.local_max_keys && !local.contains_key(key) {
                make_room(&mut local, self.config.local_max_keys, now);
            }
            local.insert(key.to_owned(), next);
        }
        decision
    }

    /// How many keys the in-process limiter holds.
    pub fn local_keys(&self) -> usize {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Default of `RATE_LIMIT_LOCAL_MAX_KEYS`: about 10 MB of keys and times.
pub const DEFAULT_LOCAL_MAX_KEYS: usize = 100_000;

/// Frees room in a full map of theoretical arrival times, so that a flood of distinct callers
/// (addresses made up or rented) cannot grow it without bound. Keys whose burst is whole again
/// carry no information and go first; if that is not enough, the tenth of the keys closest to a
/// whole burst (the oldest arrivals) go too, so the next inserts find room without a scan each.
/// An evicted caller starts again with a whole burst: the cost of the bound, paid by the callers
/// who were least limited anyway.
fn make_room(local: &mut HashMap<String, u64>, max_keys: usize, now: u64) {
    local.retain(|_, tat| *tat > now);
    if local.len() < max_keys {
        return;
    }
    let evict = (max_keys / 10).max(1).min(local.len());
    let mut tats: Vec<u64> = local.values().copied().collect();
    let (_, threshold, _) = tats.select_nth_unstable(evict - 1);
    let threshold = *threshold;
    let mut left = evict;
    local.retain(|_, tat| {
        if left > 0 && *tat <= threshold {
            left -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_bad_ones_name_the_setting() {
        assert_eq!(
            Limit::parse("K", "20/1m").unwrap(),
            Limit {
                count: 20,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(
            Limit::parse("K", "5/500ms").unwrap().period,
            Duration::from_millis(500)
        );
        assert_eq!(
            Limit::parse("K", "100/s").unwrap().period,
            Duration::from_secs(1)
        );
        for bad in ["20", "0/1s", "x/1s", "5/1y", "5/0s"] {
            assert!(
                Limit::parse("RATE_LIMIT_LOGIN", bad)
                    .unwrap_err()
                    .to_string()
                    .contains("RATE_LIMIT_LOGIN"),
                "{bad}"
            );
        }
    }

    fn limiter(max_keys: usize) -> RateLimiter {
        let source = ConfigSource::from_pairs([
            ("RATE_LIMIT_DEFAULT", "5/1m"),
            ("RATE_LIMIT_LOCAL_MAX_KEYS", &max_keys.to_string()),
        ]);
        RateLimiter {
            config: LimitConfig::load(&source).unwrap(),
            redis: None,
            script: redis::Script::new(SCRIPT),
            local: Mutex::new(HashMap::new()),
        }
    }

    #[tokio::test]
    async fn a_flood_of_distinct_callers_cannot_grow_the_local_map_past_its_bound() {
        let limiter = limiter(1_000);
        // Each key's burst stays far from whole for a minute: none expires during the flood.
        for n in 0..50_000 {
            let decision = limiter
                .check(
                    LimitClass::Default,
                    &format!("ip:10.0.{}.{}", n / 256, n % 256),
                )
                .await
                .unwrap();
            assert!(decision.allowed);
            assert!(
                limiter.local_keys() <= 1_000,
                "{} keys",
                limiter.local_keys()
            );
        }
        // A caller seen just now keeps its count: the oldest go first.
        let caller = "ip:192.0.2.1";
        for _ in 0..5 {
            assert!(
                limiter
                    .check(LimitClass::Default, caller)
                    .await
                    .unwrap()
                    .allowed
            );
        }
        for n in 0..50 {
            limiter
                .check(LimitClass::Default, &format!("ip:10.1.0.{n}"))
                .await
                .unwrap();
        }
        assert!(
            !limiter
                .check(LimitClass::Default, caller)
                .await
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn the_local_bound_is_a_setting() {
        let source = ConfigSource::from_pairs([("RATE_LIMIT_LOCAL_MAX_KEYS", "0")]);
        let error = LimitConfig::load(&source).unwrap_err().to_string();
        assert!(error.contains("RATE_LIMIT_LOCAL_MAX_KEYS"), "{error}");
        assert_eq!(
            LimitConfig::load(&ConfigSource::default())
                .unwrap()
                .local_max_keys,
            DEFAULT_LOCAL_MAX_KEYS
        );
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limit = Limit {
            count: 3,
            period: Duration::from_secs(3),
        };
        let mut tat = None;
        let now = 1_000_000_000;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (next, decision) = gcra(tat, now, limit);
            assert!(decision.allowed);
            remaining.push(decision.remaining);
            tat = next;
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (next, refused) = gcra(tat, now, limit);
        assert!(!refused.allowed && next.is_none());
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        // One interval later, one more request fits.
        let later = now + 1_000_000;
        assert!(gcra(tat, later, limit).1.allowed);
        // A long pause refills the whole burst, and no more.
        let (_, fresh) = gcra(tat, now + 60_000_000, limit);
        assert_eq!(fresh.remaining, 2);
    }
}
