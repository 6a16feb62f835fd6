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

/// Keys still worth publishing: unretired ones, and those retired less than `grace_secs` ago.
/// Newest first; the first unretired one is the signing key.
pub async fn published(
    db: impl PgExecutor<'_>,
    grace_secs: i64,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys \
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1) \
         ORDER BY created_at DESC, kid",
    )
    .bind(grace_secs as f64)
    .fetch_all(db)
    .await
}

/// Retires every key but `kid`.
pub async fn retire_all_but(db: impl PgExecutor<'_>, kid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE signing_keys SET retired_at = now() WHERE kid <> $1 AND retired_at IS NULL")
        .bind(kid)
        .execute(db)
        .await
        .map(|_| ())
}

/// Serialises key creation between instances that start at the same time.
pub async fn lock_table(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
        .execute(db)
        .await
        .map(|_| ())
}
