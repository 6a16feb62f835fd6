use serde::Serialize;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};

use crate::domain::CabinLayout;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AircraftType {
    pub id: i64,
    pub model: String,
    pub cabins: Vec<CabinLayout>,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    model: String,
    cabins: Json<Vec<CabinLayout>>,
}

impl From<Row> for AircraftType {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            model: row.model,
            cabins: row.cabins.0,
        }
    }
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<AircraftType>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as("SELECT id, model, cabins FROM aircraft_types ORDER BY id")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(AircraftType::from).collect())
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<AircraftType>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as("SELECT id, model, cabins FROM aircraft_types WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(AircraftType::from))
}

/// Inserts an aircraft type; a duplicate model surfaces as a unique violation.
pub async fn insert(
    db: impl PgExecutor<'_>,
    model: &str,
    cabins: &[CabinLayout],
) -> Result<AircraftType, sqlx::Error> {
    let row: Row = sqlx::query_as(
        "INSERT INTO aircraft_types (model, cabins) VALUES ($1, $2) RETURNING id, model, cabins",
    )
    .bind(model)
    .bind(Json(cabins))
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    model: Option<&str>,
    cabins: Option<&[CabinLayout]>,
) -> Result<Option<AircraftType>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "UPDATE aircraft_types SET model = COALESCE($2, model), cabins = COALESCE($3, cabins) \
         WHERE id = $1 RETURNING id, model, cabins",
    )
    .bind(id)
    .bind(model)
    .bind(cabins.map(Json))
    .fetch_optional(db)
    .await?;
    Ok(row.map(AircraftType::from))
}

pub async fn in_use(db: impl PgExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM flights WHERE aircraft_type_id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}
