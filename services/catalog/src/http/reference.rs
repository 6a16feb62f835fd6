//! `/api/airports` and `/api/aircraft`: the reference data flights are built from.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json as JsonResponse, Router};
use platform::auth::{Caller, Role};
use platform::http::{Json, Path};
use serde::Deserialize;

use super::AppState;
use crate::domain::{CabinLayout, IataCode};
use crate::error::CatalogError;
use crate::store;
use crate::store::aircraft::AircraftType;
use crate::store::airports::Airport;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/airports", get(airports).post(add_airport))
        .route("/api/aircraft", get(aircraft).post(add_aircraft))
        .route("/api/aircraft/{aircraft_id}", patch(change_aircraft))
}

async fn airports(
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<Airport>>, CatalogError> {
    Ok(JsonResponse(
        store::airports::list(&state.catalog.db).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AirportBody {
    iata: String,
    name: String,
    city: String,
    country: String,
    time_zone: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

fn text(value: &str, name: &str) -> Result<String, CatalogError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 100 {
        return Err(CatalogError::Invalid(format!(
            "{name} must be 1 to 100 characters"
        )));
    }
    Ok(value.to_owned())
}

async fn add_airport(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AirportBody>,
) -> Result<(StatusCode, JsonResponse<Airport>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let country = body.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(CatalogError::Invalid(
            "country must be an ISO 3166 code like FR".into(),
        ));
    }
    platform::time::time_zone(body.time_zone.trim()).map_err(CatalogError::Invalid)?;
    if body.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l))
        || body
            .longitude
            .is_some_and(|l| !(-180.0..=180.0).contains(&l))
    {
        return Err(CatalogError::Invalid(
            "latitude must be within ±90 and longitude within ±180".into(),
        ));
    }
    let airport = Airport {
        iata: IataCode::parse(&body.iata)
            .map_err(CatalogError::Invalid)?
            .as_str()
            .to_owned(),
        name: text(&body.name, "name")?,
        city: text(&body.city, "city")?,
        country,
        time_zone: body.time_zone.trim().to_owned(),
        latitude: body.latitude,
        longitude: body.longitude,
    };
    let airport = state.catalog.create_airport(airport).await?;
    Ok((StatusCode::CREATED, JsonResponse(airport)))
}

async fn aircraft(
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<AircraftType>>, CatalogError> {
    Ok(JsonResponse(
        store::aircraft::list(&state.catalog.db).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AircraftBody {
    model: String,
    cabins: Vec<CabinLayout>,
}

async fn add_aircraft(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AircraftBody>,
) -> Result<(StatusCode, JsonResponse<AircraftType>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let aircraft = state
        .catalog
        .create_aircraft(&body.model, &body.cabins)
        .await?;
    Ok((StatusCode::CREATED, JsonResponse(aircraft)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AircraftPatch {
    model: Option<String>,
    cabins: Option<Vec<CabinLayout>>,
}

async fn change_aircraft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AircraftPatch>,
) -> Result<JsonResponse<AircraftType>, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let aircraft = state
        .catalog
        .update_aircraft(id, body.model.as_deref(), body.cabins.as_deref())
        .await?;
    Ok(JsonResponse(aircraft))
}
