//! Live flight updates: Socket.IO rooms (seed 002's WebSocket API) and a Server-Sent Events
//! stream, fed by catalog's `flight.status-changed` and by ops' `broadcast_update`.
//!
//! Every update is published once to the fan-out (a Redis channel when `REDIS_URL` is set), and
//! every instance, the publisher included, hands it to the sockets and streams connected to it.
//! An update carries an id, and an instance drops an id it has already delivered, so an event that
//! is handled twice (a redelivery) still reaches each client once.

mod budget;
mod fanout;
pub mod socket;
pub mod sse;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use contracts::events::FlightSnapshot;
use platform::auth::JwtVerifier;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use fanout::Fanout;

use crate::config::LiveLimits;

/// The Socket.IO room of a flight's updates.
pub fn room(flight_code: &str) -> String {
    format!("flight_updates_{flight_code}")
}

/// A flight code as subscriptions and rooms use it: trimmed and upper case; 2 to 32 letters,
/// digits and dashes, starting with a letter or digit (seed 002's `FL001`, catalog's
/// `IT123-20261201`).
pub fn flight_code(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase();
    let valid = (2..=32).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && code.as_bytes()[0].is_ascii_alphanumeric();
    if valid {
        Ok(code)
    } else {
        Err(format!(
            "{raw:?} is not a flight code (letters, digits and dashes, such as FL001 or \
             IT123-20261201)"
        ))
    }
}

/// What a client receives: seed 002's `{"update": "..."}`, with the flight it concerns and, for a
/// change published by catalog, the flight's new state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Unique per update: the event id for a catalog change.
    pub id: String,
    pub flight_code: String,
    pub update: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<FlightState>,
    /// `catalog` for a change of the flight's record, `ops` for a message broadcast by ops.
    pub source: String,
    #[serde(rename = "sentAt")]
    pub sent_at: DateTime<Utc>,
}

/// A flight's state after a change, times in UTC with the airports' zones beside them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightState {
    pub flight_id: i64,
    pub status: String,
    pub gate: Option<String>,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub origin: String,
    pub destination: String,
    pub origin_time_zone: String,
    pub destination_time_zone: String,
    pub version: i64,
}

impl Update {
    /// The update for a catalog change of `flight`, from event `event_id`.
    pub fn of_flight(event_id: &str, flight: &FlightSnapshot, at: DateTime<Utc>) -> Self {
        Self {
            id: event_id.to_owned(),
            flight_code: flight.flight_code.clone(),
            update: crate::domain::templates::flight_status_line(flight),
            flight: Some(FlightState {
                flight_id: flight.flight_id,
                status: flight.status.to_string(),
                gate: flight.gate.clone(),
                departure_at: flight.departure_at,
                arrival_at: flight.arrival_at,
                origin: flight.origin.clone(),
                destination: flight.destination.clone(),
                origin_time_zone: flight.origin_time_zone.clone(),
                destination_time_zone: flight.destination_time_zone.clone(),
                version: flight.version,
            }),
            source: "catalog".into(),
            sent_at: at,
        }
    }

    /// A message ops broadcast to a flight's room.
    pub fn broadcast(flight_code: String, update: String) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            flight_code,
            update,
            flight: None,
            source: "ops".into(),
            sent_at: Utc::now(),
        }
    }
}

/// Copies a Socket.IO request's URI and headers into allocations of their own.
///
/// The server parses a request's head without copying: its URI (also kept by the router as the
/// original URI) and header values are slices of the connection's read buffer (8 KiB or more). Socket.IO keeps every socket's request head for the
/// socket's life, which would keep that whole buffer alive per connection; with thousands of
/// connections that buffer is most of their memory.
pub async fn detach_head(request: axum::extract::Request) -> axum::extract::Request {
    if !request.uri().path().starts_with("/socket.io") {
        return request;
    }
    let (mut parts, body) = request.into_parts();
    let copy = |uri: &axum::http::Uri| uri.to_string().parse::<axum::http::Uri>().ok();
    if let Some(uri) = copy(&parts.uri) {
        parts.uri = uri;
    }
    // The router keeps the URI it was asked for, too.
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>()
        && let Some(uri) = copy(&original.0)
    {
        parts.extensions.insert(axum::extract::OriginalUri(uri));
    }
    let mut headers = axum::http::HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        if let Ok(copy) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            headers.append(name.clone(), copy);
        }
    }
    parts.headers = headers;
    axum::extract::Request::from_parts(parts, body)
}

/// What `/metrics` says of the live side, beside the HTTP metrics.
#[derive(Clone, Debug, Default)]
pub struct LiveMetrics {
    connections: prometheus_client::metrics::gauge::Gauge,
    published: prometheus_client::metrics::counter::Counter,
    delivered: prometheus_client::metrics::counter::Counter,
    fanout_failures: prometheus_client::metrics::counter::Counter,
}

impl LiveMetrics {
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "live_connections",
            "Socket.IO connections and SSE streams open on this instance",
            self.connections.clone(),
        );
        registry.register(
            "live_updates_published",
            "Updates this instance published (flight changes it handled, broadcasts from its sockets)",
            self.published.clone(),
        );
        registry.register(
            "live_updates_delivered",
            "Updates handed to this instance's rooms and streams (each once)",
            self.delivered.clone(),
        );
        registry.register(
            "live_fanout_failures",
            "Updates that could not be published through Redis and reached this instance's clients only",
            self.fanout_failures.clone(),
        );
    }
}

/// The ids of the last updates delivered here, to drop repeats.
struct Recent {
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl Recent {
    const CAPACITY: usize = 4096;

    fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == Self::CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

/// What one user holds open on this instance.
#[derive(Debug, Default)]
struct Holdings {
    /// Sockets and SSE streams.
    connections: u32,
    /// Rooms joined with `connect-room`, over all the user's sockets (stored subscriptions'
    /// rooms are bounded by the cap on subscriptions instead).
    rooms: u32,
}

/// How long until `expires`; zero once it has passed.
fn until(expires: DateTime<Utc>) -> std::time::Duration {
    (expires - Utc::now()).to_std().unwrap_or_default()
}

/// What a client is told when its connection ends because its token expired.
pub const TOKEN_EXPIRED: &str = "The access token has expired; connect again with a new one";

/// The live side of one notification instance.
pub struct Live {
    io: SocketIo,
    db: PgPool,
    verifier: Arc<JwtVerifier>,
    streams: broadcast::Sender<Arc<Update>>,
    /// Users with a socket or stream open here, with what they hold.
    connected: Mutex<HashMap<i64, Holdings>>,
    limits: LiveLimits,
    recent: Mutex<Recent>,
    fanout: Option<Fanout>,
    /// Cancelled when the instance stops, which ends the streams.
    closing: CancellationToken,
    metrics: LiveMetrics,
}

impl Live {
    /// The live side, with its Socket.IO layer for the HTTP router.
    pub fn new(
        db: PgPool,
        verifier: Arc<JwtVerifier>,
        fanout: Option<Fanout>,
        metrics: LiveMetrics,
        limits: LiveLimits,
    ) -> (Arc<Self>, socketioxide::layer::SocketIoLayer) {
        // Clients send short JSON events: a 256-byte read buffer per WebSocket (instead of 4 KiB)
        // is what keeps thousands of idle connections small; longer frames still arrive whole.
        let (layer, io) = SocketIo::builder()
            .max_payload(16 * 1024)
            .max_buffer_size(256)
            .ws_read_buffer_size(256)
            .build_layer();
        let live = Arc::new(Self {
            io: io.clone(),
            db,
            verifier,
            streams: broadcast::channel(1024).0,
            connected: Mutex::default(),
            limits,
            recent: Mutex::new(Recent {
                order: VecDeque::new(),
                seen: HashSet::new(),
            }),
            fanout,
            closing: CancellationToken::new(),
            metrics,
        });
        socket::register(&io, live.clone());
        (live, layer)
    }

    /// Sends `update` to every instance (this one included).
    pub async fn publish(&self, update: &Update) {
        self.metrics.published.inc();
        if let Some(fanout) = &self.fanout {
            match fanout.publish(update).await {
                Ok(()) => return,
                Err(e) => {
                    self.metrics.fanout_failures.inc();
                    tracing::warn!(error = %e, flight_code = update.flight_code,
                        "fan-out unavailable; the update reaches this instance's clients only");
                }
            }
        }
        self.deliver(update.clone()).await;
    }

    /// Hands `update` to the sockets in its flight's room and to the streams here, once.
    async fn deliver(&self, update: Update) {
        if !self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_time(&update.id)
        {
            return;
        }
        self.metrics.delivered.inc();
        if let Err(e) = self
            .io
            .to(room(&update.flight_code))
            .emit("update", &update)
            .await
        {
            tracing::warn!(error = %e, flight_code = update.flight_code, "update not sent to every socket");
        }
        // No stream listening is fine.
        let _ = self.streams.send(Arc::new(update));
    }

    /// Runs the fan-out's listener and presence reports until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        match self.fanout.clone() {
            Some(fanout) => fanout.run(self.clone(), shutdown).await,
            None => shutdown.cancelled().await,
        }
        self.closing.cancel();
        // Closing tells every socket goodbye; a socket whose peer no longer reads must not keep
        // the instance from stopping.
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.io.close())
            .await
            .is_err()
        {
            tracing::warn!("live sockets did not close within 5 s; leaving them");
        }
    }

    fn lock_connected(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Holdings>> {
        self.connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a socket or stream of `user_id` opening here, unless the user already holds
    /// `LIVE_MAX_CONNECTIONS_PER_USER`; the refusal says so.
    fn connected(&self, user_id: i64) -> Result<(), String> {
        let max = self.limits.max_connections_per_user;
        let first = {
            let mut connected = self.lock_connected();
            let holdings = connected.entry(user_id).or_default();
            if holdings.connections >= max {
                return Err(format!(
                    "You have {max} live connections open here, the most one user may \
                     (LIVE_MAX_CONNECTIONS_PER_USER); close one first"
                ));
            }
            holdings.connections += 1;
            holdings.connections == 1
        };
        self.metrics.connections.inc();
        if first && let Some(fanout) = &self.fanout {
            fanout.mark(user_id, true);
        }
        Ok(())
    }

    fn disconnected(&self, user_id: i64) {
        self.metrics.connections.dec();
        let mut connected = self.lock_connected();
        let mut last = false;
        if let Some(holdings) = connected.get_mut(&user_id) {
            holdings.connections = holdings.connections.saturating_sub(1);
            if holdings.connections == 0 {
                connected.remove(&user_id);
                last = true;
            }
        }
        drop(connected);
        if last && let Some(fanout) = &self.fanout {
            fanout.mark(user_id, false);
        }
    }

    /// Counts one more room joined with `connect-room` by a socket of `user_id` (connected
    /// here), unless the user's sockets already hold `LIVE_MAX_ROOMS_PER_USER`.
    fn joined_room(&self, user_id: i64) -> Result<(), String> {
        let max = self.limits.max_rooms_per_user;
        let mut connected = self.lock_connected();
        // A socket that has just gone has nothing left to count against.
        let Some(holdings) = connected.get_mut(&user_id) else {
            return Ok(());
        };
        if holdings.rooms >= max {
            return Err(format!(
                "You have joined {max} rooms, the most one user may (LIVE_MAX_ROOMS_PER_USER); \
                 leave one with disconnect-room first"
            ));
        }
        holdings.rooms += 1;
        Ok(())
    }

    fn left_rooms(&self, user_id: i64, rooms: u32) {
        if let Some(holdings) = self.lock_connected().get_mut(&user_id) {
            holdings.rooms = holdings.rooms.saturating_sub(rooms);
        }
    }

    fn connected_here(&self) -> Vec<i64> {
        self.lock_connected().keys().copied().collect()
    }

    /// The users among `user_ids` with no socket or stream open on any instance. When the other
    /// instances cannot be asked, everyone not connected here counts as offline: a notification
    /// too many beats one missed.
    pub async fn offline(&self, user_ids: &[i64]) -> HashSet<i64> {
        let here: HashSet<i64> = {
            let connected = self.lock_connected();
            user_ids
                .iter()
                .copied()
                .filter(|id| connected.contains_key(id))
                .collect()
        };
        let mut offline: HashSet<i64> = user_ids
            .iter()
            .copied()
            .filter(|id| !here.contains(id))
            .collect();
        if let Some(fanout) = &self.fanout
            && !offline.is_empty()
        {
            let candidates: Vec<i64> = offline.iter().copied().collect();
            match fanout.online(&candidates).await {
                Ok(elsewhere) => offline.retain(|id| !elsewhere.contains(id)),
                Err(e) => tracing::warn!(error = %e, "presence of other instances unknown"),
            }
        }
        offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_codes_are_normalised_and_checked() {
        assert_eq!(flight_code(" fl001 ").as_deref(), Ok("FL001"));
        assert!(flight_code("F").is_err());
        assert_eq!(
            flight_code("it123-20261201").as_deref(),
            Ok("IT123-20261201")
        );
        assert!(flight_code("-FL001").is_err());
        assert!(flight_code("FL 001").is_err());
        assert!(flight_code(&"F".repeat(33)).is_err());
        assert_eq!(room("FL001"), "flight_updates_FL001");
    }

    #[test]
    fn an_update_id_is_delivered_once() {
        let mut recent = Recent {
            order: VecDeque::new(),
            seen: HashSet::new(),
        };
        assert!(recent.first_time("a"));
        assert!(!recent.first_time("a"));
        for i in 0..Recent::CAPACITY {
            assert!(recent.first_time(&i.to_string()));
        }
        // The oldest id is forgotten once the window is full.
        assert!(recent.first_time("a"));
        assert_eq!(recent.order.len(), Recent::CAPACITY);
    }

    #[test]
    fn updates_keep_seed_002s_members() {
        let update = Update::broadcast("FL001".into(), "Flight is now boarding".into());
        let json = serde_json::to_value(&update).unwrap();
        assert_eq!(json["update"], "Flight is now boarding");
        assert_eq!(json["flight_code"], "FL001");
        assert_eq!(json["source"], "ops");
        assert!(json.get("flight").is_none());
    }
}
