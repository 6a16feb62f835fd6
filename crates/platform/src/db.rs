//! PostgreSQL: one database per service, created when missing, migrated at start.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::config::{DatabaseSettings, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "PostgreSQL is not reachable at {server} ({cause}). Start it (for example with `scripts/setup.sh`, \
         which installs and starts a local server) or point DATABASE_URL at a running one."
    )]
    Unreachable { server: String, cause: String },
    #[error("invalid database URL {url}: {cause}")]
    InvalidUrl { url: String, cause: String },
    #[error("cannot create database {database}: {cause}")]
    Create { database: String, cause: String },
    #[error("migrating database {database} failed: {cause}")]
    Migrate { database: String, cause: String },
}

/// Connects to the service's database, creating it first if it does not exist, and applies the
/// service's embedded migrations.
pub async fn connect_and_migrate(
    settings: &DatabaseSettings,
    migrator: &Migrator,
) -> Result<PgPool, DbError> {
    let options = connect_options(&settings.url)?;
    let database = options.get_database().unwrap_or("postgres").to_owned();
    ensure_database_exists(&options, &database).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options.clone())
        .await
        .map_err(|e| unreachable(&options, &e))?;
    migrator.run(&pool).await.map_err(|e| DbError::Migrate {
        database: database.clone(),
        cause: e.to_string(),
    })?;
    Ok(pool)
}

pub fn connect_options(url: &str) -> Result<PgConnectOptions, DbError> {
    url.parse::<PgConnectOptions>()
        .map(|o| o.log_statements(tracing::log::LevelFilter::Trace))
        .map_err(|e| DbError::InvalidUrl {
            url: redact_url(url),
            cause: e.to_string(),
        })
}

fn unreachable(options: &PgConnectOptions, e: &sqlx::Error) -> DbError {
    DbError::Unreachable {
        server: format!("{}:{}", options.get_host(), options.get_port()),
        cause: e.to_string(),
    }
}

/// Opens a connection to the server's maintenance database.
pub async fn maintenance_connection(options: &PgConnectOptions) -> Result<PgConnection, DbError> {
    let admin = options.clone().database("postgres");
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&admin)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(unreachable(options, &e)),
        Err(_) => Err(DbError::Unreachable {
            server: format!("{}:{}", options.get_host(), options.get_port()),
            cause: "timed out after 10 s".into(),
        }),
    }
}

async fn ensure_database_exists(options: &PgConnectOptions, database: &str) -> Result<(), DbError> {
    let mut connection = maintenance_connection(options).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut connection)
            .await
            .map_err(|e| unreachable(options, &e))?;
    if !exists {
        let create = format!("CREATE DATABASE {}", quote_identifier(database));
        if let Err(e) = sqlx::query(&create).execute(&mut connection).await {
            // Another instance may have created it between the check and the create.
            let raced = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                return Err(DbError::Create {
                    database: database.to_owned(),
                    cause: e.to_string(),
                });
            }
        } else {
            tracing::info!(database, "created database");
        }
    }
    let _ = connection.close().await;
    Ok(())
}

/// Drops a database, ending its sessions first. Used by tests to clean up after themselves.
pub async fn drop_database(url: &str) -> Result<(), DbError> {
    let options = connect_options(url)?;
    let database = options.get_database().unwrap_or_default().to_owned();
    let mut connection = maintenance_connection(&options).await?;
    let statement = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(&database)
    );
    sqlx::query(&statement)
        .execute(&mut connection)
        .await
        .map_err(|e| DbError::Create {
            database,
            cause: e.to_string(),
        })?;
    Ok(())
}

/// Quotes an SQL identifier (database names cannot be bound as parameters).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// True when an error means the database cannot be reached or is refusing work right now (a 503,
/// not a 500): the pool could not get a connection, the connection broke, or the server said it is
/// shutting down, out of connections, or not accepting connections (SQLSTATE classes 08, 53, 57P).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                // "database is not currently accepting connections"
                || (code == "55000" && e.message().contains("accepting connections"))
        }),
        _ => false,
    }
}

/// True when an error is a PostgreSQL unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The keys of the PostgreSQL advisory locks Itinera takes, all in one place so that no two
/// purposes share a key. A key is bound as a parameter: `SELECT pg_advisory_xact_lock($1)`.
pub mod locks {
    /// Serialises creating the outbox and inbox tables ([`crate::events::install`]), so
    /// that instances starting together do not race on the DDL.
    pub const EVENT_SCHEMA: i64 = 7_321_001;
    /// Held by the one active outbox relay of a database (session lock); the other instances
    /// wait to take over.
    pub const OUTBOX_RELAY: i64 = 7_321_002;
    /// Serialises loading the catalog's demo schedule, so that a second request waits and then
    /// finds the flights already there.
    pub const DEMO_SCHEDULE: i64 = 7_321_100;
    /// Serialises creating the simulated card processor's ledger tables in the payment database,
    /// so that payment instances starting together do not race on the DDL.
    pub const SIMULATED_PROCESSOR_LEDGER: i64 = 7_321_200;
    /// With a hash of the user id as the second key: serialises saving cards for one user, so
    /// that concurrent requests cannot pass the cap on saved cards together.
    pub const SAVED_CARDS: i32 = 7_321_300;
    /// With a hash of the user id as the second key: serialises subscribing one user to flights,
    /// so that concurrent subscriptions cannot pass the cap on them together.
    pub const SUBSCRIPTIONS: i32 = 7_321_400;
    /// With a hash of the user id as the second key: serialises creating bookings for one user,
    /// so that concurrent requests cannot pass the limits on unpaid holds together.
    pub const UNPAID_HOLDS: i32 = 7_321_500;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("itinera_identity"), "\"itinera_identity\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
