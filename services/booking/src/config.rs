//! Booking's configuration: the shared settings plus its own, from `ConfigSource`.

use std::time::Duration;

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Booking;
use crate::domain::holds::UnpaidLimits;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
    /// How long a booking request waits for its payment to settle.
    pub confirm_wait: Duration,
    /// How often to look for holds that have run out.
    pub expiry_interval: Duration,
    /// What one user may hold unpaid at a time.
    pub unpaid: UnpaidLimits,
}

/// A limit from `key`, `default` when unset.
fn limit(
    source: &ConfigSource,
    key: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let value = source.parse::<i64>(key)?.unwrap_or(default);
    if !range.contains(&value) {
        return Err(ConfigError::invalid(
            key,
            &value.to_string(),
            format!("must be {} to {}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let defaults = UnpaidLimits::default();
        Ok(Self {
            settings: Settings::load(source, Booking::SPEC, mode)?,
            hold: source
                .seconds("BOOKING_HOLD_SECS")?
                .unwrap_or(Duration::from_secs(15 * 60)),
            confirm_wait: source
                .parse::<u64>("BOOKING_CONFIRM_WAIT_MS")?
                .map_or(Duration::from_secs(3), Duration::from_millis),
            expiry_interval: source
                .parse::<u64>("BOOKING_EXPIRY_INTERVAL_MS")?
                .map_or(Duration::from_secs(1), Duration::from_millis)
                .max(Duration::from_millis(10)),
            unpaid: UnpaidLimits {
                bookings: limit(
                    source,
                    "BOOKING_MAX_PENDING_PER_USER",
                    defaults.bookings,
                    1..=1_000_000,
                )?,
                seats: limit(
                    source,
                    "BOOKING_MAX_HELD_SEATS_PER_USER",
                    defaults.seats,
                    1..=1_000_000,
                )?,
                flight_share_percent: limit(
                    source,
                    "BOOKING_MAX_FLIGHT_SHARE_PERCENT",
                    defaults.flight_share_percent,
                    1..=100,
                )?,
                nights: limit(
                    source,
                    "BOOKING_MAX_HELD_NIGHTS_PER_USER",
                    defaults.nights,
                    1..=1_000_000,
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let source = ConfigSource::from_pairs(pairs.iter().copied());
        Config::load(&source, RunMode::Single)
    }

    #[test]
    fn unpaid_limits_default_and_name_the_bad_setting() {
        assert_eq!(load(&[]).unwrap().unpaid, UnpaidLimits::default());
        let set = load(&[
            ("BOOKING_MAX_PENDING_PER_USER", "2"),
            ("BOOKING_MAX_HELD_SEATS_PER_USER", "3"),
            ("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "100"),
        ])
        .unwrap();
        assert_eq!(
            set.unpaid,
            UnpaidLimits {
                bookings: 2,
                seats: 3,
                flight_share_percent: 100,
                nights: 60
            }
        );
        for (key, value) in [
            ("BOOKING_MAX_PENDING_PER_USER", "0"),
            ("BOOKING_MAX_HELD_SEATS_PER_USER", "-1"),
            ("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "101"),
            ("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "half"),
        ] {
            let error = load(&[(key, value)]).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
