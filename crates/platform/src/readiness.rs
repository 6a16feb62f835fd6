//! What `/ready` checks: the service's database and every dependency it was configured with.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Settings;

/// A future that a readiness check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One dependency that `/ready` checks.
pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn check(&self) -> CheckFuture<'_>;

    /// Whether `/ready` may show the check's error text (under `failures`). Errors that name
    /// internal addresses stay in the log only.
    fn explains(&self) -> bool {
        false
    }
}

/// The database answers a query.
pub struct PostgresCheck(pub sqlx::PgPool);

impl ReadinessCheck for PostgresCheck {
    fn name(&self) -> &'static str {
        "database"
    }
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&self.0)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Redis answers `PING` (after `AUTH` when the URL carries credentials).
pub struct RedisCheck {
    address: String,
    auth: Option<(Option<String>, String)>,
}

impl RedisCheck {
    /// From a `redis://[user[:password]@]host[:port][/db]` URL.
    pub fn new(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or(rest);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let address = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:6379")
        };
        let auth = userinfo.and_then(|info| match info.split_once(':') {
            Some((user, password)) if !password.is_empty() => Some((
                (!user.is_empty()).then(|| user.to_owned()),
                password.to_owned(),
            )),
            _ => None,
        });
        Self { address, auth }
    }

    async fn ping(&self) -> Result<(), String> {
        let mut stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("{}: {e}", self.address))?;
        if let Some((user, password)) = &self.auth {
            let mut parts = vec!["AUTH"];
            if let Some(user) = user {
                parts.push(user);
            }
            parts.push(password);
            stream
                .write_all(&resp_command(&parts))
                .await
                .map_err(|e| e.to_string())?;
            expect_reply(&mut stream, b"+OK").await?;
        }
        stream
            .write_all(&resp_command(&["PING"]))
            .await
            .map_err(|e| e.to_string())?;
        expect_reply(&mut stream, b"+PONG").await
    }
}

fn resp_command(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend_from_slice(format!("${}\r\n{part}\r\n", part.len()).as_bytes());
    }
    out
}

async fn expect_reply(stream: &mut TcpStream, expected: &[u8]) -> Result<(), String> {
    let mut buffer = [0u8; 128];
    let read = stream.read(&mut buffer).await.map_err(|e| e.to_string())?;
    if buffer[..read].starts_with(expected) {
        Ok(())
    } else {
        Err(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&buffer[..read]).trim_end()
        ))
    }
}

impl ReadinessCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(self.ping())
    }
}

/// At least one of several brokers accepts a TCP connection (Kafka before the event backbone
/// connects a client of its own).
pub struct BrokerCheck {
    pub brokers: Vec<String>,
}

impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut last = String::from("no brokers configured");
            for broker in &self.brokers {
                match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(broker)).await
                {
                    Ok(Ok(_)) => return Ok(()),
                    Ok(Err(e)) => last = format!("{broker}: {e}"),
                    Err(_) => last = format!("{broker}: timed out"),
                }
            }
            Err(last)
        })
    }
}

/// Checks for the dependencies named in the settings (Redis, Kafka), besides the database.
pub fn configured_dependencies(settings: &Settings) -> Vec<Box<dyn ReadinessCheck>> {
    let mut checks: Vec<Box<dyn ReadinessCheck>> = Vec::new();
    if let Some(url) = &settings.redis_url {
        checks.push(Box::new(RedisCheck::new(url)));
    }
    if !settings.kafka_brokers.is_empty() {
        checks.push(Box::new(BrokerCheck {
            brokers: settings.kafka_brokers.clone(),
        }));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_understood() {
        let check = RedisCheck::new("redis://127.0.0.1:6380/2");
        assert_eq!(check.address, "127.0.0.1:6380");
        assert!(check.auth.is_none());
        let check = RedisCheck::new("redis://app:s3cret@cache");
        assert_eq!(check.address, "cache:6379");
        assert_eq!(check.auth, Some((Some("app".into()), "s3cret".into())));
        let check = RedisCheck::new("redis://:s3cret@cache:1");
        assert_eq!(check.auth, Some((None, "s3cret".into())));
    }

    #[tokio::test]
    async fn the_local_redis_answers_and_a_closed_port_does_not() {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        RedisCheck::new(&url)
            .check()
            .await
            .expect("Redis answers PING");
        let closed = RedisCheck::new("redis://127.0.0.1:1").check().await;
        assert!(closed.is_err());
        let brokers = BrokerCheck {
            brokers: vec!["127.0.0.1:1".into()],
        };
        assert!(brokers.check().await.is_err());
    }
}
