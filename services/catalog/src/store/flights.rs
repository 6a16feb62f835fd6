use chrono::{DateTime, Utc};
use contracts::events::{CabinSnapshot, FlightSnapshot, InventorySnapshot, MoneyAmount};
use contracts::states::{Cabin, FlightStatus};
use sqlx::{FromRow, PgConnection, PgExecutor};

use super::aircraft;

/// A flight as stored, with its airports' time zones.
#[derive(Clone, Debug, FromRow)]
pub struct Flight {
    pub id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub aircraft_type_id: i64,
    #[sqlx(try_from = "String")]
    pub status: FlightStatus,
    pub gate: Option<String>,
    pub version: i64,
    pub origin_time_zone: String,
    pub destination_time_zone: String,
}

/// One cabin's fare and seats.
#[derive(Clone, Debug, FromRow)]
pub struct FlightCabin {
    #[sqlx(try_from = "String")]
    pub cabin: Cabin,
    pub fare_minor: i64,
    pub currency: String,
    pub capacity: i32,
    pub seats_left: i32,
}

const FLIGHT_COLUMNS: &str = "f.id, f.flight_code, f.airline, f.origin, f.destination, f.departure_at, f.arrival_at, \
     f.aircraft_type_id, f.status, f.gate, f.version, o.time_zone AS origin_time_zone, \
     d.time_zone AS destination_time_zone";

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Flight>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FLIGHT_COLUMNS} FROM flights f JOIN airports o ON o.iata = f.origin \
         JOIN airports d ON d.iata = f.destination WHERE f.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the flight's row for the rest of the transaction.
pub async fn find_for_update(
    db: &mut PgConnection,
    id: i64,
) -> Result<Option<Flight>, sqlx::Error> {
    sqlx::query("SELECT 1 FROM flights WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *db)
        .await?;
    find(db, id).await
}

pub async fn cabins(
    db: impl PgExecutor<'_>,
    flight_id: i64,
) -> Result<Vec<FlightCabin>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cabin, fare_minor, currency, capacity, seats_left FROM flight_cabins WHERE flight_id = $1 \
         ORDER BY array_position(ARRAY['first', 'business', 'premium_economy', 'economy'], cabin)",
    )
    .bind(flight_id)
    .fetch_all(db)
    .await
}

/// A new flight, ready to insert.
pub struct NewFlight<'a> {
    pub flight_code: &'a str,
    pub airline: &'a str,
    pub origin: &'a str,
    pub destination: &'a str,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub aircraft_type_id: i64,
    /// `(cabin, fare in minor units, currency, capacity)`.
    pub cabins: Vec<(Cabin, i64, String, i32)>,
}

/// Inserts flights and their cabins in bulk; returns the new ids in input order.
pub async fn insert_many(
    db: &mut PgConnection,
    flights: &[NewFlight<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = Vec::with_capacity(flights.len());
    for chunk in flights.chunks(2_000) {
        let inserted: Vec<(i64, String)> = sqlx::query_as(
            "INSERT INTO flights (flight_code, airline, origin, destination, departure_at, arrival_at, aircraft_type_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                                  $6::timestamptz[], $7::bigint[]) \
             RETURNING id, flight_code",
        )
        .bind(chunk.iter().map(|f| f.flight_code).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.airline).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.origin).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.destination).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.departure_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.arrival_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|f| f.aircraft_type_id).collect::<Vec<_>>())
        .fetch_all(&mut *db)
        .await?;
        let by_code: std::collections::HashMap<&str, i64> = inserted
            .iter()
            .map(|(id, code)| (code.as_str(), *id))
            .collect();
        let chunk_ids: Vec<i64> = chunk
            .iter()
            .filter_map(|f| by_code.get(f.flight_code).copied())
            .collect();
        let mut flight_ids = Vec::new();
        let (mut cabins, mut fares, mut currencies, mut capacities) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (flight, id) in chunk.iter().zip(&chunk_ids) {
            for (cabin, fare, currency, capacity) in &flight.cabins {
                flight_ids.push(*id);
                cabins.push(cabin.as_str());
                fares.push(*fare);
                currencies.push(currency.as_str());
                capacities.push(*capacity);
            }
        }
        sqlx::query(
            "INSERT INTO flight_cabins (flight_id, cabin, fare_minor, currency, capacity, seats_left) \
             SELECT id, cabin, fare, currency, capacity, capacity \
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::int[]) \
                  AS t(id, cabin, fare, currency, capacity)",
        )
        .bind(&flight_ids)
        .bind(&cabins)
        .bind(&fares)
        .bind(&currencies)
        .bind(&capacities)
        .execute(&mut *db)
        .await?;
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Changes what is given, bumps the version, and returns the flight.
pub struct FlightChange {
    pub departure_at: Option<DateTime<Utc>>,
    pub arrival_at: Option<DateTime<Utc>>,
    pub status: Option<FlightStatus>,
    pub gate: Option<Option<String>>,
}

pub async fn update(
    db: &mut PgConnection,
    id: i64,
    change: &FlightChange,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE flights SET departure_at = COALESCE($2, departure_at), arrival_at = COALESCE($3, arrival_at), \
         status = COALESCE($4, status), gate = CASE WHEN $5 THEN $6 ELSE gate END, \
         version = version + 1, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(change.departure_at)
    .bind(change.arrival_at)
    .bind(change.status.map(FlightStatus::as_str))
    .bind(change.gate.is_some())
    .bind(change.gate.clone().flatten())
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_fare(
    db: &mut PgConnection,
    id: i64,
    cabin: &str,
    fare_minor: i64,
    currency: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE flight_cabins SET fare_minor = $3, currency = $4 WHERE flight_id = $1 AND cabin = $2")
        .bind(id)
        .bind(cabin)
        .bind(fare_minor)
        .bind(currency)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// The full snapshot that flight events carry.
pub async fn snapshot(
    db: &mut PgConnection,
    id: i64,
) -> Result<Option<FlightSnapshot>, sqlx::Error> {
    let Some(flight) = find(&mut *db, id).await? else {
        return Ok(None);
    };
    let layouts = aircraft::find(&mut *db, flight.aircraft_type_id)
        .await?
        .map(|a| a.cabins)
        .unwrap_or_default();
    let cabins = cabins(&mut *db, id).await?;
    Ok(Some(snapshot_of(&flight, &layouts, &cabins)))
}

pub fn snapshot_of(
    flight: &Flight,
    layouts: &[crate::domain::CabinLayout],
    cabins: &[FlightCabin],
) -> FlightSnapshot {
    FlightSnapshot {
        flight_id: flight.id,
        flight_code: flight.flight_code.clone(),
        airline: flight.airline.clone(),
        origin: flight.origin.clone(),
        destination: flight.destination.clone(),
        departure_at: flight.departure_at,
        arrival_at: flight.arrival_at,
        origin_time_zone: flight.origin_time_zone.clone(),
        destination_time_zone: flight.destination_time_zone.clone(),
        status: flight.status,
        gate: flight.gate.clone(),
        cabins: cabins
            .iter()
            .filter_map(|c| {
                let layout = layouts.iter().find(|l| l.cabin == c.cabin)?;
                Some(CabinSnapshot {
                    cabin: c.cabin,
                    first_row: layout.first_row,
                    last_row: layout.last_row,
                    seat_letters: layout.seat_letters.clone(),
                    capacity: c.capacity,
                    fare: MoneyAmount {
                        amount_minor: c.fare_minor,
                        currency: c.currency.clone(),
                    },
                })
            })
            .collect(),
        version: flight.version,
    }
}

/// Applies seats left reported by booking, unless a newer report was applied already.
/// Applies the newest of the reported inventories of each cabin, in one statement; reports older
/// than what a cabin has are ignored.
pub async fn apply_inventories(
    db: impl PgExecutor<'_>,
    inventories: &[&InventorySnapshot],
) -> Result<(), sqlx::Error> {
    let mut newest: std::collections::HashMap<(i64, &str), &InventorySnapshot> =
        std::collections::HashMap::new();
    for inventory in inventories {
        let entry = newest
            .entry((inventory.flight_id, inventory.cabin.as_str()))
            .or_insert(inventory);
        if inventory.version > entry.version {
            *entry = inventory;
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let flights: Vec<i64> = newest.values().map(|i| i.flight_id).collect();
    let cabins: Vec<&str> = newest.values().map(|i| i.cabin.as_str()).collect();
    let seats: Vec<i32> = newest.values().map(|i| i.seats_left.max(0)).collect();
    let versions: Vec<i64> = newest.values().map(|i| i.version).collect();
    sqlx::query(
        "UPDATE flight_cabins c SET seats_left = x.seats_left, inventory_version = x.version \
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[]) AS x(flight_id, cabin, seats_left, version) \
         WHERE c.flight_id = x.flight_id AND c.cabin = x.cabin AND c.inventory_version < x.version",
    )
    .bind(&flights)
    .bind(&cabins)
    .bind(&seats)
    .bind(&versions)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn any_exist(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM flights)")
        .fetch_one(db)
        .await
}
