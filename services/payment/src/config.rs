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
    /// Whether a card payment without a saved card goes to the processor's always-approving
    /// sandbox card (demo mode only); in production it waits for the customer to pay.
    pub sandbox: bool,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let settings = Settings::load(source, Payment::SPEC, mode)?;
        match source.get("PAYMENT_PROCESSOR") {
            Some("simulated") => {}
            Some(processor) => {
                return Err(ConfigError::invalid(
                    "PAYMENT_PROCESSOR",
                    processor,
                    "the only processor built in is `simulated`",
                ));
            }
            // The simulated processor approves every valid card number and takes no money: a
            // production platform runs it only when told to in so many words.
            None if !settings.mode.is_demo() => {
                return Err(ConfigError::Missing {
                    key: "PAYMENT_PROCESSOR".into(),
                    reason: "production mode (ITINERA_MODE) refuses to start the simulated card \
                             processor, which approves any valid card without taking money, unless \
                             PAYMENT_PROCESSOR=simulated is set explicitly"
                        .into(),
                });
            }
            None => {}
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
            sandbox: settings.mode.is_demo(),
            settings,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)], mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(&ConfigSource::from_pairs(pairs.iter().copied()), mode)
    }

    #[test]
    fn production_starts_the_simulated_processor_only_when_told_to() {
        let err = load(&[], RunMode::Single).unwrap_err().to_string();
        assert!(err.contains("PAYMENT_PROCESSOR"), "{err}");
        assert!(err.contains("PAYMENT_PROCESSOR=simulated"), "{err}");
        let err = load(&[("ITINERA_MODE", "production")], RunMode::AllInOne)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAYMENT_PROCESSOR"), "{err}");

        let told = load(&[("PAYMENT_PROCESSOR", "simulated")], RunMode::Single).unwrap();
        assert!(!told.sandbox, "production never pays with the sandbox card");
        let demo = load(&[], RunMode::AllInOne).unwrap();
        assert!(demo.sandbox);
        let err = load(&[("PAYMENT_PROCESSOR", "stripe")], RunMode::AllInOne)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAYMENT_PROCESSOR"), "{err}");
    }
}
