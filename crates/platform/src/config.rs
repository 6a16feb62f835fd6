//! Typed configuration: defaults, an optional file, then environment variables.
//!
//! Keys are the environment variable names (those of seed 004 where they exist: `SERVICE_NAME`,
//! `SERVICE_PORT`, `DATABASE_URL` or `DB_CONNECTION`, `REDIS_URL`, `KAFKA_BROKERS`, `LOG_LEVEL`,
//! `JWT_*`). The file named by `ITINERA_CONFIG` is a flat TOML table with the same keys; the
//! environment wins over the file, and the file over the defaults. A value that does not parse stops
//! start-up with an error that names the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Every setting a service was given, before it is typed.
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    values: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value for {key}: {value:?} ({reason})")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("missing required setting {key}: {reason}")]
    Missing { key: String, reason: String },
    #[error("cannot read configuration file {path} (named by ITINERA_CONFIG): {reason}")]
    File { path: String, reason: String },
}

impl ConfigError {
    pub fn invalid(key: &str, value: &str, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl ConfigSource {
    /// The process environment, over the file named by `ITINERA_CONFIG` if it is set.
    pub fn from_environment() -> Result<Self, ConfigError> {
        let mut source = match std::env::var("ITINERA_CONFIG") {
            Ok(path) if !path.is_empty() => Self::from_file(Path::new(&path))?,
            _ => Self::default(),
        };
        for (key, value) in std::env::vars() {
            source.values.insert(key, value);
        }
        Ok(source)
    }

    /// A flat TOML table; keys are matched case-insensitively against the environment names.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file_error = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.to_string()))?;
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(file_error(format!(
                        "{key} must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            values.insert(key.to_ascii_uppercase(), text);
        }
        Ok(Self { values })
    }

    /// Exactly these pairs; used by tests and by embedders that configure in code.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Adds or replaces one value.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// The raw value of a key; empty values count as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The first of several keys that is set (for aliases such as `DATABASE_URL` / `DB_CONNECTION`).
    pub fn get_any<'a>(&'a self, keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
        keys.iter()
            .find_map(|key| self.get(key).map(|value| (*key, value)))
    }

    /// Parses a key's value if it is set; the error names the key.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ConfigError::invalid(key, raw, e)),
        }
    }

    /// Parses a boolean written as true/false, 1/0, yes/no or on/off.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Some(true)),
                "false" | "0" | "no" | "off" => Ok(Some(false)),
                _ => Err(ConfigError::invalid(key, raw, "expected true or false")),
            },
        }
    }

    /// A duration given in whole seconds.
    pub fn seconds(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        match self.parse::<u64>(key)? {
            Some(0) => Err(ConfigError::invalid(
                key,
                "0",
                "must be at least one second",
            )),
            other => Ok(other.map(Duration::from_secs)),
        }
    }
}

/// How a service is being run, which decides how its port and database are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// `itinera up`: every service in one process. `SERVICE_PORT` and `SERVICE_NAME` would be
    /// ambiguous and are ignored; `<SERVICE>_PORT` (e.g. `IDENTITY_PORT`) sets a port, and each
    /// service gets its own database on the server named by `DATABASE_URL`.
    AllInOne,
    /// `itinera serve <service>`: one service; `SERVICE_PORT` and `DATABASE_URL` apply as given.
    Single,
}

/// Who the platform is running for, from `ITINERA_MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A laptop: published demo passwords, the always-approving sandbox card, failure simulation
    /// open to anyone. Only on loopback addresses. The default of `itinera up`.
    Demo,
    /// Real users: no demo accounts, no sandbox, operational endpoints for staff only. The
    /// default of `itinera serve`.
    Production,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Production => "production",
        }
    }

    pub const fn is_demo(self) -> bool {
        matches!(self, Self::Demo)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "demo" => Ok(Self::Demo),
            "production" => Ok(Self::Production),
            _ => Err("expected demo or production"),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
    /// Pretty in a terminal, JSON otherwise.
    Auto,
}

impl FromStr for LogFormat {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            "auto" => Ok(Self::Auto),
            _ => Err("expected json, pretty or auto"),
        }
    }
}

/// Settings shared by every service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The service's name as it appears in logs, metrics and `/version`.
    pub service_name: String,
    /// `ITINERA_MODE`: `demo` (default of `itinera up`) or `production` (default of `itinera
    /// serve`). Demo mode listens only on loopback addresses.
    pub mode: Mode,
    pub host: IpAddr,
    /// 0 asks the operating system for a free port (tests).
    pub port: u16,
    pub database: DatabaseSettings,
    pub redis_url: Option<String>,
    pub kafka_brokers: Vec<String>,
    /// Consumer-group session timeout (`KAFKA_SESSION_TIMEOUT_MS`).
    pub kafka_session_timeout: Duration,
    /// Put before every topic and consumer-group name (`KAFKA_TOPIC_PREFIX`), so that several
    /// platforms (or test runs) can share one broker.
    pub kafka_topic_prefix: String,
    /// TLS and SASL for the brokers (`KAFKA_SECURITY_PROTOCOL` and friends).
    pub kafka_security: KafkaSecurity,
    pub jwt: JwtSettings,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Header-read and idle timeouts and the connection cap of the HTTP listener
    /// (`HTTP_HEADER_READ_TIMEOUT_SECS`, `HTTP_IDLE_TIMEOUT_SECS`, `HTTP_MAX_CONNECTIONS`).
    pub server_limits: crate::server::ServerLimits,
    /// How this instance announces itself to the gateway (with `REDIS_URL`).
    pub discovery: DiscoverySettings,
}

/// How the Kafka clients authenticate and encrypt, passed to librdkafka as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// `KAFKA_SECURITY_PROTOCOL`: `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub protocol: Option<String>,
    /// `KAFKA_SASL_MECHANISM`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (default `PLAIN`
    /// when a SASL protocol is chosen).
    pub sasl_mechanism: Option<String>,
    /// `KAFKA_SASL_USERNAME` and `KAFKA_SASL_PASSWORD`, required by the SASL protocols.
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    /// `KAFKA_SSL_CA_LOCATION`: the CA bundle that signs the brokers' certificates (default: the
    /// system's).
    pub ssl_ca_location: Option<String>,
    /// `KAFKA_SSL_CERTIFICATE_LOCATION` and `KAFKA_SSL_KEY_LOCATION`: a client certificate, for
    /// brokers that ask for one.
    pub ssl_certificate_location: Option<String>,
    pub ssl_key_location: Option<String>,
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("ssl_certificate_location", &self.ssl_certificate_location)
            .field("ssl_key_location", &self.ssl_key_location)
            .finish()
    }
}

impl KafkaSecurity {
    fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let owned = |key: &str| source.get(key).map(str::to_owned);
        let protocol = source
            .get("KAFKA_SECURITY_PROTOCOL")
            .map(str::to_ascii_lowercase);
        let sasl = match protocol.as_deref() {
            None | Some("plaintext" | "ssl") => false,
            Some("sasl_plaintext" | "sasl_ssl") => true,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "KAFKA_SECURITY_PROTOCOL",
                    other,
                    "expected plaintext, ssl, sasl_plaintext or sasl_ssl",
                ));
            }
        };
        let sasl_mechanism = source
            .get("KAFKA_SASL_MECHANISM")
            .map(str::to_ascii_uppercase);
        if let Some(mechanism) = &sasl_mechanism
            && !matches!(
                mechanism.as_str(),
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
            )
        {
            return Err(ConfigError::invalid(
                "KAFKA_SASL_MECHANISM",
                mechanism,
                "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            ));
        }
        let security = Self {
            sasl_mechanism,
            sasl_username: owned("KAFKA_SASL_USERNAME"),
            sasl_password: owned("KAFKA_SASL_PASSWORD"),
            ssl_ca_location: owned("KAFKA_SSL_CA_LOCATION"),
            ssl_certificate_location: owned("KAFKA_SSL_CERTIFICATE_LOCATION"),
            ssl_key_location: owned("KAFKA_SSL_KEY_LOCATION"),
            protocol,
        };
        if sasl {
            for (key, value) in [
                ("KAFKA_SASL_USERNAME", &security.sasl_username),
                ("KAFKA_SASL_PASSWORD", &security.sasl_password),
            ] {
                if value.is_none() {
                    return Err(ConfigError::Missing {
                        key: key.into(),
                        reason: "KAFKA_SECURITY_PROTOCOL asks for SASL".into(),
                    });
                }
            }
        }
        Ok(security)
    }

    /// The librdkafka properties these settings stand for.
    pub fn properties(&self) -> Vec<(&'static str, &str)> {
        let sasl = self
            .protocol
            .as_deref()
            .is_some_and(|p| p.starts_with("sasl"));
        let mut properties = Vec::new();
        if let Some(protocol) = &self.protocol {
            properties.push(("security.protocol", protocol.as_str()));
        }
        if sasl {
            properties.push((
                "sasl.mechanism",
                self.sasl_mechanism.as_deref().unwrap_or("PLAIN"),
            ));
        }
        for (key, value) in [
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ] {
            if let Some(value) = value
                && (sasl || !key.starts_with("sasl"))
            {
                properties.push((key, value.as_str()));
            }
        }
        properties
    }
}

/// Self-registration in the service registry (Redis), which the gateway reads.
#[derive(Clone, Debug)]
pub struct DiscoverySettings {
    /// The service this instance belongs to (`booking`, not a custom `SERVICE_NAME`).
    pub service: &'static str,
    /// `SERVICE_INSTANCE`: a name for this instance; default `<service>_<port>`.
    pub instance: Option<String>,
    /// `SERVICE_ADVERTISE_URL`: where others reach it; default `http://<host>:<port>`.
    pub advertise_url: Option<String>,
    /// `DISCOVERY_TTL_MS`: the registration expires unless renewed within this time (renewed
    /// every third of it); an instance that dies leaves the registry within it.
    pub ttl: Duration,
    /// `DISCOVERY_REGISTER=false` keeps this instance out of the registry.
    pub register: bool,
    /// `DISCOVERY_PREFIX`: put before every registry key, so several platforms (or test runs)
    /// can share one Redis.
    pub prefix: String,
}

/// Where the service's own PostgreSQL database is.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// A full connection URL whose path names this service's database.
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Access-token settings shared by the issuer (identity) and every verifier.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Where verifiers fetch the signing keys.
    pub jwks_url: String,
    /// How often verifiers fetch the signing keys again (`JWT_JWKS_REFRESH_SECS`), so a key
    /// identity revokes is refused everywhere within about this long.
    pub jwks_refresh: Duration,
}

pub use contracts::services::ServiceSpec;

pub const DEFAULT_DATABASE_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Info for Itinera, warnings only from the database driver (which reports every notice).
pub const DEFAULT_LOG_LEVEL: &str = "info,sqlx=warn";

impl Settings {
    /// Types the settings of one service. Every bad value is reported with the key that holds it.
    pub fn load(
        source: &ConfigSource,
        spec: ServiceSpec,
        mode: RunMode,
    ) -> Result<Self, ConfigError> {
        let upper = spec.name.to_ascii_uppercase();
        let own_port_key = format!("{upper}_PORT");
        let port = match mode {
            RunMode::Single => match source.parse::<u16>("SERVICE_PORT")? {
                Some(port) => Some(port),
                None => source.parse::<u16>(&own_port_key)?,
            },
            RunMode::AllInOne => source.parse::<u16>(&own_port_key)?,
        }
        .unwrap_or(spec.default_port);

        let service_name = match mode {
            RunMode::Single => source.get("SERVICE_NAME").unwrap_or(spec.name).to_owned(),
            RunMode::AllInOne => spec.name.to_owned(),
        };

        let prefix = source.get("DATABASE_NAME_PREFIX").unwrap_or("itinera_");
        if !prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || prefix.len() > 40
        {
            return Err(ConfigError::invalid(
                "DATABASE_NAME_PREFIX",
                prefix,
                "use at most 40 lower-case letters, digits and underscores",
            ));
        }
        let database_name = format!("{prefix}{}", spec.name);
        let url = match (mode, source.get_any(&["DATABASE_URL", "DB_CONNECTION"])) {
            (RunMode::Single, Some((key, url))) => {
                validate_postgres_url(key, url)?;
                let names_a_database = url
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .is_ok_and(|o| o.get_database().is_some_and(|d| !d.is_empty()));
                if names_a_database {
                    url.to_owned()
                } else {
                    with_database(url, &database_name)
                }
            }
            (RunMode::AllInOne, Some((key, url))) => {
                validate_postgres_url(key, url)?;
                with_database(url, &database_name)
            }
            (_, None) => format!("{DEFAULT_DATABASE_SERVER}/{database_name}"),
        };

        let identity_port = source
            .parse::<u16>("IDENTITY_PORT")?
            .unwrap_or(contracts::services::IDENTITY.default_port);
        let jwt = JwtSettings {
            issuer: source.get("JWT_ISSUER").unwrap_or("itinera").to_owned(),
            audience: source.get("JWT_AUDIENCE").unwrap_or("itinera").to_owned(),
            access_ttl: source
                .seconds("JWT_ACCESS_TTL_SECS")?
                .unwrap_or(Duration::from_secs(15 * 60)),
            refresh_ttl: source
                .seconds("JWT_REFRESH_TTL_SECS")?
                .unwrap_or(Duration::from_secs(30 * 24 * 3600)),
            jwks_url: source.get("JWT_JWKS_URL").map_or_else(
                || format!("http://127.0.0.1:{identity_port}/.well-known/jwks.json"),
                str::to_owned,
            ),
            jwks_refresh: source
                .seconds("JWT_JWKS_REFRESH_SECS")?
                .unwrap_or(Duration::from_secs(5)),
        };
        if !jwt.jwks_url.starts_with("http://") && !jwt.jwks_url.starts_with("https://") {
            return Err(ConfigError::invalid(
                "JWT_JWKS_URL",
                &jwt.jwks_url,
                "expected an http(s) URL",
            ));
        }

        let kafka_brokers = source
            .get("KAFKA_BROKERS")
            .map(|list| {
                list.split(',')
                    .map(|b| b.trim().to_owned())
                    .filter(|b| !b.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        if let Some(url) = source.get("REDIS_URL")
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::invalid(
                "REDIS_URL",
                url,
                "expected a redis:// URL",
            ));
        }

        let max_connections = source
            .parse::<u32>("DATABASE_MAX_CONNECTIONS")?
            .unwrap_or(16);
        if max_connections == 0 {
            return Err(ConfigError::invalid(
                "DATABASE_MAX_CONNECTIONS",
                "0",
                "must be at least 1",
            ));
        }

        let host = source
            .parse::<IpAddr>("SERVICE_HOST")?
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let mode = source.parse::<Mode>("ITINERA_MODE")?.unwrap_or(match mode {
            RunMode::AllInOne => Mode::Demo,
            RunMode::Single => Mode::Production,
        });
        if mode.is_demo() && !host.is_loopback() {
            return Err(ConfigError::invalid(
                "SERVICE_HOST",
                &host.to_string(),
                "demo mode publishes fixed passwords and an always-approving sandbox card, so it \
                 listens only on a loopback address; set ITINERA_MODE=production to listen here",
            ));
        }

        Ok(Self {
            service_name,
            mode,
            host,
            port,
            database: DatabaseSettings {
                url,
                max_connections,
                acquire_timeout: source
                    .seconds("DATABASE_ACQUIRE_TIMEOUT_SECS")?
                    .unwrap_or(Duration::from_secs(5)),
            },
            redis_url: source.get("REDIS_URL").map(str::to_owned),
            discovery: DiscoverySettings {
                service: spec.name,
                instance: source.get("SERVICE_INSTANCE").map(str::to_owned),
                advertise_url: source.get("SERVICE_ADVERTISE_URL").map(str::to_owned),
                ttl: Duration::from_millis(
                    source
                        .parse::<u64>("DISCOVERY_TTL_MS")?
                        .unwrap_or(10_000)
                        .max(300),
                ),
                register: source.flag("DISCOVERY_REGISTER")?.unwrap_or(true),
                prefix: source
                    .get("DISCOVERY_PREFIX")
                    .unwrap_or("itinera:discovery:")
                    .to_owned(),
            },
            kafka_brokers,
            kafka_security: KafkaSecurity::load(source)?,
            kafka_topic_prefix: source
                .get("KAFKA_TOPIC_PREFIX")
                .unwrap_or_default()
                .to_owned(),
            kafka_session_timeout: Duration::from_millis(
                source
                    .parse::<u64>("KAFKA_SESSION_TIMEOUT_MS")?
                    .unwrap_or(10_000)
                    .max(1_000),
            ),
            jwt,
            body_limit: source
                .parse::<usize>("HTTP_BODY_LIMIT_BYTES")?
                .unwrap_or(64 * 1024),
            server_limits: server_limits(source)?,
        })
    }
}

fn server_limits(source: &ConfigSource) -> Result<crate::server::ServerLimits, ConfigError> {
    use crate::server::ServerLimits;
    let max_connections = match source.parse::<usize>("HTTP_MAX_CONNECTIONS")? {
        Some(0) => {
            return Err(ConfigError::invalid(
                "HTTP_MAX_CONNECTIONS",
                "0",
                "must be at least 1",
            ));
        }
        other => other.unwrap_or(ServerLimits::DEFAULT_MAX_CONNECTIONS),
    };
    Ok(ServerLimits {
        header_read_timeout: source
            .seconds("HTTP_HEADER_READ_TIMEOUT_SECS")?
            .unwrap_or(ServerLimits::DEFAULT_HEADER_READ_TIMEOUT),
        idle_timeout: source
            .seconds("HTTP_IDLE_TIMEOUT_SECS")?
            .unwrap_or(ServerLimits::DEFAULT_IDLE_TIMEOUT),
        max_connections,
    })
}

/// Log settings are read once per process, before any service starts.
#[derive(Clone, Debug)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

impl LogSettings {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let level = source
            .get("LOG_LEVEL")
            .unwrap_or(DEFAULT_LOG_LEVEL)
            .to_owned();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
            return Err(ConfigError::invalid("LOG_LEVEL", &level, e));
        }
        Ok(Self {
            level,
            format: source.parse("LOG_FORMAT")?.unwrap_or(LogFormat::Auto),
        })
    }
}

fn validate_postgres_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigError::invalid(
            key,
            &redact_url(url),
            "expected a postgres:// URL",
        ));
    }
    url.parse::<sqlx::postgres::PgConnectOptions>()
        .map(|_| ())
        .map_err(|e| ConfigError::invalid(key, &redact_url(url), e))
}

/// Replaces the database named in a PostgreSQL URL, keeping host, credentials and parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..authority_end], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{}{user}{hidden}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: ServiceSpec = contracts::services::IDENTITY;

    #[test]
    fn itinera_up_runs_in_demo_mode_and_serve_in_production_unless_told() {
        let none = ConfigSource::default();
        let load = |source: &ConfigSource, mode| Settings::load(source, IDENTITY, mode);
        assert_eq!(load(&none, RunMode::AllInOne).unwrap().mode, Mode::Demo);
        assert_eq!(load(&none, RunMode::Single).unwrap().mode, Mode::Production);
        let production = ConfigSource::from_pairs([("ITINERA_MODE", "production")]);
        assert_eq!(
            load(&production, RunMode::AllInOne).unwrap().mode,
            Mode::Production
        );
        let bad = ConfigSource::from_pairs([("ITINERA_MODE", "staging")]);
        let err = load(&bad, RunMode::Single).unwrap_err().to_string();
        assert!(err.contains("ITINERA_MODE"), "{err}");
    }

    #[test]
    fn demo_mode_refuses_to_listen_beyond_loopback() {
        let open = ConfigSource::from_pairs([("SERVICE_HOST", "0.0.0.0")]);
        let err = Settings::load(&open, IDENTITY, RunMode::AllInOne)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SERVICE_HOST") && err.contains("loopback"),
            "{err}"
        );
        let ipv6_loopback = ConfigSource::from_pairs([("SERVICE_HOST", "::1")]);
        assert!(Settings::load(&ipv6_loopback, IDENTITY, RunMode::AllInOne).is_ok());
        let production = open.with("ITINERA_MODE", "production");
        assert!(Settings::load(&production, IDENTITY, RunMode::AllInOne).is_ok());
    }

    #[test]
    fn kafka_security_settings_become_librdkafka_properties() {
        let plain = Settings::load(&ConfigSource::default(), IDENTITY, RunMode::Single).unwrap();
        assert!(plain.kafka_security.properties().is_empty());

        let source = ConfigSource::from_pairs([
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "scram-sha-512"),
            ("KAFKA_SASL_USERNAME", "itinera"),
            ("KAFKA_SASL_PASSWORD", "s3cret"),
            ("KAFKA_SSL_CA_LOCATION", "/etc/kafka/ca.pem"),
        ]);
        let security = Settings::load(&source, IDENTITY, RunMode::Single)
            .unwrap()
            .kafka_security;
        assert_eq!(
            security.properties(),
            [
                ("security.protocol", "sasl_ssl"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "itinera"),
                ("sasl.password", "s3cret"),
                ("ssl.ca.location", "/etc/kafka/ca.pem"),
            ]
        );
        assert!(!format!("{security:?}").contains("s3cret"));

        let no_password = ConfigSource::from_pairs([
            ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
            ("KAFKA_SASL_USERNAME", "itinera"),
        ]);
        let err = Settings::load(&no_password, IDENTITY, RunMode::Single).unwrap_err();
        assert!(err.to_string().contains("KAFKA_SASL_PASSWORD"), "{err}");
        let unknown = ConfigSource::from_pairs([("KAFKA_SECURITY_PROTOCOL", "tls")]);
        let err = Settings::load(&unknown, IDENTITY, RunMode::Single).unwrap_err();
        assert!(err.to_string().contains("KAFKA_SECURITY_PROTOCOL"), "{err}");
    }

    #[test]
    fn defaults_give_each_service_its_own_database_and_port() {
        let settings =
            Settings::load(&ConfigSource::default(), IDENTITY, RunMode::AllInOne).unwrap();
        assert_eq!(settings.port, 5001);
        assert_eq!(
            settings.database.url,
            "postgres://postgres@127.0.0.1:5432/itinera_identity"
        );
        assert_eq!(settings.jwt.access_ttl, Duration::from_secs(900));
        assert_eq!(
            settings.jwt.jwks_url,
            "http://127.0.0.1:5001/.well-known/jwks.json"
        );
    }

    #[test]
    fn environment_overrides_and_aliases_apply_in_single_mode() {
        let source = ConfigSource::from_pairs([
            ("SERVICE_PORT", "7001"),
            ("DB_CONNECTION", "postgres://app:pw@db:5432/users"),
            ("KAFKA_BROKERS", "127.0.0.1:9092, 127.0.0.1:9093"),
        ]);
        let settings = Settings::load(&source, IDENTITY, RunMode::Single).unwrap();
        assert_eq!(settings.port, 7001);
        assert_eq!(settings.database.url, "postgres://app:pw@db:5432/users");
        assert_eq!(
            settings.kafka_brokers,
            vec!["127.0.0.1:9092", "127.0.0.1:9093"]
        );
    }

    #[test]
    fn a_database_name_prefix_keeps_separate_platforms_apart() {
        let source = ConfigSource::from_pairs([("DATABASE_NAME_PREFIX", "itinera_bench_")]);
        let settings = Settings::load(&source, IDENTITY, RunMode::AllInOne).unwrap();
        assert!(settings.database.url.ends_with("/itinera_bench_identity"));
        let bad = ConfigSource::from_pairs([("DATABASE_NAME_PREFIX", "Robert'); DROP")]);
        assert!(Settings::load(&bad, IDENTITY, RunMode::AllInOne).is_err());
    }

    #[test]
    fn a_server_url_without_a_database_gets_the_service_database() {
        let source = ConfigSource::from_pairs([("DATABASE_URL", "postgres://app@db:5432")]);
        let settings = Settings::load(&source, IDENTITY, RunMode::Single).unwrap();
        assert_eq!(
            settings.database.url,
            "postgres://app@db:5432/itinera_identity"
        );
    }

    #[test]
    fn all_in_one_mode_keeps_the_server_but_not_the_database_name() {
        let source = ConfigSource::from_pairs([
            (
                "DATABASE_URL",
                "postgres://app:pw@db:5432/whatever?sslmode=disable",
            ),
            ("SERVICE_PORT", "1"),
        ]);
        let settings = Settings::load(&source, IDENTITY, RunMode::AllInOne).unwrap();
        assert_eq!(
            settings.database.url,
            "postgres://app:pw@db:5432/itinera_identity?sslmode=disable"
        );
        assert_eq!(
            settings.port, 5001,
            "SERVICE_PORT is ambiguous with many services and is ignored"
        );
    }

    #[test]
    fn a_bad_value_names_its_key() {
        for (key, value) in [
            ("SERVICE_PORT", "eighty"),
            ("SERVICE_PORT", "70000"),
            ("DATABASE_URL", "mysql://x"),
            ("JWT_ACCESS_TTL_SECS", "-5"),
            ("JWT_ACCESS_TTL_SECS", "0"),
            ("REDIS_URL", "localhost:6379"),
            ("JWT_JWKS_URL", "ftp://x"),
        ] {
            let source = ConfigSource::from_pairs([(key, value)]);
            let err = Settings::load(&source, IDENTITY, RunMode::Single).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
        let err =
            LogSettings::load(&ConfigSource::from_pairs([("LOG_LEVEL", "loud[")])).unwrap_err();
        assert!(err.to_string().contains("LOG_LEVEL"), "{err}");
    }

    #[test]
    fn every_listener_has_timeouts_and_a_connection_cap() {
        let defaults = Settings::load(&ConfigSource::default(), IDENTITY, RunMode::Single)
            .unwrap()
            .server_limits;
        assert_eq!(defaults, crate::server::ServerLimits::default());
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.idle_timeout, Duration::from_secs(120));
        assert_eq!(defaults.max_connections, 10_000);
        let source = ConfigSource::from_pairs([
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "5"),
            ("HTTP_IDLE_TIMEOUT_SECS", "75"),
            ("HTTP_MAX_CONNECTIONS", "2000"),
        ]);
        let limits = Settings::load(&source, IDENTITY, RunMode::Single)
            .unwrap()
            .server_limits;
        assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(limits.idle_timeout, Duration::from_secs(75));
        assert_eq!(limits.max_connections, 2000);
        for (key, value) in [
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "0"),
            ("HTTP_IDLE_TIMEOUT_SECS", "soon"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_MAX_CONNECTIONS", "-1"),
        ] {
            let source = ConfigSource::from_pairs([(key, value)]);
            let err = Settings::load(&source, IDENTITY, RunMode::Single).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        let source =
            ConfigSource::from_pairs([("DATABASE_URL", "postgres://app:hunter2@db:notaport/x")]);
        let err = Settings::load(&source, IDENTITY, RunMode::Single).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(
            redact_url("postgres://app:hunter2@db/x"),
            "postgres://app:***@db/x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn a_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("itinera-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("itinera.toml");
        std::fs::write(&path, "service_port = 6001\nlog_level = \"debug\"\n").unwrap();
        let source = ConfigSource::from_file(&path).unwrap();
        assert_eq!(source.get("SERVICE_PORT"), Some("6001"));
        let source = source.with("SERVICE_PORT", "6002");
        assert_eq!(
            Settings::load(&source, IDENTITY, RunMode::Single)
                .unwrap()
                .port,
            6002
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
