//! Load for the live-update benchmark (`bench/live.sh`): opens many Socket.IO connections (Engine.IO
//! 4 over WebSocket), subscribes each to one flight, then changes the flight's status through the
//! API and times how long each connection takes to receive the update.
//!
//! ```text
//! live_load --api http://127.0.0.1:4000 --socket ws://127.0.0.1:4000 --tokens t1,t2 \
//!     --ops-token T --flight-id 42 --flight-code IT1-20261201 --connections 5000 --rounds 5 \
//!     [--concurrency 200] [--server-pid PID]
//! ```
//!
//! Prints one line per round (`p50`, `p99`, `max`, how many received it) and, with `--server-pid`,
//! the server's resident memory before and after the connections were opened.

#![allow(clippy::print_stdout)] // It reports to whoever runs it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How many connections reached each stage: WebSocket open, Engine.IO open, Socket.IO connected.
static STAGES: [std::sync::atomic::AtomicUsize; 3] = [
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
];

fn reached(stage: usize) {
    STAGES[stage].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

struct Args {
    api: String,
    socket: String,
    tokens: Vec<String>,
    ops_token: String,
    flight_id: i64,
    flight_code: String,
    connections: usize,
    rounds: usize,
    concurrency: usize,
    server_pid: Option<u32>,
}

fn args() -> Result<Args, Error> {
    let mut named: HashMap<String, String> = HashMap::new();
    let mut raw = std::env::args().skip(1);
    while let Some(key) = raw.next() {
        let key = key.trim_start_matches("--").to_owned();
        let value = raw.next().ok_or(format!("--{key} needs a value"))?;
        named.insert(key, value);
    }
    let get = |key: &str| {
        named
            .get(key)
            .cloned()
            .ok_or_else(|| format!("--{key} is required"))
    };
    Ok(Args {
        api: get("api")?,
        socket: get("socket")?,
        tokens: get("tokens")?.split(',').map(str::to_owned).collect(),
        ops_token: get("ops-token")?,
        flight_id: get("flight-id")?.parse()?,
        flight_code: get("flight-code")?,
        connections: get("connections")?.parse()?,
        rounds: named.get("rounds").map_or(Ok(5), |r| r.parse())?,
        concurrency: named.get("concurrency").map_or(Ok(200), |c| c.parse())?,
        server_pid: named.get("server-pid").map(|p| p.parse()).transpose()?,
    })
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One connection: handshake, Socket.IO connect, subscribe; then reports every update's gate.
async fn connection(
    url: String,
    token: String,
    code: String,
    ready: mpsc::UnboundedSender<()>,
    updates: mpsc::UnboundedSender<(String, Instant)>,
) -> Result<(), Error> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    reached(0);
    let mut subscribed = false;
    while let Some(message) = socket.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let text = text.as_str();
        if text.starts_with('0') {
            // Engine.IO open: connect to the default namespace.
            reached(1);
            socket.send(Message::text("40")).await?;
        } else if text == "2" {
            socket.send(Message::text("3")).await?;
        } else if text.starts_with("40") {
            reached(2);
            let subscribe = format!("420[\"subscribe\",{{\"flight_code\":\"{code}\"}}]");
            socket.send(Message::text(subscribe)).await?;
        } else if text.starts_with("44") {
            return Err(format!("refused: {text}").into());
        } else if text.starts_with("430") && !subscribed {
            subscribed = true;
            let _ = ready.send(());
        } else if let Some(event) = text.strip_prefix("42") {
            let received = Instant::now();
            let value: serde_json::Value = serde_json::from_str(event)?;
            if value[0] == "update" {
                let gate = value[1]["flight"]["gate"].as_str().unwrap_or_default();
                let _ = updates.send((gate.to_owned(), received));
            }
        }
    }
    Err("the server closed the connection".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        args.socket.trim_end_matches('/')
    );
    let before = args.server_pid.and_then(rss_kib);
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let (updates_tx, mut updates) = mpsc::unbounded_channel();
    // Opened `concurrency` at a time (a few hundred by default), as clients arriving over a few
    // seconds would.
    let opening = Arc::new(Semaphore::new(args.concurrency));
    let started = Instant::now();
    for i in 0..args.connections {
        let permit = opening.clone().acquire_owned().await?;
        let token = args.tokens[i % args.tokens.len()].clone();
        let (url, code, ready_tx, updates_tx) = (
            url.clone(),
            args.flight_code.clone(),
            ready_tx.clone(),
            updates_tx.clone(),
        );
        let (opened_tx, mut opened) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let result = connection(url, token, code, opened_tx, updates_tx).await;
            if let Err(e) = result {
                eprintln!("connection {i}: {e}");
            }
        });
        tokio::spawn(async move {
            if opened.recv().await.is_some() {
                let _ = ready_tx.send(());
            }
            drop(permit);
        });
    }
    drop(ready_tx);
    let mut subscribed = 0;
    while subscribed < args.connections {
        match tokio::time::timeout(Duration::from_secs(30), ready.recv()).await {
            Ok(Some(())) => subscribed += 1,
            _ => break,
        }
    }
    eprintln!(
        "{subscribed} of {} connections subscribed in {:.1?} ({} WebSockets open, {} Engine.IO \
         sessions, {} Socket.IO connections)",
        args.connections,
        started.elapsed(),
        STAGES[0].load(std::sync::atomic::Ordering::Relaxed),
        STAGES[1].load(std::sync::atomic::Ordering::Relaxed),
        STAGES[2].load(std::sync::atomic::Ordering::Relaxed),
    );
    // Let the server settle (allocator, presence report) before reading its memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = args.server_pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "memory: {before} KiB before, {after} KiB with {subscribed} connections: {:.1} KiB per connection",
            (after.saturating_sub(before)) as f64 / subscribed.max(1) as f64
        );
    }

    let client = reqwest::Client::new();
    // A gate no earlier run used, so that every round is a change.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 100_000;
    for round in 1..=args.rounds {
        let gate = format!("{run}-{round}");
        let body = serde_json::json!({"gate": gate});
        let sent = Instant::now();
        let response = client
            .patch(format!("{}/api/flights/{}", args.api, args.flight_id))
            .bearer_auth(&args.ops_token)
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("the status change answered {}", response.status()).into());
        }
        let mut latencies = Vec::with_capacity(subscribed);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while latencies.len() < subscribed {
            match tokio::time::timeout_at(deadline, updates.recv()).await {
                Ok(Some((g, at))) if g == gate => latencies.push(at - sent),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        latencies.sort();
        println!(
            "round {round}: {} of {subscribed} received; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
            percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
