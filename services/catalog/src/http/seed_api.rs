//! Seed 002's catalog endpoints, exactly as documented: `GET /seed` and
//! `GET /api/flight/search-flights?from=&to=`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use platform::Problem;
use platform::auth::{Caller, Role};
use platform::config::Mode;
use platform::http::Query;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use crate::catalog::SearchRequest;
use crate::domain::Cabin;
use crate::error::CatalogError;
use crate::store::search::Sort;
use platform::money::Money;

/// In demo mode `GET /seed` is open to anyone, as in seed 002; in production it loads data only
/// for ops and admins.
pub fn router(mode: Mode) -> Router<AppState> {
    let seed_route = match mode {
        Mode::Demo => get(seed),
        Mode::Production => get(seed_as_staff),
    };
    Router::new()
        .route("/seed", seed_route)
        .route("/api/flight/search-flights", get(search_flights))
}

async fn seed_as_staff(
    state: State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, JsonResponse<Message>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    seed(state).await
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// 201 when the demo schedule was loaded now, 200 when flights already existed.
async fn seed(
    State(state): State<AppState>,
) -> Result<(StatusCode, JsonResponse<Message>), CatalogError> {
    let first_day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    if state
        .catalog
        .seed_demo(first_day, state.seed.days, state.seed.per_day)
        .await?
    {
        Ok((
            StatusCode::CREATED,
            JsonResponse(Message {
                message: "Default flight data added.",
            }),
        ))
    } else {
        Ok((
            StatusCode::OK,
            JsonResponse(Message {
                message: "Flight data already exists.",
            }),
        ))
    }
}

#[derive(Deserialize)]
struct SeedSearch {
    from: Option<String>,
    to: Option<String>,
}

/// Seed 002's flight shape, with the time zones and seats that the seed's format leaves out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeedFlight {
    flight_code: String,
    airline: String,
    /// Local time at the origin, `2024-10-01 10:00`, as in the seed.
    departure: String,
    /// Local time at the destination.
    arrival: String,
    /// Economy fare per passenger, a JSON number written from its exact decimal.
    price: Value,
    status: String,
    from: String,
    to: String,
    departure_time_zone: String,
    arrival_time_zone: String,
    currency: String,
    seats_left: i32,
}

#[derive(Serialize)]
struct SeedFlights {
    flights: Vec<SeedFlight>,
}

/// The most flights one seed search returns (the seed API has no paging).
const SEED_SEARCH_LIMIT: u32 = 100;

async fn search_flights(
    State(state): State<AppState>,
    Query(query): Query<SeedSearch>,
) -> Result<JsonResponse<SeedFlights>, CatalogError> {
    let (Some(from), Some(to)) = (
        query.from.filter(|f| !f.trim().is_empty()),
        query.to.filter(|t| !t.trim().is_empty()),
    ) else {
        return Err(Problem::bad_request("Query parameters from and to are required").into());
    };
    if from.len() > 64 || to.len() > 64 {
        return Err(Problem::bad_request("from and to are at most 64 characters").into());
    }
    let request = SearchRequest {
        from,
        to,
        dates: None,
        cabin: Cabin::Economy,
        passengers: 1,
        max_fare: None,
        airline: None,
        sort: Sort::Departure,
        page: 1,
        page_size: SEED_SEARCH_LIMIT,
    };
    let rows = match state.catalog.search(&request).await? {
        Some(page) if !page.rows.is_empty() => page,
        _ => return Err(Problem::not_found("No flights found").into()),
    };
    let flights: Vec<SeedFlight> = rows
        .rows
        .iter()
        .cloned()
        .map(|row| {
            let fare = Money::stored(row.fare_minor, &row.currency);
            SeedFlight {
                departure: platform::time::local_minutes(row.departure_at, &row.origin_time_zone),
                arrival: platform::time::local_minutes(row.arrival_at, &row.destination_time_zone),
                price: fare.json_number(),
                currency: fare.currency().to_string(),
                flight_code: row.flight_code,
                airline: row.airline,
                status: row.status,
                from: row.origin,
                to: row.destination,
                departure_time_zone: row.origin_time_zone,
                arrival_time_zone: row.destination_time_zone,
                seats_left: row.seats_left,
            }
        })
        .collect();
    Ok(JsonResponse(SeedFlights { flights }))
}
