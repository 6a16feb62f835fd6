//! Payment's configuration: the shared settings plus its own, from `ConfigSource`.

use std::time::Duration;

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Payment;
use crate::domain::refunds::RefundPolicy;
use crate::jobs::charges::WorkerConfig;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub worker: WorkerConfig,
    pub refunds: RefundPolicy,
    /// `PAYMENT_MAX_CARDS`: how many cards one user may keep saved.
    pub max_cards: i64,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        if let Some(processor) = source.get("PAYMENT_PROCESSOR")
            && processor != "simulated"
        {
            return Err(ConfigError::invalid(
                "PAYMENT_PROCESSOR",
                processor,
                "the only processor built in is `simulated`",
            ));
        }
        let defaults = WorkerConfig::default();
        let millis = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(source
                .parse::<u64>(key)?
                .map_or(default, Duration::from_millis))
        };
        let late_fee_percent = source.parse::<u8>("REFUND_LATE_FEE_PERCENT")?.unwrap_or(25);
        if late_fee_percent > 100 {
            return Err(ConfigError::invalid(
                "REFUND_LATE_FEE_PERCENT",
                &late_fee_percent.to_string(),
                "a percentage is 0 to 100",
            ));
        }
        let max_attempts = source
            .parse::<i32>("PAYMENT_MAX_ATTEMPTS")?
            .unwrap_or(defaults.max_attempts);
        if max_attempts < 1 {
            return Err(ConfigError::invalid(
                "PAYMENT_MAX_ATTEMPTS",
                &max_attempts.to_string(),
                "at least 1",
            ));
        }
        let max_cards = source.parse::<i64>("PAYMENT_MAX_CARDS")?.unwrap_or(10);
        if !(1..=100).contains(&max_cards) {
            return Err(ConfigError::invalid(
                "PAYMENT_MAX_CARDS",
                &max_cards.to_string(),
                "must be 1 to 100",
            ));
        }
        Ok(Self {
            max_cards,
            settings: Settings::load(source, Payment::SPEC, mode)?,
            worker: WorkerConfig {
                processor_timeout: millis(
                    "PAYMENT_PROCESSOR_TIMEOUT_MS",
                    defaults.processor_timeout,
                )?,
                max_attempts,
                retry_base: millis("PAYMENT_RETRY_BASE_MS", defaults.retry_base)?,
                poll_interval: defaults.poll_interval,
            },
            refunds: RefundPolicy {
                full_refund_before: chrono::Duration::hours(
                    source
                        .parse::<i64>("REFUND_FULL_BEFORE_HOURS")?
                        .unwrap_or(24),
                ),
                late_fee_percent,
            },
        })
    }
}
