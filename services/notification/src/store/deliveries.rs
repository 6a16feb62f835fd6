//! Delivery of pending notifications: rows leased for one attempt at a time, and each attempt's
//! outcome.

use sqlx::{FromRow, PgPool};

/// A notification due for delivery, leased for this attempt.
#[derive(FromRow)]
pub struct Due {
    pub id: i64,
    pub user_id: i64,
    pub channel: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

/// Leases up to 32 pending notifications that are due, for `lease_secs`, counting the attempt.
pub async fn lease_due(db: &PgPool, lease_secs: f64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE notifications SET attempts = attempts + 1, \
             next_attempt_at = now() + make_interval(secs => $1) \
         WHERE id IN (SELECT id FROM notifications \
                      WHERE status = 'pending' AND next_attempt_at <= now() \
                      ORDER BY id LIMIT 32 FOR UPDATE SKIP LOCKED) \
         RETURNING id, user_id, channel, kind, subject, body, attempts",
    )
    .bind(lease_secs)
    .fetch_all(db)
    .await
}

/// Puts a notification back for a little while without using up an attempt.
pub async fn postpone(db: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET attempts = attempts - 1, \
         next_attempt_at = now() + interval '2 seconds' WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Records a delivery, with the address it went to when there is one.
pub async fn sent(db: &PgPool, id: i64, recipient: Option<String>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET status = 'sent', sent_at = now(), last_error = NULL, \
         recipient = COALESCE($2, recipient) WHERE id = $1",
    )
    .bind(id)
    .bind(recipient)
    .execute(db)
    .await
    .map(|_| ())
}

/// Records a failed attempt: the next one in `delay_secs`, or none when `give_up`.
pub async fn failed(
    db: &PgPool,
    id: i64,
    error: &str,
    give_up: bool,
    delay_secs: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET last_error = $2, \
             status = CASE WHEN $3 THEN 'failed' ELSE status END, \
             next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(give_up)
    .bind(delay_secs)
    .execute(db)
    .await
    .map(|_| ())
}
