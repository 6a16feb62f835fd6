//! Catalog's configuration: the shared settings plus its own, from `ConfigSource`.

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Catalog;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// Days of flights the demo schedule covers.
    pub seed_days: u32,
    /// Flights a day on each demo route (1 to 4).
    pub seed_flights_per_day: u32,
    /// How long a search answer is reused; zero turns the cache off.
    pub search_cache_ttl: std::time::Duration,
    /// How long an answer of the search across products (`GET /api/search`) is kept, in Redis
    /// when `REDIS_URL` is set; zero turns that cache off. Changes invalidate it sooner.
    pub shared_search_ttl: std::time::Duration,
    /// `DEMO_SCHEDULE`: load the demo schedule at start when there are no flights (`itinera up`).
    pub demo_schedule: bool,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let seed_days = source.parse::<u32>("SEED_DAYS")?.unwrap_or(30);
        if !(1..=366).contains(&seed_days) {
            return Err(ConfigError::invalid(
                "SEED_DAYS",
                &seed_days.to_string(),
                "must be 1 to 366",
            ));
        }
        let seed_flights_per_day = source.parse::<u32>("SEED_FLIGHTS_PER_DAY")?.unwrap_or(1);
        if !(1..=4).contains(&seed_flights_per_day) {
            return Err(ConfigError::invalid(
                "SEED_FLIGHTS_PER_DAY",
                &seed_flights_per_day.to_string(),
                "must be 1 to 4",
            ));
        }
        Ok(Self {
            settings: Settings::load(source, Catalog::SPEC, mode)?,
            seed_days,
            seed_flights_per_day,
            search_cache_ttl: std::time::Duration::from_millis(
                source.parse::<u64>("SEARCH_CACHE_TTL_MS")?.unwrap_or(1_000),
            ),
            shared_search_ttl: std::time::Duration::from_secs(
                source
                    .parse::<u64>("SEARCH_SHARED_CACHE_SECS")?
                    .unwrap_or(60),
            ),
            // Only `itinera up` loads the demo schedule at start; `GET /seed` and `itinera seed`
            // do it on request.
            demo_schedule: mode == RunMode::AllInOne
                && source.flag("DEMO_SCHEDULE")?.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_itinera_up_loads_the_demo_schedule_at_start() {
        let source = ConfigSource::from_pairs([("DEMO_SCHEDULE", "true")]);
        assert!(
            Config::load(&source, RunMode::AllInOne)
                .unwrap()
                .demo_schedule
        );
        assert!(
            !Config::load(&source, RunMode::Single)
                .unwrap()
                .demo_schedule
        );
        let off = ConfigSource::default();
        assert!(!Config::load(&off, RunMode::AllInOne).unwrap().demo_schedule);
    }
}
