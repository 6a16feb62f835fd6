//! Notifications over the real Kafka-protocol broker, delivered to a real SMTP server process.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{MailServer, Options, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn welcome_confirmation_and_cancellation_emails_over_kafka() {
    let mail = MailServer::start().await;
    let platform = Platform::spawn_with(Options {
        kafka: true,
        smtp: Some(mail.url.clone()),
        ..Options::default()
    })
    .await;
    let (_, token) = platform.customer("johndoe").await;
    let welcome = mail
        .wait_for("johndoe@example.com", "Welcome to Itinera")
        .await;
    assert!(welcome.contains("Hello johndoe"), "{welcome}");

    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA900", 2, "AB").await;
    let booking: Value = platform
        .post_as(
            "/api/bookings",
            &token,
            &json!({"flightId": flight["flightId"], "passengers": [{"name": "John Doe"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let reference = booking["reference"].as_str().unwrap();
    let confirmation = mail
        .wait_for(
            "johndoe@example.com",
            &format!("Your booking {reference} is confirmed"),
        )
        .await;
    for part in [
        flight["flightCode"].as_str().unwrap(),
        "John Doe, seat 3A",
        "199.99 USD",
    ] {
        assert!(
            confirmation.contains(part),
            "{part} missing from {confirmation}"
        );
    }
    let id = booking["bookingId"].as_i64().unwrap();
    let cancelled = platform
        .post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    mail.wait_for(
        "johndoe@example.com",
        &format!("Your booking {reference} is cancelled"),
    )
    .await;

    // In the app: three notifications, newest first, unread first after one is read.
    let inbox: Value = platform
        .get_as("/api/notifications", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["total"], 3, "{inbox}");
    assert_eq!(inbox["unread"], 3);
    let oldest = inbox["items"][2]["notificationId"].as_i64().unwrap();
    let read = platform
        .post_as(
            &format!("/api/notifications/{oldest}/read"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let inbox: Value = platform
        .get_as("/api/notifications", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["unread"], 2);
    assert_eq!(
        inbox["items"][2]["notificationId"], oldest,
        "read ones come last"
    );
    let (_, other) = platform.customer("janedoe").await;
    let theirs = platform
        .post_as(
            &format!("/api/notifications/{oldest}/read"),
            &other,
            &json!({}),
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    // Nothing was sent twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mail.count("johndoe@example.com", "Welcome to Itinera"), 1);
    assert_eq!(mail.count("johndoe@example.com", "is confirmed"), 1);
    assert_eq!(mail.count("johndoe@example.com", "is cancelled"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_service_stopped_mid_stream_loses_nothing_and_sends_nothing_twice() {
    let mail = MailServer::start().await;
    let platform = Platform::spawn_with(Options {
        kafka: true,
        smtp: Some(mail.url.clone()),
        ..Options::default()
    })
    .await;
    platform.customer("first").await;
    mail.wait_for("first@example.com", "Welcome").await;

    platform.stop_notification();
    for name in ["second", "third", "fourth"] {
        platform.customer(name).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mail.count("second@example.com", "Welcome"),
        0,
        "nothing is sent while it is down"
    );

    platform.start_notification().await;
    for name in ["second", "third", "fourth"] {
        mail.wait_for(&format!("{name}@example.com"), "Welcome")
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for name in ["first", "second", "third", "fourth"] {
        assert_eq!(
            mail.count(&format!("{name}@example.com"), "Welcome"),
            1,
            "{name}"
        );
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE channel = 'email'")
            .fetch_one(&platform.notification_db)
            .await
            .unwrap();
    assert_eq!(stored, 5, "four customers and the administrator, once each");
}
