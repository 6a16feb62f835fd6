use contracts::states::Cabin;
use sqlx::{FromRow, PgExecutor};

use super::NullableText;

/// One cabin's seats after a change.
#[derive(Clone, Debug, FromRow)]
pub struct Inventory {
    pub flight_id: i64,
    #[sqlx(try_from = "String")]
    pub cabin: Cabin,
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
    cabin: Cabin,
    count: i32,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE inventory SET taken = taken + $3, version = version + 1 \
         WHERE flight_id = $1 AND cabin = $2 AND taken + $3 <= capacity RETURNING {COLUMNS}"
    ))
    .bind(flight_id)
    .bind(cabin.as_str())
    .bind(count)
    .fetch_optional(db)
    .await
}

/// Gives `count` seats back.
pub async fn release(
    db: impl PgExecutor<'_>,
    flight_id: i64,
    cabin: Cabin,
    count: i32,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE inventory SET taken = GREATEST(taken - $3, 0), version = version + 1 \
         WHERE flight_id = $1 AND cabin = $2 RETURNING {COLUMNS}"
    ))
    .bind(flight_id)
    .bind(cabin.as_str())
    .bind(count)
    .fetch_optional(db)
    .await
}

/// Locks every cabin of a flight for this transaction, after any booking that is taking seats on
/// it has finished.
pub async fn lock_flight(db: impl PgExecutor<'_>, flight_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM inventory WHERE flight_id = $1 ORDER BY cabin FOR UPDATE")
        .bind(flight_id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn find(
    db: impl PgExecutor<'_>,
    flight_id: i64,
    cabin: Cabin,
) -> Result<Option<Inventory>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory WHERE flight_id = $1 AND cabin = $2"
    ))
    .bind(flight_id)
    .bind(cabin.as_str())
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

/// One cabin of a flight's seat map.
#[derive(Debug, FromRow)]
pub struct SeatMapCabin {
    pub flight_code: String,
    #[sqlx(flatten)]
    pub inventory: Inventory,
    /// Every seat of the flight held or sold, of every cabin (the same on each cabin's row).
    pub flight_seats_taken: Vec<String>,
}

/// A flight's cabins, front to back, with its seats held or sold, in one statement so that each
/// cabin's `taken` count and the seats agree. Empty when booking knows no such flight.
pub async fn seat_map(
    db: impl PgExecutor<'_>,
    flight_id: i64,
) -> Result<Vec<SeatMapCabin>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.flight_code, i.flight_id, i.cabin, i.first_row, i.last_row, i.seat_letters, \
                i.capacity, i.taken, i.fare_minor, i.currency, i.version, \
                ARRAY(SELECT seat FROM seat_assignments WHERE flight_id = $1) AS flight_seats_taken \
         FROM flights f JOIN inventory i ON i.flight_id = f.flight_id \
         WHERE f.flight_id = $1 ORDER BY i.first_row",
    )
    .bind(flight_id)
    .fetch_all(db)
    .await
}

/// A flight and, when it could take them, the seats just taken on it.
#[derive(Debug, FromRow)]
pub struct FlightAndSeats {
    #[sqlx(flatten)]
    pub flight: super::flights::Flight,
    #[sqlx(try_from = "NullableText")]
    pub cabin: Option<Cabin>,
    pub first_row: Option<i32>,
    pub last_row: Option<i32>,
    pub seat_letters: Option<String>,
    pub capacity: Option<i32>,
    pub taken: Option<i32>,
    pub fare_minor: Option<i64>,
    pub currency: Option<String>,
    pub version: Option<i64>,
}

impl FlightAndSeats {
    pub fn inventory(&self) -> Option<Inventory> {
        Some(Inventory {
            flight_id: self.flight.flight_id,
            cabin: self.cabin?,
            first_row: self.first_row?,
            last_row: self.last_row?,
            seat_letters: self.seat_letters.clone()?,
            capacity: self.capacity?,
            taken: self.taken?,
            fare_minor: self.fare_minor?,
            currency: self.currency.clone()?,
            version: self.version?,
        })
    }
}

/// In one round trip: finds the flight (by id or code) and takes `count` seats in `cabin` if the
/// flight is still bookable and has them, locking the cabin's row until the transaction ends.
/// `None` when there is no such flight; no inventory in the result when no seats were taken.
pub async fn take_on_flight(
    db: impl PgExecutor<'_>,
    flight_id: Option<i64>,
    flight_code: Option<&str>,
    cabin: Cabin,
    count: i32,
) -> Result<Option<FlightAndSeats>, sqlx::Error> {
    sqlx::query_as(
        "WITH f AS (SELECT flight_id, flight_code, airline, origin, destination, departure_at, arrival_at, \
                           origin_time_zone, status FROM flights \
                    WHERE flight_id = $1 OR flight_code = $2 LIMIT 1), \
              t AS (UPDATE inventory i SET taken = i.taken + $4, version = i.version + 1 FROM f \
                    WHERE i.flight_id = f.flight_id AND i.cabin = $3 AND i.taken + $4 <= i.capacity \
                      AND f.status NOT IN ('Cancelled', 'Departed', 'Landed') AND f.departure_at > now() \
                    RETURNING i.cabin, i.first_row, i.last_row, i.seat_letters, i.capacity, i.taken, \
                              i.fare_minor, i.currency, i.version) \
         SELECT f.*, t.* FROM f LEFT JOIN t ON true",
    )
    .bind(flight_id)
    .bind(flight_code)
    .bind(cabin.as_str())
    .bind(count)
    .fetch_optional(db)
    .await
}
