//! Car-days: one car is never rented twice for overlapping days (an exclusion constraint on the
//! rentals that hold their car).

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A rental as booked: days `[start, end)`.
pub struct NewRental<'a> {
    pub booking_id: i64,
    pub car_id: Uuid,
    pub car_type: &'a str,
    pub car: &'a str,
    pub location_code: &'a str,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Takes the car for the rental's days; `false` when a rental holding it overlaps them. A
/// concurrent rental of the same days waits for this transaction, then finds the car taken.
pub async fn take(db: impl PgExecutor<'_>, rental: &NewRental<'_>) -> Result<bool, sqlx::Error> {
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO rentals (booking_id, car_id, car_type, car, location_code, days) \
         VALUES ($1, $2, $3, $4, $5, daterange($6, $7, '[)')) \
         ON CONFLICT DO NOTHING RETURNING booking_id",
    )
    .bind(rental.booking_id)
    .bind(rental.car_id)
    .bind(rental.car_type)
    .bind(rental.car)
    .bind(rental.location_code)
    .bind(rental.start)
    .bind(rental.end)
    .fetch_optional(db)
    .await?;
    Ok(taken.is_some())
}

/// Gives the car's days back, once; returns the car and days given back.
pub async fn release(
    db: impl PgExecutor<'_>,
    booking_id: i64,
) -> Result<Option<(Uuid, NaiveDate, NaiveDate)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE rentals SET holding = false WHERE booking_id = $1 AND holding \
         RETURNING car_id, lower(days), upper(days)",
    )
    .bind(booking_id)
    .fetch_optional(db)
    .await
}
