//! Seed 002's WebSocket API on Socket.IO: `subscribe`, `connect-room`, `unsubscribe`,
//! `disconnect-room` and `broadcast_update`, on the default namespace.
//!
//! The access token is checked when a client connects, from the Socket.IO `auth` payload
//! (`{"token": "<jwt>"}`, what browsers can send) or the handshake's `Authorization: Bearer`
//! header; a client without a valid token is refused with a `connect_error`. A connected socket
//! joins the rooms of its user's stored subscriptions at once.
//!
//! Each event is answered with seed 002's body: as the acknowledgement when the client asks for
//! one, otherwise as a `message` event. Mistakes are answered the same way, with `error` set.
//!
//! What one socket and one user may cost is bounded ([`crate::config::LiveLimits`]): events per
//! socket by a token bucket (past it 429, and a socket that keeps on is disconnected), stored
//! subscriptions and `connect-room` rooms per user, sockets and streams per user. A socket lasts
//! as long as the token it connected with: when the token expires, the socket is told so in a
//! `message` event (status 401) and disconnected.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use platform::auth::{AuthError, Caller, Role};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Extension, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use tokio_util::sync::CancellationToken;

use super::budget::{EventBudget, Verdict};
use super::{Live, TOKEN_EXPIRED, Update, flight_code, room};
use crate::store::subscriptions::{self, Added};

/// What the service keeps of one socket besides its caller.
struct SocketState {
    user_id: i64,
    budget: Mutex<EventBudget>,
    /// The rooms this socket joined with `connect-room`, which count against its user's cap.
    rooms: Mutex<HashSet<String>>,
    /// Cancelled when the socket disconnects, which ends its wait for the token's expiry.
    gone: CancellationToken,
}

impl SocketState {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves the default namespace. The handlers reach the service through each socket's
/// extensions, set once its token is verified.
pub fn register(io: &SocketIo, live: Arc<Live>) {
    io.ns(
        "/",
        on_connect.with(move |socket: SocketRef, auth: TryData<Value>| {
            let live = live.clone();
            async move { authenticate(&live, &socket, auth).await }
        }),
    );
}

/// The token from the `auth` payload (`token`, or `Authorization: Bearer …`), else from the
/// handshake's `Authorization` header.
fn token(socket: &SocketRef, auth: Option<&Value>) -> Result<String, AuthError> {
    if let Some(auth) = auth {
        if let Some(token) = auth.get("token").and_then(Value::as_str) {
            return Ok(token.trim_start_matches("Bearer ").to_owned());
        }
        if let Some(header) = auth
            .get("Authorization")
            .or_else(|| auth.get("authorization"))
            .and_then(Value::as_str)
        {
            return header
                .strip_prefix("Bearer ")
                .map(str::to_owned)
                .ok_or(AuthError::MalformedHeader);
        }
    }
    platform::auth::bearer_token(socket.req_parts()).map(str::to_owned)
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs before the client is told it is connected: verifies the token, then registers the event
/// handlers and joins the stored subscriptions' rooms, so that neither an event the client sends
/// at once nor an update published at once is missed.
async fn authenticate(
    live: &Arc<Live>,
    socket: &SocketRef,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let token = token(socket, auth.as_ref().ok()).map_err(|e| Refused(e.to_string()))?;
    let caller = live
        .verifier
        .verify(&token)
        .await
        .map_err(|e| Refused(e.to_string()))?;
    let expires = caller.expires_at;
    let followed = subscriptions::of_user(&live.db, caller.user_id)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, user_id = caller.user_id, "stored subscriptions not joined");
            Vec::new()
        });
    // Counted after the last wait, so that a client gone meanwhile is not counted with no
    // disconnect to uncount it.
    live.connected(caller.user_id).map_err(Refused)?;
    socket.join(followed.iter().map(|c| room(c)).collect::<Vec<_>>());
    let state = Arc::new(SocketState {
        user_id: caller.user_id,
        budget: Mutex::new(EventBudget::new(&live.limits, Instant::now())),
        rooms: Mutex::default(),
        gone: CancellationToken::new(),
    });
    socket.on("subscribe", on_subscribe);
    socket.on("connect-room", on_connect_room);
    socket.on("unsubscribe", on_unsubscribe);
    socket.on("disconnect-room", on_disconnect_room);
    socket.on("broadcast_update", on_broadcast);
    // Events nobody handles still cost the sender its budget.
    socket.on_fallback(async |_: Admitted| {});
    socket.on_disconnect(
        async |Extension(live): Extension<Arc<Live>>,
               Extension(state): Extension<Arc<SocketState>>| {
            state.gone.cancel();
            let rooms = u32::try_from(state.rooms().len()).unwrap_or(u32::MAX);
            live.left_rooms(state.user_id, rooms);
            live.disconnected(state.user_id);
        },
    );
    tokio::spawn(close_at_expiry(socket.clone(), expires, state.gone.clone()));
    socket.extensions.insert(caller);
    socket.extensions.insert(live.clone());
    socket.extensions.insert(state);
    Ok(())
}

/// Disconnects `socket` when its token expires, saying why, unless it is `gone` first.
async fn close_at_expiry(
    socket: SocketRef,
    expires: chrono::DateTime<chrono::Utc>,
    gone: CancellationToken,
) {
    tokio::select! {
        () = gone.cancelled() => {}
        () = tokio::time::sleep(super::until(expires)) => {
            if let Err(e) = socket.emit("message", &error(TOKEN_EXPIRED, 401)) {
                tracing::debug!(error = %e, sid = %socket.id, "expiry notice not sent");
            }
            tracing::debug!(sid = %socket.id, "live socket's token expired");
            // Already gone is fine.
            let _ = socket.disconnect();
        }
    }
}

async fn on_connect(socket: SocketRef, Extension(caller): Extension<Caller>) {
    tracing::debug!(user_id = caller.user_id, sid = %socket.id, "live socket connected");
}

/// Answers an event: as its acknowledgement when asked for, otherwise as a `message` event.
fn reply(socket: &SocketRef, ack: AckSender, wants_ack: bool, body: Value) {
    let sent = if wants_ack {
        ack.send(&body)
    } else {
        socket.emit("message", &body)
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, sid = %socket.id, "reply not sent");
    }
}

fn error(message: impl Into<String>, status: u16) -> Value {
    json!({ "message": message.into(), "error": true, "status": status })
}

/// The flight code of an event's data: `{"flight_code": "FL001"}` (seed 002), `flightCode`, or the
/// bare code.
fn requested_code(data: &Result<Value, impl std::fmt::Display>) -> Result<String, String> {
    let data = data
        .as_ref()
        .map_err(|e| format!("The event data is not JSON: {e}"))?;
    let raw = match data {
        Value::String(code) => Some(code.as_str()),
        Value::Object(fields) => fields
            .get("flight_code")
            .or_else(|| fields.get("flightCode"))
            .and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| "flight_code is required".to_owned())?;
    flight_code(raw)
}

/// Whether an event is within its socket's budget ([`EventBudget`]). An event past it is
/// answered here, with 429, and a socket past its debt is disconnected; either way the handler
/// then returns at once. (Refusing in the extractor instead would have the library log an error
/// for every refused event, which a flooding client controls.)
struct Admitted(bool);

impl<A: Adapter> FromMessageParts<A> for Admitted {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        socket: &Arc<socketioxide::socket::Socket<A>>,
        value: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        let (Some(state), Some(live)) = (
            socket.extensions.get::<Arc<SocketState>>(),
            socket.extensions.get::<Arc<Live>>(),
        ) else {
            return Ok(Self(false));
        };
        let verdict = state
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(Instant::now());
        let limits = &live.limits;
        let mut refusal = |message: String| {
            let body = error(message, 429);
            let sent = if ack_id.is_some() {
                let Ok(ack) = AckSender::from_message_parts(socket, value, ack_id);
                ack.send(&body)
            } else {
                socket.emit("message", &body)
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, sid = %socket.id, "refusal not sent");
            }
        };
        match verdict {
            Verdict::Admitted => return Ok(Self(true)),
            Verdict::Refused => refusal(format!(
                "Too many events: at most {} a second (LIVE_EVENTS_PER_SECOND) in bursts of {} \
                 (LIVE_EVENT_BURST); this one was not handled",
                limits.events_per_second, limits.event_burst
            )),
            Verdict::Disconnect => {
                refusal(format!(
                    "Too many events past the limit of {} a second (LIVE_EVENTS_PER_SECOND): \
                     disconnected",
                    limits.events_per_second
                ));
                tracing::info!(sid = %socket.id, user_id = state.user_id,
                    "live socket disconnected for flooding");
                // Already gone is fine.
                let _ = socket.clone().disconnect();
            }
        }
        Ok(Self(false))
    }
}

/// Whether the client asked for an acknowledgement (the extractor is always there).
struct WantsAck(bool);

impl<A: socketioxide::adapter::Adapter> socketioxide::handler::FromMessageParts<A> for WantsAck {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Self(ack_id.is_some()))
    }
}

async fn on_subscribe(
    Admitted(admitted): Admitted,
    socket: SocketRef,
    caller: Extension<Caller>,
    live: Extension<Arc<Live>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    if admitted {
        change_subscription(true, socket, caller, live, data, wants_ack, ack).await;
    }
}

async fn on_unsubscribe(
    Admitted(admitted): Admitted,
    socket: SocketRef,
    caller: Extension<Caller>,
    live: Extension<Arc<Live>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    if admitted {
        change_subscription(false, socket, caller, live, data, wants_ack, ack).await;
    }
}

/// `subscribe` and `unsubscribe`: the stored subscription, and this socket's room with it.
async fn change_subscription(
    subscribe: bool,
    socket: SocketRef,
    Extension(caller): Extension<Caller>,
    Extension(live): Extension<Arc<Live>>,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
    let body = match requested_code(&data) {
        Err(message) => error(message, 400),
        Ok(code) => {
            let stored = if subscribe {
                let max = live.limits.max_subscriptions;
                subscriptions::add_within(&live.db, caller.user_id, &code, max).await
            } else {
                subscriptions::remove(&live.db, caller.user_id, &code)
                    .await
                    .map(|_| Added::New)
            };
            match stored {
                Ok(Added::Full) => {
                    error(subscriptions::too_many(live.limits.max_subscriptions), 409)
                }
                Ok(_) if subscribe => {
                    socket.join(room(&code));
                    json!({ "message": format!("Subscribed to flight updates for {code}") })
                }
                Ok(_) => {
                    socket.leave(room(&code));
                    json!({ "message": format!("Unsubscribed from flight updates for {code}") })
                }
                Err(e) => {
                    tracing::warn!(error = %e, subscribe, "subscription not changed");
                    error("Subscriptions are unavailable; retry shortly", 503)
                }
            }
        }
    };
    reply(&socket, ack, wants_ack, body);
}

async fn on_connect_room(
    Admitted(admitted): Admitted,
    socket: SocketRef,
    live: Extension<Arc<Live>>,
    state: Extension<Arc<SocketState>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    if admitted {
        change_room(true, socket, live, state, data, wants_ack, ack);
    }
}

async fn on_disconnect_room(
    Admitted(admitted): Admitted,
    socket: SocketRef,
    live: Extension<Arc<Live>>,
    state: Extension<Arc<SocketState>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    if admitted {
        change_room(false, socket, live, state, data, wants_ack, ack);
    }
}

/// `connect-room` and `disconnect-room`: this socket's room only, nothing stored.
fn change_room(
    join: bool,
    socket: SocketRef,
    Extension(live): Extension<Arc<Live>>,
    Extension(state): Extension<Arc<SocketState>>,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
    let body = match requested_code(&data) {
        Err(message) => error(message, 400),
        Ok(code) => {
            let room = room(&code);
            let mut rooms = state.rooms();
            // Checked under the lock that the disconnect handler takes after marking the socket
            // gone, so a room joined as the socket goes is either released there or not counted.
            if state.gone.is_cancelled() {
                return;
            }
            if join {
                // A room this socket is in already is not counted twice.
                let counted = if rooms.contains(&room) {
                    Ok(())
                } else {
                    live.joined_room(state.user_id)
                };
                match counted {
                    Err(message) => error(message, 409),
                    Ok(()) => {
                        rooms.insert(room.clone());
                        socket.join(room.clone());
                        json!({ "message": format!("Connected to room {room} for flight updates.") })
                    }
                }
            } else {
                if rooms.remove(&room) {
                    live.left_rooms(state.user_id, 1);
                }
                socket.leave(room.clone());
                json!({ "message": format!("Disconnected from room {room}.") })
            }
        }
    };
    reply(&socket, ack, wants_ack, body);
}

/// Longest message ops may broadcast.
const MAX_UPDATE_CHARS: usize = 500;

async fn on_broadcast(
    Admitted(admitted): Admitted,
    socket: SocketRef,
    Extension(caller): Extension<Caller>,
    Extension(live): Extension<Arc<Live>>,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
    if !admitted {
        return;
    }
    let body = if !matches!(caller.role, Role::Ops | Role::Admin) {
        error("This action needs the role ops or admin", 403)
    } else {
        let text = data
            .as_ref()
            .ok()
            .and_then(|d| d.get("update"))
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        match requested_code(&data) {
            Err(message) => error(message, 400),
            Ok(_) if text.is_empty() => error("update is required", 400),
            Ok(_) if text.chars().count() > MAX_UPDATE_CHARS => error(
                format!("update is longer than {MAX_UPDATE_CHARS} characters"),
                400,
            ),
            Ok(code) => {
                let update = Update::broadcast(code, text);
                live.publish(&update).await;
                tracing::info!(
                    user_id = caller.user_id,
                    flight_code = update.flight_code,
                    "update broadcast by ops"
                );
                json!({ "update": update.update })
            }
        }
    };
    reply(&socket, ack, wants_ack, body);
}
