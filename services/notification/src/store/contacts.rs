//! Contact data kept from identity's user events (no synchronous calls to identity).

use std::collections::HashMap;

use contracts::events::UserSnapshot;
use sqlx::{PgConnection, PgPool};

/// Keeps a user's contact data; an older version than the one stored changes nothing.
pub async fn remember(tx: &mut PgConnection, user: &UserSnapshot) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts (user_id, username, email, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email, \
             updated_at = EXCLUDED.updated_at WHERE contacts.updated_at < EXCLUDED.updated_at",
    )
    .bind(user.user_id)
    .bind(&user.username)
    .bind(&user.email)
    .bind(user.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The usernames of these users, for those known.
pub async fn names(
    tx: &mut PgConnection,
    user_ids: &[i64],
) -> Result<HashMap<i64, String>, sqlx::Error> {
    Ok(
        sqlx::query_as("SELECT user_id, username FROM contacts WHERE user_id = ANY($1)")
            .bind(user_ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect(),
    )
}

/// A user's `(username, email)`, if known.
pub async fn find(db: &PgPool, user_id: i64) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT username, email FROM contacts WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}
