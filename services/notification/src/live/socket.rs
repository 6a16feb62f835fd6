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

use std::sync::Arc;

use platform::auth::{AuthError, Caller, Role};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Extension, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;

use super::{Live, Update, flight_code, room};
use crate::store::subscriptions;

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
    match subscriptions::of_user(&live.db, caller.user_id).await {
        Ok(codes) => socket.join(codes.iter().map(|c| room(c)).collect::<Vec<_>>()),
        Err(e) => tracing::warn!(error = %e, user_id = caller.user_id,
            "stored subscriptions not joined"),
    }
    socket.on("subscribe", on_subscribe);
    socket.on("connect-room", on_connect_room);
    socket.on("unsubscribe", on_unsubscribe);
    socket.on("disconnect-room", on_disconnect_room);
    socket.on("broadcast_update", on_broadcast);
    socket.on_disconnect(
        async |Extension(caller): Extension<Caller>, Extension(live): Extension<Arc<Live>>| {
            live.disconnected(caller.user_id);
        },
    );
    live.connected(caller.user_id);
    socket.extensions.insert(caller);
    socket.extensions.insert(live.clone());
    Ok(())
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
    socket: SocketRef,
    caller: Extension<Caller>,
    live: Extension<Arc<Live>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    change_subscription(true, socket, caller, live, data, wants_ack, ack).await;
}

async fn on_unsubscribe(
    socket: SocketRef,
    caller: Extension<Caller>,
    live: Extension<Arc<Live>>,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    change_subscription(false, socket, caller, live, data, wants_ack, ack).await;
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
                subscriptions::add(&live.db, caller.user_id, &code).await
            } else {
                subscriptions::remove(&live.db, caller.user_id, &code).await
            };
            match stored {
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
    socket: SocketRef,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    change_room(true, socket, data, wants_ack, ack);
}

async fn on_disconnect_room(
    socket: SocketRef,
    data: TryData<Value>,
    wants_ack: WantsAck,
    ack: AckSender,
) {
    change_room(false, socket, data, wants_ack, ack);
}

/// `connect-room` and `disconnect-room`: this socket's room only, nothing stored.
fn change_room(
    join: bool,
    socket: SocketRef,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
    let body = match requested_code(&data) {
        Err(message) => error(message, 400),
        Ok(code) => {
            let room = room(&code);
            if join {
                socket.join(room.clone());
                json!({ "message": format!("Connected to room {room} for flight updates.") })
            } else {
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
    socket: SocketRef,
    Extension(caller): Extension<Caller>,
    Extension(live): Extension<Arc<Live>>,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
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
