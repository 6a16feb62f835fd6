//! The notification service on its own: events in from the bus, notifications out through a
//! webhook served by a real HTTP server on loopback, and stored in-app.

mod bookings;
mod live;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use contracts::events::{UserSnapshot, topics, types};
use contracts::states::UserRole;
use platform::config::{ConfigSource, RunMode};
use platform::events::{Envelope, EventBus, MemoryBus, Message};
use platform::testing::TestDatabase;
use tokio_util::sync::CancellationToken;

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// A webhook receiver that fails its first `failures` calls, then records what it gets.
async fn webhook(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let calls = Arc::new(Mutex::new(0usize));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (store, calls) = (store.clone(), calls.clone());
            async move {
                let mut calls = calls.lock().unwrap();
                *calls += 1;
                if *calls <= failures {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                store.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn registered(user_id: i64, username: &str) -> Message {
    let user = UserSnapshot {
        user_id,
        username: username.into(),
        email: format!("{username}@example.com"),
        role: UserRole::Customer,
        updated_at: chrono::Utc::now(),
    };
    Message {
        topic: topics::USERS.into(),
        key: user_id.to_string(),
        envelope: Envelope::new(
            "identity",
            types::USER_REGISTERED,
            user_id.to_string(),
            serde_json::to_value(user).unwrap(),
        ),
    }
}

/// The notification service alone on an in-process bus, delivering to the webhook at `url`.
async fn start(database: &TestDatabase, url: &str) -> (Arc<MemoryBus>, CancellationToken) {
    let source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        ("NOTIFICATION_WEBHOOK_URL", url),
    ]);
    let bus = Arc::new(MemoryBus::default());
    let app = notification::Application::build(
        notification::Config::load(&source, RunMode::Single).unwrap(),
        bus.clone(),
    )
    .await
    .unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (bus, shutdown)
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_each_notification_arrives_once() {
    let database = TestDatabase::new("notification");
    let (url, received) = webhook(2).await;
    let (bus, shutdown) = start(&database, &url).await;

    let event = registered(42, "jane");
    for _ in 0..2 {
        bus.publish(std::slice::from_ref(&event)).await.unwrap();
    }
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    // The receiver records a call before the service has stored its answer: wait for the row.
    let mut sent = None;
    for _ in 0..150 {
        let row: Option<(i32, String)> = sqlx::query_as(
            "SELECT attempts, status FROM notifications WHERE channel = 'webhook' AND status = 'sent'",
        )
        .fetch_optional(&db)
        .await
        .unwrap();
        if row.is_some() {
            sent = row;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (attempts, _) = sent.expect("the webhook notification was sent after its failures");
    assert_eq!(attempts, 3, "two failures recorded, then sent");
    assert_eq!(received.lock().unwrap().len(), 1);
    let body = received.lock().unwrap()[0].clone();
    assert_eq!(body["userId"], 42);
    assert_eq!(body["kind"], "welcome");
    let in_app: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE channel = 'in_app'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(in_app, 1, "the redelivered event created nothing new");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.lock().unwrap().len(), 1, "nothing sent twice");
    shutdown.cancel();
}

#[tokio::test]
async fn a_webhook_that_cannot_be_reached_is_recorded_without_its_url() {
    let database = TestDatabase::new("notification");
    // Nothing listens on port 1; the URL carries a password and a token in its path.
    let url = "http://hooks:s3cret-pass@127.0.0.1:1/T0KEN-in-the-path";
    let (bus, shutdown) = start(&database, url).await;
    bus.publish(&[registered(7, "joe")]).await.unwrap();

    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    let mut recorded = None;
    for _ in 0..100 {
        recorded = sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM notifications WHERE channel = 'webhook'",
        )
        .fetch_optional(&db)
        .await
        .unwrap()
        .flatten();
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = recorded.expect("the failed delivery is recorded");
    assert!(!error.is_empty());
    assert!(!error.contains("s3cret"), "{error}");
    assert!(!error.contains("T0KEN"), "{error}");
    shutdown.cancel();
}
