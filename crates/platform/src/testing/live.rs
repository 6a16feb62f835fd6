//! A real Socket.IO client for live-update tests: python-socketio (from PyPI; `scripts/test.sh`
//! installs it) run as a child process by `socketio_client.py` beside this file, steered over its
//! stdin, reporting what it sees as JSON lines.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// How long a test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Socket.IO's transports, polling first as browsers connect.
pub const ANY_TRANSPORT: &str = "polling,websocket";

/// Where the client puts its access token.
#[derive(Clone, Copy, Debug)]
pub enum Token<'a> {
    /// `Authorization: Bearer` on the handshake.
    Header(&'a str),
    /// The Socket.IO `auth` payload, as browsers send it.
    Auth(&'a str),
    None,
}

/// One python-socketio client.
pub struct LiveClient {
    _process: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

impl LiveClient {
    /// Starts a client and returns it with its first event (`connected` or `connect_error`).
    pub async fn start(url: &str, token: Token<'_>, transports: &str) -> (Self, Value) {
        let python = std::env::var("TEST_SOCKETIO_PYTHON").unwrap_or_else(|_| {
            format!(
                "{}/.cache/itinera/venv/bin/python",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let (token_in, token) = match token {
            Token::Header(t) => ("header", t),
            Token::Auth(t) => ("auth", t),
            Token::None => ("none", ""),
        };
        let mut process = tokio::process::Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/testing/socketio_client.py"
            ))
            .args(["--url", url, "--token", token, "--token-in", token_in])
            .args(["--transports", transports])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {python} (scripts/test.sh installs python-socketio): {e}")
            });
        let stdout = process.stdout.take().expect("piped stdout");
        let stdin = process.stdin.take().expect("piped stdin");
        let (sender, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("client printed {line:?}: {e}"));
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        let mut client = Self {
            _process: process,
            stdin,
            events,
            backlog: VecDeque::new(),
        };
        let first = client
            .expect("the connection's outcome", |e| {
                e["event"] == "connected" || e["event"] == "connect_error"
            })
            .await;
        (client, first)
    }

    /// A client that must connect.
    pub async fn connected(url: &str, token: Token<'_>, transports: &str) -> Self {
        let (client, first) = Self::start(url, token, transports).await;
        assert_eq!(first["event"], "connected", "{first}");
        client
    }

    /// Sends one command line to the client (`call <event> <json>`, `emit <event> <json>`).
    pub async fn send(&mut self, line: String) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the client reads its stdin");
        self.stdin
            .flush()
            .await
            .expect("the client reads its stdin");
    }

    /// The first event (seen before or arriving within [`PATIENCE`]) that `matches`.
    pub async fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&matches) {
            return self.backlog.remove(i).expect("position is in range");
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if matches(&event) => return event,
                Ok(Some(event)) => self.backlog.push_back(event),
                Ok(None) => panic!("the client ended before {what}; saw {:?}", self.backlog),
                Err(_) => panic!("no {what} within {PATIENCE:?}; saw {:?}", self.backlog),
            }
        }
    }

    /// Emits `event` with `data`, asking for an acknowledgement, and returns the reply.
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        self.send(format!("call {event} {data}")).await;
        let ack = self
            .expect(&format!("the reply to {event}"), |e| {
                (e["event"] == "ack" || e["event"] == "ack_timeout") && e["name"] == event
            })
            .await;
        assert_eq!(ack["event"], "ack", "{event} was not acknowledged");
        ack["data"].clone()
    }

    /// The next update whose text or state matches.
    pub async fn update(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.expect(what, |e| e["event"] == "update" && matches(&e["data"]))
            .await["data"]
            .clone()
    }

    /// Every update received within `wait` (and before), leaving other events.
    pub async fn updates_within(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.backlog.push_back(event);
        }
        let (updates, rest) = self
            .backlog
            .drain(..)
            .partition::<Vec<_>, _>(|e| e["event"] == "update");
        self.backlog = rest.into();
        updates.into_iter().map(|e| e["data"].clone()).collect()
    }

    /// Whether the server disconnected the client within `wait`.
    pub async fn disconnected_within(&mut self, wait: Duration) -> bool {
        if self.backlog.iter().any(|e| e["event"] == "disconnected") {
            return true;
        }
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            let gone = event["event"] == "disconnected";
            self.backlog.push_back(event);
            if gone {
                return true;
            }
        }
        false
    }
}
