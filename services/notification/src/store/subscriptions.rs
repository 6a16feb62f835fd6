//! Flight subscriptions (seed 002's `Subscription` table).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// The flight codes `user_id` follows, oldest subscription first.
pub async fn of_user(db: &PgPool, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT flight_code FROM subscriptions WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(db)
        .await
}

/// What [`add_within`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// The user followed the flight already.
    Existing,
    /// The user follows as many flights as they may; nothing stored.
    Full,
}

/// Subscribes `user_id` to `code` unless they already follow `max` flights. Concurrent
/// subscriptions of one user wait for each other, so they cannot pass the cap together.
pub async fn add_within(
    db: &PgPool,
    user_id: i64,
    code: &str,
    max: u32,
) -> Result<Added, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(platform::db::locks::SUBSCRIPTIONS)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let (followed, this_one): (i64, bool) = sqlx::query_as(
        "SELECT count(*), coalesce(bool_or(flight_code = $2), false) \
         FROM subscriptions WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(code)
    .fetch_one(&mut *tx)
    .await?;
    if this_one {
        return Ok(Added::Existing);
    }
    if followed >= i64::from(max) {
        return Ok(Added::Full);
    }
    sqlx::query("INSERT INTO subscriptions (user_id, flight_code) VALUES ($1, $2)")
        .bind(user_id)
        .bind(code)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Added::New)
}

/// Why a subscription past the cap of `max` is refused.
pub fn too_many(max: u32) -> String {
    format!(
        "One user may follow at most {max} flights (NOTIFICATION_MAX_SUBSCRIPTIONS); \
         unsubscribe from one first"
    )
}

/// Unsubscribes `user_id` from `code`; `true` when it was subscribed.
pub async fn remove(db: &PgPool, user_id: i64, code: &str) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM subscriptions WHERE user_id = $1 AND flight_code = $2")
        .bind(user_id)
        .bind(code)
        .execute(db)
        .await?;
    Ok(removed.rows_affected() == 1)
}

/// One subscription.
#[derive(Clone, Debug, FromRow)]
pub struct SubscriptionRow {
    pub flight_code: String,
    pub created_at: DateTime<Utc>,
}

/// `user_id`'s subscriptions, oldest first.
pub async fn list(db: &PgPool, user_id: i64) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT flight_code, created_at FROM subscriptions WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// `user_id`'s subscription to `code`, if any.
pub async fn find(
    db: &PgPool,
    user_id: i64,
    code: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT flight_code, created_at FROM subscriptions WHERE user_id = $1 AND flight_code = $2",
    )
    .bind(user_id)
    .bind(code)
    .fetch_optional(db)
    .await
}
