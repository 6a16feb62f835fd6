//! Live connections through the gateway: WebSocket tunnels and Server-Sent Event streams. Each
//! holds a connection to a service for as long as the client wants, so each user and each client
//! address may keep only so many open at once, and one opened with an access token ends when the
//! token expires (a token revoked by expiry must not keep a live feed going for hours).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use platform::Problem;
use platform::config::{ConfigError, ConfigSource};

/// What kind of live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A WebSocket (any protocol upgrade) tunnelled to an instance.
    WebSocket,
    /// A `text/event-stream` answer.
    Stream,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Stream => "stream",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket connections",
            Self::Stream => "event streams",
        }
    }
}

/// The caps on open live connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveLimits {
    pub websockets_per_user: usize,
    pub websockets_per_address: usize,
    pub streams_per_user: usize,
    pub streams_per_address: usize,
}

impl LiveLimits {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let cap = |key: &str, default: usize| -> Result<usize, ConfigError> {
            match source.parse::<usize>(key)? {
                Some(0) => Err(ConfigError::invalid(key, "0", "must be at least 1")),
                Some(cap) => Ok(cap),
                None => Ok(default),
            }
        };
        Ok(Self {
            websockets_per_user: cap(WEBSOCKETS_PER_USER, 10)?,
            websockets_per_address: cap(WEBSOCKETS_PER_ADDRESS, 100)?,
            streams_per_user: cap(STREAMS_PER_USER, 10)?,
            streams_per_address: cap(STREAMS_PER_ADDRESS, 100)?,
        })
    }

    /// The cap and the setting that holds it.
    fn cap(&self, kind: Kind, per: Per) -> (usize, &'static str) {
        match (kind, per) {
            (Kind::WebSocket, Per::User) => (self.websockets_per_user, WEBSOCKETS_PER_USER),
            (Kind::WebSocket, Per::Address) => {
                (self.websockets_per_address, WEBSOCKETS_PER_ADDRESS)
            }
            (Kind::Stream, Per::User) => (self.streams_per_user, STREAMS_PER_USER),
            (Kind::Stream, Per::Address) => (self.streams_per_address, STREAMS_PER_ADDRESS),
        }
    }
}

const WEBSOCKETS_PER_USER: &str = "GATEWAY_MAX_WEBSOCKETS_PER_USER";
const WEBSOCKETS_PER_ADDRESS: &str = "GATEWAY_MAX_WEBSOCKETS_PER_ADDRESS";
const STREAMS_PER_USER: &str = "GATEWAY_MAX_STREAMS_PER_USER";
const STREAMS_PER_ADDRESS: &str = "GATEWAY_MAX_STREAMS_PER_ADDRESS";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Per {
    User,
    Address,
}

impl Per {
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Address => "address",
        }
    }
}

/// One holder of open connections: a user or an address, for one kind of connection.
type Holder = (Kind, Per, String);

/// How many connections each holder has open.
type OpenCounts = Arc<Mutex<HashMap<Holder, usize>>>;

/// Who holds how many live connections open through this gateway instance. Only holders with a
/// connection open have an entry, so the map is as large as the connections it counts.
pub struct LiveConnections {
    limits: LiveLimits,
    open: OpenCounts,
}

/// Refused by a cap on open live connections.
#[derive(Debug)]
pub struct CapReached {
    pub kind: Kind,
    pub per: Per,
    pub cap: usize,
    pub setting: &'static str,
}

impl CapReached {
    pub fn problem(&self) -> Problem {
        let whom = match self.per {
            Per::User => "this user",
            Per::Address => "this address",
        };
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many open {} for {whom}: at most {} at once ({}); close one first",
                self.kind.described(),
                self.cap,
                self.setting
            ),
        )
        .with_type("too-many-connections")
        .with_extension("side", "client")
        .with_extension("limit", self.setting)
        .with_extension("retryable", false)
    }
}

/// One open live connection, counted until dropped.
pub struct LiveSlot {
    open: OpenCounts,
    keys: Vec<Holder>,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in self.keys.drain(..) {
            if let Some(count) = open.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

impl LiveConnections {
    pub fn new(limits: LiveLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// Takes a slot for a new connection of `kind` from `address` (and `user`, when the request
    /// carried a token), or says which cap is reached.
    pub fn open(
        &self,
        kind: Kind,
        user: Option<i64>,
        address: &str,
    ) -> Result<LiveSlot, CapReached> {
        let mut keys = vec![(kind, Per::Address, address.to_owned())];
        if let Some(user) = user {
            keys.push((kind, Per::User, user.to_string()));
        }
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in &keys {
            let (cap, setting) = self.limits.cap(kind, key.1);
            if open.get(key).copied().unwrap_or(0) >= cap {
                return Err(CapReached {
                    kind,
                    per: key.1,
                    cap,
                    setting,
                });
            }
        }
        for key in &keys {
            *open.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(LiveSlot {
            open: self.open.clone(),
            keys,
        })
    }

    /// How many holders (users and addresses, per kind) have a connection open.
    pub fn holders(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// How long until `expires` (Unix seconds); zero if it has passed.
pub fn until(expires: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let expires = Duration::from_secs(u64::try_from(expires).unwrap_or(0));
    expires.saturating_sub(now)
}

/// An event stream on its way to the client: holds its slot while it is open, and ends (which
/// also drops the connection to the instance) when the caller's token expires.
pub struct LiveBody {
    inner: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    on_expiry: Option<Box<dyn FnOnce() + Send + Sync>>,
    _slot: Option<LiveSlot>,
}

impl LiveBody {
    pub fn new(
        inner: Body,
        slot: Option<LiveSlot>,
        expires_in: Option<Duration>,
        on_expiry: impl FnOnce() + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            deadline: expires_in.map(|d| Box::pin(tokio::time::sleep(d))),
            on_expiry: Some(Box::new(on_expiry)),
            _slot: slot,
        }
    }
}

impl HttpBody for LiveBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.deadline = None;
            this.inner = Body::empty();
            if let Some(on_expiry) = this.on_expiry.take() {
                on_expiry();
            }
            return Poll::Ready(None);
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Its length is unknown while it may be cut short.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LiveLimits {
        LiveLimits {
            websockets_per_user: 2,
            websockets_per_address: 3,
            streams_per_user: 1,
            streams_per_address: 5,
        }
    }

    #[test]
    fn caps_per_user_and_per_address_and_slots_come_back() {
        let live = LiveConnections::new(limits());
        let a = live.open(Kind::WebSocket, Some(1), "192.0.2.1").unwrap();
        let _b = live.open(Kind::WebSocket, Some(1), "192.0.2.1").unwrap();
        let refused = live
            .open(Kind::WebSocket, Some(1), "192.0.2.2")
            .err()
            .unwrap();
        assert_eq!((refused.per, refused.cap), (Per::User, 2));
        assert!(
            refused
                .problem()
                .detail
                .contains("GATEWAY_MAX_WEBSOCKETS_PER_USER"),
            "{:?}",
            refused.problem()
        );
        // Another user from the same address: the address has room for one more.
        let _c = live.open(Kind::WebSocket, Some(2), "192.0.2.1").unwrap();
        let refused = live.open(Kind::WebSocket, None, "192.0.2.1").err().unwrap();
        assert_eq!((refused.per, refused.cap), (Per::Address, 3));
        // Streams are counted apart from sockets.
        let _s = live.open(Kind::Stream, Some(1), "192.0.2.1").unwrap();
        assert!(live.open(Kind::Stream, Some(1), "192.0.2.1").is_err());
        drop(a);
        assert!(live.open(Kind::WebSocket, Some(1), "192.0.2.9").is_ok());
    }

    #[test]
    fn closed_connections_leave_no_entries() {
        let live = LiveConnections::new(limits());
        let slots: Vec<_> = (0..50)
            .map(|n| {
                live.open(Kind::Stream, Some(n), &format!("10.0.0.{n}"))
                    .unwrap()
            })
            .collect();
        assert_eq!(live.holders(), 100);
        drop(slots);
        assert_eq!(live.holders(), 0);
    }

    #[test]
    fn caps_are_settings() {
        let source = ConfigSource::from_pairs([("GATEWAY_MAX_STREAMS_PER_USER", "0")]);
        let error = LiveLimits::load(&source).unwrap_err().to_string();
        assert!(error.contains("GATEWAY_MAX_STREAMS_PER_USER"), "{error}");
        let defaults = LiveLimits::load(&ConfigSource::default()).unwrap();
        assert_eq!(defaults.websockets_per_user, 10);
        assert_eq!(defaults.streams_per_address, 100);
    }

    #[test]
    fn a_past_expiry_leaves_no_time() {
        assert_eq!(until(0), Duration::ZERO);
    }
}
