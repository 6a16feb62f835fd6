//! Room-nights: a stay takes one room of its type on each of its nights, or nothing.

use chrono::NaiveDate;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A stay as booked.
pub struct NewStay<'a> {
    pub booking_id: i64,
    pub hotel_id: Uuid,
    pub room_type_id: Uuid,
    pub rate_plan_id: Uuid,
    pub hotel_name: &'a str,
    pub city: &'a str,
    pub room_type_name: &'a str,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
    pub guests: i32,
}

/// Locks the nights' rows of a room type in date order, creating the ones no stay has touched
/// yet. Every path that changes room-nights takes them this way, so two overlapping stays never
/// wait for each other crosswise.
async fn lock_nights(
    db: &mut PgConnection,
    room_type_id: Uuid,
    nights: &[NaiveDate],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO room_nights (room_type_id, night) SELECT $1, n FROM unnest($2::date[]) AS n \
         ON CONFLICT DO NOTHING",
    )
    .bind(room_type_id)
    .bind(nights)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "SELECT 1 FROM room_nights WHERE room_type_id = $1 AND night = ANY($2) \
         ORDER BY night FOR UPDATE",
    )
    .bind(room_type_id)
    .bind(nights)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Takes `rooms` rooms of the type on every night, if every night has them free; returns whether
/// it did. When it did not, some nights may have been taken: the caller rolls back.
pub async fn take(
    db: &mut PgConnection,
    room_type_id: Uuid,
    nights: &[NaiveDate],
    rooms: i32,
) -> Result<bool, sqlx::Error> {
    // The room count cannot change under a booking (a listing update waits for it).
    let Some(total): Option<i32> =
        sqlx::query_scalar("SELECT rooms FROM room_types WHERE room_type_id = $1 FOR SHARE")
            .bind(room_type_id)
            .fetch_optional(&mut *db)
            .await?
    else {
        return Ok(false);
    };
    if rooms > total {
        return Ok(false);
    }
    lock_nights(db, room_type_id, nights).await?;
    let taken = sqlx::query(
        "UPDATE room_nights SET taken = taken + $3 \
         WHERE room_type_id = $1 AND night = ANY($2) AND taken + $3 <= $4",
    )
    .bind(room_type_id)
    .bind(nights)
    .bind(rooms)
    .bind(total)
    .execute(&mut *db)
    .await?
    .rows_affected();
    Ok(taken == nights.len() as u64)
}

pub async fn insert(db: impl PgExecutor<'_>, stay: &NewStay<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stays (booking_id, hotel_id, room_type_id, rate_plan_id, hotel_name, city, \
                            room_type_name, check_in, check_out, rooms, guests) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(stay.booking_id)
    .bind(stay.hotel_id)
    .bind(stay.room_type_id)
    .bind(stay.rate_plan_id)
    .bind(stay.hotel_name)
    .bind(stay.city)
    .bind(stay.room_type_name)
    .bind(stay.check_in)
    .bind(stay.check_out)
    .bind(stay.rooms)
    .bind(stay.guests)
    .execute(db)
    .await
    .map(|_| ())
}

/// Gives a stay's room-nights back, once: a stay that no longer holds them changes nothing.
pub async fn release(db: &mut PgConnection, booking_id: i64) -> Result<(), sqlx::Error> {
    let held: Option<(Uuid, NaiveDate, NaiveDate, i32)> = sqlx::query_as(
        "UPDATE stays SET holding = false WHERE booking_id = $1 AND holding \
         RETURNING room_type_id, check_in, check_out, rooms",
    )
    .bind(booking_id)
    .fetch_optional(&mut *db)
    .await?;
    let Some((room_type_id, check_in, check_out, rooms)) = held else {
        return Ok(());
    };
    let nights: Vec<NaiveDate> = check_in
        .iter_days()
        .take_while(|d| *d < check_out)
        .collect();
    lock_nights(db, room_type_id, &nights).await?;
    sqlx::query(
        "UPDATE room_nights SET taken = GREATEST(taken - $3, 0) \
         WHERE room_type_id = $1 AND night = ANY($2)",
    )
    .bind(room_type_id)
    .bind(&nights)
    .bind(rooms)
    .execute(&mut *db)
    .await
    .map(|_| ())
}
