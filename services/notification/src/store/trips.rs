//! Trips whose cancellation has been announced, so that the items cancelled with them are not
//! announced again one by one.

use sqlx::PgConnection;

/// Records trips `cancelled` (announced in this transaction), and returns which of `trips` have
/// been cancelled: these, or ones announced before.
pub async fn cancelled_of(
    tx: &mut PgConnection,
    cancelled: &[i64],
    trips: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    if !cancelled.is_empty() {
        sqlx::query(
            "INSERT INTO cancelled_trips (trip_id) SELECT unnest($1::bigint[]) \
             ON CONFLICT (trip_id) DO NOTHING",
        )
        .bind(cancelled)
        .execute(&mut *tx)
        .await?;
    }
    if trips.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT trip_id FROM cancelled_trips WHERE trip_id = ANY($1)")
        .bind(trips)
        .fetch_all(&mut *tx)
        .await
}
