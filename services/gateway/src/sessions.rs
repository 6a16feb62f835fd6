//! Socket.IO sessions. Long-polling sends every request of a session (its `sid`) as a new HTTP
//! request, and only the instance that opened the session knows it. The gateway reads the `sid`
//! from the handshake's answer, remembers which instance gave it, and sends the session's later
//! requests (and its upgrade to a WebSocket) there. A session the gateway does not know (opened
//! through another gateway instance) goes to the instance its `sid` hashes to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A session unused this long is forgotten: clients poll at least once per ping interval (25 s
/// by default), and a session that moved to a WebSocket needs no routing any more.
const IDLE: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

struct Session {
    base: String,
    used: Instant,
}

impl Sessions {
    /// The instance (base URL) that opened `sid`.
    pub fn instance(&self, sid: &str) -> Option<String> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = open.get_mut(sid)?;
        session.used = Instant::now();
        Some(session.base.clone())
    }

    pub fn remember(&self, sid: String, base: String) {
        let now = Instant::now();
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget idle sessions now and then, in proportion to how many are kept.
        if open.len() >= 1024 && open.len().is_power_of_two() {
            open.retain(|_, session| now.duration_since(session.used) < IDLE);
        }
        open.insert(sid, Session { base, used: now });
    }

    pub fn count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// The `sid` query parameter of a Socket.IO request.
pub fn sid_of(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))
        .filter(|sid| !sid.is_empty())
}

/// The session id in a handshake's answer, `0{"sid":"…",…}` (Engine.IO 4; version 3 puts the
/// length first).
pub fn sid_in_handshake(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"sid\":\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    let sid = std::str::from_utf8(&body[start..start + len]).ok()?;
    (!sid.is_empty() && sid.len() <= 64).then(|| sid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_read_from_queries_and_handshakes() {
        assert_eq!(
            sid_of(Some("EIO=4&transport=polling&sid=AbC123")),
            Some("AbC123")
        );
        assert_eq!(sid_of(Some("EIO=4&transport=polling&t=x")), None);
        assert_eq!(sid_of(Some("sid=")), None);
        assert_eq!(sid_of(None), None);
        let v4 =
            br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000}"#;
        assert_eq!(
            sid_in_handshake(v4).as_deref(),
            Some("lv_VI97HAXpY6yYWAAAC")
        );
        let v3 = br#"96:0{"sid":"abc","upgrades":[]}"#;
        assert_eq!(sid_in_handshake(v3).as_deref(), Some("abc"));
        assert_eq!(sid_in_handshake(b"40"), None);
    }

    #[test]
    fn sessions_remember_their_instance() {
        let sessions = Sessions::default();
        sessions.remember("a".into(), "http://one".into());
        sessions.remember("b".into(), "http://two".into());
        assert_eq!(sessions.instance("a").as_deref(), Some("http://one"));
        assert_eq!(sessions.instance("b").as_deref(), Some("http://two"));
        assert_eq!(sessions.instance("c"), None);
        assert_eq!(sessions.count(), 2);
    }
}
