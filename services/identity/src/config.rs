//! Identity's configuration: the shared settings plus its own, from `ConfigSource`.

use std::net::IpAddr;
use std::time::Duration;

use platform::auth::Role;
use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::accounts::LoginPolicy;
use crate::http::failure::FailureAccess;
use crate::{DEMO_USERS, Identity};

/// An administrator to create at start if no user has that name.
#[derive(Clone)]
pub struct BootstrapUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

impl std::fmt::Debug for BootstrapUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Identity's configuration: the shared settings plus its own.
#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub grpc_port: u16,
    pub login_policy: LoginPolicy,
    /// Users created at start when missing: the administrator of `ITINERA_ADMIN_USERNAME` /
    /// `ITINERA_ADMIN_PASSWORD`, or else the demo users (see `demo_users`).
    pub bootstrap: Vec<BootstrapUser>,
    /// Whether `bootstrap` holds the demo users, with their published passwords: only in demo
    /// mode (`DEMO_USERS=true`, which `itinera up` sets) and only when no administrator is
    /// configured.
    pub demo_users: bool,
    pub trusted_proxies: Vec<IpAddr>,
    /// How long `GET /api/auth/simulate-failure` makes this instance fail (zero: turned off).
    pub simulated_failure: Duration,
    /// Who may call it: anyone in demo mode; in production mode, administrators when
    /// `SIMULATED_FAILURE_ENABLED=true`, else nobody.
    pub simulated_failure_access: FailureAccess,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let settings = Settings::load(source, Identity::SPEC, mode)?;
        let grpc_port = source
            .parse::<u16>("IDENTITY_GRPC_PORT")?
            .or(Identity::SPEC.grpc_port)
            .unwrap_or_default();
        let login_policy = login_policy(source)?;
        let mut bootstrap = Vec::new();
        let mut demo_users = false;
        match (
            source.get("ITINERA_ADMIN_USERNAME"),
            source.get("ITINERA_ADMIN_PASSWORD"),
        ) {
            (Some(username), Some(password)) => bootstrap.push(BootstrapUser {
                username: username.to_owned(),
                email: source
                    .get("ITINERA_ADMIN_EMAIL")
                    .map_or_else(|| format!("{username}@itinera.local"), str::to_owned),
                password: password.to_owned(),
                role: Role::Admin,
            }),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: "ITINERA_ADMIN_PASSWORD".into(),
                    reason:
                        "ITINERA_ADMIN_USERNAME is set, so the administrator needs a password too"
                            .into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: "ITINERA_ADMIN_USERNAME".into(),
                    reason:
                        "ITINERA_ADMIN_PASSWORD is set, so the administrator needs a username too"
                            .into(),
                });
            }
            (None, None) => {
                // Demo users have published passwords: only in demo mode, which listens on
                // loopback addresses alone.
                demo_users = settings.mode.is_demo() && source.flag("DEMO_USERS")?.unwrap_or(false);
                if demo_users {
                    bootstrap.extend(DEMO_USERS.iter().map(|&(username, password, role)| {
                        BootstrapUser {
                            username: username.into(),
                            email: format!("{username}@itinera.local"),
                            password: password.into(),
                            role,
                        }
                    }));
                }
            }
        }
        let trusted_proxies = match source.get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|e| ConfigError::invalid("TRUSTED_PROXIES", s, e))
                })
                .collect::<Result<_, _>>()?,
        };
        let simulated_failure_access = if settings.mode.is_demo() {
            FailureAccess::Anyone
        } else if source.flag("SIMULATED_FAILURE_ENABLED")?.unwrap_or(false) {
            FailureAccess::Admins
        } else {
            FailureAccess::Off
        };
        Ok(Self {
            settings,
            grpc_port,
            login_policy,
            bootstrap,
            demo_users,
            trusted_proxies,
            // Zero is allowed here: it turns the endpoint off.
            simulated_failure: source
                .parse::<u64>("SIMULATED_FAILURE_SECS")?
                .map_or(Duration::from_secs(30), Duration::from_secs),
            simulated_failure_access,
        })
    }
}

/// The login throttle's settings. `LOGIN_LOCK_SECS` belonged to the hard locks these delays
/// replaced; it is refused rather than ignored, so that nobody believes it still applies.
fn login_policy(source: &ConfigSource) -> Result<LoginPolicy, ConfigError> {
    if let Some(value) = source.get("LOGIN_LOCK_SECS") {
        return Err(ConfigError::invalid(
            "LOGIN_LOCK_SECS",
            value,
            "logins are no longer locked but delayed: set LOGIN_DELAY_SECS and LOGIN_MAX_DELAY_SECS instead",
        ));
    }
    let defaults = LoginPolicy::default();
    let at_least_one = |key: &str, default: i32| -> Result<i32, ConfigError> {
        let value = source.parse::<i32>(key)?.unwrap_or(default);
        if value < 1 {
            return Err(ConfigError::invalid(
                key,
                &value.to_string(),
                "must be at least 1",
            ));
        }
        Ok(value)
    };
    let millis = |key: &str, default: i64| -> Result<i64, ConfigError> {
        Ok(source.seconds(key)?.map_or(default, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
        }))
    };
    Ok(LoginPolicy {
        window_secs: source
            .seconds("LOGIN_FAILURE_WINDOW_SECS")?
            .map_or(defaults.window_secs, |d| d.as_secs() as i64),
        free_per_account_address: at_least_one(
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS",
            defaults.free_per_account_address,
        )?,
        free_per_address: at_least_one(
            "LOGIN_MAX_FAILURES_PER_ADDRESS",
            defaults.free_per_address,
        )?,
        free_per_account: at_least_one(
            "LOGIN_MAX_FAILURES_PER_ACCOUNT",
            defaults.free_per_account,
        )?,
        first_delay_ms: millis("LOGIN_DELAY_SECS", defaults.first_delay_ms)?,
        max_delay_ms: millis("LOGIN_MAX_DELAY_SECS", defaults.max_delay_ms)?,
        max_account_delay_ms: millis(
            "LOGIN_MAX_ACCOUNT_DELAY_SECS",
            defaults.max_account_delay_ms,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)], mode: RunMode) -> Config {
        Config::load(&ConfigSource::from_pairs(pairs.iter().copied()), mode).unwrap()
    }

    fn usernames(config: &Config) -> Vec<&str> {
        config
            .bootstrap
            .iter()
            .map(|u| u.username.as_str())
            .collect()
    }

    #[test]
    fn demo_users_come_only_in_demo_mode() {
        let up = load(&[("DEMO_USERS", "true")], RunMode::AllInOne);
        assert!(up.demo_users);
        assert_eq!(usernames(&up), ["admin", "ops", "demo"]);

        // `itinera serve identity` runs in production mode unless told otherwise, and production
        // never creates accounts with published passwords.
        let alone = load(&[("DEMO_USERS", "true")], RunMode::Single);
        assert!(!alone.demo_users);
        assert!(alone.bootstrap.is_empty());
        let production = load(
            &[("DEMO_USERS", "true"), ("ITINERA_MODE", "production")],
            RunMode::AllInOne,
        );
        assert!(!production.demo_users);
        assert!(production.bootstrap.is_empty());
    }

    #[test]
    fn a_configured_administrator_replaces_the_demo_users() {
        let config = load(
            &[
                ("DEMO_USERS", "true"),
                ("ITINERA_ADMIN_USERNAME", "admin"),
                ("ITINERA_ADMIN_PASSWORD", "a-secret-password"),
            ],
            RunMode::AllInOne,
        );
        // Not a demo user, so its password is never printed in the start-up banner.
        assert!(!config.demo_users);
        assert_eq!(usernames(&config), ["admin"]);
        assert_eq!(config.bootstrap[0].role, Role::Admin);
    }
}
