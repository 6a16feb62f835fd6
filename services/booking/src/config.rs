//! Booking's configuration: the shared settings plus its own, from `ConfigSource`.

use std::time::Duration;

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Booking;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
    /// How long a booking request waits for its payment to settle.
    pub confirm_wait: Duration,
    /// How often to look for holds that have run out.
    pub expiry_interval: Duration,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
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
        })
    }
}
