//! `GET /api/live/updates`: the same updates as the Socket.IO rooms, as Server-Sent Events, for
//! clients that do not speak Socket.IO (`curl -N`, `EventSource`).
//!
//! `?flights=FL001,FL002` picks the flights; without it the stream follows the caller's stored
//! subscriptions. The first event, `ready`, names the flights followed; each update is an
//! `update` event whose `id` is the update's id.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use platform::Problem;
use platform::auth::Caller;
use platform::http::Query;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Live, Update, flight_code};

/// Most flights one stream follows.
const MAX_FLIGHTS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    flights: Option<String>,
}

/// Marks the caller connected while the stream is open.
struct Presence {
    live: Arc<Live>,
    user_id: i64,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.live.disconnected(self.user_id);
    }
}

pub async fn stream(
    State(live): State<Arc<Live>>,
    caller: Caller,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, Problem> {
    let codes: Vec<String> = match &query.flights {
        Some(list) => list
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(flight_code)
            .collect::<Result<_, _>>()
            .map_err(Problem::bad_request)?,
        None => crate::store::subscriptions::of_user(&live.db, caller.user_id).await?,
    };
    if codes.len() > MAX_FLIGHTS {
        return Err(Problem::bad_request(format!(
            "A stream follows at most {MAX_FLIGHTS} flights"
        )));
    }
    let ready = Event::default()
        .event("ready")
        .json_data(serde_json::json!({ "flights": codes }))
        .unwrap_or_default();
    let receiver = live.streams.subscribe();
    live.connected(caller.user_id);
    let presence = Presence {
        live: live.clone(),
        user_id: caller.user_id,
    };
    let wanted: HashSet<String> = codes.into_iter().collect();
    let updates = futures_util::stream::unfold(
        (receiver, wanted, presence),
        |(mut receiver, wanted, presence)| async move {
            loop {
                match receiver.recv().await {
                    Ok(update) if wanted.contains(&update.flight_code) => {
                        let event = event(&update);
                        return Some((Ok(event), (receiver, wanted, presence)));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            user_id = presence.user_id,
                            "a slow stream missed updates"
                        );
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let closing = live.closing.clone().cancelled_owned();
    let stream = futures_util::StreamExt::take_until(
        futures_util::StreamExt::chain(
            futures_util::stream::once(async move { Ok(ready) }),
            updates,
        ),
        closing,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event(update: &Update) -> Event {
    Event::default()
        .event("update")
        .id(update.id.clone())
        .json_data(update)
        .unwrap_or_default()
}
