//! The limits on live connections, driven by a Socket.IO client this project did not write
//! (python-socketio from PyPI, run by `platform::testing::live`), against notification
//! alone with tokens from a test issuer.

use std::time::Duration;

use notification::Notification;
use platform::auth::Role;
use platform::testing::live::{LiveClient, PATIENCE, Token};
use platform::testing::{TestIssuer, TestService, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Notification alone with `settings`, and its token issuer.
async fn start(settings: &[(&str, &str)]) -> (TestService, TestIssuer) {
    let issuer = TestIssuer::start().await;
    let service = TestService::start::<Notification>(&issuer, settings).await;
    (service, issuer)
}

fn room_of(code: &str) -> Value {
    json!({ "flight_code": code })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_past_its_event_rate_is_answered_429_and_a_flooding_one_is_disconnected() {
    let (service, issuer) = start(&[
        ("LIVE_EVENTS_PER_SECOND", "1"),
        ("LIVE_EVENT_BURST", "3"),
        ("LIVE_REFUSED_EVENTS_BEFORE_DISCONNECT", "5"),
    ])
    .await;
    let token = issuer.customer(1, "flood");
    let mut socket =
        LiveClient::connected(&service.api.base, Token::Auth(&token), "websocket").await;

    // The burst is handled; the event past it is answered with 429 and not handled.
    for code in ["FL001", "FL002", "FL003"] {
        let reply = socket.call("connect-room", room_of(code)).await;
        assert!(reply.get("error").is_none(), "{reply}");
    }
    let reply = socket.call("connect-room", room_of("FL004")).await;
    assert_eq!(reply["status"], 429, "{reply}");
    assert_eq!(reply["error"], true, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("LIVE_EVENTS_PER_SECOND"),
        "{reply}"
    );

    // A client that keeps sending without asking for acknowledgements is refused, then
    // disconnected. (One event at a time: python-socketio fails on an emit once disconnected.)
    let mut refused = 0;
    let mut sent = 0;
    let last = loop {
        sent += 1;
        assert!(sent <= 30, "still connected after {sent} events");
        socket
            .send(format!("emit connect-room {}", room_of("FL005")))
            .await;
        let reply = socket
            .expect("the reply to an event", |e| e["event"] == "message")
            .await;
        if reply["data"]["status"] != 429 {
            continue;
        }
        let message = reply["data"]["message"].as_str().unwrap();
        assert!(message.contains("LIVE_EVENTS_PER_SECOND"), "{reply}");
        if message.contains("disconnected") {
            break reply;
        }
        refused += 1;
        assert!(
            refused <= 10,
            "still connected after {refused} refused events"
        );
    };
    assert!(
        refused >= 3,
        "disconnected after only {refused} refused events: {last}"
    );
    assert!(
        socket.disconnected_within(PATIENCE).await,
        "the flooding socket is still connected"
    );

    // The next connection starts with a full budget.
    let mut again =
        LiveClient::connected(&service.api.base, Token::Auth(&token), "websocket").await;
    let reply = again.call("connect-room", room_of("FL001")).await;
    assert!(reply.get("error").is_none(), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_rooms_and_connections_per_user_are_capped() {
    let (service, issuer) = start(&[
        ("NOTIFICATION_MAX_SUBSCRIPTIONS", "2"),
        ("LIVE_MAX_ROOMS_PER_USER", "2"),
        ("LIVE_MAX_CONNECTIONS_PER_USER", "2"),
    ])
    .await;
    let api = &service.api;
    let token = issuer.customer(7, "collector");
    let put = |code: &'static str, token: String| {
        api.client
            .put(api.url(&format!("/api/subscriptions/{code}")))
            .bearer_auth(token)
            .send()
    };

    // Stored subscriptions, over REST: two, then 409; following one again is still fine.
    assert_eq!(put("FL001", token.clone()).await.unwrap().status(), 201);
    assert_eq!(put("FL002", token.clone()).await.unwrap().status(), 201);
    let refused = problem(
        put("FL003", token.clone()).await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/too-many-subscriptions"),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("NOTIFICATION_MAX_SUBSCRIPTIONS"),
        "{refused}"
    );
    assert_eq!(put("FL001", token.clone()).await.unwrap().status(), 200);

    // The same cap over Socket.IO; unsubscribing makes room.
    let mut first = LiveClient::connected(&api.base, Token::Auth(&token), "websocket").await;
    let reply = first.call("subscribe", room_of("FL003")).await;
    assert_eq!(reply["status"], 409, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("NOTIFICATION_MAX_SUBSCRIPTIONS"),
        "{reply}"
    );
    let reply = first.call("unsubscribe", room_of("FL002")).await;
    assert!(reply.get("error").is_none(), "{reply}");
    let reply = first.call("subscribe", room_of("FL003")).await;
    assert_eq!(
        reply,
        json!({"message": "Subscribed to flight updates for FL003"})
    );

    // Rooms joined with connect-room, counted over all the user's sockets; joining a room again
    // costs nothing, and leaving one frees its place.
    for code in ["FL010", "FL011", "FL010"] {
        let reply = first.call("connect-room", room_of(code)).await;
        assert!(reply.get("error").is_none(), "{code}: {reply}");
    }
    let mut second = LiveClient::connected(&api.base, Token::Auth(&token), "websocket").await;
    let reply = second.call("connect-room", room_of("FL012")).await;
    assert_eq!(reply["status"], 409, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("LIVE_MAX_ROOMS_PER_USER"),
        "{reply}"
    );
    let reply = first.call("disconnect-room", room_of("FL010")).await;
    assert!(reply.get("error").is_none(), "{reply}");
    let reply = second.call("connect-room", room_of("FL012")).await;
    assert!(reply.get("error").is_none(), "{reply}");

    // Two connections are the most: a third socket, or a stream, is refused.
    let (_, refused) = LiveClient::start(&api.base, Token::Auth(&token), "websocket").await;
    assert_eq!(refused["event"], "connect_error", "{refused}");
    assert!(
        refused["data"]["message"]
            .as_str()
            .unwrap()
            .contains("LIVE_MAX_CONNECTIONS_PER_USER"),
        "{refused}"
    );
    let stream = api.get("/api/live/updates?flights=FL001", &token).await;
    let refused = problem(stream, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/too-many-connections"),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("LIVE_MAX_CONNECTIONS_PER_USER"),
        "{refused}"
    );
    // Other users are not affected.
    let other = issuer.customer(8, "other");
    LiveClient::connected(&api.base, Token::Auth(&other), "websocket").await;

    // A socket that goes frees its connection and its rooms.
    second.send("quit".into()).await;
    drop(second);
    let mut stream = None;
    for _ in 0..50 {
        let response = api.get("/api/live/updates?flights=FL001", &token).await;
        if response.status() == StatusCode::OK {
            stream = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stream.is_some(), "the closed socket's place was not freed");
    let reply = first.call("connect-room", room_of("FL010")).await;
    assert!(reply.get("error").is_none(), "{reply}");
    let reply = first.call("connect-room", room_of("FL013")).await;
    assert_eq!(reply["status"], 409, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_subscriptions_cannot_pass_the_cap_together() {
    let (service, issuer) = start(&[("NOTIFICATION_MAX_SUBSCRIPTIONS", "3")]).await;
    let api = &service.api;
    let token = issuer.customer(9, "racer");
    // Inserts wait until this lock is released, reads do not: every request has counted the
    // user's subscriptions before any of them stores one, unless each waits for the one before.
    let mut blocker = service.db.begin().await.unwrap();
    sqlx::query("LOCK TABLE subscriptions IN SHARE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let puts: Vec<_> = (0..20)
        .map(|i| {
            let (api, token) = (api.clone(), token.clone());
            tokio::spawn(async move {
                api.client
                    .put(api.url(&format!("/api/subscriptions/FL{i:03}")))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    blocker.commit().await.unwrap();
    let mut created = 0;
    for put in puts {
        match put.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 3);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions WHERE user_id = 9")
        .fetch_one(&service.db)
        .await
        .unwrap();
    assert_eq!(stored, 3);
}

/// Reads a Server-Sent Events response until it ends, or panics after [`PATIENCE`].
async fn read_to_end(response: &mut reqwest::Response) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => return seen,
            Ok(Err(e)) => panic!("the stream failed: {e}; saw {seen}"),
            Err(_) => panic!("the stream was still open after {PATIENCE:?}; saw {seen}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_and_a_stream_close_when_their_token_expires() {
    let (service, issuer) = start(&[]).await;
    let api = &service.api;
    let short = issuer.token_expiring_in(11, "brief", Role::Customer, 3);
    let long = issuer.customer(12, "lasting");

    let mut brief = LiveClient::connected(&api.base, Token::Auth(&short), "websocket").await;
    let mut lasting = LiveClient::connected(&api.base, Token::Auth(&long), "websocket").await;
    let mut stream = api.get("/api/live/updates?flights=FL001", &short).await;
    assert_eq!(stream.status(), StatusCode::OK);

    let seen = read_to_end(&mut stream).await;
    assert!(seen.contains("event: ready"), "{seen}");
    assert!(seen.contains("event: expired"), "{seen}");
    assert!(seen.contains("The access token has expired"), "{seen}");

    let notice = brief
        .expect("the expiry notice", |e| {
            e["event"] == "message" && e["data"]["status"] == 401
        })
        .await;
    assert!(
        notice["data"]["message"]
            .as_str()
            .unwrap()
            .contains("The access token has expired"),
        "{notice}"
    );
    assert!(
        brief.disconnected_within(PATIENCE).await,
        "the socket outlived its token"
    );
    // A socket whose token is still valid stays.
    assert!(
        !lasting
            .disconnected_within(Duration::from_millis(500))
            .await
    );
    let reply = lasting.call("connect-room", room_of("FL001")).await;
    assert!(reply.get("error").is_none(), "{reply}");
}
