use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// What a counter tracks: one account, or one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

/// The latest lock, if any, among the given counters that is still in force.
pub async fn locked_until(
    db: impl PgExecutor<'_>,
    account: &str,
    address: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(locked_until) FROM login_failures \
         WHERE ((scope = 'account' AND subject = $1) OR (scope = 'address' AND subject = $2)) \
           AND locked_until > now()",
    )
    .bind(account)
    .bind(address)
    .fetch_one(db)
    .await
}

/// Counts one failure and returns the count in the current window; a new window starts when the
/// old one is more than `window_secs` old.
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
    window_secs: i64,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO login_failures AS f (scope, subject, failures, window_started_at) \
         VALUES ($1, $2, 1, now()) \
         ON CONFLICT (scope, subject) DO UPDATE SET \
           failures = CASE WHEN f.window_started_at < now() - make_interval(secs => $3) THEN 1 \
                           ELSE f.failures + 1 END, \
           window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => $3) THEN now() \
                                    ELSE f.window_started_at END \
         RETURNING failures",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(window_secs as f64)
    .fetch_one(db)
    .await
}

/// Locks a subject for `seconds` from now.
pub async fn lock(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
    seconds: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_failures SET locked_until = now() + make_interval(secs => $3) \
         WHERE scope = $1 AND subject = $2",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(seconds as f64)
    .execute(db)
    .await
    .map(|_| ())
}

/// A successful login clears the account's counter (the address keeps its count).
pub async fn clear_account(db: impl PgExecutor<'_>, account: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE scope = 'account' AND subject = $1")
        .bind(account)
        .execute(db)
        .await
        .map(|_| ())
}
