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

/// Subscribes `user_id` to `code`; `true` when it was not subscribed yet.
pub async fn add(db: &PgPool, user_id: i64, code: &str) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO subscriptions (user_id, flight_code) VALUES ($1, $2) \
         ON CONFLICT (user_id, flight_code) DO NOTHING",
    )
    .bind(user_id)
    .bind(code)
    .execute(db)
    .await?;
    Ok(added.rows_affected() == 1)
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
