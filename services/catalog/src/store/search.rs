//! The flight search read model query.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Price,
    Departure,
    Duration,
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Sort::Price => "c.fare_minor, f.departure_at, f.id",
            Sort::Departure => "f.departure_at, f.id",
            Sort::Duration => "(f.arrival_at - f.departure_at), f.departure_at, f.id",
        }
    }
}

/// A validated search.
#[derive(Clone, Debug)]
pub struct SearchFilter {
    pub origins: Vec<String>,
    pub destinations: Vec<String>,
    /// A UTC window wide enough to hold every local date asked for (it lets the route index work).
    pub departs_from: DateTime<Utc>,
    pub departs_until: DateTime<Utc>,
    /// Local departure dates at the origin, inclusive, when the search names dates.
    pub local_dates: Option<(NaiveDate, NaiveDate)>,
    pub cabin: String,
    pub passengers: i32,
    /// Highest fare per passenger, in minor units.
    pub max_fare_minor: Option<i64>,
    pub max_fare_currency: Option<String>,
    pub airline: Option<String>,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct SearchRow {
    pub id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub status: String,
    pub gate: Option<String>,
    pub origin_city: String,
    pub origin_time_zone: String,
    pub destination_city: String,
    pub destination_time_zone: String,
    pub cabin: String,
    pub fare_minor: i64,
    pub currency: String,
    pub seats_left: i32,
    pub total: i64,
}

/// Airport codes are `CHAR(3)`: they are compared as such (`bpchar[]`), not as the `text[]`
/// they are bound as. Compared as text, the route index `(origin, destination, departure_at)`
/// cannot serve the search, and PostgreSQL walks every flight of the time window instead (about
/// ten times the work at 105,000 flights).
pub async fn search(
    db: impl PgExecutor<'_>,
    filter: &SearchFilter,
) -> Result<Vec<SearchRow>, sqlx::Error> {
    let sql = format!(
        "SELECT f.id, f.flight_code, f.airline, f.origin, f.destination, f.departure_at, f.arrival_at, f.status, \
                f.gate, o.city AS origin_city, o.time_zone AS origin_time_zone, d.city AS destination_city, \
                d.time_zone AS destination_time_zone, c.cabin, c.fare_minor, c.currency, c.seats_left, \
                count(*) OVER () AS total \
         FROM flights f \
         JOIN flight_cabins c ON c.flight_id = f.id AND c.cabin = $5 \
         JOIN airports o ON o.iata = f.origin \
         JOIN airports d ON d.iata = f.destination \
         WHERE f.origin = ANY($1::bpchar[]) AND f.destination = ANY($2::bpchar[]) \
           AND f.departure_at >= $3 AND f.departure_at < $4 \
           AND ($6::date IS NULL OR (f.departure_at AT TIME ZONE o.time_zone)::date BETWEEN $6 AND $7) \
           AND c.seats_left >= $8 \
           AND ($9::bigint IS NULL OR (c.fare_minor <= $9 AND c.currency = $13)) \
           AND ($10::text IS NULL OR lower(f.airline) = lower($10)) \
           AND f.status <> 'Cancelled' \
         ORDER BY {} LIMIT $11 OFFSET $12",
        filter.sort.order_by()
    );
    sqlx::query_as(&sql)
        .bind(&filter.origins)
        .bind(&filter.destinations)
        .bind(filter.departs_from)
        .bind(filter.departs_until)
        .bind(&filter.cabin)
        .bind(filter.local_dates.map(|d| d.0))
        .bind(filter.local_dates.map(|d| d.1))
        .bind(filter.passengers)
        .bind(filter.max_fare_minor)
        .bind(filter.airline.as_deref())
        .bind(filter.limit)
        .bind(filter.offset)
        .bind(filter.max_fare_currency.as_deref())
        .fetch_all(db)
        .await
}
