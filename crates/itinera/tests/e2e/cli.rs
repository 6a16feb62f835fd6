//! The `itinera` command itself: `itinera up --instances 2` runs two of every service behind the
//! gateway.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::PASSWORD;

/// The running command, killed (and its databases dropped) when the test ends.
struct Up {
    child: Child,
    prefix: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let maintenance = platform::testing::maintenance_url();
        let prefix = self.prefix.clone();
        // Dropped from a plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(db) = sqlx::PgPool::connect(&maintenance).await else {
                    return;
                };
                for service in ["identity", "catalog", "booking", "notification", "payment"] {
                    let _ = sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS \"{prefix}{service}\" WITH (FORCE)"
                    ))
                    .execute(&db)
                    .await;
                }
            });
        })
        .join();
    }
}

#[test]
fn up_with_several_instances_refuses_to_start_without_redis() {
    let output = Command::new(env!("CARGO_BIN_EXE_itinera"))
        .args(["up", "--instances", "2", "--no-seed"])
        .env_remove("REDIS_URL")
        .output()
        .expect("itinera runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--instances 2 needs REDIS_URL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_two_instances_runs_two_of_every_service_behind_the_gateway() {
    let prefix = format!("test_x{}_", uuid::Uuid::new_v4().simple());
    let mut command = Command::new(env!("CARGO_BIN_EXE_itinera"));
    command
        .args(["up", "--instances", "2", "--no-seed"])
        .env("DATABASE_URL", platform::testing::maintenance_url())
        .env("DATABASE_NAME_PREFIX", &prefix)
        .env("LOG_LEVEL", "warn")
        .env("RATE_LIMIT_ENABLED", "false")
        .env_remove("KAFKA_BROKERS")
        // Several notification instances fan live updates out through Redis.
        .env(
            "REDIS_URL",
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
        .env("DISCOVERY_PREFIX", format!("{prefix}discovery:"))
        .env("LIVE_REDIS_PREFIX", format!("{prefix}live:"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for port in [
        "GATEWAY_PORT",
        "IDENTITY_PORT",
        "IDENTITY_GRPC_PORT",
        "CATALOG_PORT",
        "BOOKING_PORT",
        "NOTIFICATION_PORT",
        "PAYMENT_PORT",
    ] {
        command.env(port, "0");
    }
    let mut child = command.spawn().expect("itinera runs");
    let stdout = child.stdout.take().unwrap();
    let up = Up { child, prefix };
    // The gateway's address is on the first lines it prints.
    let gateway = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.ok()?;
            if let Some(url) = line.trim().strip_prefix("gateway") {
                return Some(url.trim().to_owned());
            }
        }
        None
    });
    let gateway = tokio::time::timeout(Duration::from_secs(60), gateway)
        .await
        .expect("itinera up prints the gateway")
        .unwrap()
        .expect("a gateway line");

    let client = reqwest::Client::new();
    let status: Value = client
        .get(format!("{gateway}/api/discovery/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for service in ["identity", "catalog", "booking", "notification", "payment"] {
        let instances = status["services"][service].as_array().unwrap();
        assert_eq!(instances.len(), 2, "{service}: {status}");
    }
    let registered = client
        .post(format!("{gateway}/api/auth/register"))
        .json(&json!({"username": "twice", "email": "twice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    // The login works whichever identity instance it reaches: they share the database and keys.
    for _ in 0..4 {
        let login = client
            .post(format!("{gateway}/api/auth/login"))
            .json(&json!({"username": "twice", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK);
        let token = login.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = client
            .get(format!("{gateway}/api/users/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }
    drop(up);
}
