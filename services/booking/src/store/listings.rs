//! Booking's copy of catalog's hotels and cars: what it sells and at what price.

use contracts::events::ListingSnapshot;
use contracts::listings::{CarListing, HotelListing};
use contracts::states::Product;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Applies a listing snapshot unless a newer one was applied; returns whether it was. A hotel's
/// room types get their room counts; one that left the listing keeps its row with no rooms, so
/// its stays stay booked and nothing new is sold on it. Rooms already taken are never touched.
pub async fn apply(
    db: &mut PgConnection,
    listing: &ListingSnapshot,
    deleted: bool,
) -> Result<bool, sqlx::Error> {
    let document = match (listing.product, &listing.hotel, &listing.car) {
        (Product::Hotel, Some(hotel), _) => serde_json::to_value(hotel),
        (Product::Car, _, Some(car)) => serde_json::to_value(car),
        _ => return Ok(false),
    }
    .map_err(|e| sqlx::Error::Decode(e.into()))?;
    let applied = sqlx::query(
        "INSERT INTO listings (listing_id, product, listing, deleted, version) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (listing_id) DO UPDATE SET listing = EXCLUDED.listing, \
             deleted = EXCLUDED.deleted, version = EXCLUDED.version \
         WHERE listings.version < EXCLUDED.version AND listings.product = EXCLUDED.product",
    )
    .bind(listing.listing_id)
    .bind(listing.product.as_str())
    .bind(&document)
    .bind(deleted)
    .bind(listing.version)
    .execute(&mut *db)
    .await?
    .rows_affected()
        > 0;
    if !applied {
        return Ok(false);
    }
    if let Some(hotel) = &listing.hotel {
        let (ids, rooms): (Vec<Uuid>, Vec<i32>) = hotel
            .room_types
            .iter()
            .map(|r| (r.room_type_id, if deleted { 0 } else { r.rooms.max(0) }))
            .unzip();
        sqlx::query(
            "INSERT INTO room_types (room_type_id, hotel_id, rooms) \
             SELECT id, $1, rooms FROM unnest($2::uuid[], $3::int[]) AS x(id, rooms) \
             ON CONFLICT (room_type_id) DO UPDATE SET rooms = EXCLUDED.rooms \
             WHERE room_types.hotel_id = EXCLUDED.hotel_id",
        )
        .bind(hotel.hotel_id)
        .bind(&ids)
        .bind(&rooms)
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "UPDATE room_types SET rooms = 0 WHERE hotel_id = $1 AND room_type_id <> ALL($2)",
        )
        .bind(hotel.hotel_id)
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    }
    Ok(true)
}

/// A hotel that can be booked (not deleted).
pub async fn hotel(
    db: impl PgExecutor<'_>,
    hotel_id: Uuid,
) -> Result<Option<HotelListing>, sqlx::Error> {
    let found: Option<Json<HotelListing>> = sqlx::query_scalar(
        "SELECT listing FROM listings WHERE listing_id = $1 AND product = 'hotel' AND NOT deleted",
    )
    .bind(hotel_id)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|Json(hotel)| hotel))
}

/// A car that can be booked (not deleted; it may be marked unavailable).
pub async fn car(db: impl PgExecutor<'_>, car_id: Uuid) -> Result<Option<CarListing>, sqlx::Error> {
    let found: Option<Json<CarListing>> = sqlx::query_scalar(
        "SELECT listing FROM listings WHERE listing_id = $1 AND product = 'car' AND NOT deleted",
    )
    .bind(car_id)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|Json(car)| car))
}
