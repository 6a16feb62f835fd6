//! `GET /api/search`: one search across products. Flights there (and back), hotels at the
//! destination for those nights and cars at the arrival airport for those days, each with its
//! price, in one answer served from the shared search cache when it can be.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use contracts::states::{Cabin, Product};
use platform::http::Query;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::AppState;
use super::cars::CarView;
use super::flights::{SearchResultView, result_view};
use super::hotels::{StayOfferView, offer_view};
use crate::catalog::SearchRequest;
use crate::error::CatalogError;
use crate::hotels::{self, HotelSort, StaySearch};
use crate::search_cache::Answer;
use crate::store::cars::CarFilter;
use crate::store::hotels::StayFilter;
use crate::store::search::Sort;

/// Results of each product in one answer, cheapest first.
const PER_PRODUCT: u32 = 10;
/// Most travellers one search is for.
const MAX_GUESTS: i32 = 9;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TripQuery {
    from: Option<String>,
    to: Option<String>,
    departure: Option<String>,
    #[serde(rename = "return")]
    return_date: Option<String>,
    guests: Option<String>,
}

/// A search across products, checked.
struct TripSearch {
    from: String,
    to: String,
    departure: NaiveDate,
    return_date: Option<NaiveDate>,
    guests: i32,
}

fn place(value: Option<String>, name: &str) -> Result<String, CatalogError> {
    let value = value.unwrap_or_default();
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(CatalogError::Invalid(format!(
            "{name} is required: an airport code or a city (at most 100 characters)"
        )));
    }
    Ok(value.to_owned())
}

fn date(value: Option<&str>, name: &str) -> Result<NaiveDate, CatalogError> {
    let value = value.ok_or_else(|| CatalogError::Invalid(format!("{name} is required")))?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| CatalogError::Invalid(format!("{name} must be a date such as 2026-12-24")))
}

impl TripQuery {
    fn parse(self) -> Result<TripSearch, CatalogError> {
        let from = place(self.from, "from")?;
        let to = place(self.to, "to")?;
        let departure = date(self.departure.as_deref(), "departure")?;
        // Nowhere on Earth is it still the day before yesterday in UTC.
        if departure < Utc::now().date_naive() - chrono::Duration::days(1) {
            return Err(CatalogError::Invalid("departure is in the past".into()));
        }
        let return_date = match self.return_date.as_deref() {
            None => None,
            Some(text) => {
                let back = date(Some(text), "return")?;
                let nights = (back - departure).num_days();
                if !(1..=contracts::listings::MAX_NIGHTS).contains(&nights) {
                    return Err(CatalogError::Invalid(format!(
                        "return must be 1 to {} days after departure",
                        contracts::listings::MAX_NIGHTS
                    )));
                }
                Some(back)
            }
        };
        let guests = match self.guests.as_deref() {
            None => 1,
            Some(text) => text
                .parse::<i32>()
                .ok()
                .filter(|g| (1..=MAX_GUESTS).contains(g))
                .ok_or_else(|| {
                    CatalogError::Invalid(format!("guests must be 1 to {MAX_GUESTS}"))
                })?,
        };
        Ok(TripSearch {
            from,
            to,
            departure,
            return_date,
            guests,
        })
    }
}

impl TripSearch {
    fn cache_key(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{}",
            self.from.to_lowercase(),
            self.to.to_lowercase(),
            self.departure,
            self.return_date,
            self.guests
        )
    }

    fn flights(&self, from: &str, to: &str, day: NaiveDate) -> SearchRequest {
        SearchRequest {
            from: from.to_owned(),
            to: to.to_owned(),
            dates: Some((day, day)),
            cabin: Cabin::Economy,
            passengers: self.guests,
            max_fare: None,
            airline: None,
            sort: Sort::Price,
            page: 1,
            page_size: PER_PRODUCT,
        }
    }

    fn parameters(&self) -> BTreeMap<String, String> {
        let mut query = BTreeMap::from([
            ("from".to_owned(), self.from.clone()),
            ("to".to_owned(), self.to.clone()),
            ("departure".to_owned(), self.departure.to_string()),
            ("guests".to_owned(), self.guests.to_string()),
        ]);
        if let Some(back) = self.return_date {
            query.insert("return".to_owned(), back.to_string());
        }
        query
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TripResults {
    from: String,
    to: String,
    departure: NaiveDate,
    #[serde(rename = "return")]
    return_date: Option<NaiveDate>,
    guests: i32,
    /// Flights on the departure date, cheapest first.
    outbound: Vec<SearchResultView>,
    /// Flights back on the return date (none without one).
    inbound: Vec<SearchResultView>,
    /// Hotels at the destination with rooms for every night, priced for the stay (none without a
    /// return date).
    hotels: Vec<StayOfferView>,
    /// Cars at the destination free for every day, cheapest first (none without a return date).
    cars: Vec<CarView>,
}

async fn flights(
    state: &AppState,
    request: &SearchRequest,
) -> Result<Vec<SearchResultView>, CatalogError> {
    let Some(page) = state.catalog.search(request).await? else {
        return Err(CatalogError::Invalid(format!(
            "Unknown airport or city: {} or {}",
            request.from, request.to
        )));
    };
    Ok(page
        .rows
        .iter()
        .cloned()
        .map(|row| result_view(row, request.passengers))
        .collect())
}

async fn answer(state: &AppState, search: &TripSearch) -> Result<TripResults, CatalogError> {
    let outbound = flights(
        state,
        &search.flights(&search.from, &search.to, search.departure),
    )
    .await?;
    let (mut inbound, mut hotels, mut cars) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(back) = search.return_date {
        inbound = flights(state, &search.flights(&search.to, &search.from, back)).await?;
        let airport = (search.to.len() == 3 && search.to.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| search.to.to_ascii_uppercase());
        let stay = StaySearch {
            filter: StayFilter {
                city: airport.is_none().then(|| search.to.clone()),
                airport,
                check_in: search.departure,
                check_out: back,
                guests: search.guests,
                rooms: 1.max((search.guests + 1) / 2),
                min_stars: 0,
                amenities: Vec::new(),
            },
            min_total: None,
            max_total: None,
            currency: "USD".into(),
            sort: HotelSort::Price,
            near: None,
            limit: PER_PRODUCT as usize,
            offset: 0,
        };
        let (offers, _) = hotels::search(&state.catalog.db, &stay).await?;
        hotels = offers.into_iter().map(offer_view).collect();
        let filter = CarFilter {
            location: Some(search.to.clone()),
            car_type: None,
            min_price: None,
            max_price: None,
            currency: None,
            brand: None,
            dates: Some((search.departure, back)),
        };
        let page = platform::http::PageRequest::new(Some(1), Some(PER_PRODUCT))?;
        let (found, _) = state.cars.search(&filter, page).await?;
        cars = found.into_iter().map(CarView::from).collect();
    }
    Ok(TripResults {
        from: search.from.clone(),
        to: search.to.clone(),
        departure: search.departure,
        return_date: search.return_date,
        guests: search.guests,
        outbound,
        inbound,
        hotels,
        cars,
    })
}

/// The answer, from the shared cache when an unchanged one is there (`X-Cache: hit`).
async fn search(
    State(state): State<AppState>,
    Query(query): Query<TripQuery>,
) -> Result<Answer, CatalogError> {
    let search = query.parse()?;
    let key = format!("trip?{}", search.cache_key());
    let answered = state
        .searches
        .answer(&key, || async {
            let results = answer(&state, &search).await?;
            let count = results.outbound.len()
                + results.inbound.len()
                + results.hotels.len()
                + results.cars.len();
            let body = serde_json::to_string(&results).map_err(anyhow::Error::from)?;
            Ok::<_, CatalogError>((body, count as i64))
        })
        .await?;
    state
        .activity
        .searched(Product::Trip, &key, answered.results, || {
            search.parameters()
        });
    Ok(answered)
}
