//! Live flight updates, driven by a Socket.IO client this project did not write (python-socketio
//! from PyPI, run by `platform::testing::live`), through the gateway and straight at notification
//! instances.

use std::time::{Duration, Instant};

use platform::testing::live::{ANY_TRANSPORT, LiveClient, PATIENCE, Token};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{MailServer, Options, Platform, Restartable, eventually};

/// A new flight tomorrow: its id and its code.
async fn new_flight(platform: &Platform, admin: &str, number: &str) -> (i64, String) {
    let flight = platform.small_flight(admin, number, 3, "AB").await;
    (
        flight["flightId"].as_i64().unwrap(),
        flight["flightCode"].as_str().unwrap().to_owned(),
    )
}

async fn patch_flight(platform: &Platform, token: &str, flight_id: i64, body: Value) {
    let response = platform
        .client
        .patch(platform.url(&format!("/api/flights/{flight_id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{body}");
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |update| update["flight"]["status"] == status
}

/// Reads a Server-Sent Events response until an event whose text contains `needle`.
async fn sse_until(response: &mut reqwest::Response, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            response.chunk(),
        )
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the stream; saw {seen}"))
        .unwrap()
        .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socket_io_clients_follow_a_flight_through_the_gateway() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let (flight_id, code) = new_flight(&platform, &admin, "LV101").await;
    let (alice_id, alice) = platform.customer("alice_live").await;
    let (_, bob) = platform.customer("bob_live").await;
    let gateway = platform.gateway.as_str();

    // No token, or a forged one: refused when connecting.
    let (_, refused) = LiveClient::start(gateway, Token::None, ANY_TRANSPORT).await;
    assert_eq!(refused["event"], "connect_error");
    assert_eq!(refused["data"]["message"], "Missing bearer token");
    let (_, refused) =
        LiveClient::start(gateway, Token::Auth("forged.token.here"), "websocket").await;
    assert_eq!(refused["data"]["message"], "The access token is invalid");

    // Seed 002's events and replies, with the token in the header or in the auth payload.
    let mut alice_socket =
        LiveClient::connected(gateway, Token::Header(&alice), ANY_TRANSPORT).await;
    let reply = alice_socket
        .call("subscribe", json!({"flight_code": code}))
        .await;
    assert_eq!(
        reply,
        json!({"message": format!("Subscribed to flight updates for {code}")})
    );
    let mut bob_socket = LiveClient::connected(gateway, Token::Auth(&bob), ANY_TRANSPORT).await;
    let reply = bob_socket
        .call("connect-room", json!({"flight_code": code}))
        .await;
    assert_eq!(
        reply,
        json!({"message": format!("Connected to room flight_updates_{code} for flight updates.")})
    );
    let reply = bob_socket.call("subscribe", json!({})).await;
    assert_eq!(reply["message"], "flight_code is required");
    assert_eq!(reply["status"], 400);

    // The stored subscriptions, as seed 002 lists them: one's own, or anyone's for an admin.
    let listed: Value = platform
        .get_as(&format!("/api/auth/user-subscriptions/{alice_id}"), &alice)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!({"userId": alice_id, "flights": [code]}));
    let response = platform
        .get_as(&format!("/api/auth/user-subscriptions/{alice_id}"), &bob)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = platform
        .get_as(&format!("/api/auth/user-subscriptions/{alice_id}"), &admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // The same updates as Server-Sent Events, for clients without Socket.IO.
    let response = platform
        .get(&format!("/api/live/updates?flights={code}"))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let mut stream = platform
        .get_as(&format!("/api/live/updates?flights={code}"), &bob)
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = String::new();
    sse_until(&mut stream, &mut seen, "event: ready").await;

    // Ops changes the flight through catalog: everyone following it hears.
    let changed = Instant::now();
    patch_flight(
        &platform,
        &admin,
        flight_id,
        json!({"status": "Boarding", "gate": "C3"}),
    )
    .await;
    for socket in [&mut alice_socket, &mut bob_socket] {
        let update = socket
            .update("the boarding update", status_is("Boarding"))
            .await;
        assert_eq!(update["flight_code"], code.as_str());
        assert_eq!(update["flight"]["gate"], "C3");
        assert!(
            update["update"].as_str().unwrap().contains("Boarding"),
            "{update}"
        );
    }
    eprintln!("status change to both sockets: {:?}", changed.elapsed());
    sse_until(&mut stream, &mut seen, "\"status\":\"Boarding\"").await;
    assert!(seen.contains("event: update"), "{seen}");

    // Only ops and admins broadcast; their message reaches the room as it was written.
    let reply = alice_socket
        .call(
            "broadcast_update",
            json!({"flight_code": code, "update": "Free drinks"}),
        )
        .await;
    assert_eq!(reply["status"], 403);
    let mut ops_socket = LiveClient::connected(gateway, Token::Auth(&admin), "websocket").await;
    let reply = ops_socket
        .call(
            "broadcast_update",
            json!({"flight_code": code, "update": "Flight is now boarding"}),
        )
        .await;
    assert_eq!(reply, json!({"update": "Flight is now boarding"}));
    for socket in [&mut alice_socket, &mut bob_socket] {
        let update = socket
            .update("the broadcast", |u| u["update"] == "Flight is now boarding")
            .await;
        assert_eq!(update["source"], "ops");
    }
    sse_until(&mut stream, &mut seen, "Flight is now boarding").await;

    // The instance counts what it holds: three sockets and a stream; two updates delivered.
    let metrics = platform
        .client
        .get(format!("{}/metrics", platform.notification_urls[0]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(&format!("{name}{{")))
            .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert_eq!(value("live_connections"), 4.0);
    assert_eq!(value("live_updates_delivered_total"), 2.0);
    assert_eq!(value("live_updates_published_total"), 2.0);

    // Unsubscribing and leaving the room stop the updates; a third subscriber still gets them.
    let reply = alice_socket
        .call("unsubscribe", json!({"flight_code": code}))
        .await;
    assert_eq!(
        reply,
        json!({"message": format!("Unsubscribed from flight updates for {code}")})
    );
    let reply = bob_socket
        .call("disconnect-room", json!({"flight_code": code}))
        .await;
    assert_eq!(
        reply,
        json!({"message": format!("Disconnected from room flight_updates_{code}.")})
    );
    let listed: Value = platform
        .get_as(&format!("/api/auth/user-subscriptions/{alice_id}"), &alice)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["flights"], json!([]));
    let (_, carol) = platform.customer("carol_live").await;
    let mut carol_socket = LiveClient::connected(gateway, Token::Header(&carol), "websocket").await;
    carol_socket
        .call("subscribe", json!({"flight_code": code.to_lowercase()}))
        .await;
    patch_flight(&platform, &admin, flight_id, json!({"status": "Departed"})).await;
    carol_socket
        .update("the departure", status_is("Departed"))
        .await;
    for socket in [&mut alice_socket, &mut bob_socket] {
        let late = socket.updates_within(Duration::from_millis(500)).await;
        assert!(
            !late.iter().any(status_is("Departed")),
            "an update after leaving: {late:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_subscribers_and_passengers_get_email_and_in_app_notifications() {
    let mail = MailServer::start().await;
    let platform = Platform::spawn_with(Options {
        smtp: Some(mail.url.clone()),
        ..Options::default()
    })
    .await;
    let admin = platform.admin().await;
    let (flight_id, code) = new_flight(&platform, &admin, "LV202").await;
    let (_, follower) = platform.customer("offline_follower").await;
    let (passenger_id, passenger) = platform.customer("offline_passenger").await;
    let (_, online) = platform.customer("online_follower").await;

    // A subscription over REST: created once, then already there.
    let put = |token: &str| {
        platform
            .client
            .put(platform.url(&format!("/api/subscriptions/{code}")))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(put(&follower).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(put(&follower).await.unwrap().status(), StatusCode::OK);
    let response = platform
        .client
        .put(platform.url("/api/subscriptions/not%20a%20flight"))
        .bearer_auth(&follower)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A passenger who never subscribed, and a subscriber who is connected.
    let response = platform
        .post_as(
            "/api/bookings",
            &passenger,
            &json!({"flightId": flight_id, "passengers": [{"name": "Pat Passenger"}]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    eventually("notification knows the passenger", || async {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM passengers WHERE user_id = $1)")
            .bind(passenger_id)
            .fetch_one(&platform.notification_db)
            .await
            .unwrap()
    })
    .await;
    let mut socket =
        LiveClient::connected(&platform.gateway, Token::Header(&online), "websocket").await;
    socket.call("subscribe", json!({"flight_code": code})).await;

    patch_flight(
        &platform,
        &admin,
        flight_id,
        json!({"status": "Delayed", "departureAt": (chrono::Utc::now() + chrono::Duration::hours(30)).to_rfc3339()}),
    )
    .await;
    socket.update("the delay", status_is("Delayed")).await;
    let subject = format!("{code}: Delayed");
    let email = mail
        .wait_for("offline_follower@example.com", &subject)
        .await;
    assert!(email.contains("Hello offline_follower"), "{email}");
    mail.wait_for("offline_passenger@example.com", &subject)
        .await;
    for token in [&follower, &passenger, &online] {
        let inbox: Value = platform
            .get_as("/api/notifications", token)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            inbox["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["kind"] == "flight-status-changed" && n["subject"] == subject.as_str()),
            "{inbox}"
        );
    }
    // The connected subscriber saw it live: no email.
    let emails_to_online: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications n JOIN contacts c USING (user_id) \
         WHERE c.username = 'online_follower' AND n.channel = 'email' AND n.kind = 'flight-status-changed'",
    )
    .fetch_one(&platform.notification_db)
    .await
    .unwrap();
    assert_eq!(emails_to_online, 0);
    assert_eq!(mail.count("online_follower@example.com", &subject), 0);
}

/// Settings that give a test's notification instances a Redis fan-out of their own.
fn redis_fanout() -> Vec<(&'static str, String)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    vec![
        (
            "REDIS_URL",
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ),
        ("LIVE_REDIS_PREFIX", format!("test:{run}:live:")),
        ("DISCOVERY_PREFIX", format!("test:{run}:discovery:")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_notification_instances_deliver_each_update_once_to_every_client() {
    let mail = MailServer::start().await;
    let platform = Platform::spawn_with(Options {
        extra_notification_instances: 1,
        settings: redis_fanout(),
        smtp: Some(mail.url.clone()),
        ..Options::default()
    })
    .await;
    let admin = platform.admin().await;
    let (flight_id, code) = new_flight(&platform, &admin, "LV303").await;
    let (_, alice) = platform.customer("alice_two").await;
    let (_, bob) = platform.customer("bob_two").await;
    let (_, carol) = platform.customer("carol_two").await;

    // One client on each instance, and one through the gateway on long-polling only, whose
    // every request must reach the instance that holds its session.
    let [first, second] = [
        &platform.notification_urls[0],
        &platform.notification_urls[1],
    ];
    let mut clients = vec![
        LiveClient::connected(first, Token::Header(&alice), ANY_TRANSPORT).await,
        LiveClient::connected(second, Token::Auth(&bob), ANY_TRANSPORT).await,
        LiveClient::connected(&platform.gateway, Token::Header(&carol), "polling").await,
    ];
    for client in &mut clients {
        let reply = client.call("subscribe", json!({"flight_code": code})).await;
        assert_eq!(
            reply["message"],
            format!("Subscribed to flight updates for {code}")
        );
    }

    patch_flight(&platform, &admin, flight_id, json!({"status": "Boarding"})).await;
    let mut ids = Vec::new();
    for client in &mut clients {
        let update = client.update("the update", status_is("Boarding")).await;
        ids.push(update["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    for client in &mut clients {
        let again = client.updates_within(Duration::from_millis(1500)).await;
        assert!(again.is_empty(), "delivered twice: {again:?}");
    }
    // Whichever instance handled the change knew that all three were online, wherever they were
    // connected: each has it in their inbox, and nobody was emailed.
    let notices = |channel: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM notifications WHERE kind = 'flight-status-changed' AND channel = $1",
        )
        .bind(channel)
        .fetch_one(&platform.notification_db)
    };
    eventually("the in-app notices are stored", || async {
        notices("in_app").await.unwrap() == 3
    })
    .await;
    let emailed: Vec<String> = sqlx::query_scalar(
        "SELECT c.username FROM notifications n JOIN contacts c USING (user_id) \
         WHERE n.kind = 'flight-status-changed' AND n.channel = 'email'",
    )
    .fetch_all(&platform.notification_db)
    .await
    .unwrap();
    assert!(emailed.is_empty(), "emailed while online: {emailed:?}");

    // A broadcast from a socket on one instance reaches the others, once.
    let mut ops = LiveClient::connected(second, Token::Auth(&admin), "websocket").await;
    ops.call(
        "broadcast_update",
        json!({"flight_code": code, "update": "Gate change: C7"}),
    )
    .await;
    for client in &mut clients {
        client
            .update("the broadcast", |u| u["update"] == "Gate change: C7")
            .await;
    }
    for client in &mut clients {
        let again = client.updates_within(Duration::from_millis(1000)).await;
        assert!(again.is_empty(), "delivered twice: {again:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_survive_a_restart_of_the_notification_service() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let (flight_id, code) = new_flight(&platform, &admin, "LV404").await;
    let (alice_id, alice) = platform.customer("alice_restart").await;

    let mut socket =
        LiveClient::connected(&platform.gateway, Token::Header(&alice), "websocket").await;
    socket.call("subscribe", json!({"flight_code": code})).await;
    drop(socket);

    platform.stop(Restartable::Notification);
    platform.start(Restartable::Notification).await;
    let path = format!("/api/auth/user-subscriptions/{alice_id}");
    eventually("the restarted service answers", || async {
        platform.get_as(&path, &alice).await.status() == StatusCode::OK
    })
    .await;
    let listed: Value = platform.get_as(&path, &alice).await.json().await.unwrap();
    assert_eq!(listed["flights"], json!([code]));

    // A new connection follows the stored subscription without subscribing again.
    let mut socket =
        LiveClient::connected(&platform.gateway, Token::Header(&alice), ANY_TRANSPORT).await;
    patch_flight(&platform, &admin, flight_id, json!({"gate": "D9"})).await;
    let update = socket
        .update("the gate change", |u| u["flight"]["gate"] == "D9")
        .await;
    assert_eq!(update["flight_code"], code.as_str());
}
