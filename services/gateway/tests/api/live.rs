//! Live connections through the gateway: caps on open WebSockets and event streams per user and
//! per address, and the end of each when its access token expires.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::sse::{Event, Sse};
use axum::routing::{any, get};
use futures_util::{SinkExt, StreamExt};
use platform::auth::Role;
use platform::config::{ConfigSource, RunMode};
use platform::testing::TestIssuer;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// Counts, when dropped, one connection the upstream saw closed.
struct Closed(Arc<AtomicUsize>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A notification stand-in: a WebSocket echo at `/api/notifications/live` and an event stream
/// (an event every 100 ms) at `/api/live/updates`, counting the connections that end.
async fn live_upstream(closed: Arc<AtomicUsize>) -> String {
    let sockets = closed.clone();
    let app = axum::Router::new()
        .route(
            "/api/notifications/live",
            any(move |ws: WebSocketUpgrade| {
                let closed = sockets.clone();
                async move {
                    ws.on_upgrade(move |mut socket| async move {
                        let _closed = Closed(closed);
                        while let Some(Ok(message)) = socket.recv().await {
                            if let Message::Text(text) = message
                                && socket.send(Message::Text(text)).await.is_err()
                            {
                                break;
                            }
                        }
                    })
                }
            }),
        )
        .route(
            "/api/live/updates",
            get(move || {
                let closed = Closed(closed.clone());
                async move {
                    let events =
                        futures_util::stream::unfold((closed, 0u64), |(closed, n)| async move {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((
                                Ok::<_, Infallible>(
                                    Event::default().event("update").data(n.to_string()),
                                ),
                                (closed, n + 1),
                            ))
                        });
                    Sse::new(events)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A gateway in front of `notification`, trusting `issuer`'s tokens.
struct LiveGateway {
    base: String,
    closed: Arc<AtomicUsize>,
    shutdown: CancellationToken,
}

impl Drop for LiveGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl LiveGateway {
    async fn start(issuer: &TestIssuer, settings: &[(&str, &str)]) -> Self {
        platform::telemetry::init_for_tests();
        let closed = Arc::new(AtomicUsize::new(0));
        let notification = live_upstream(closed.clone()).await;
        let mut source = ConfigSource::from_pairs([
            ("SERVICE_PORT", "0"),
            ("RATE_LIMIT_ENABLED", "false"),
            ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
            ("NOTIFICATION_UPSTREAMS", notification.as_str()),
            ("JWT_JWKS_URL", issuer.jwks_url()),
        ]);
        for (key, value) in settings {
            source = source.with(*key, *value);
        }
        let gateway = gateway::Application::build(
            gateway::Config::load(&source, RunMode::Single).unwrap(),
            Arc::new(platform::events::bus::Disconnected),
        )
        .await
        .unwrap();
        let base = format!("127.0.0.1:{}", gateway.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
        Self {
            base,
            closed,
            shutdown,
        }
    }

    async fn socket(
        &self,
        token: &str,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tungstenite::Error,
    > {
        let url = format!("ws://{}/api/notifications/live", self.base);
        let mut request =
            tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(socket, _)| socket)
    }

    async fn stream(&self, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("http://{}/api/live/updates", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::Relaxed)
    }
}

/// The 429 of a refused WebSocket handshake, with the message of its problem.
fn refused_handshake(result: Result<impl std::fmt::Debug, tungstenite::Error>) -> String {
    match result {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert!(
                body["type"]
                    .as_str()
                    .unwrap()
                    .ends_with("too-many-connections")
            );
            body["message"].as_str().unwrap().to_owned()
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_capped_per_user_and_per_address() {
    let issuer = TestIssuer::start().await;
    let gateway = LiveGateway::start(
        &issuer,
        &[
            ("GATEWAY_MAX_WEBSOCKETS_PER_USER", "2"),
            ("GATEWAY_MAX_WEBSOCKETS_PER_ADDRESS", "3"),
        ],
    )
    .await;
    let alice = issuer.customer(1, "alice");
    let bob = issuer.customer(2, "bob");
    let mut first = gateway.socket(&alice).await.expect("first socket");
    let _second = gateway.socket(&alice).await.expect("second socket");
    let message = refused_handshake(gateway.socket(&alice).await);
    assert!(
        message.contains("at most 2") && message.contains("GATEWAY_MAX_WEBSOCKETS_PER_USER"),
        "{message}"
    );
    // Another user on the same address: the address has room for one more.
    let _third = gateway.socket(&bob).await.expect("bob's socket");
    let message = refused_handshake(gateway.socket(&bob).await);
    assert!(
        message.contains("GATEWAY_MAX_WEBSOCKETS_PER_ADDRESS"),
        "{message}"
    );
    // A closed socket gives its place back.
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    drop(first);
    eventually("the closed socket's slot comes back", || {
        gateway.closed() == 1
    })
    .await;
    let mut again = None;
    for _ in 0..50 {
        if let Ok(socket) = gateway.socket(&alice).await {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "alice may open a socket again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_at_both_ends_when_its_token_expires() {
    let issuer = TestIssuer::start().await;
    let gateway = LiveGateway::start(&issuer, &[]).await;
    let token = issuer.token_expiring_in(1, "alice", Role::Customer, 2);
    let opened = Instant::now();
    let mut socket = gateway.socket(&token).await.expect("handshake");
    socket
        .send(tungstenite::Message::Text("hello".into()))
        .await
        .unwrap();
    let echo = socket.next().await.unwrap().unwrap();
    assert_eq!(echo.into_text().unwrap().as_str(), "hello");
    // Nothing more is sent: the next thing the client sees is the end of the connection.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(tungstenite::Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket outlived its token");
    let lasted = opened.elapsed();
    assert!(
        lasted > Duration::from_millis(900) && lasted < Duration::from_secs(4),
        "closed after {lasted:?}"
    );
    eventually("the upstream connection closes", || gateway.closed() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped_per_user() {
    let issuer = TestIssuer::start().await;
    let gateway = LiveGateway::start(&issuer, &[("GATEWAY_MAX_STREAMS_PER_USER", "1")]).await;
    let alice = issuer.customer(1, "alice");
    let mut open = gateway.stream(&alice).await;
    assert_eq!(open.status(), StatusCode::OK);
    assert!(open.chunk().await.unwrap().is_some());
    let refused = gateway.stream(&alice).await;
    let body = platform::testing::problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("event streams") && message.contains("GATEWAY_MAX_STREAMS_PER_USER"),
        "{body}"
    );
    // Another user is not affected.
    assert_eq!(
        gateway.stream(&issuer.customer(2, "bob")).await.status(),
        StatusCode::OK
    );
    drop(open);
    let mut status = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..50 {
        status = gateway.stream(&alice).await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "a closed stream gives its place back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_when_its_token_expires() {
    let issuer = TestIssuer::start().await;
    let gateway = LiveGateway::start(&issuer, &[]).await;
    let token = issuer.token_expiring_in(1, "alice", Role::Customer, 2);
    let opened = Instant::now();
    let mut stream = gateway.stream(&token).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut events = 0;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            events += chunk.windows(13).filter(|w| w == b"event: update").count();
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
    let lasted = opened.elapsed();
    assert!(
        lasted > Duration::from_millis(900) && lasted < Duration::from_secs(4),
        "ended after {lasted:?}"
    );
    assert!(events >= 5, "{events} events before the end");
    eventually("the upstream stream closes", || gateway.closed() == 1).await;
}
