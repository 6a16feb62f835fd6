//! Web's configuration: the shared settings plus where the public API is and how cookies are set.

use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::Web;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// `WEB_API_URL`: the gateway, through which every page calls the platform (default: the
    /// gateway on this machine, `http://127.0.0.1:<GATEWAY_PORT>`).
    pub api_url: String,
    /// `WEB_SECURE_COOKIES`: mark session cookies `Secure` (default: on when `WEB_PUBLIC_URL`
    /// starts with `https://`). Browsers then send them only over TLS.
    pub secure_cookies: bool,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let settings = Settings::load(source, Web::SPEC, mode)?;
        let gateway_port = source
            .parse::<u16>("GATEWAY_PORT")?
            .unwrap_or(contracts::services::GATEWAY.default_port);
        let api_url = source
            .get("WEB_API_URL")
            .map_or_else(|| format!("http://127.0.0.1:{gateway_port}"), str::to_owned)
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "WEB_API_URL",
                &api_url,
                "the gateway's address, starting with http:// or https://",
            ));
        }
        let public_https = source
            .get("WEB_PUBLIC_URL")
            .is_some_and(|url| url.starts_with("https://"));
        let secure_cookies = source
            .parse::<bool>("WEB_SECURE_COOKIES")?
            .unwrap_or(public_https);
        Ok(Self {
            settings,
            api_url,
            secure_cookies,
        })
    }
}
