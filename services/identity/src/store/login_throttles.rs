//! Counters of failed password checks, each with the time before which no attempt is let through.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};

/// What a counter tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// One account, from every address.
    Account,
    /// One account from one address.
    AccountAddress,
    /// One address, over every account.
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::AccountAddress => "account-address",
            Scope::Address => "address",
        }
    }
}

/// A counter as it stands, locked for the rest of the transaction.
#[derive(Debug, FromRow)]
pub struct Counter {
    pub scope: String,
    pub subject: String,
    pub failures: i32,
    pub last_failure_at: DateTime<Utc>,
    pub blocked_until: DateTime<Utc>,
    /// The database's clock, the one every time here is measured against.
    pub now: DateTime<Utc>,
}

/// Creates the counters that do not exist yet, then locks and returns all of them. Concurrent
/// attempts on the same counter wait here for each other, so each sees the count its
/// predecessors left. `keys` must be sorted, so that every transaction locks in the same order.
pub async fn lock(
    tx: &mut PgConnection,
    keys: &[(Scope, String)],
) -> Result<Vec<Counter>, sqlx::Error> {
    let scopes: Vec<&str> = keys.iter().map(|(scope, _)| scope.as_str()).collect();
    let subjects: Vec<&str> = keys.iter().map(|(_, subject)| subject.as_str()).collect();
    sqlx::query(
        "INSERT INTO login_throttles (scope, subject, failures, last_failure_at, blocked_until) \
         SELECT scope, subject, 0, now(), now() FROM unnest($1::text[], $2::text[]) AS k (scope, subject) \
         ORDER BY scope, subject \
         ON CONFLICT (scope, subject) DO NOTHING",
    )
    .bind(&scopes)
    .bind(&subjects)
    .execute(&mut *tx)
    .await?;
    sqlx::query_as::<_, Counter>(
        "SELECT t.scope, t.subject, t.failures, t.last_failure_at, t.blocked_until, now() AS now \
         FROM login_throttles t JOIN unnest($1::text[], $2::text[]) AS k (scope, subject) \
           ON t.scope = k.scope AND t.subject = k.subject \
         ORDER BY t.scope, t.subject FOR UPDATE OF t",
    )
    .bind(&scopes)
    .bind(&subjects)
    .fetch_all(&mut *tx)
    .await
}

/// Stores a counter's new count and the time before which it lets nothing through.
pub async fn set(
    db: impl PgExecutor<'_>,
    scope: &str,
    subject: &str,
    failures: i32,
    blocked_for_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_throttles SET failures = $3, last_failure_at = now(), \
           blocked_until = now() + make_interval(secs => $4) \
         WHERE scope = $1 AND subject = $2",
    )
    .bind(scope)
    .bind(subject)
    .bind(failures)
    .bind(blocked_for_ms as f64 / 1000.0)
    .execute(db)
    .await
    .map(|_| ())
}

/// Takes back one counted attempt, for an attempt that turned out right or was never checked.
pub async fn take_back(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_throttles SET failures = greatest(failures - 1, 0) \
         WHERE scope = $1 AND subject = $2",
    )
    .bind(scope.as_str())
    .bind(subject)
    .execute(db)
    .await
    .map(|_| ())
}

/// Forgets a counter, as a right password does for its account from its address.
pub async fn clear(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttles WHERE scope = $1 AND subject = $2")
        .bind(scope.as_str())
        .bind(subject)
        .execute(db)
        .await
        .map(|_| ())
}

/// Deletes counters with no failure for `window_secs` and no delay in force; returns how many.
pub async fn sweep(db: impl PgExecutor<'_>, window_secs: i64) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_throttles \
         WHERE last_failure_at < now() - make_interval(secs => $1) AND blocked_until < now()",
    )
    .bind(window_secs as f64)
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}
