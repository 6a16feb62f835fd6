//! Writing events in the transaction that changes state.

use sqlx::PgConnection;

use super::Envelope;

/// The channel on which the relay is woken when new rows are committed.
pub const NOTIFY_CHANNEL: &str = "itinera_outbox";

/// Adds an event to the outbox as part of the caller's transaction; it is published only if the
/// transaction commits. The relay is notified at commit.
pub async fn enqueue(
    tx: &mut PgConnection,
    topic: &str,
    key: &str,
    envelope: &Envelope,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // The row and the relay's wake-up in one statement (one round trip).
    sqlx::query(
        "WITH o AS (INSERT INTO outbox (event_id, topic, event_key, envelope) VALUES ($1, $2, $3, $4)) \
         SELECT pg_notify($5, '')",
    )
    .bind(envelope.id)
    .bind(topic)
    .bind(key)
    .bind(json)
    .bind(NOTIFY_CHANNEL)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds many events in one statement (bulk loads such as a seeded schedule), with one NOTIFY.
pub async fn enqueue_many(
    tx: &mut PgConnection,
    topic: &str,
    events: &[(String, Envelope)],
) -> Result<(), sqlx::Error> {
    for chunk in events.chunks(2_000) {
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|(_, e)| e.id).collect();
        let keys: Vec<&str> = chunk.iter().map(|(key, _)| key.as_str()).collect();
        let envelopes = chunk
            .iter()
            .map(|(_, e)| serde_json::to_value(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // The rows and the relay's wake-up in one statement (one round trip).
        sqlx::query(
            "WITH o AS (INSERT INTO outbox (event_id, topic, event_key, envelope) \
                        SELECT id, $2, key, envelope FROM UNNEST($1::uuid[], $3::text[], $4::jsonb[]) \
                        AS t(id, key, envelope)) \
             SELECT pg_notify($5, '')",
        )
        .bind(&ids)
        .bind(topic)
        .bind(&keys)
        .bind(&envelopes)
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
