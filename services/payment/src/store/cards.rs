//! Saved cards: brand, last four digits, expiry and the processor's token; never the number.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

/// A saved card as the customer sees it.
#[derive(Clone, Debug, FromRow)]
pub struct CardRow {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i16,
    pub exp_year: i16,
    pub created_at: DateTime<Utc>,
}

/// A card to save.
pub struct NewCard<'a> {
    pub user_id: i64,
    pub brand: &'a str,
    pub last4: &'a str,
    pub exp_month: i16,
    pub exp_year: i16,
    pub processor_token: &'a str,
}

/// Saves a card under a new id.
/// Saves the card unless its user already has `max` saved; `None` then.
pub async fn insert_within(
    db: &PgPool,
    card: NewCard<'_>,
    max: i64,
) -> Result<Option<CardRow>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(platform::db::locks::SAVED_CARDS)
        .bind(card.user_id)
        .execute(&mut *tx)
        .await?;
    let saved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cards WHERE user_id = $1 AND deleted_at IS NULL")
            .bind(card.user_id)
            .fetch_one(&mut *tx)
            .await?;
    if saved >= max {
        return Ok(None);
    }
    let row = insert(&mut tx, card).await?;
    tx.commit().await?;
    Ok(Some(row))
}

async fn insert(db: &mut PgConnection, card: NewCard<'_>) -> Result<CardRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO cards (id, user_id, brand, last4, exp_month, exp_year, processor_token) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, brand, last4, exp_month, exp_year, created_at",
    )
    .bind(format!("card_{}", uuid::Uuid::new_v4().simple()))
    .bind(card.user_id)
    .bind(card.brand)
    .bind(card.last4)
    .bind(card.exp_month)
    .bind(card.exp_year)
    .bind(card.processor_token)
    .fetch_one(db)
    .await
}

/// `user_id`'s saved cards, newest first.
pub async fn of_user(db: &PgPool, user_id: i64) -> Result<Vec<CardRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, brand, last4, exp_month, exp_year, created_at FROM cards \
         WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Removes one of `user_id`'s cards; `false` when there was none.
pub async fn remove(db: &PgPool, card_id: &str, user_id: i64) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query(
        "UPDATE cards SET deleted_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
    )
    .bind(card_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(removed.rows_affected() != 0)
}

/// The processor token of `user_id`'s card `card_id`, or of their most recent card when none is
/// named.
pub async fn token(
    db: &PgPool,
    user_id: i64,
    card_id: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let card: Option<(String, String)> = sqlx::query_as(
        "SELECT processor_token, id FROM cards \
         WHERE user_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id = $2) \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(card_id)
    .fetch_optional(db)
    .await?;
    Ok(card.map(|(token, _)| token))
}

/// A saved card, as the payment for a booking needs it.
#[derive(FromRow)]
pub struct SavedCard {
    pub id: String,
    pub user_id: i64,
    pub brand: String,
    pub last4: String,
    pub processor_token: String,
}

/// The card a payment uses, found for the `position`-th (from 1) of the payments asked for.
#[derive(FromRow)]
pub struct CardOfPayment {
    pub position: i64,
    #[sqlx(flatten)]
    pub card: SavedCard,
}

/// For each payment `i`, the one card it uses: user `user_ids[i]`'s card `card_ids[i]`, or their
/// most recently saved card when none is named. Payments without such a card have no row; no
/// other card is read.
pub async fn for_payments(
    tx: &mut PgConnection,
    user_ids: &[i64],
    card_ids: &[Option<String>],
) -> Result<Vec<CardOfPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT x.position, c.id, c.user_id, c.brand, c.last4, c.processor_token \
         FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(user_id, card_id, position) \
         CROSS JOIN LATERAL (SELECT id, user_id, brand, last4, processor_token FROM cards \
             WHERE user_id = x.user_id AND deleted_at IS NULL \
               AND (x.card_id IS NULL OR id = x.card_id) \
             ORDER BY created_at DESC LIMIT 1) c \
         ORDER BY x.position",
    )
    .bind(user_ids)
    .bind(card_ids)
    .fetch_all(tx)
    .await
}
