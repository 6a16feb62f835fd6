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
    /// `WEB_SECURE_COOKIES`: mark session cookies `Secure`, so that browsers send them only over
    /// TLS (default: on in production mode, or when `WEB_PUBLIC_URL` starts with `https://`).
    pub secure_cookies: bool,
    /// `WEB_TRUSTED_PROXIES`: the addresses (the gateway's) whose `X-Forwarded-For` names the
    /// browser; anyone else's is ignored (default: loopback, where `itinera up` runs the gateway).
    pub trusted_proxies: Vec<std::net::IpAddr>,
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
            .unwrap_or(public_https || !settings.mode.is_demo());
        let trusted_proxies = source
            .get("WEB_TRUSTED_PROXIES")
            .unwrap_or("127.0.0.1,::1")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse().map_err(|_| {
                    ConfigError::invalid("WEB_TRUSTED_PROXIES", a, "a list of IP addresses")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            settings,
            api_url,
            secure_cookies,
            trusted_proxies,
        })
    }
}
