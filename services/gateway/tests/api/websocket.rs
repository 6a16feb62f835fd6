//! WebSocket connections through the gateway: the handshake is checked like any request, then
//! the connection is tunnelled to one instance, the same one for the same user.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::any;
use platform::config::{ConfigSource, RunMode};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

use crate::helpers::Platform;

/// A WebSocket echo server that says which instance it is, counting its connections.
async fn echo_instance(name: &'static str, connections: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/api/notifications/live",
        any(move |ws: WebSocketUpgrade| {
            let connections = connections.clone();
            async move {
                connections.fetch_add(1, Ordering::Relaxed);
                ws.on_upgrade(move |mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if let Message::Text(text) = message {
                            let reply = format!("{name}: {}", text.as_str());
                            if socket.send(Message::Text(reply.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_tunnelled_to_the_same_instance_per_user_and_need_a_token() {
    let platform = Platform::spawn().await;
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let upstreams = [
        echo_instance("one", first.clone()).await,
        echo_instance("two", second.clone()).await,
    ];
    let source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ("IDENTITY_UPSTREAMS", platform.identity.as_str()),
        ("NOTIFICATION_UPSTREAMS", upstreams.join(",").as_str()),
        (
            "JWT_JWKS_URL",
            format!("{}/.well-known/jwks.json", platform.identity).as_str(),
        ),
    ]);
    let gateway = gateway::Application::build(
        gateway::Config::load(&source, RunMode::Single).unwrap(),
        std::sync::Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let url = format!("ws://127.0.0.1:{}/api/notifications/live", gateway.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    let token = platform.user("socketeer").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let connect = |token: Option<&str>| {
        let mut request =
            tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    // Without a token the handshake is refused at the gateway.
    match connect(None).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a refused handshake, got {other:?}"),
    }

    let mut replies = Vec::new();
    for round in 0..4 {
        use futures_util::{SinkExt, StreamExt};
        let (mut socket, _) = connect(Some(&token))
            .await
            .expect("handshake through the gateway");
        socket
            .send(tungstenite::Message::Text(format!("hello {round}").into()))
            .await
            .unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        replies.push(reply.into_text().unwrap().to_string());
        socket.close(None).await.unwrap();
    }
    let instance = replies[0].split(':').next().unwrap().to_owned();
    for (round, reply) in replies.iter().enumerate() {
        assert_eq!(
            reply,
            &format!("{instance}: hello {round}"),
            "one instance per user"
        );
    }
    let (one, two) = (
        first.load(Ordering::Relaxed),
        second.load(Ordering::Relaxed),
    );
    assert_eq!(one + two, 4);
    assert!(one == 4 || two == 4, "sticky: {one} and {two}");
    shutdown.cancel();
}
