//! Notifications as stored, and a user's in-app inbox.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::domain::templates::{Channel, Rendered};

/// A rendered notification, ready to be stored.
pub struct NewNotification {
    pub user_id: i64,
    pub kind: String,
    pub channel: Channel,
    pub rendered: Rendered,
    /// The same key never makes the same notification twice.
    pub dedupe_key: String,
}

/// Stores notifications in one statement. In-app ones are delivered by being stored; the others
/// wait for the deliverer.
pub async fn insert_many(
    tx: &mut PgConnection,
    notifications: Vec<NewNotification>,
) -> Result<(), sqlx::Error> {
    if notifications.is_empty() {
        return Ok(());
    }
    let mut user_ids = Vec::with_capacity(notifications.len());
    let mut kinds = Vec::with_capacity(notifications.len());
    let mut channels = Vec::with_capacity(notifications.len());
    let mut subjects = Vec::with_capacity(notifications.len());
    let mut bodies = Vec::with_capacity(notifications.len());
    let mut keys = Vec::with_capacity(notifications.len());
    for n in notifications {
        user_ids.push(n.user_id);
        kinds.push(n.kind);
        channels.push(n.channel.as_str());
        subjects.push(n.rendered.subject);
        bodies.push(n.rendered.body);
        keys.push(n.dedupe_key);
    }
    sqlx::query(
        "INSERT INTO notifications (user_id, kind, channel, subject, body, status, dedupe_key, sent_at) \
         SELECT user_id, kind, channel, subject, body, \
                CASE WHEN channel = 'in_app' THEN 'sent' ELSE 'pending' END, dedupe_key, \
                CASE WHEN channel = 'in_app' THEN now() END \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
              AS x(user_id, kind, channel, subject, body, dedupe_key) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&user_ids)
    .bind(&kinds)
    .bind(&channels)
    .bind(&subjects)
    .bind(&bodies)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

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
