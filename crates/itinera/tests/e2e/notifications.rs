//! Notifications over the real Kafka-protocol broker, delivered to a real SMTP server process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, Platform, eventually};

/// An aiosmtpd server on loopback that stores what it receives in a maildir.
struct MailServer {
    process: Child,
    maildir: PathBuf,
    url: String,
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(self.maildir.parent().unwrap_or(&self.maildir));
    }
}

impl MailServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = std::env::temp_dir().join(format!("itinera-mail-{}", uuid::Uuid::new_v4()));
        let maildir = root.join("maildir");
        std::fs::create_dir_all(&root).unwrap();
        let python = std::env::var("TEST_SMTP_PYTHON").unwrap_or_else(|_| {
            format!(
                "{}/.cache/itinera/venv/bin/python",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let process = Command::new(&python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start aiosmtpd with {python} (scripts/test.sh installs it): {e}")
            });
        let server = Self {
            process,
            maildir,
            url: format!("smtp://127.0.0.1:{port}"),
        };
        eventually("the SMTP server listens", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        server
    }

    /// Every message received so far, as text.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// Messages to `address` whose subject contains `subject`.
    fn count(&self, address: &str, subject: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.contains(&format!("X-RcptTo: {address}")) && m.contains(subject))
            .count()
    }

    async fn wait_for(&self, address: &str, subject: &str) -> String {
        eventually(
            &format!("an email to {address} about {subject:?}"),
            || async { self.count(address, subject) > 0 },
        )
        .await;
        self.messages()
            .into_iter()
            .find(|m| m.contains(&format!("X-RcptTo: {address}")) && m.contains(subject))
            .unwrap_or_default()
    }
}

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
