//! What catalog does with hotels: keeps them, publishes every change as `listing.*` in the same
//! transaction, and finds stays with rooms free, priced by the contract's `HotelListing::quote`
//! (the price booking charges).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use contracts::events::ListingEvent;
use contracts::listings::{ListingSnapshot, RatePlanSnapshot, RoomTypeSnapshot, StayQuote};
use contracts::states::Product;
use platform::events::{Envelope, outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::hotels::HotelDraft;
use crate::error::CatalogError;
use crate::store;
use crate::store::hotels::{Hotel, NewHotel, StayFilter};

/// Which event a hotel's change is, given its snapshot.
type Kind = fn(ListingSnapshot) -> ListingEvent;

/// The `listing.*` event of a hotel as it is now, keyed by its id.
pub fn listing_event(kind: Kind, hotel: &Hotel) -> Result<(String, Envelope), CatalogError> {
    let key = hotel.row.id.to_string();
    let event = kind(ListingSnapshot {
        listing_id: hotel.row.id,
        product: Product::Hotel,
        hotel: Some(hotel.listing()),
        car: None,
        version: hotel.row.version,
    });
    let data = event.data().map_err(anyhow::Error::from)?;
    Ok((
        key.clone(),
        Envelope::new("catalog", event.kind(), key, data),
    ))
}

async fn publish(tx: &mut PgConnection, kind: Kind, id: Uuid) -> Result<Hotel, CatalogError> {
    let hotel = store::hotels::find(&mut *tx, id, true)
        .await?
        .ok_or_else(not_found)?;
    let (key, envelope) = listing_event(kind, &hotel)?;
    outbox::enqueue(tx, ListingEvent::TOPIC, &key, &envelope).await?;
    crate::search_cache::changed(tx).await?;
    Ok(hotel)
}

pub fn not_found() -> CatalogError {
    CatalogError::NotFound("Hotel not found".into())
}

async fn check_airport(tx: &mut PgConnection, draft: &HotelDraft) -> Result<(), CatalogError> {
    let code = draft.airport_code.as_str();
    match store::airports::find(&mut *tx, code).await? {
        Some(_) => Ok(()),
        None => Err(CatalogError::Invalid(format!(
            "airportCode: unknown airport {code}"
        ))),
    }
}

/// Adds a hotel and publishes `listing.created` in the same transaction.
pub async fn create(db: &PgPool, draft: &HotelDraft) -> Result<Hotel, CatalogError> {
    if draft
        .room_types
        .iter()
        .any(|r| r.id.is_some() || r.rate_plans.iter().any(|p| p.id.is_some()))
    {
        return Err(CatalogError::Invalid(
            "a new hotel's room types and rate plans get their ids from the catalog; send ids only with PUT".into(),
        ));
    }
    let mut tx = db.begin().await?;
    check_airport(&mut tx, draft).await?;
    let id = Uuid::now_v7();
    store::hotels::insert_many(&mut tx, &[NewHotel::new(id, draft)]).await?;
    let hotel = publish(&mut tx, ListingEvent::Created, id).await?;
    tx.commit().await?;
    tracing::info!(hotel_id = %id, "hotel listed");
    Ok(hotel)
}

/// Replaces a hotel as a whole and publishes `listing.updated`. Room types and rate plans sent
/// with their id keep it (and the stays booked on them); those left out are removed, and the
/// snapshot no longer has them, so booking refuses new stays on them.
pub async fn replace(db: &PgPool, id: Uuid, draft: &HotelDraft) -> Result<Hotel, CatalogError> {
    let mut tx = db.begin().await?;
    if !store::hotels::lock(&mut tx, id).await? {
        return Err(not_found());
    }
    check_airport(&mut tx, draft).await?;
    let existing = store::hotels::ids(&mut tx, id).await?;
    let room_types: HashSet<Uuid> = existing.iter().map(|(t, _)| *t).collect();
    let plans: HashSet<Uuid> = existing.iter().filter_map(|(_, p)| *p).collect();
    for (i, room_type) in draft.room_types.iter().enumerate() {
        if let Some(type_id) = room_type.id
            && !room_types.contains(&type_id)
        {
            return Err(CatalogError::Invalid(format!(
                "roomTypes[{i}].id {type_id} is not a room type of this hotel; leave it out for a new one"
            )));
        }
        for (j, plan) in room_type.rate_plans.iter().enumerate() {
            if let Some(plan_id) = plan.id
                && !plans.contains(&plan_id)
            {
                return Err(CatalogError::Invalid(format!(
                    "roomTypes[{i}].ratePlans[{j}].id {plan_id} is not a rate plan of this hotel; leave it out for a new one"
                )));
            }
        }
    }
    store::hotels::replace(&mut tx, &NewHotel::new(id, draft)).await?;
    let hotel = publish(&mut tx, ListingEvent::Updated, id).await?;
    tx.commit().await?;
    Ok(hotel)
}

/// Takes a hotel off the catalog and publishes `listing.deleted` with its last snapshot; its
/// stays and reviews remain.
pub async fn delete(db: &PgPool, id: Uuid) -> Result<(), CatalogError> {
    let mut tx = db.begin().await?;
    if !store::hotels::delete(&mut *tx, id).await? {
        return Err(not_found());
    }
    publish(&mut tx, ListingEvent::Deleted, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Loads the demo hotels if there are no hotels yet (in the caller's transaction, with the demo
/// schedule), in the cities whose airport is in the catalog, and publishes each as
/// `listing.created`. Returns how many it loaded.
pub async fn load_demo(tx: &mut PgConnection, first_day: NaiveDate) -> Result<usize, CatalogError> {
    if store::hotels::any_exist(&mut *tx).await? {
        return Ok(0);
    }
    let airports: HashSet<String> = store::airports::list(&mut *tx)
        .await?
        .into_iter()
        .map(|a| a.iata)
        .collect();
    let demo: Vec<crate::demo::hotels::DemoHotel> = crate::demo::hotels::hotels(first_day)
        .into_iter()
        .filter(|h| airports.contains(h.draft.airport_code.as_str()))
        .collect();
    let new: Vec<NewHotel<'_>> = demo.iter().map(|h| NewHotel::new(h.id, &h.draft)).collect();
    store::hotels::insert_many(&mut *tx, &new).await?;
    let ids: Vec<Uuid> = demo.iter().map(|h| h.id).collect();
    let events = store::hotels::find_many(&mut *tx, &ids)
        .await?
        .iter()
        .map(|hotel| listing_event(ListingEvent::Created, hotel))
        .collect::<Result<Vec<_>, _>>()?;
    outbox::enqueue_many(&mut *tx, ListingEvent::TOPIC, &events).await?;
    Ok(events.len())
}

/// A live hotel.
pub async fn find(db: &PgPool, id: Uuid) -> Result<Hotel, CatalogError> {
    let mut conn = db.acquire().await?;
    store::hotels::find(&mut conn, id, false)
        .await?
        .ok_or_else(not_found)
}

/// Dates and rooms of a stay, checked.
#[derive(Clone, Copy, Debug)]
pub struct Stay {
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
}

/// Rooms free for the stay on every night, by room type.
pub async fn rooms_free(
    db: &PgPool,
    id: Uuid,
    stay: Stay,
) -> Result<HashMap<Uuid, i32>, CatalogError> {
    Ok(store::hotels::rooms_free(db, id, stay.check_in, stay.check_out).await?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotelSort {
    Price,
    Rating,
    Distance,
}

pub struct StaySearch {
    pub filter: StayFilter,
    /// Bounds on the stay's total, in minor units of `currency`.
    pub min_total: Option<i64>,
    pub max_total: Option<i64>,
    pub currency: String,
    pub sort: HotelSort,
    /// Where distances are measured from.
    pub near: Option<(f64, f64)>,
    pub limit: usize,
    pub offset: usize,
}

/// A hotel with rooms for the stay: its cheapest room type and rate plan that fit.
pub struct StayOffer {
    pub hotel: Hotel,
    pub room_type: RoomTypeSnapshot,
    pub rate_plan: RatePlanSnapshot,
    pub quote: StayQuote,
    pub distance_km: Option<f64>,
}

/// Average rating in tenths (4.3 is 43), rounded half up; `None` without reviews.
pub fn rating_tenths(total: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| (total * 20 + count) / (2 * count))
}

/// Great-circle distance in kilometres.
pub fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (lat1, lon1, lat2, lon2) = (
        lat1.to_radians(),
        lon1.to_radians(),
        lat2.to_radians(),
        lon2.to_radians(),
    );
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Hotels with a room type that sleeps the guests in the rooms asked and has that many rooms free
/// on every night (found in SQL), each priced at its cheapest fitting rate (quoted here), then
/// filtered by price, sorted and paged. Returns the page and the number of matches.
pub async fn search(
    db: &PgPool,
    search: &StaySearch,
) -> Result<(Vec<StayOffer>, usize), CatalogError> {
    let f = &search.filter;
    let candidates = store::hotels::available_room_types(db, f).await?;
    let ids: Vec<Uuid> = candidates
        .iter()
        .map(|(hotel, _)| *hotel)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut conn = db.acquire().await?;
    let hotels = store::hotels::find_many(&mut conn, &ids).await?;
    let fitting: HashSet<(Uuid, Uuid)> = candidates.into_iter().collect();
    let mut offers = Vec::new();
    for hotel in hotels {
        let listing = hotel.listing();
        let mut best: Option<(&RoomTypeSnapshot, &RatePlanSnapshot, StayQuote)> = None;
        for room_type in &listing.room_types {
            if !fitting.contains(&(hotel.row.id, room_type.room_type_id)) {
                continue;
            }
            for plan in &room_type.rate_plans {
                // A price too large to add up is no offer.
                let Ok(quote) = listing.quote(plan, f.check_in, f.check_out, f.rooms) else {
                    continue;
                };
                if best
                    .as_ref()
                    .is_none_or(|(_, _, b)| quote.total_minor < b.total_minor)
                {
                    best = Some((room_type, plan, quote));
                }
            }
        }
        let Some((room_type, plan, quote)) = best else {
            continue;
        };
        let priced = search.min_total.is_some() || search.max_total.is_some();
        if priced
            && (listing.currency != search.currency
                || search.min_total.is_some_and(|m| quote.total_minor < m)
                || search.max_total.is_some_and(|m| quote.total_minor > m))
        {
            continue;
        }
        let (room_type, rate_plan) = (room_type.clone(), plan.clone());
        offers.push(StayOffer {
            distance_km: search
                .near
                .map(|near| distance_km(near, (hotel.row.latitude, hotel.row.longitude))),
            hotel,
            room_type,
            rate_plan,
            quote,
        });
    }
    // Amounts compare only within a currency: hotels priced in the search's currency first, then
    // the others, currency by currency.
    let price = |o: &StayOffer| {
        let currency = o.hotel.row.currency.as_str();
        (
            currency != search.currency,
            currency.to_owned(),
            o.quote.total_minor,
            o.hotel.row.id,
        )
    };
    match search.sort {
        HotelSort::Price => offers.sort_by_key(price),
        HotelSort::Rating => offers.sort_by_key(|o| {
            let rating = rating_tenths(
                o.hotel.row.rating_total,
                i64::from(o.hotel.row.review_count),
            );
            (std::cmp::Reverse(rating.unwrap_or(-1)), price(o))
        }),
        HotelSort::Distance => offers.sort_by(|a, b| {
            a.distance_km
                .unwrap_or(f64::MAX)
                .total_cmp(&b.distance_km.unwrap_or(f64::MAX))
                .then(price(a).cmp(&price(b)))
        }),
    }
    let total = offers.len();
    let page = offers
        .into_iter()
        .skip(search.offset)
        .take(search.limit)
        .collect();
    Ok((page, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_round_half_up_to_one_decimal() {
        assert_eq!(rating_tenths(0, 0), None);
        assert_eq!(rating_tenths(9, 2), Some(45));
        assert_eq!(rating_tenths(13, 3), Some(43));
        assert_eq!(rating_tenths(14, 3), Some(47));
        assert_eq!(rating_tenths(5, 1), Some(50));
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let paris = (48.8566, 2.3522);
        let london = (51.5074, -0.1278);
        let km = distance_km(paris, london);
        assert!((340.0..350.0).contains(&km), "{km}");
        assert_eq!(distance_km(paris, paris), 0.0);
    }
}
