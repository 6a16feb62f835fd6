//! Room-nights: a stay takes one room of its type on each of its nights, or nothing.

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

/// A stay as booked (its booking is inserted with it: [`super::products::insert_stay`]).
pub struct NewStay<'a> {
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
/// yet. Every path that changes room-nights locks them in date order ([`take`] too), so two
/// overlapping stays never wait for each other crosswise.
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
///
/// One statement: it creates the nights no stay has touched yet and raises the others, each
/// under its row's lock taken in date order (as [`lock_nights`] does), and only where the type's
/// rooms allow. The room type is share-locked, so its room count cannot change under a booking
/// (a listing update waits for it).
pub async fn take(
    db: &mut PgConnection,
    room_type_id: Uuid,
    nights: &[NaiveDate],
    rooms: i32,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "WITH t AS (SELECT rooms FROM room_types WHERE room_type_id = $1 FOR SHARE) \
         INSERT INTO room_nights AS r (room_type_id, night, taken) \
         SELECT $1, n, $3 FROM t, unnest($2::date[]) AS n WHERE $3 <= t.rooms ORDER BY n \
         ON CONFLICT (room_type_id, night) DO UPDATE SET taken = r.taken + EXCLUDED.taken \
         WHERE r.taken + EXCLUDED.taken <= (SELECT rooms FROM t)",
    )
    .bind(room_type_id)
    .bind(nights)
    .bind(rooms)
    .execute(&mut *db)
    .await?
    .rows_affected();
    Ok(taken == nights.len() as u64)
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
