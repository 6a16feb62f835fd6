use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key) VALUES ($1, $2, $3)")
        .bind(kid)
        .bind(private_key)
        .bind(public_key)
        .execute(db)
        .await
        .map(|_| ())
}

/// Keys still worth publishing: unrevoked ones that are unretired or were retired less than
/// `grace_secs` ago. Newest first; the first unretired one is the signing key.
pub async fn published(
    db: impl PgExecutor<'_>,
    grace_secs: i64,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys \
         WHERE revoked_at IS NULL \
           AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)) \
         ORDER BY created_at DESC, kid",
    )
    .bind(grace_secs as f64)
    .fetch_all(db)
    .await
}

/// Retires every key but `kid`.
pub async fn retire_all_but(db: impl PgExecutor<'_>, kid: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE signing_keys SET retired_at = now() \
         WHERE kid <> $1 AND retired_at IS NULL AND revoked_at IS NULL",
    )
    .bind(kid)
    .execute(db)
    .await
    .map(|_| ())
}

/// Whether the key exists, whether it is the one signing now, and when it was revoked.
pub async fn state(
    db: impl PgExecutor<'_>,
    kid: &str,
) -> Result<Option<(bool, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT retired_at IS NULL AND revoked_at IS NULL, revoked_at FROM signing_keys WHERE kid = $1",
    )
    .bind(kid)
    .fetch_optional(db)
    .await
}

/// Revokes `kid` and erases its private half; returns when it was revoked.
pub async fn revoke(db: impl PgExecutor<'_>, kid: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE signing_keys SET revoked_at = now(), retired_at = coalesce(retired_at, now()), \
           private_key = ''::bytea \
         WHERE kid = $1 RETURNING revoked_at",
    )
    .bind(kid)
    .fetch_one(db)
    .await
}

/// Serialises key creation between instances that start at the same time.
pub async fn lock_table(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
        .execute(db)
        .await
        .map(|_| ())
}
