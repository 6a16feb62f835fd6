//! Notification's configuration: the shared settings plus its own, from `ConfigSource`.

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::{Channels, Notification};

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub channels: Channels,
    /// `LIVE_REDIS_PREFIX`: the Redis channel and keys of the live fan-out (with `REDIS_URL`).
    pub live_prefix: String,
    /// What one user or socket may hold and send on the live side.
    pub limits: LiveLimits,
}

/// Bounds on what one user may cost an instance: events, subscriptions, rooms and connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveLimits {
    /// `LIVE_EVENTS_PER_SECOND`: the Socket.IO events one socket may send each second, on average.
    pub events_per_second: u32,
    /// `LIVE_EVENT_BURST`: how many events a socket may send at once after a quiet spell.
    pub event_burst: u32,
    /// `LIVE_REFUSED_EVENTS_BEFORE_DISCONNECT`: events past the rate a socket may keep sending
    /// (each answered with 429) before it is disconnected.
    pub refused_before_disconnect: u32,
    /// `NOTIFICATION_MAX_SUBSCRIPTIONS`: flights one user may follow (stored subscriptions).
    pub max_subscriptions: u32,
    /// `LIVE_MAX_ROOMS_PER_USER`: rooms one user's sockets on an instance may join with
    /// `connect-room`, together.
    pub max_rooms_per_user: u32,
    /// `LIVE_MAX_CONNECTIONS_PER_USER`: sockets and SSE streams one user may hold open on an
    /// instance, together.
    pub max_connections_per_user: u32,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self {
            events_per_second: 10,
            event_burst: 20,
            refused_before_disconnect: 20,
            max_subscriptions: 100,
            max_rooms_per_user: 50,
            max_connections_per_user: 20,
        }
    }
}

impl LiveLimits {
    fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let within = |key: &str, default: u32, range: std::ops::RangeInclusive<u32>| {
            let value = source.parse::<u32>(key)?.unwrap_or(default);
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(ConfigError::invalid(
                    key,
                    &value.to_string(),
                    format!("must be {} to {}", range.start(), range.end()),
                ))
            }
        };
        Ok(Self {
            events_per_second: within(
                "LIVE_EVENTS_PER_SECOND",
                defaults.events_per_second,
                1..=1000,
            )?,
            event_burst: within("LIVE_EVENT_BURST", defaults.event_burst, 1..=10_000)?,
            refused_before_disconnect: within(
                "LIVE_REFUSED_EVENTS_BEFORE_DISCONNECT",
                defaults.refused_before_disconnect,
                0..=10_000,
            )?,
            max_subscriptions: within(
                "NOTIFICATION_MAX_SUBSCRIPTIONS",
                defaults.max_subscriptions,
                1..=10_000,
            )?,
            max_rooms_per_user: within(
                "LIVE_MAX_ROOMS_PER_USER",
                defaults.max_rooms_per_user,
                1..=10_000,
            )?,
            max_connections_per_user: within(
                "LIVE_MAX_CONNECTIONS_PER_USER",
                defaults.max_connections_per_user,
                1..=10_000,
            )?,
        })
    }
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let smtp = match source.get("SMTP_URL") {
            None => None,
            Some(url) => {
                let rest = url.strip_prefix("smtp://").ok_or_else(|| {
                    ConfigError::invalid(
                        "SMTP_URL",
                        &platform::config::redact_url(url),
                        "expected smtp://host:port",
                    )
                })?;
                let (host, port) = rest
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .unwrap_or((rest, "25"));
                let port = port.parse::<u16>().map_err(|e| {
                    ConfigError::invalid("SMTP_URL", &platform::config::redact_url(url), e)
                })?;
                if host.is_empty() {
                    return Err(ConfigError::invalid(
                        "SMTP_URL",
                        url,
                        "expected smtp://host:port",
                    ));
                }
                Some((host.to_owned(), port))
            }
        };
        let from = source
            .get("SMTP_FROM")
            .unwrap_or("Itinera <no-reply@itinera.local>")
            .to_owned();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::invalid(
                "SMTP_FROM",
                &from,
                "expected Name <address@host>",
            ));
        }
        let webhook = source.get("NOTIFICATION_WEBHOOK_URL").map(str::to_owned);
        if let Some(url) = &webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "NOTIFICATION_WEBHOOK_URL",
                &platform::config::redact_url(url),
                "expected an http(s) URL",
            ));
        }
        let live_prefix = source
            .get("LIVE_REDIS_PREFIX")
            .unwrap_or("itinera:live:")
            .to_owned();
        Ok(Self {
            live_prefix,
            limits: LiveLimits::load(source)?,
            settings: Settings::load(source, Notification::SPEC, mode)?,
            channels: Channels {
                smtp,
                from,
                webhook,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_limits_default_and_refuse_values_out_of_range_by_name() {
        let limits = LiveLimits::load(&ConfigSource::from_pairs([("LIVE_EVENT_BURST", "5")]))
            .expect("valid");
        assert_eq!(limits.event_burst, 5);
        assert_eq!(
            limits.events_per_second,
            LiveLimits::default().events_per_second
        );
        for key in [
            "LIVE_EVENTS_PER_SECOND",
            "LIVE_MAX_CONNECTIONS_PER_USER",
            "NOTIFICATION_MAX_SUBSCRIPTIONS",
        ] {
            let error = LiveLimits::load(&ConfigSource::from_pairs([(key, "0")]))
                .expect_err("0 is out of range")
                .to_string();
            assert!(error.contains(key), "{error}");
        }
        let error = LiveLimits::load(&ConfigSource::from_pairs([(
            "LIVE_MAX_ROOMS_PER_USER",
            "many",
        )]))
        .expect_err("not a number")
        .to_string();
        assert!(error.contains("LIVE_MAX_ROOMS_PER_USER"), "{error}");
    }
}
