//! `/api/listings/cars`, seed 003's car API: list, search and read (anyone); add, change and
//! delete (ops, admin). A car is written with the seed's field names (`daily_rental_price`,
//! `type`), plus the pick-up airport, seats, transmission, currency and review summary.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::NaiveDate;
use contracts::listings::MAX_NIGHTS;
use contracts::states::Product;
use platform::auth::{Caller, Role};
use platform::http::{Json, PageRequest, Paged, Path, Query};
use platform::money::Currency;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use crate::cars::CarDraft;
use crate::domain::IataCode;
use crate::domain::cars::{self as rules, CarType, Transmission};
use crate::error::CatalogError;
use crate::search_cache::Answer;
use crate::store::cars::{Car, CarFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/listings/cars", get(list).post(create))
        // A path of its own, so that `search` is never read as a car id.
        .route("/api/listings/cars/search", get(search))
        .route(
            "/api/listings/cars/{car_id}",
            get(car).put(update).delete(delete),
        )
}

/// A car as every answer shows it.
#[derive(Serialize)]
pub(super) struct CarView {
    id: Uuid,
    location: String,
    #[serde(rename = "type")]
    car_type: CarType,
    /// Exact decimal text in major units of `currency`, with all its decimals: `"45.00"`.
    daily_rental_price: String,
    currency: String,
    brand: String,
    model: String,
    year: i32,
    available: bool,
    seats: i16,
    transmission: &'static str,
    location_code: String,
    time_zone: String,
    rating: Option<f64>,
    review_count: i32,
    version: i64,
}

impl From<Car> for CarView {
    fn from(car: Car) -> Self {
        Self {
            daily_rental_price: rules::price_text(car.daily_price_minor, &car.currency),
            id: car.id,
            location: car.location,
            car_type: car.car_type,
            currency: car.currency,
            brand: car.brand,
            model: car.model,
            year: car.year,
            available: car.available,
            seats: car.seats,
            transmission: car.transmission.as_str(),
            location_code: car.location_code,
            time_zone: car.time_zone,
            rating: car.rating,
            review_count: car.review_count,
            version: car.version,
        }
    }
}

/// A car id in its usual form: 36 characters, hex digits in groups of 8-4-4-4-12.
fn car_id(value: &str) -> Result<Uuid, CatalogError> {
    let hyphenated = value.len() == 36;
    hyphenated
        .then(|| Uuid::parse_str(value).ok())
        .flatten()
        .ok_or_else(|| {
            CatalogError::Invalid(format!(
                "A car id is a UUID such as 5f0c4c1e-8d2a-4b7e-9a51-3c2d1e0f4a6b, not {:?}",
                value.chars().take(64).collect::<String>()
            ))
        })
}

async fn car(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<JsonResponse<CarView>, CatalogError> {
    let car = state.cars.car(car_id(&id)?).await?;
    state.activity.viewed(Product::Car, &car.id.to_string());
    Ok(JsonResponse(car.into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<JsonResponse<Paged<CarView>>, CatalogError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let (cars, total) = state.cars.list(page).await?;
    Ok(JsonResponse(Paged::new(
        cars.into_iter().map(CarView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SearchQuery {
    location: Option<String>,
    #[serde(rename = "type")]
    car_type: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    currency: Option<String>,
    brand: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// A non-empty filter value of at most `max` characters, or none.
fn filter_text(
    value: Option<&str>,
    name: &str,
    max: usize,
) -> Result<Option<String>, CatalogError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => rules::text(v, name, max)
            .map(Some)
            .map_err(CatalogError::Invalid),
    }
}

fn date(value: &str, name: &str) -> Result<NaiveDate, CatalogError> {
    let full = value.len() == 10;
    full.then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            CatalogError::Invalid(format!(
                "{name} must be a date like 2026-12-01, not {:?}",
                value.chars().take(32).collect::<String>()
            ))
        })
}

/// A price bound in major units: exact decimal text and its value in thousandths (for comparing
/// the two bounds). With a currency, at most its decimals; without, at most three.
fn price_bound(
    value: &str,
    name: &str,
    currency: Option<Currency>,
) -> Result<(String, u128), CatalogError> {
    let exponent = currency.map_or(3, |c| c.exponent());
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str, most: usize| {
        !s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit())
    };
    let valid = digits(whole, 10)
        && (fraction.is_empty() && !value.ends_with('.') || digits(fraction, exponent as usize));
    if !valid {
        return Err(CatalogError::Invalid(format!(
            "{name} must be an amount like 45.00 with at most {exponent} decimals{}",
            currency.map_or(String::new(), |c| format!(" ({c})"))
        )));
    }
    let thousandths = whole.parse::<u128>().unwrap_or(0) * 1_000
        + format!("{fraction:0<3}").parse::<u128>().unwrap_or(0);
    Ok((value.to_owned(), thousandths))
}

impl SearchQuery {
    fn parse(&self) -> Result<(CarFilter, PageRequest), CatalogError> {
        let car_type = match self.car_type.as_deref() {
            None => None,
            Some(value) => Some(
                CarType::parse(value).map_err(|e| CatalogError::Invalid(format!("type: {e}")))?,
            ),
        };
        let bounded = self.min_price.is_some() || self.max_price.is_some();
        let currency = match self.currency.as_deref() {
            // Amounts compare only within a currency: bounds without one are in US dollars.
            None if bounded => Some(
                Currency::parse("USD")
                    .map_err(|e| CatalogError::Invalid(format!("currency: {e}")))?,
            ),
            None => None,
            Some(code) => Some(
                Currency::parse(&code.to_ascii_uppercase())
                    .map_err(|e| CatalogError::Invalid(format!("currency: {e}")))?,
            ),
        };
        let min_price = self
            .min_price
            .as_deref()
            .map(|p| price_bound(p, "minPrice", currency))
            .transpose()?;
        let max_price = self
            .max_price
            .as_deref()
            .map(|p| price_bound(p, "maxPrice", currency))
            .transpose()?;
        if let (Some((_, least)), Some((_, most))) = (&min_price, &max_price)
            && least > most
        {
            return Err(CatalogError::Invalid(
                "minPrice is more than maxPrice".into(),
            ));
        }
        let dates = match (self.start_date.as_deref(), self.end_date.as_deref()) {
            (None, None) => None,
            (Some(start), Some(end)) => {
                let (start, end) = (date(start, "startDate")?, date(end, "endDate")?);
                if end <= start {
                    return Err(CatalogError::Invalid(
                        "endDate must be after startDate (the drop-off day is not rented)".into(),
                    ));
                }
                if (end - start).num_days() > MAX_NIGHTS {
                    return Err(CatalogError::Invalid(format!(
                        "a rental is at most {MAX_NIGHTS} days"
                    )));
                }
                Some((start, end))
            }
            (Some(_), None) => {
                return Err(CatalogError::Invalid(
                    "startDate needs endDate (search a range of days or neither)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(CatalogError::Invalid(
                    "endDate needs startDate (search a range of days or neither)".into(),
                ));
            }
        };
        let filter = CarFilter {
            location: filter_text(self.location.as_deref(), "location", 255)?,
            car_type,
            min_price: min_price.map(|(text, _)| text),
            max_price: max_price.map(|(text, _)| text),
            currency: currency.map(|c| c.as_str().to_owned()),
            brand: filter_text(self.brand.as_deref(), "brand", 100)?,
            dates,
        };
        Ok((filter, PageRequest::new(self.page, self.page_size)?))
    }

    /// The query as analytics records it: the parameters given, each as given (all bounded by
    /// the checks above).
    fn parameters(&self) -> BTreeMap<String, String> {
        [
            ("location", &self.location),
            ("type", &self.car_type),
            ("minPrice", &self.min_price),
            ("maxPrice", &self.max_price),
            ("currency", &self.currency),
            ("brand", &self.brand),
            ("startDate", &self.start_date),
            ("endDate", &self.end_date),
        ]
        .into_iter()
        // Trimmed and cut to 100 characters: what analytics keeps is bounded, whatever was sent.
        .filter_map(|(name, value)| {
            let value = value.as_deref()?.trim();
            Some((name.to_owned(), value.chars().take(100).collect()))
        })
        .collect()
    }
}

/// Cars that match, served from the shared search cache while nothing they show has changed.
async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Answer, CatalogError> {
    // The whole query, paging included, names the answer.
    let key = format!("cars?{query:?}");
    // Only answers to valid queries are kept, so a hit needs no parsing.
    let answered = state
        .searches
        .answer(&key, || async {
            let (filter, page) = query.parse()?;
            let (cars, total) = state.cars.search(&filter, page).await?;
            let page = Paged::new(cars.into_iter().map(CarView::from).collect(), page, total);
            let body = serde_json::to_string(&page).map_err(anyhow::Error::from)?;
            Ok::<_, CatalogError>((body, total))
        })
        .await?;
    state
        .activity
        .searched(Product::Car, &key, answered.results, || query.parameters());
    Ok(answered)
}

/// A car in a request: seed 003's fields and Itinera's. `id` may be given on create (the seed's
/// clients may choose it) and, on update, must be the car's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CarBody {
    id: Option<String>,
    location: Option<String>,
    #[serde(rename = "type")]
    car_type: Option<String>,
    daily_rental_price: Option<serde_json::Value>,
    currency: Option<String>,
    brand: Option<String>,
    model: Option<String>,
    year: Option<i64>,
    available: Option<bool>,
    seats: Option<i64>,
    transmission: Option<String>,
    location_code: Option<String>,
}

impl CarBody {
    fn draft(self) -> Result<CarDraft, CatalogError> {
        let invalid = CatalogError::Invalid;
        let text = |value: Option<String>, name: &str, max: usize| {
            value
                .map(|v| rules::text(&v, name, max))
                .transpose()
                .map_err(invalid)
        };
        Ok(CarDraft {
            location: text(self.location, "location", 255)?,
            car_type: self
                .car_type
                .as_deref()
                .map(|t| CarType::parse(t).map_err(|e| format!("type: {e}")))
                .transpose()
                .map_err(invalid)?,
            daily_rental_price: self.daily_rental_price,
            currency: self
                .currency
                .as_deref()
                .map(|c| {
                    Currency::parse(&c.to_ascii_uppercase()).map_err(|e| format!("currency: {e}"))
                })
                .transpose()
                .map_err(invalid)?,
            brand: text(self.brand, "brand", 100)?,
            model: text(self.model, "model", 100)?,
            year: self
                .year
                .map(rules::model_year)
                .transpose()
                .map_err(invalid)?,
            available: self.available,
            seats: self
                .seats
                .map(|seats| match i32::try_from(seats) {
                    Ok(seats) if rules::SEATS.contains(&seats) => Ok(seats as i16),
                    _ => Err(format!(
                        "seats must be {} to {}, not {seats}",
                        rules::SEATS.start(),
                        rules::SEATS.end()
                    )),
                })
                .transpose()
                .map_err(invalid)?,
            transmission: self
                .transmission
                .as_deref()
                .map(Transmission::parse)
                .transpose()
                .map_err(invalid)?,
            location_code: self
                .location_code
                .as_deref()
                .map(|c| match IataCode::parse(c) {
                    Ok(code) if code.as_str().eq_ignore_ascii_case(c) => Ok(code),
                    _ => Err(format!(
                        "location_code: {c:?} is not an IATA airport code like CDG"
                    )),
                })
                .transpose()
                .map_err(invalid)?,
        })
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CarBody>,
) -> Result<(StatusCode, JsonResponse<CarView>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let id = body.id.as_deref().map(car_id).transpose()?;
    let car = state.cars.create(id, body.draft()?).await?;
    Ok((StatusCode::CREATED, JsonResponse(car.into())))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<CarBody>,
) -> Result<JsonResponse<CarView>, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let id = car_id(&id)?;
    if body
        .id
        .as_deref()
        .map(car_id)
        .transpose()?
        .is_some_and(|given| given != id)
    {
        return Err(CatalogError::Invalid(
            "id in the body is not the car's id".into(),
        ));
    }
    Ok(JsonResponse(
        state.cars.update(id, body.draft()?).await?.into(),
    ))
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<JsonResponse<Message>, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    state.cars.delete(car_id(&id)?).await?;
    Ok(JsonResponse(Message {
        message: "Car deleted",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_bounds_are_exact_and_bounded() {
        assert_eq!(
            price_bound("45.5", "minPrice", None).unwrap(),
            ("45.5".to_owned(), 45_500)
        );
        assert_eq!(price_bound("45", "minPrice", None).unwrap().1, 45_000);
        let jpy = Currency::parse("JPY").ok();
        assert_eq!(price_bound("6800", "maxPrice", jpy).unwrap().1, 6_800_000);
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e3",
            "1.2345",
            "abc",
            "12345678901",
            " 5",
        ] {
            assert!(price_bound(bad, "minPrice", None).is_err(), "{bad}");
        }
        assert!(price_bound("68.5", "maxPrice", jpy).is_err());
    }

    #[test]
    fn car_ids_are_uuids() {
        assert!(car_id("5f0c4c1e-8d2a-4b7e-9a51-3c2d1e0f4a6b").is_ok());
        for bad in [
            "search",
            "42",
            "",
            "5f0c4c1e-8d2a-4b7e-9a51",
            "5f0c4c1e8d2a4b7e9a513c2d1e0f4a6b",
            " 5f0c4c1e-8d2a-4b7e-9a51-3c2d1e0f4a6",
        ] {
            assert!(car_id(bad).is_err(), "{bad}");
        }
    }
}
