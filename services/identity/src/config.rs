//! Identity's configuration: the shared settings plus its own, from `ConfigSource`.

use std::net::IpAddr;
use std::time::Duration;

use platform::auth::Role;
use platform::config::{ConfigError, ConfigSource, RunMode, Settings};
use platform::service::Service;

use crate::accounts::LoginPolicy;
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
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let settings = Settings::load(source, Identity::SPEC, mode)?;
        let grpc_port = source
            .parse::<u16>("IDENTITY_GRPC_PORT")?
            .or(Identity::SPEC.grpc_port)
            .unwrap_or_default();
        let defaults = LoginPolicy::default();
        let login_policy = LoginPolicy {
            window_secs: source
                .seconds("LOGIN_FAILURE_WINDOW_SECS")?
                .map_or(defaults.window_secs, |d| d.as_secs() as i64),
            account_threshold: source
                .parse("LOGIN_MAX_FAILURES_PER_ACCOUNT")?
                .unwrap_or(defaults.account_threshold),
            address_threshold: source
                .parse("LOGIN_MAX_FAILURES_PER_ADDRESS")?
                .unwrap_or(defaults.address_threshold),
            base_lock_secs: source
                .seconds("LOGIN_LOCK_SECS")?
                .map_or(defaults.base_lock_secs, |d| d.as_secs() as i64),
            max_lock_secs: defaults.max_lock_secs,
        };
        for (key, value) in [
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                login_policy.account_threshold,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                login_policy.address_threshold,
            ),
        ] {
            if value < 1 {
                return Err(ConfigError::invalid(
                    key,
                    &value.to_string(),
                    "must be at least 1",
                ));
            }
        }
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
        Ok(Self {
            settings,
            grpc_port,
            login_policy,
            bootstrap,
            demo_users,
            trusted_proxies,
            simulated_failure: source
                .seconds("SIMULATED_FAILURE_SECS")?
                .unwrap_or(Duration::from_secs(30)),
        })
    }
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
