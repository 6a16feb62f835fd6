use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

#[derive(Clone, Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Airport {
    pub iata: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub time_zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Airport>, sqlx::Error> {
    sqlx::query_as("SELECT iata, name, city, country, time_zone, latitude, longitude FROM airports ORDER BY iata")
        .fetch_all(db)
        .await
}

pub async fn find(db: impl PgExecutor<'_>, iata: &str) -> Result<Option<Airport>, sqlx::Error> {
    sqlx::query_as("SELECT iata, name, city, country, time_zone, latitude, longitude FROM airports WHERE iata = $1")
        .bind(iata)
        .fetch_optional(db)
        .await
}

/// Inserts an airport; returns false if one with that code exists.
pub async fn insert(db: impl PgExecutor<'_>, airport: &Airport) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO airports (iata, name, city, country, time_zone, latitude, longitude) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (iata) DO NOTHING",
    )
    .bind(&airport.iata)
    .bind(&airport.name)
    .bind(&airport.city)
    .bind(&airport.country)
    .bind(&airport.time_zone)
    .bind(airport.latitude)
    .bind(airport.longitude)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}
