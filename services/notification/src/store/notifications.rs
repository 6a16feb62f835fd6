//! Notifications as stored, and a user's in-app inbox.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// An in-app notification.
#[derive(Clone, Debug, FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A page of `user_id`'s in-app notifications, unread first, newest first.
pub async fn page_in_app(
    db: &PgPool,
    user_id: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, subject, body, created_at, read_at FROM notifications \
         WHERE user_id = $1 AND channel = 'in_app' \
         ORDER BY read_at IS NOT NULL, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many in-app notifications `user_id` has, and how many of them are unread.
pub async fn count_in_app(db: &PgPool, user_id: i64) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE read_at IS NULL) FROM notifications \
         WHERE user_id = $1 AND channel = 'in_app'",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Marks one of `user_id`'s in-app notifications read (once); `None` when they have no such one.
pub async fn mark_read(
    db: &PgPool,
    id: i64,
    user_id: i64,
) -> Result<Option<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE notifications SET read_at = COALESCE(read_at, now()) \
         WHERE id = $1 AND user_id = $2 AND channel = 'in_app' \
         RETURNING id, kind, subject, body, created_at, read_at",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
