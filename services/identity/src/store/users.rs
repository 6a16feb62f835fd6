use chrono::{DateTime, Utc};
use platform::auth::Role;
use sqlx::{FromRow, PgExecutor, PgPool};

use crate::domain::{Email, Username};

/// A user as stored, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    role: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            // The column's CHECK constraint allows only the three known roles.
            role: Role::parse(&row.role).unwrap_or(Role::Customer),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, username, email, role, created_at, updated_at";

/// Inserts a user; a duplicate username or email surfaces as a unique violation.
pub async fn insert(
    db: impl PgExecutor<'_>,
    username: &Username,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<User, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO users (username, email, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(username.as_str())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .fetch_one(db)
    .await
    .map(User::from)
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .map(|row| row.map(User::from))
}

/// The user with this username (any case) and their password hash.
pub async fn find_credentials(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE lower(username) = lower($1)"
    ))
    .bind(username)
    .fetch_optional(db)
    .await
    .map(|row| row.map(|r| (User::from(r.user), r.password_hash)))
}

pub async fn password_hash(
    db: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Changes email and/or password hash; unchanged fields are `None`.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    id: i64,
    email: Option<&Email>,
    password_hash: Option<&str>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE users SET email = COALESCE($2, email), password_hash = COALESCE($3, password_hash), \
         updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(email.map(Email::as_str))
    .bind(password_hash)
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}

pub async fn set_role(
    db: impl PgExecutor<'_>,
    id: i64,
    role: Role,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(role.as_str())
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}

/// One page of users ordered by id, and the total count.
pub async fn list(db: &PgPool, offset: i64, limit: i64) -> Result<(Vec<User>, i64), sqlx::Error> {
    let users = sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(db)
        .await?;
    Ok((users.into_iter().map(User::from).collect(), total))
}

/// Locks every admin row and counts them, so that two concurrent demotions cannot both pass.
pub async fn lock_admins(db: impl PgExecutor<'_>) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
        .fetch_all(db)
        .await
}
