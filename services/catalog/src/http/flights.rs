//! `/api/flights`: search (anyone), one flight (anyone), schedule and change flights (ops, admin).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use platform::auth::{Caller, Role};
use platform::http::{Json, Paged, Path, Query};
use platform::money::{Currency, Money};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::catalog::{FlightDetail, FlightPatch, MAX_SEARCH_DAYS, ScheduleFlight, SearchRequest};
use crate::domain::{Cabin, FlightNumber, FlightStatus, IataCode};
use crate::error::CatalogError;
use crate::store::search::{SearchRow, Sort};
use platform::money::MoneyView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/flights", get(search).post(schedule))
        .route("/api/flights/{flight_id}", get(flight).patch(change))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AirportRef {
    iata: String,
    city: Option<String>,
    time_zone: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CabinView {
    cabin: String,
    fare: MoneyView,
    capacity: i32,
    seats_left: i32,
}

/// What every view of a flight shows: which flight, between which airports, when, in UTC and in
/// each airport's local time.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleView {
    flight_id: i64,
    flight_code: String,
    airline: String,
    origin: AirportRef,
    destination: AirportRef,
    departure_at: DateTime<Utc>,
    departure_local: String,
    arrival_at: DateTime<Utc>,
    arrival_local: String,
    duration_minutes: i64,
    status: String,
}

impl ScheduleView {
    fn new(
        flight_id: i64,
        flight_code: String,
        airline: String,
        origin: AirportRef,
        destination: AirportRef,
        (departure_at, arrival_at): (DateTime<Utc>, DateTime<Utc>),
        status: String,
    ) -> Self {
        Self {
            departure_local: platform::time::local_rfc3339(departure_at, &origin.time_zone),
            arrival_local: platform::time::local_rfc3339(arrival_at, &destination.time_zone),
            duration_minutes: (arrival_at - departure_at).num_minutes(),
            flight_id,
            flight_code,
            airline,
            origin,
            destination,
            departure_at,
            arrival_at,
            status,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlightView {
    #[serde(flatten)]
    schedule: ScheduleView,
    gate: Option<String>,
    cabins: Vec<CabinView>,
    version: i64,
}

impl From<FlightDetail> for FlightView {
    fn from(detail: FlightDetail) -> Self {
        let f = detail.flight;
        Self {
            schedule: ScheduleView::new(
                f.id,
                f.flight_code,
                f.airline,
                AirportRef {
                    iata: f.origin,
                    city: None,
                    time_zone: f.origin_time_zone,
                },
                AirportRef {
                    iata: f.destination,
                    city: None,
                    time_zone: f.destination_time_zone,
                },
                (f.departure_at, f.arrival_at),
                f.status.to_string(),
            ),
            gate: f.gate,
            cabins: detail
                .cabins
                .into_iter()
                .map(|c| CabinView {
                    fare: Money::stored(c.fare_minor, &c.currency).into(),
                    cabin: c.cabin.to_string(),
                    capacity: c.capacity,
                    seats_left: c.seats_left,
                })
                .collect(),
            version: f.version,
        }
    }
}

async fn flight(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<JsonResponse<FlightView>, CatalogError> {
    Ok(JsonResponse(state.catalog.flight(id).await?.into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SearchQuery {
    from: Option<String>,
    to: Option<String>,
    date: Option<String>,
    date_from: Option<String>,
    date_to: Option<String>,
    passengers: Option<String>,
    cabin: Option<String>,
    max_price: Option<String>,
    currency: Option<String>,
    airline: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

fn required(value: Option<String>, name: &str) -> Result<String, CatalogError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() && v.len() <= 64 => Ok(v),
        Some(v) if v.len() > 64 => Err(CatalogError::Invalid(format!(
            "{name} is longer than 64 characters"
        ))),
        _ => Err(CatalogError::Invalid(format!(
            "{name} is required (an IATA code or a city name)"
        ))),
    }
}

fn date(value: &str, name: &str) -> Result<NaiveDate, CatalogError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        CatalogError::Invalid(format!(
            "{name} must be a date like 2026-12-01, not {value:?}"
        ))
    })
}

fn integer(
    value: Option<&str>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, CatalogError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(CatalogError::Invalid(format!(
            "{name} must be a whole number from {} to {}, not {value:?}",
            range.start(),
            range.end()
        ))),
    }
}

impl SearchQuery {
    fn parse(self) -> Result<SearchRequest, CatalogError> {
        let from = required(self.from, "from")?;
        let to = required(self.to, "to")?;
        let dates = match (
            self.date.as_deref(),
            self.date_from.as_deref(),
            self.date_to.as_deref(),
        ) {
            (None, None, None) => None,
            (Some(day), None, None) => {
                let day = date(day, "date")?;
                Some((day, day))
            }
            (None, Some(first), last) => {
                let first = date(first, "dateFrom")?;
                let last = last
                    .map(|l| date(l, "dateTo"))
                    .transpose()?
                    .unwrap_or(first);
                Some((first, last))
            }
            (None, None, Some(_)) => {
                return Err(CatalogError::Invalid("dateTo needs dateFrom".into()));
            }
            (Some(_), _, _) => {
                return Err(CatalogError::Invalid(
                    "give either date or dateFrom/dateTo, not both".into(),
                ));
            }
        };
        if let Some((first, last)) = dates {
            if last < first {
                return Err(CatalogError::Invalid("dateTo is before dateFrom".into()));
            }
            if (last - first).num_days() >= MAX_SEARCH_DAYS {
                return Err(CatalogError::Invalid(format!(
                    "a search covers at most {MAX_SEARCH_DAYS} days"
                )));
            }
        }
        let cabin = self
            .cabin
            .as_deref()
            .map(Cabin::parse)
            .transpose()
            .map_err(CatalogError::Invalid)?;
        let currency = match self.currency.as_deref() {
            Some(code) => {
                Currency::parse(&code.trim().to_ascii_uppercase()).map_err(CatalogError::Invalid)?
            }
            None => Currency::parse("USD").map_err(CatalogError::Invalid)?,
        };
        let max_fare = self
            .max_price
            .as_deref()
            .map(|p| Money::parse_major(p, currency))
            .transpose()
            .map_err(|e| CatalogError::Invalid(format!("maxPrice: {e}")))?;
        let sort = match self.sort.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("departure") => Sort::Departure,
            Some("price") => Sort::Price,
            Some("duration") => Sort::Duration,
            Some(other) => {
                return Err(CatalogError::Invalid(format!(
                    "sort must be price, departure or duration, not {other:?}"
                )));
            }
        };
        let airline = self
            .airline
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        if airline.as_ref().is_some_and(|a| a.len() > 64) {
            return Err(CatalogError::Invalid(
                "airline is longer than 64 characters".into(),
            ));
        }
        Ok(SearchRequest {
            from,
            to,
            dates,
            cabin: cabin.unwrap_or(Cabin::Economy),
            passengers: integer(self.passengers.as_deref(), "passengers", 1..=9, 1)? as i32,
            max_fare,
            airline,
            sort,
            page: integer(self.page.as_deref(), "page", 1..=10_000, 1)? as u32,
            page_size: integer(self.page_size.as_deref(), "pageSize", 1..=100, 20)? as u32,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultView {
    #[serde(flatten)]
    schedule: ScheduleView,
    cabin: String,
    fare: MoneyView,
    total_price: Option<MoneyView>,
    seats_left: i32,
}

pub(super) fn result_view(row: SearchRow, passengers: i32) -> SearchResultView {
    let fare = Money::stored(row.fare_minor, &row.currency);
    SearchResultView {
        schedule: ScheduleView::new(
            row.id,
            row.flight_code,
            row.airline,
            AirportRef {
                iata: row.origin,
                city: Some(row.origin_city),
                time_zone: row.origin_time_zone,
            },
            AirportRef {
                iata: row.destination,
                city: Some(row.destination_city),
                time_zone: row.destination_time_zone,
            },
            (row.departure_at, row.arrival_at),
            row.status,
        ),
        cabin: row.cabin,
        total_price: fare.times(i64::from(passengers)).map(MoneyView::from),
        fare: fare.into(),
        seats_left: row.seats_left,
    }
}

async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<JsonResponse<Paged<SearchResultView>>, CatalogError> {
    let request = query.parse()?;
    let Some(page) = state.catalog.search(&request).await? else {
        return Err(CatalogError::Invalid(format!(
            "Unknown airport or city: {}",
            unknown_place(&state, &request).await?
        )));
    };
    Ok(JsonResponse(Paged {
        items: page
            .rows
            .iter()
            .cloned()
            .map(|r| result_view(r, request.passengers))
            .collect(),
        page: request.page,
        page_size: request.page_size,
        total: page.total,
    }))
}

/// Which of `from` and `to` names nothing known.
async fn unknown_place(state: &AppState, request: &SearchRequest) -> Result<String, CatalogError> {
    let unknown_from = state
        .catalog
        .airports
        .resolve(&state.catalog.db, &request.from)
        .await?
        .is_empty();
    Ok(if unknown_from {
        request.from.clone()
    } else {
        request.to.clone()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FareInput {
    amount: serde_json::Value,
    currency: String,
}

fn parse_fares(
    fares: std::collections::BTreeMap<String, FareInput>,
) -> Result<Vec<(Cabin, Money)>, CatalogError> {
    fares
        .into_iter()
        .map(|(cabin, fare)| {
            let cabin = Cabin::parse(&cabin).map_err(CatalogError::Invalid)?;
            let currency = Currency::parse(&fare.currency)
                .map_err(|e| CatalogError::Invalid(format!("fares.{cabin}.currency: {e}")))?;
            // A JSON number is read from its decimal text, never through a float.
            let text = match &fare.amount {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(CatalogError::Invalid(format!(
                        "fares.{cabin}.amount must be a decimal such as \"199.99\""
                    )));
                }
            };
            let money = Money::parse_major(&text, currency)
                .map_err(|e| CatalogError::Invalid(format!("fares.{cabin}.amount: {e}")))?;
            Ok((cabin, money))
        })
        .collect()
}

fn instant(value: &str, name: &str) -> Result<DateTime<FixedOffset>, CatalogError> {
    DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
        CatalogError::Invalid(format!(
            "{name} must be an RFC 3339 time with its UTC offset, such as 2026-12-01T10:00:00+01:00"
        ))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScheduleBody {
    flight_number: String,
    airline: String,
    origin: String,
    destination: String,
    departure_at: String,
    arrival_at: String,
    aircraft_type_id: i64,
    fares: std::collections::BTreeMap<String, FareInput>,
}

async fn schedule(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ScheduleBody>,
) -> Result<(StatusCode, JsonResponse<FlightView>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let request = ScheduleFlight {
        flight_number: FlightNumber::parse(&body.flight_number).map_err(CatalogError::Invalid)?,
        airline: body.airline,
        origin: IataCode::parse(&body.origin).map_err(CatalogError::Invalid)?,
        destination: IataCode::parse(&body.destination).map_err(CatalogError::Invalid)?,
        departure_at: instant(&body.departure_at, "departureAt")?,
        arrival_at: instant(&body.arrival_at, "arrivalAt")?,
        aircraft_type_id: body.aircraft_type_id,
        fares: parse_fares(body.fares)?,
    };
    let detail = state.catalog.schedule_flight(request).await?;
    Ok((StatusCode::CREATED, JsonResponse(detail.into())))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeBody {
    departure_at: Option<String>,
    arrival_at: Option<String>,
    status: Option<String>,
    /// Absent: unchanged; `null`: no gate; a string: that gate.
    #[serde(default)]
    gate: Option<serde_json::Value>,
    #[serde(default)]
    fares: std::collections::BTreeMap<String, FareInput>,
}

async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ChangeBody>,
) -> Result<JsonResponse<FlightView>, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let gate = match body.gate {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(serde_json::Value::String(g)) if !g.trim().is_empty() && g.len() <= 8 => {
            Some(Some(g.trim().to_owned()))
        }
        Some(_) => {
            return Err(CatalogError::Invalid(
                "gate must be null or 1 to 8 characters".into(),
            ));
        }
    };
    let patch = FlightPatch {
        departure_at: body
            .departure_at
            .as_deref()
            .map(|t| instant(t, "departureAt"))
            .transpose()?,
        arrival_at: body
            .arrival_at
            .as_deref()
            .map(|t| instant(t, "arrivalAt"))
            .transpose()?,
        status: body
            .status
            .as_deref()
            .map(FlightStatus::parse)
            .transpose()
            .map_err(CatalogError::Invalid)?,
        gate,
        fares: parse_fares(body.fares)?,
    };
    Ok(JsonResponse(
        state.catalog.change_flight(id, patch).await?.into(),
    ))
}
