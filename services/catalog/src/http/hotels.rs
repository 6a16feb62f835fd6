//! `/api/listings/hotels`: list, search and read hotels (anyone); add, replace and delete them
//! (ops, admin).

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use contracts::listings::{QuoteError, RatePlanSnapshot, StayQuote, nights};
use contracts::states::Product;
use platform::auth::{Caller, Role};
use platform::http::{Json, PageRequest, Paged, Path, Query};
use platform::money::{Currency, Money, MoneyView};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use crate::domain::IataCode;
use crate::domain::hotels::{HotelDraft, HotelInput, Photo, amenity};
use crate::error::CatalogError;
use crate::hotels::{self, HotelSort, Stay, StayOffer, StaySearch, rating_tenths};
use crate::search_cache::Answer;
use crate::store::hotels::{Hotel, StayFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/listings/hotels", get(list).post(create))
        .route("/api/listings/hotels/search", get(search))
        .route(
            "/api/listings/hotels/{hotel_id}",
            get(show).put(replace).delete(remove),
        )
}

/// Most guests one search or stay may ask for.
const MAX_GUESTS: i64 = 30;
/// Most rooms one search or stay may ask for.
const MAX_ROOMS: i64 = 9;
/// Most amenities one search may require.
const MAX_SEARCH_AMENITIES: usize = 10;

fn money(minor: i64, currency: &str) -> MoneyView {
    Money::stored(minor, currency).into()
}

/// What a stay costs, every part in the hotel's currency.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StayPriceView {
    nights: i64,
    rooms: i32,
    room_charges: MoneyView,
    taxes: MoneyView,
    fees: MoneyView,
    total: MoneyView,
}

impl StayPriceView {
    fn new(quote: &StayQuote, currency: &str) -> Self {
        Self {
            nights: quote.nights,
            rooms: quote.rooms,
            room_charges: money(quote.room_minor, currency),
            taxes: money(quote.taxes_minor, currency),
            fees: money(quote.fees_minor, currency),
            total: money(quote.total_minor, currency),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RatePlanView {
    id: Uuid,
    name: String,
    refundable: bool,
    free_cancellation_hours: i32,
    weekday_price: MoneyView,
    weekend_price: MoneyView,
    /// Nights priced apart from the weekday/weekend rule.
    prices: BTreeMap<NaiveDate, MoneyView>,
    /// With `checkIn` and `checkOut`, while the room type has the rooms free.
    #[serde(skip_serializing_if = "Option::is_none")]
    stay_price: Option<StayPriceView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomTypeView {
    id: Uuid,
    name: String,
    capacity: i32,
    beds: String,
    rooms: i32,
    /// With `checkIn` and `checkOut`: rooms free on every night of the stay.
    #[serde(skip_serializing_if = "Option::is_none")]
    rooms_free: Option<i32>,
    rate_plans: Vec<RatePlanView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StayView {
    check_in: NaiveDate,
    check_out: NaiveDate,
    nights: i64,
    rooms: i32,
}

/// A hotel with its review summary (`rating` is the average, one decimal; `null` without reviews).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HotelView {
    id: Uuid,
    name: String,
    city: String,
    address: String,
    latitude: f64,
    longitude: f64,
    airport_code: String,
    time_zone: String,
    stars: i16,
    amenities: Vec<String>,
    photos: Vec<Photo>,
    description: String,
    check_in_time: String,
    currency: String,
    tax_basis_points: i32,
    fee_per_night: MoneyView,
    rating: Option<f64>,
    review_count: i32,
    room_types: Vec<RoomTypeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stay: Option<StayView>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn rating(hotel: &Hotel) -> Option<f64> {
    rating_tenths(hotel.row.rating_total, i64::from(hotel.row.review_count))
        .map(|tenths| tenths as f64 / 10.0)
}

fn rate_plan_view(
    plan: &RatePlanSnapshot,
    currency: &str,
    stay_price: Option<StayPriceView>,
) -> RatePlanView {
    RatePlanView {
        id: plan.rate_plan_id,
        name: plan.name.clone(),
        refundable: plan.refundable,
        free_cancellation_hours: plan.free_cancellation_hours,
        weekday_price: money(plan.weekday_minor, currency),
        weekend_price: money(plan.weekend_minor, currency),
        prices: plan
            .prices
            .iter()
            .map(|(night, price)| (*night, money(*price, currency)))
            .collect(),
        stay_price,
    }
}

/// The hotel; with a stay, each room type's rooms free and, where enough are free, each rate
/// plan's price for it.
fn hotel_view(hotel: Hotel, stay: Option<(Stay, HashMap<Uuid, i32>)>) -> HotelView {
    let listing = hotel.listing();
    let currency = listing.currency.as_str();
    let room_types = listing
        .room_types
        .iter()
        .map(|room_type| {
            let free = stay.as_ref().map(|(_, free)| {
                free.get(&room_type.room_type_id)
                    .copied()
                    .unwrap_or(0)
                    .max(0)
            });
            RoomTypeView {
                id: room_type.room_type_id,
                name: room_type.name.clone(),
                capacity: room_type.capacity,
                beds: room_type.beds.clone(),
                rooms: room_type.rooms,
                rooms_free: free,
                rate_plans: room_type
                    .rate_plans
                    .iter()
                    .map(|plan| {
                        let price = stay.as_ref().and_then(|(s, _)| {
                            if free? < s.rooms {
                                return None;
                            }
                            listing
                                .quote(plan, s.check_in, s.check_out, s.rooms)
                                .ok()
                                .map(|q| StayPriceView::new(&q, currency))
                        });
                        rate_plan_view(plan, currency, price)
                    })
                    .collect(),
            }
        })
        .collect();
    let r = &hotel.row;
    HotelView {
        rating: rating(&hotel),
        id: r.id,
        name: r.name.clone(),
        city: r.city.clone(),
        address: r.address.clone(),
        latitude: r.latitude,
        longitude: r.longitude,
        airport_code: listing.airport_code.clone(),
        time_zone: r.time_zone.clone(),
        stars: r.stars,
        amenities: r.amenities.clone(),
        photos: r.photos.0.clone(),
        description: r.description.clone(),
        check_in_time: r.check_in_time.clone(),
        currency: listing.currency.clone(),
        tax_basis_points: r.tax_basis_points,
        fee_per_night: money(r.fee_per_night_minor, currency),
        review_count: r.review_count,
        room_types,
        stay: stay.map(|(s, _)| StayView {
            check_in: s.check_in,
            check_out: s.check_out,
            nights: (s.check_out - s.check_in).num_days(),
            rooms: s.rooms,
        }),
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<JsonResponse<Paged<HotelView>>, CatalogError> {
    let request = PageRequest::new(query.page, query.page_size)?;
    let mut conn = state.catalog.db.acquire().await?;
    let (hotels, total) =
        crate::store::hotels::page(&mut conn, request.limit(), request.offset()).await?;
    Ok(JsonResponse(Paged::new(
        hotels.into_iter().map(|h| hotel_view(h, None)).collect(),
        request,
        total,
    )))
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

/// Check-in and check-out: check-in not before today anywhere on Earth, at most 30 nights.
fn stay_dates(check_in: &str, check_out: &str, rooms: Option<&str>) -> Result<Stay, CatalogError> {
    let check_in = date(check_in, "checkIn")?;
    let check_out = date(check_out, "checkOut")?;
    // The last places to reach a date lie 12 hours behind UTC.
    let earliest = (Utc::now() - Duration::hours(12)).date_naive();
    if check_in < earliest {
        return Err(CatalogError::Invalid(format!(
            "checkIn {check_in} is in the past"
        )));
    }
    nights(check_in, check_out).map_err(|e| {
        CatalogError::Invalid(match e {
            QuoteError::EmptyRange => "checkOut must be after checkIn".into(),
            QuoteError::TooLong => format!(
                "a stay is at most {} nights",
                contracts::listings::MAX_NIGHTS
            ),
            other => other.to_string(),
        })
    })?;
    Ok(Stay {
        check_in,
        check_out,
        rooms: integer(rooms, "rooms", 1..=MAX_ROOMS, 1)? as i32,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StayQuery {
    check_in: Option<String>,
    check_out: Option<String>,
    rooms: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<StayQuery>,
) -> Result<JsonResponse<HotelView>, CatalogError> {
    let stay = match (query.check_in.as_deref(), query.check_out.as_deref()) {
        (Some(check_in), Some(check_out)) => {
            Some(stay_dates(check_in, check_out, query.rooms.as_deref())?)
        }
        (None, None) if query.rooms.is_none() => None,
        _ => {
            return Err(CatalogError::Invalid(
                "checkIn and checkOut go together (rooms needs them)".into(),
            ));
        }
    };
    let hotel = hotels::find(&state.catalog.db, id).await?;
    state.activity.viewed(Product::Hotel, &id.to_string());
    let stay = match stay {
        Some(stay) => Some((stay, hotels::rooms_free(&state.catalog.db, id, stay).await?)),
        None => None,
    };
    Ok(JsonResponse(hotel_view(hotel, stay)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<HotelInput>,
) -> Result<(StatusCode, JsonResponse<HotelView>), CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let draft = HotelDraft::parse(body).map_err(CatalogError::Invalid)?;
    let hotel = hotels::create(&state.catalog.db, &draft).await?;
    Ok((StatusCode::CREATED, JsonResponse(hotel_view(hotel, None))))
}

async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<HotelInput>,
) -> Result<JsonResponse<HotelView>, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    let draft = HotelDraft::parse(body).map_err(CatalogError::Invalid)?;
    let hotel = hotels::replace(&state.catalog.db, id, &draft).await?;
    Ok(JsonResponse(hotel_view(hotel, None)))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, CatalogError> {
    caller.require(&[Role::Ops, Role::Admin])?;
    hotels::delete(&state.catalog.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SearchQuery {
    city: Option<String>,
    airport: Option<String>,
    check_in: Option<String>,
    check_out: Option<String>,
    guests: Option<String>,
    rooms: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    currency: Option<String>,
    stars: Option<String>,
    amenities: Option<String>,
    sort: Option<String>,
    lat: Option<String>,
    lng: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

fn coordinate(value: &str, name: &str, bound: f64) -> Result<f64, CatalogError> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (-bound..=bound).contains(&v) => Ok(v),
        _ => Err(CatalogError::Invalid(format!(
            "{name} must be a number from -{bound} to {bound}, not {value:?}"
        ))),
    }
}

impl SearchQuery {
    fn parse(self) -> Result<(StaySearch, PageRequest), CatalogError> {
        let page = PageRequest::new(self.page, self.page_size)?;
        let place =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (city, airport) = match (place(self.city), place(self.airport)) {
            (Some(city), None) if city.chars().count() <= 100 => (Some(city), None),
            (Some(_), None) => {
                return Err(CatalogError::Invalid(
                    "city is at most 100 characters".into(),
                ));
            }
            (None, Some(airport)) => (
                None,
                Some(
                    IataCode::parse(&airport)
                        .map_err(|e| CatalogError::Invalid(format!("airport: {e}")))?
                        .as_str()
                        .to_owned(),
                ),
            ),
            (Some(_), Some(_)) => {
                return Err(CatalogError::Invalid(
                    "give city or airport, not both".into(),
                ));
            }
            (None, None) => {
                return Err(CatalogError::Invalid(
                    "city or airport (an IATA code) is required".into(),
                ));
            }
        };
        let (Some(check_in), Some(check_out)) = (self.check_in, self.check_out) else {
            return Err(CatalogError::Invalid(
                "checkIn and checkOut are required (YYYY-MM-DD)".into(),
            ));
        };
        let stay = stay_dates(&check_in, &check_out, self.rooms.as_deref())?;
        let guests = integer(self.guests.as_deref(), "guests", 1..=MAX_GUESTS, 1)? as i32;
        let currency = match self.currency.as_deref() {
            Some(code) => Currency::parse(&code.trim().to_ascii_uppercase())
                .map_err(|e| CatalogError::Invalid(format!("currency: {e}")))?,
            None => Currency::parse("USD").map_err(CatalogError::Invalid)?,
        };
        let bound = |value: Option<String>, name: &str| {
            value
                .map(|v| {
                    Money::parse_major(&v, currency)
                        .map(|m| m.minor())
                        .map_err(|e| CatalogError::Invalid(format!("{name}: {e}")))
                })
                .transpose()
        };
        let min_total = bound(self.min_price, "minPrice")?;
        let max_total = bound(self.max_price, "maxPrice")?;
        let mut amenities = Vec::new();
        for (i, a) in self
            .amenities
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .enumerate()
        {
            if i >= MAX_SEARCH_AMENITIES {
                return Err(CatalogError::Invalid(format!(
                    "amenities lists at most {MAX_SEARCH_AMENITIES} amenities"
                )));
            }
            amenities.push(amenity(a, "amenities").map_err(CatalogError::Invalid)?);
        }
        let near = match (self.lat.as_deref(), self.lng.as_deref()) {
            (Some(lat), Some(lng)) => Some((
                coordinate(lat, "lat", 90.0)?,
                coordinate(lng, "lng", 180.0)?,
            )),
            (None, None) => None,
            _ => return Err(CatalogError::Invalid("lat and lng go together".into())),
        };
        let sort = match self.sort.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("price") => HotelSort::Price,
            Some("rating") => HotelSort::Rating,
            Some("distance") if near.is_some() => HotelSort::Distance,
            Some("distance") => {
                return Err(CatalogError::Invalid(
                    "sort=distance needs lat and lng".into(),
                ));
            }
            Some(other) => {
                return Err(CatalogError::Invalid(format!(
                    "sort must be price, rating or distance, not {other:?}"
                )));
            }
        };
        let search = StaySearch {
            filter: StayFilter {
                city,
                airport,
                check_in: stay.check_in,
                check_out: stay.check_out,
                guests,
                rooms: stay.rooms,
                min_stars: integer(self.stars.as_deref(), "stars", 1..=5, 1)? as i16,
                amenities,
            },
            min_total,
            max_total,
            currency: currency.to_string(),
            sort,
            near,
            limit: page.page_size as usize,
            offset: page.offset() as usize,
        };
        Ok((search, page))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferRoomType {
    id: Uuid,
    name: String,
    capacity: i32,
    beds: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferRatePlan {
    id: Uuid,
    name: String,
    refundable: bool,
    free_cancellation_hours: i32,
}

/// One search result: the hotel and its cheapest room type and rate plan for the stay.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StayOfferView {
    id: Uuid,
    name: String,
    city: String,
    address: String,
    latitude: f64,
    longitude: f64,
    airport_code: String,
    stars: i16,
    amenities: Vec<String>,
    photo: Option<Photo>,
    rating: Option<f64>,
    review_count: i32,
    /// From `lat`/`lng`, in kilometres (one decimal), when they were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_km: Option<f64>,
    room_type: OfferRoomType,
    rate_plan: OfferRatePlan,
    price: StayPriceView,
}

pub(super) fn offer_view(offer: StayOffer) -> StayOfferView {
    let rating = rating(&offer.hotel);
    let r = offer.hotel.row;
    StayOfferView {
        price: StayPriceView::new(&offer.quote, r.currency.trim()),
        id: r.id,
        name: r.name,
        city: r.city,
        address: r.address,
        latitude: r.latitude,
        longitude: r.longitude,
        airport_code: r.airport_code.trim().to_owned(),
        stars: r.stars,
        amenities: r.amenities,
        photo: r.photos.0.into_iter().next(),
        rating,
        review_count: r.review_count,
        distance_km: offer.distance_km.map(|km| (km * 10.0).round() / 10.0),
        room_type: OfferRoomType {
            id: offer.room_type.room_type_id,
            name: offer.room_type.name,
            capacity: offer.room_type.capacity,
            beds: offer.room_type.beds,
        },
        rate_plan: OfferRatePlan {
            id: offer.rate_plan.rate_plan_id,
            name: offer.rate_plan.name,
            refundable: offer.rate_plan.refundable,
            free_cancellation_hours: offer.rate_plan.free_cancellation_hours,
        },
    }
}

/// Hotels with rooms for the stay, served from the shared search cache while nothing they show
/// has changed.
async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Answer, CatalogError> {
    let key = format!("hotels?{query:?}");
    // Only answers to valid queries are kept, so a hit needs no parsing.
    let answered = state
        .searches
        .answer(&key, || async {
            let (search, page) = query.clone().parse()?;
            let (offers, total) = hotels::search(&state.catalog.db, &search).await?;
            let page = Paged::new(
                offers.into_iter().map(offer_view).collect(),
                page,
                total as i64,
            );
            let body = serde_json::to_string(&page).map_err(anyhow::Error::from)?;
            Ok::<_, CatalogError>((body, total as i64))
        })
        .await?;
    state
        .activity
        .searched(Product::Hotel, &key, answered.results, || {
            query.parameters()
        });
    Ok(answered)
}

impl SearchQuery {
    /// The parameters given, for analytics, each cut to 100 characters.
    fn parameters(&self) -> BTreeMap<String, String> {
        let given = [
            ("city", &self.city),
            ("airport", &self.airport),
            ("checkIn", &self.check_in),
            ("checkOut", &self.check_out),
            ("guests", &self.guests),
            ("rooms", &self.rooms),
            ("minPrice", &self.min_price),
            ("maxPrice", &self.max_price),
            ("currency", &self.currency),
            ("stars", &self.stars),
            ("amenities", &self.amenities),
            ("sort", &self.sort),
        ];
        given
            .into_iter()
            .filter_map(|(name, value)| {
                let value = value.as_deref()?.trim();
                Some((name.to_owned(), value.chars().take(100).collect()))
            })
            .collect()
    }
}
