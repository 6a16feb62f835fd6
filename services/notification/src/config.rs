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
            settings: Settings::load(source, Notification::SPEC, mode)?,
            channels: Channels {
                smtp,
                from,
                webhook,
            },
        })
    }
}
