use sqlx::{FromRow, PgExecutor};

/// One cabin's seats after a change.
#[derive(Clone, Debug, FromRow)]
pub struct Inventory {
    pub flight_id: i64,
    pub cabin: String,
    pub first_row: i32,
    pub last_row: i32,
    pub seat_letters: String,
    pub capacity: i32,
    pub taken: i32,
    pub fare_minor: i64,
    pub currency: String,
    pub version: i64,
}

const COLUMNS: &str = "flight_id, cabin, first_row, last_row, seat_letters, capacity, taken, fare_minor, currency, version";

/// Takes `count` seats if that many are free, locking the row until the transaction ends (so
/// bookings of one cabin are serialised and seat choice below is race-free). `None` when there
/// are not enough seats, or no such cabin.
pub async fn take(
    db: impl PgExecutor<'_>,
    flight_id: i64,
    cabin: &str,
    count: i32,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE inventory SET taken = taken + $3, version = version + 1 \
         WHERE flight_id = $1 AND cabin = $2 AND taken + $3 <= capacity RETURNING {COLUMNS}"
    ))
    .bind(flight_id)
    .bind(cabin)
    .bind(count)
    .fetch_optional(db)
    .await
}

/// Gives `count` seats back.
pub async fn release(
    db: impl PgExecutor<'_>,
    flight_id: i64,
    cabin: &str,
    count: i32,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE inventory SET taken = GREATEST(taken - $3, 0), version = version + 1 \
         WHERE flight_id = $1 AND cabin = $2 RETURNING {COLUMNS}"
    ))
    .bind(flight_id)
    .bind(cabin)
    .bind(count)
    .fetch_optional(db)
    .await
}

pub async fn find(
    db: impl PgExecutor<'_>,
    flight_id: i64,
    cabin: &str,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory WHERE flight_id = $1 AND cabin = $2"
    ))
    .bind(flight_id)
    .bind(cabin)
    .fetch_optional(db)
    .await
}

/// Seats of a flight already held or sold.
pub async fn taken_seats(
    db: impl PgExecutor<'_>,
    flight_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT seat FROM seat_assignments WHERE flight_id = $1")
        .bind(flight_id)
        .fetch_all(db)
        .await
}
