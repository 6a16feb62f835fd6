//! Rental cars and the rentals booking reports.

use chrono::NaiveDate;
use contracts::events::ListingSnapshot;
use contracts::listings::CarListing;
use contracts::states::{BookingStatus, Product};
use platform::http::PageRequest;
use platform::money::Money;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::cars::{CarType, Transmission};

/// A car as stored, with its pick-up airport's time zone and its review summary. Deleted cars are
/// never read.
#[derive(Clone, Debug, FromRow)]
pub struct Car {
    pub id: Uuid,
    pub location: String,
    #[sqlx(rename = "type", try_from = "String")]
    pub car_type: CarType,
    pub daily_price_minor: i64,
    pub currency: String,
    pub brand: String,
    pub model: String,
    pub year: i32,
    pub available: bool,
    pub seats: i16,
    #[sqlx(try_from = "String")]
    pub transmission: Transmission,
    pub location_code: String,
    pub time_zone: String,
    /// The average rating, `None` until the car has a review.
    pub rating: Option<f64>,
    pub review_count: i32,
    pub version: i64,
}

impl Car {
    /// The car as `catalog.listings` carries it.
    pub fn snapshot(&self) -> ListingSnapshot {
        ListingSnapshot {
            listing_id: self.id,
            product: Product::Car,
            hotel: None,
            car: Some(CarListing {
                car_id: self.id,
                car_type: self.car_type,
                brand: self.brand.clone(),
                model: self.model.clone(),
                year: self.year,
                location_code: self.location_code.clone(),
                time_zone: self.time_zone.clone(),
                daily_price_minor: self.daily_price_minor,
                currency: self.currency.clone(),
                available: self.available,
            }),
            version: self.version,
        }
    }
}

const CAR_COLUMNS: &str = "c.id, c.location, c.type, c.daily_price_minor, c.currency, c.brand, c.model, \
     c.year, c.available, c.seats, c.transmission, c.location_code, a.time_zone, \
     CASE WHEN c.review_count > 0 \
          THEN round(c.rating_total::numeric / c.review_count, 2)::float8 END AS rating, \
     c.review_count, c.version";

/// Everything about a car that its owner sets.
#[derive(Clone, Debug)]
pub struct CarFields {
    pub location: String,
    pub car_type: CarType,
    pub daily_price: Money,
    pub brand: String,
    pub model: String,
    pub year: i32,
    pub available: bool,
    pub seats: i16,
    pub transmission: Transmission,
    /// A known airport's IATA code.
    pub location_code: String,
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Car>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CAR_COLUMNS} FROM cars c JOIN airports a ON a.iata = c.location_code \
         WHERE c.id = $1 AND c.deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the car's row for the rest of the transaction; `None` if it does not exist or was
/// deleted.
pub async fn find_for_update(db: &mut PgConnection, id: Uuid) -> Result<Option<Car>, sqlx::Error> {
    let exists = sqlx::query("SELECT 1 FROM cars WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *db)
        .await?;
    match exists {
        Some(_) => find(db, id).await,
        None => Ok(None),
    }
}

/// Inserts cars in bulk, one statement per 2,000.
pub async fn insert_many(
    db: &mut PgConnection,
    cars: &[(Uuid, CarFields)],
) -> Result<(), sqlx::Error> {
    for chunk in cars.chunks(2_000) {
        sqlx::query(
            "INSERT INTO cars (id, location, type, daily_rental_price, daily_price_minor, currency, brand, \
                               model, year, available, seats, transmission, location_code) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::bigint[], \
                                  $6::text[], $7::text[], $8::text[], $9::int[], $10::bool[], \
                                  $11::smallint[], $12::text[], $13::text[])",
        )
        .bind(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.location.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.car_type.as_str()).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|(_, c)| c.daily_price.major_text())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, c)| c.daily_price.minor())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, c)| c.daily_price.currency().as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|(_, c)| c.brand.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.model.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.year).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.available).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, c)| c.seats).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|(_, c)| c.transmission.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, c)| c.location_code.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Replaces what the owner sets and bumps the version.
pub async fn update(db: &mut PgConnection, id: Uuid, car: &CarFields) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cars SET location = $2, type = $3, daily_rental_price = $4::numeric, \
                daily_price_minor = $5, currency = $6, brand = $7, model = $8, year = $9, \
                available = $10, seats = $11, transmission = $12, location_code = $13, \
                version = version + 1, updated_at = now() \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(&car.location)
    .bind(car.car_type.as_str())
    .bind(car.daily_price.major_text())
    .bind(car.daily_price.minor())
    .bind(car.daily_price.currency().as_str())
    .bind(&car.brand)
    .bind(&car.model)
    .bind(car.year)
    .bind(car.available)
    .bind(car.seats)
    .bind(car.transmission.as_str())
    .bind(&car.location_code)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the car deleted and bumps the version; its rentals stay.
pub async fn delete(db: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cars SET deleted_at = now(), version = version + 1, updated_at = now() \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Every car, oldest first, and how many there are.
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    page: PageRequest,
) -> Result<(Vec<Car>, i64), sqlx::Error> {
    let cars = sqlx::query_as(&format!(
        "SELECT {CAR_COLUMNS} FROM cars c JOIN airports a ON a.iata = c.location_code \
         WHERE c.deleted_at IS NULL ORDER BY c.created_at, c.id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM cars WHERE deleted_at IS NULL")
        .fetch_one(db)
        .await?;
    Ok((cars, total))
}

/// What a car search asks for; every part is optional.
#[derive(Clone, Debug, Default)]
pub struct CarFilter {
    /// A place (part of the car's `location`, any case), a city or an airport code.
    pub location: Option<String>,
    pub car_type: Option<CarType>,
    /// Bounds on the daily price in major units, as exact decimal text.
    pub min_price: Option<String>,
    pub max_price: Option<String>,
    pub currency: Option<String>,
    pub brand: Option<String>,
    /// `[start, end)`: only cars with no held or confirmed rental on any of those days.
    pub dates: Option<(NaiveDate, NaiveDate)>,
}

/// `LIKE` pattern matching `text` anywhere, with its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Conditions of a search, on `cars c JOIN airports a`, with parameters `$1` to `$9`.
const SEARCH_WHERE: &str = "c.deleted_at IS NULL AND c.available \
     AND ($1::text IS NULL OR c.location_code = upper($1) OR lower(a.city) = lower($1) \
          OR c.location ILIKE $2) \
     AND ($3::text IS NULL OR c.type = $3) \
     AND ($4::numeric IS NULL OR c.daily_rental_price >= $4::numeric) \
     AND ($5::numeric IS NULL OR c.daily_rental_price <= $5::numeric) \
     AND ($6::text IS NULL OR c.currency = $6) \
     AND ($7::text IS NULL OR lower(c.brand) = lower($7)) \
     AND ($8::date IS NULL OR NOT EXISTS ( \
          SELECT 1 FROM car_rentals r WHERE r.car_id = c.id \
             AND r.status IN ('PENDING_PAYMENT', 'CONFIRMED') \
             AND r.start_date < $9 AND r.end_date > $8))";

/// Cars that match, cheapest first, and how many match in all.
pub async fn search(
    db: impl PgExecutor<'_> + Copy,
    filter: &CarFilter,
    page: PageRequest,
) -> Result<(Vec<Car>, i64), sqlx::Error> {
    let location = filter.location.as_deref();
    let pattern = location.map(contains_pattern);
    let (start, end) = filter.dates.unzip();
    macro_rules! bind_filter {
        ($query:expr) => {
            $query
                .bind(location)
                .bind(pattern.as_deref())
                .bind(filter.car_type.map(CarType::as_str))
                .bind(filter.min_price.as_deref())
                .bind(filter.max_price.as_deref())
                .bind(filter.currency.as_deref())
                .bind(filter.brand.as_deref())
                .bind(start)
                .bind(end)
        };
    }
    let cars = bind_filter!(sqlx::query_as(&format!(
        "SELECT {CAR_COLUMNS} FROM cars c JOIN airports a ON a.iata = c.location_code \
         WHERE {SEARCH_WHERE} ORDER BY c.daily_rental_price, c.id LIMIT $10 OFFSET $11"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let total = bind_filter!(sqlx::query_scalar(&format!(
        "SELECT count(*) FROM cars c JOIN airports a ON a.iata = c.location_code WHERE {SEARCH_WHERE}"
    )))
    .fetch_one(db)
    .await?;
    Ok((cars, total))
}

/// A car rental as a booking event reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rental {
    pub booking_id: i64,
    pub car_id: Uuid,
    pub user_id: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub status: BookingStatus,
}

/// How far along its life a booking is; a status never moves back.
pub fn progress(status: BookingStatus) -> i32 {
    match status {
        BookingStatus::PendingPayment => 0,
        BookingStatus::Confirmed => 1,
        BookingStatus::Cancelled | BookingStatus::Expired => 2,
    }
}

/// Records rentals (at most one per booking), keeping a stored status that is further along
/// than the reported one. Returns whether the cars search counts as taken changed: a rental
/// recorded for the first time, or one that gave its car back. A rental confirmed after it was
/// held keeps the same days, so search answers stay valid.
pub async fn apply_rentals(db: &mut PgConnection, rentals: &[Rental]) -> Result<bool, sqlx::Error> {
    if rentals.is_empty() {
        return Ok(false);
    }
    // `xmax = 0` only on a row this statement inserted; an updated row carries the lock.
    let applied: Vec<(bool, String)> = sqlx::query_as(
        "INSERT INTO car_rentals AS r (booking_id, car_id, user_id, start_date, end_date, status) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::bigint[], $4::date[], $5::date[], $6::text[]) \
         ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status \
         WHERE (CASE r.status WHEN 'PENDING_PAYMENT' THEN 0 WHEN 'CONFIRMED' THEN 1 ELSE 2 END) \
             < (CASE EXCLUDED.status WHEN 'PENDING_PAYMENT' THEN 0 WHEN 'CONFIRMED' THEN 1 ELSE 2 END) \
         RETURNING r.xmax = 0, r.status",
    )
    .bind(rentals.iter().map(|r| r.booking_id).collect::<Vec<_>>())
    .bind(rentals.iter().map(|r| r.car_id).collect::<Vec<_>>())
    .bind(rentals.iter().map(|r| r.user_id).collect::<Vec<_>>())
    .bind(rentals.iter().map(|r| r.start_date).collect::<Vec<_>>())
    .bind(rentals.iter().map(|r| r.end_date).collect::<Vec<_>>())
    .bind(rentals.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .fetch_all(db)
    .await?;
    Ok(applied
        .iter()
        .any(|(inserted, status)| *inserted == super::holds(status)))
}
