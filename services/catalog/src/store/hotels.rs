//! Hotels, their room types and rate plans, and the rooms that stays hold.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use contracts::listings::{HotelListing, RatePlanSnapshot, RoomTypeSnapshot};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::hotels::{HotelDraft, Photo};

/// A hotel's own row, with its airport's time zone.
#[derive(Clone, Debug, FromRow)]
pub struct HotelRow {
    pub id: Uuid,
    pub name: String,
    pub city: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub airport_code: String,
    pub time_zone: String,
    pub stars: i16,
    pub amenities: Vec<String>,
    pub photos: Json<Vec<Photo>>,
    pub description: String,
    pub check_in_time: String,
    pub currency: String,
    pub tax_basis_points: i32,
    pub fee_per_night_minor: i64,
    pub rating_total: i64,
    pub review_count: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A hotel with its room types and their rate plans, in the order ops gave them.
#[derive(Clone, Debug)]
pub struct Hotel {
    pub row: HotelRow,
    pub room_types: Vec<RoomTypeSnapshot>,
}

impl Hotel {
    /// What `listing.*` events carry, and what every price is quoted from.
    pub fn listing(&self) -> HotelListing {
        let r = &self.row;
        HotelListing {
            hotel_id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            airport_code: r.airport_code.trim().to_owned(),
            time_zone: r.time_zone.clone(),
            check_in_time: r.check_in_time.clone(),
            currency: r.currency.trim().to_owned(),
            tax_basis_points: r.tax_basis_points,
            fee_per_night_minor: r.fee_per_night_minor,
            room_types: self.room_types.clone(),
        }
    }
}

const HOTEL_COLUMNS: &str = "h.id, h.name, h.city, h.address, h.latitude, h.longitude, h.airport_code, \
     a.time_zone, h.stars, h.amenities, h.photos, h.description, h.check_in_time, h.currency, \
     h.tax_basis_points, h.fee_per_night_minor, h.rating_total, h.review_count, h.version, \
     h.created_at, h.updated_at";

#[derive(FromRow)]
struct RoomTypeRow {
    id: Uuid,
    hotel_id: Uuid,
    name: String,
    capacity: i32,
    beds: String,
    rooms: i32,
}

#[derive(FromRow)]
struct RatePlanRow {
    id: Uuid,
    room_type_id: Uuid,
    name: String,
    refundable: bool,
    free_cancellation_hours: i32,
    weekday_minor: i64,
    weekend_minor: i64,
    prices: Json<BTreeMap<NaiveDate, i64>>,
}

/// The room types (with rate plans) of `hotels`, by hotel.
async fn room_types(
    db: &mut PgConnection,
    hotels: &[Uuid],
) -> Result<HashMap<Uuid, Vec<RoomTypeSnapshot>>, sqlx::Error> {
    let types: Vec<RoomTypeRow> = sqlx::query_as(
        "SELECT id, hotel_id, name, capacity, beds, rooms FROM room_types \
         WHERE hotel_id = ANY($1) ORDER BY hotel_id, position",
    )
    .bind(hotels)
    .fetch_all(&mut *db)
    .await?;
    let plans: Vec<RatePlanRow> = sqlx::query_as(
        "SELECT p.id, p.room_type_id, p.name, p.refundable, p.free_cancellation_hours, \
                p.weekday_minor, p.weekend_minor, p.prices \
         FROM rate_plans p JOIN room_types t ON t.id = p.room_type_id \
         WHERE t.hotel_id = ANY($1) ORDER BY p.room_type_id, p.position",
    )
    .bind(hotels)
    .fetch_all(&mut *db)
    .await?;
    let mut plans_by_type: HashMap<Uuid, Vec<RatePlanSnapshot>> = HashMap::new();
    for p in plans {
        plans_by_type
            .entry(p.room_type_id)
            .or_default()
            .push(RatePlanSnapshot {
                rate_plan_id: p.id,
                name: p.name,
                refundable: p.refundable,
                free_cancellation_hours: p.free_cancellation_hours,
                weekday_minor: p.weekday_minor,
                weekend_minor: p.weekend_minor,
                prices: p.prices.0,
            });
    }
    let mut by_hotel: HashMap<Uuid, Vec<RoomTypeSnapshot>> = HashMap::new();
    for t in types {
        by_hotel
            .entry(t.hotel_id)
            .or_default()
            .push(RoomTypeSnapshot {
                room_type_id: t.id,
                name: t.name,
                capacity: t.capacity,
                beds: t.beds,
                rooms: t.rooms,
                rate_plans: plans_by_type.remove(&t.id).unwrap_or_default(),
            });
    }
    Ok(by_hotel)
}

async fn with_room_types(
    db: &mut PgConnection,
    rows: Vec<HotelRow>,
) -> Result<Vec<Hotel>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut types = room_types(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| Hotel {
            room_types: types.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// A hotel that has not been deleted (or, with `deleted`, one that has been too).
pub async fn find(
    db: &mut PgConnection,
    id: Uuid,
    deleted: bool,
) -> Result<Option<Hotel>, sqlx::Error> {
    let row: Option<HotelRow> = sqlx::query_as(&format!(
        "SELECT {HOTEL_COLUMNS} FROM hotels h JOIN airports a ON a.iata = h.airport_code \
         WHERE h.id = $1 AND ($2 OR h.deleted_at IS NULL)"
    ))
    .bind(id)
    .bind(deleted)
    .fetch_optional(&mut *db)
    .await?;
    Ok(with_room_types(db, row.into_iter().collect()).await?.pop())
}

/// Locks a live hotel's row for the rest of the transaction; false if there is none.
pub async fn lock(db: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT true FROM hotels WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(|found: Option<bool>| found.is_some())
}

/// One page of the live hotels, oldest first, and how many there are.
pub async fn page(
    db: &mut PgConnection,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Hotel>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM hotels WHERE deleted_at IS NULL")
        .fetch_one(&mut *db)
        .await?;
    let rows: Vec<HotelRow> = sqlx::query_as(&format!(
        "SELECT {HOTEL_COLUMNS} FROM hotels h JOIN airports a ON a.iata = h.airport_code \
         WHERE h.deleted_at IS NULL ORDER BY h.created_at, h.id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *db)
    .await?;
    Ok((with_room_types(db, rows).await?, total))
}

/// Live hotels by id, in no particular order.
pub async fn find_many(db: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Hotel>, sqlx::Error> {
    let rows: Vec<HotelRow> = sqlx::query_as(&format!(
        "SELECT {HOTEL_COLUMNS} FROM hotels h JOIN airports a ON a.iata = h.airport_code \
         WHERE h.id = ANY($1) AND h.deleted_at IS NULL"
    ))
    .bind(ids)
    .fetch_all(&mut *db)
    .await?;
    with_room_types(db, rows).await
}

/// A hotel with every id assigned: what is written.
pub struct NewHotel<'a> {
    pub id: Uuid,
    pub draft: &'a HotelDraft,
    /// Room type ids, then rate plan ids, parallel to the draft's.
    pub room_type_ids: Vec<Uuid>,
    pub rate_plan_ids: Vec<Vec<Uuid>>,
}

impl<'a> NewHotel<'a> {
    /// Keeps the ids the draft gives, makes new ones for the rest.
    pub fn new(id: Uuid, draft: &'a HotelDraft) -> Self {
        Self {
            id,
            room_type_ids: draft
                .room_types
                .iter()
                .map(|r| r.id.unwrap_or_else(Uuid::now_v7))
                .collect(),
            rate_plan_ids: draft
                .room_types
                .iter()
                .map(|r| {
                    r.rate_plans
                        .iter()
                        .map(|p| p.id.unwrap_or_else(Uuid::now_v7))
                        .collect()
                })
                .collect(),
            draft,
        }
    }
}

/// Inserts hotels with their room types and rate plans, a few statements for any number.
pub async fn insert_many(
    db: &mut PgConnection,
    hotels: &[NewHotel<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in hotels.chunks(1_000) {
        let d = |f: fn(&HotelDraft) -> String| chunk.iter().map(|h| f(h.draft)).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO hotels (id, name, city, address, latitude, longitude, airport_code, stars, \
                                 amenities, photos, description, check_in_time, currency, \
                                 tax_basis_points, fee_per_night_minor) \
             SELECT id, name, city, address, latitude, longitude, airport_code, stars, \
                    ARRAY(SELECT jsonb_array_elements_text(amenities)), photos, description, \
                    check_in_time, currency, tax_basis_points, fee_per_night_minor \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], \
                         $7::text[], $8::int2[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[], \
                         $13::text[], $14::int4[], $15::int8[]) \
                  AS t(id, name, city, address, latitude, longitude, airport_code, stars, amenities, \
                       photos, description, check_in_time, currency, tax_basis_points, fee_per_night_minor)",
        )
        .bind(chunk.iter().map(|h| h.id).collect::<Vec<_>>())
        .bind(d(|h| h.name.clone()))
        .bind(d(|h| h.city.clone()))
        .bind(d(|h| h.address.clone()))
        .bind(chunk.iter().map(|h| h.draft.latitude).collect::<Vec<_>>())
        .bind(chunk.iter().map(|h| h.draft.longitude).collect::<Vec<_>>())
        .bind(d(|h| h.airport_code.as_str().to_owned()))
        .bind(chunk.iter().map(|h| h.draft.stars).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|h| Json(h.draft.amenities.clone()))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|h| Json(h.draft.photos.clone()))
                .collect::<Vec<_>>(),
        )
        .bind(d(|h| h.description.clone()))
        .bind(d(|h| h.check_in_time.clone()))
        .bind(d(|h| h.currency.as_str().to_owned()))
        .bind(chunk.iter().map(|h| h.draft.tax_basis_points).collect::<Vec<_>>())
        .bind(chunk.iter().map(|h| h.draft.fee_per_night_minor).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
        upsert_room_types(db, chunk).await?;
    }
    Ok(())
}

/// Writes the room types and rate plans of `hotels`: new ids are inserted, existing ones updated.
async fn upsert_room_types(
    db: &mut PgConnection,
    hotels: &[NewHotel<'_>],
) -> Result<(), sqlx::Error> {
    let (mut ids, mut hotel_ids, mut positions, mut names, mut capacities, mut beds, mut rooms) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut plans = PlanColumns::default();
    for hotel in hotels {
        for (i, (room_type, id)) in hotel
            .draft
            .room_types
            .iter()
            .zip(&hotel.room_type_ids)
            .enumerate()
        {
            ids.push(*id);
            hotel_ids.push(hotel.id);
            positions.push(i as i32);
            names.push(room_type.name.as_str());
            capacities.push(room_type.capacity);
            beds.push(room_type.beds.as_str());
            rooms.push(room_type.rooms);
            for (j, (plan, plan_id)) in room_type
                .rate_plans
                .iter()
                .zip(&hotel.rate_plan_ids[i])
                .enumerate()
            {
                plans.ids.push(*plan_id);
                plans.room_types.push(*id);
                plans.positions.push(j as i32);
                plans.names.push(plan.name.clone());
                plans.refundable.push(plan.refundable);
                plans.hours.push(plan.free_cancellation_hours);
                plans.weekday.push(plan.weekday_minor);
                plans.weekend.push(plan.weekend_minor);
                plans.prices.push(Json(plan.prices.clone()));
            }
        }
    }
    sqlx::query(
        "INSERT INTO room_types (id, hotel_id, position, name, capacity, beds, rooms) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::int4[], $6::text[], $7::int4[]) \
         ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, name = EXCLUDED.name, \
             capacity = EXCLUDED.capacity, beds = EXCLUDED.beds, rooms = EXCLUDED.rooms",
    )
    .bind(&ids)
    .bind(&hotel_ids)
    .bind(&positions)
    .bind(&names)
    .bind(&capacities)
    .bind(&beds)
    .bind(&rooms)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO rate_plans (id, room_type_id, position, name, refundable, free_cancellation_hours, \
                                 weekday_minor, weekend_minor, prices) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::bool[], $6::int4[], \
                              $7::int8[], $8::int8[], $9::jsonb[]) \
         ON CONFLICT (id) DO UPDATE SET room_type_id = EXCLUDED.room_type_id, position = EXCLUDED.position, \
             name = EXCLUDED.name, refundable = EXCLUDED.refundable, \
             free_cancellation_hours = EXCLUDED.free_cancellation_hours, \
             weekday_minor = EXCLUDED.weekday_minor, weekend_minor = EXCLUDED.weekend_minor, \
             prices = EXCLUDED.prices",
    )
    .bind(&plans.ids)
    .bind(&plans.room_types)
    .bind(&plans.positions)
    .bind(&plans.names)
    .bind(&plans.refundable)
    .bind(&plans.hours)
    .bind(&plans.weekday)
    .bind(&plans.weekend)
    .bind(&plans.prices)
    .execute(&mut *db)
    .await?;
    Ok(())
}

#[derive(Default)]
struct PlanColumns {
    ids: Vec<Uuid>,
    room_types: Vec<Uuid>,
    positions: Vec<i32>,
    names: Vec<String>,
    refundable: Vec<bool>,
    hours: Vec<i32>,
    weekday: Vec<i64>,
    weekend: Vec<i64>,
    prices: Vec<Json<BTreeMap<NaiveDate, i64>>>,
}

/// Replaces everything ops wrote about a live hotel (the caller holds its lock): room types and
/// rate plans it no longer names are deleted, the rest keep their ids. Bumps the version.
pub async fn replace(db: &mut PgConnection, hotel: &NewHotel<'_>) -> Result<(), sqlx::Error> {
    let h = hotel.draft;
    sqlx::query(
        "UPDATE hotels SET name = $2, city = $3, address = $4, latitude = $5, longitude = $6, \
             airport_code = $7, stars = $8, amenities = $9, photos = $10, description = $11, \
             check_in_time = $12, currency = $13, tax_basis_points = $14, fee_per_night_minor = $15, \
             version = version + 1, updated_at = now() \
         WHERE id = $1",
    )
    .bind(hotel.id)
    .bind(&h.name)
    .bind(&h.city)
    .bind(&h.address)
    .bind(h.latitude)
    .bind(h.longitude)
    .bind(h.airport_code.as_str())
    .bind(h.stars)
    .bind(&h.amenities)
    .bind(Json(&h.photos))
    .bind(&h.description)
    .bind(&h.check_in_time)
    .bind(h.currency.as_str())
    .bind(h.tax_basis_points)
    .bind(h.fee_per_night_minor)
    .execute(&mut *db)
    .await?;
    let plan_ids: Vec<Uuid> = hotel.rate_plan_ids.iter().flatten().copied().collect();
    sqlx::query(
        "DELETE FROM rate_plans p USING room_types t \
         WHERE p.room_type_id = t.id AND t.hotel_id = $1 AND p.id <> ALL($2)",
    )
    .bind(hotel.id)
    .bind(&plan_ids)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM room_types WHERE hotel_id = $1 AND id <> ALL($2)")
        .bind(hotel.id)
        .bind(&hotel.room_type_ids)
        .execute(&mut *db)
        .await?;
    upsert_room_types(db, std::slice::from_ref(hotel)).await
}

/// The room type and rate plan ids a hotel has now.
pub async fn ids(
    db: &mut PgConnection,
    hotel_id: Uuid,
) -> Result<Vec<(Uuid, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, p.id FROM room_types t LEFT JOIN rate_plans p ON p.room_type_id = t.id \
         WHERE t.hotel_id = $1",
    )
    .bind(hotel_id)
    .fetch_all(db)
    .await
}

/// Ids in use anywhere (by another hotel, or a room type of this one used as a plan id).
pub async fn ids_taken(db: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM room_types WHERE id = ANY($1) UNION SELECT id FROM rate_plans WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Marks a live hotel deleted and bumps its version; false if there was none.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE hotels SET deleted_at = now(), updated_at = now(), version = version + 1 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn any_exist(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM hotels)")
        .fetch_one(db)
        .await
}

/// Rooms of each of the hotel's room types free on every night of `[check_in, check_out)`: the
/// type's rooms less the most that held stays take on any one night.
pub async fn rooms_free(
    db: impl PgExecutor<'_>,
    hotel_id: Uuid,
    check_in: NaiveDate,
    check_out: NaiveDate,
) -> Result<HashMap<Uuid, i32>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(&format!(
        "SELECT t.id, (t.rooms - {HELD_MOST})::int4 FROM room_types t WHERE t.hotel_id = $1"
    ))
    .bind(hotel_id)
    .bind(check_in)
    .bind(check_out)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The most rooms of room type `t` that held stays take on one night of `[$2, $3)`.
const HELD_MOST: &str = "COALESCE((SELECT max(held) FROM ( \
         SELECT (SELECT COALESCE(sum(s.rooms), 0) FROM hotel_stays s \
                 WHERE s.room_type_id = t.id AND s.status IN ('PENDING_PAYMENT', 'CONFIRMED') \
                   AND s.check_in <= night AND s.check_out > night) AS held \
         FROM generate_series($2::date, $3::date - 1, interval '1 day') AS n(night)) nights), 0)";

/// What search asks of hotels.
pub struct StayFilter {
    pub city: Option<String>,
    pub airport: Option<String>,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub guests: i32,
    pub rooms: i32,
    pub min_stars: i16,
    pub amenities: Vec<String>,
}

/// The most room types one search considers (a city's hotels, well above any real city).
pub const SEARCH_CANDIDATES: i64 = 5_000;

/// The room types that match `filter` and have `rooms` free on every night: `(hotel, room type)`.
/// Prices are left to the caller, which quotes them with the contract's pricing.
pub async fn available_room_types(
    db: impl PgExecutor<'_>,
    filter: &StayFilter,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT h.id, t.id FROM hotels h JOIN room_types t ON t.hotel_id = h.id \
         WHERE h.deleted_at IS NULL \
           AND ($1::text IS NULL OR lower(h.city) = lower($1)) \
           AND ($4::text IS NULL OR h.airport_code = $4) \
           AND h.stars >= $5 AND h.amenities @> $6 \
           AND t.capacity * $7 >= $8 AND t.rooms >= $7 \
           AND EXISTS (SELECT 1 FROM rate_plans p WHERE p.room_type_id = t.id) \
           AND t.rooms - {HELD_MOST} >= $7 \
         ORDER BY h.id, t.position LIMIT $9"
    ))
    .bind(filter.city.as_deref())
    .bind(filter.check_in)
    .bind(filter.check_out)
    .bind(filter.airport.as_deref())
    .bind(filter.min_stars)
    .bind(&filter.amenities)
    .bind(filter.rooms)
    .bind(filter.guests)
    .bind(SEARCH_CANDIDATES)
    .fetch_all(db)
    .await
}

/// A stay as booking reported it.
pub struct StayReport {
    pub booking_id: i64,
    pub hotel_id: Uuid,
    pub room_type_id: Uuid,
    pub user_id: i64,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
    pub status: &'static str,
}

/// Records stays (at most one report per booking), or moves their status forward; a report of
/// an earlier status changes nothing. Returns whether the rooms search counts as taken changed:
/// a stay recorded for the first time, or one that gave its rooms back. A stay confirmed after
/// it was held keeps the same rooms, so search answers stay valid.
pub async fn apply_stays(db: &mut PgConnection, stays: &[StayReport]) -> Result<bool, sqlx::Error> {
    if stays.is_empty() {
        return Ok(false);
    }
    // `xmax = 0` only on a row this statement inserted; an updated row carries the lock.
    let applied: Vec<(bool, String)> = sqlx::query_as(
        "INSERT INTO hotel_stays AS h (booking_id, hotel_id, room_type_id, user_id, check_in, check_out, rooms, status) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::date[], $6::date[], \
                              $7::int[], $8::text[]) \
         ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status \
         WHERE stay_status_rank(EXCLUDED.status) > stay_status_rank(h.status) \
         RETURNING h.xmax = 0, h.status",
    )
    .bind(stays.iter().map(|s| s.booking_id).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.hotel_id).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.room_type_id).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.user_id).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.check_in).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.check_out).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.rooms).collect::<Vec<_>>())
    .bind(stays.iter().map(|s| s.status).collect::<Vec<_>>())
    .fetch_all(db)
    .await?;
    Ok(applied
        .iter()
        .any(|(inserted, status)| *inserted == super::holds(status)))
}

/// The guest's latest completed stay at the hotel (confirmed, checked out by the hotel's local
/// today): `(booking id, check-in, check-out)`.
pub async fn completed_stay(
    db: impl PgExecutor<'_>,
    hotel_id: Uuid,
    user_id: i64,
) -> Result<Option<(i64, NaiveDate, NaiveDate)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.booking_id, s.check_in, s.check_out FROM hotel_stays s \
         JOIN hotels h ON h.id = s.hotel_id JOIN airports a ON a.iata = h.airport_code \
         WHERE s.hotel_id = $1 AND s.user_id = $2 AND s.status = 'CONFIRMED' \
           AND s.check_out <= (now() AT TIME ZONE a.time_zone)::date \
         ORDER BY s.check_out DESC LIMIT 1",
    )
    .bind(hotel_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
