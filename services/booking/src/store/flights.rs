use chrono::{DateTime, Utc};
use contracts::events::FlightSnapshot;
use contracts::states::FlightStatus;
use sqlx::{FromRow, PgConnection, PgExecutor};

/// What booking knows of a flight.
#[derive(Clone, Debug, FromRow)]
pub struct Flight {
    pub flight_id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub origin_time_zone: String,
    #[sqlx(try_from = "String")]
    pub status: FlightStatus,
}

const COLUMNS: &str = "flight_id, flight_code, airline, origin, destination, departure_at, arrival_at, origin_time_zone, status";

pub async fn find(db: impl PgExecutor<'_>, flight_id: i64) -> Result<Option<Flight>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flights WHERE flight_id = $1"
    ))
    .bind(flight_id)
    .fetch_optional(db)
    .await
}

/// Applies a flight snapshot unless a newer one was applied: the flight's schedule and status,
/// and each cabin's seat map and fare. Seats already taken are never touched. Returns whether it
/// was applied.
pub async fn apply(db: &mut PgConnection, flight: &FlightSnapshot) -> Result<bool, sqlx::Error> {
    let applied = sqlx::query(
        "INSERT INTO flights (flight_id, flight_code, airline, origin, destination, departure_at, arrival_at, \
                              origin_time_zone, status, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (flight_id) DO UPDATE SET flight_code = EXCLUDED.flight_code, airline = EXCLUDED.airline, \
             departure_at = EXCLUDED.departure_at, arrival_at = EXCLUDED.arrival_at, status = EXCLUDED.status, \
             version = EXCLUDED.version \
         WHERE flights.version < EXCLUDED.version",
    )
    .bind(flight.flight_id)
    .bind(&flight.flight_code)
    .bind(&flight.airline)
    .bind(&flight.origin)
    .bind(&flight.destination)
    .bind(flight.departure_at)
    .bind(flight.arrival_at)
    .bind(&flight.origin_time_zone)
    .bind(flight.status.as_str())
    .bind(flight.version)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if applied == 0 {
        return Ok(false);
    }
    for cabin in &flight.cabins {
        sqlx::query(
            "INSERT INTO inventory (flight_id, cabin, first_row, last_row, seat_letters, capacity, fare_minor, currency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (flight_id, cabin) DO UPDATE SET fare_minor = EXCLUDED.fare_minor, currency = EXCLUDED.currency",
        )
        .bind(flight.flight_id)
        .bind(cabin.cabin.as_str())
        .bind(cabin.first_row)
        .bind(cabin.last_row)
        .bind(&cabin.seat_letters)
        .bind(cabin.capacity)
        .bind(cabin.fare.amount_minor)
        .bind(&cabin.fare.currency)
        .execute(&mut *db)
        .await?;
    }
    Ok(true)
}
