//! Reviews of listings, one per guest and listing, and who may write one.

use chrono::{DateTime, NaiveDate, Utc};
use contracts::states::Product;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Review {
    pub id: i64,
    pub rating: i16,
    pub document: Json<ReviewDocument>,
    pub created_at: DateTime<Utc>,
}

/// What a review says, and the stay or rental it is about.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDocument {
    pub title: String,
    pub text: String,
    /// The reviewer's username when they wrote it.
    pub author: String,
    pub booking_id: i64,
    /// Check-in and check-out, or pick-up and drop-off.
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// Adds a review; a second one by the same user fails with a unique violation.
pub async fn insert(
    db: &mut PgConnection,
    product: &str,
    listing_id: Uuid,
    user_id: i64,
    rating: i16,
    document: &ReviewDocument,
) -> Result<Review, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO reviews (product, listing_id, user_id, rating, document) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, rating, document, created_at",
    )
    .bind(product)
    .bind(listing_id)
    .bind(user_id)
    .bind(rating)
    .bind(Json(document))
    .fetch_one(db)
    .await
}

/// One page of a listing's reviews, newest first, and how many there are.
pub async fn page(
    db: &mut PgConnection,
    product: &str,
    listing_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Review>, i64), sqlx::Error> {
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reviews WHERE product = $1 AND listing_id = $2")
            .bind(product)
            .bind(listing_id)
            .fetch_one(&mut *db)
            .await?;
    let reviews = sqlx::query_as(
        "SELECT id, rating, document, created_at FROM reviews WHERE product = $1 AND listing_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind(product)
    .bind(listing_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *db)
    .await?;
    Ok((reviews, total))
}

/// The sum and count of a listing's ratings.
pub async fn summary(
    db: impl PgExecutor<'_>,
    product: &str,
    listing_id: Uuid,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(sum(rating), 0)::int8, count(*) FROM reviews WHERE product = $1 AND listing_id = $2",
    )
    .bind(product)
    .bind(listing_id)
    .fetch_one(db)
    .await
}

/// Adds a rating to the hotel's or car's summary, in the review's transaction.
pub async fn add_rating(
    db: impl PgExecutor<'_>,
    product: Product,
    listing_id: Uuid,
    rating: i16,
) -> Result<(), sqlx::Error> {
    let statement = match product {
        Product::Car => {
            "UPDATE cars SET rating_total = rating_total + $2, review_count = review_count + 1 WHERE id = $1"
        }
        _ => {
            "UPDATE hotels SET rating_total = rating_total + $2, review_count = review_count + 1 WHERE id = $1"
        }
    };
    sqlx::query(statement)
        .bind(listing_id)
        .bind(i64::from(rating))
        .execute(db)
        .await
        .map(|_| ())
}

/// Whether the car is listed (and not deleted).
pub async fn car_exists(db: impl PgExecutor<'_>, car_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cars WHERE id = $1 AND deleted_at IS NULL)")
        .bind(car_id)
        .fetch_one(db)
        .await
}

/// The renter's latest completed rental of the car (confirmed, dropped off by today, UTC):
/// `(booking id, pick-up, drop-off)`.
pub async fn completed_rental(
    db: impl PgExecutor<'_>,
    car_id: Uuid,
    user_id: i64,
) -> Result<Option<(i64, NaiveDate, NaiveDate)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT booking_id, start_date, end_date FROM car_rentals \
         WHERE car_id = $1 AND user_id = $2 AND status = 'CONFIRMED' \
           AND end_date <= (now() AT TIME ZONE 'UTC')::date \
         ORDER BY end_date DESC LIMIT 1",
    )
    .bind(car_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
