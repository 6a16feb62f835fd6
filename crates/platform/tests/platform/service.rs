//! The service host: a task that dies or stalls turns `/ready` to 503 naming it, and shutdown
//! drains requests, then flushes the relay, then stops consumers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::events::consumer::{EventHandler, HandleFuture};
use platform::events::{Envelope, MemoryBus, outbox};
use platform::service::{Context, Host, Job, Migrator, Parts, Service};
use platform::testing::TestDatabase;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "probe.things";
const CONSUMER: &str = "probe.recorder";

/// A small service with one endpoint that writes an event slowly, a consumer of its own events,
/// and, when asked, a job that never beats its heartbeat.
struct Probe;

#[derive(Clone)]
struct ProbeConfig {
    settings: Settings,
    stalling_job: bool,
}

static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;

impl Service for Probe {
    type Config = ProbeConfig;
    const SPEC: ServiceSpec = ServiceSpec::http("probe", 0);

    fn load(source: &ConfigSource, mode: RunMode) -> Result<ProbeConfig, ConfigError> {
        Ok(ProbeConfig {
            settings: Settings::load(source, Self::SPEC, mode)?,
            stalling_job: source.flag("PROBE_STALLING_JOB")?.unwrap_or(false),
        })
    }

    fn settings(config: &ProbeConfig) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static Migrator> {
        Some(&NO_MIGRATIONS)
    }

    async fn build(config: ProbeConfig, context: &Context) -> anyhow::Result<Parts> {
        let db = context.db()?;
        sqlx::query("CREATE TABLE IF NOT EXISTS effects (event_id UUID PRIMARY KEY)")
            .execute(&db)
            .await?;
        let api = Router::new()
            .route("/slow-event", post(slow_event))
            .with_state(db);
        let parts = Parts::new(context.edge("test").build(api))
            .publishes()
            .consumes(CONSUMER, &[TOPIC], Recorder)
            // A server beside the HTTP one: it ends the moment shutdown begins.
            .runs(Job::server("side server", |task| async move {
                task.shutdown.cancelled().await;
            }));
        Ok(if config.stalling_job {
            parts.runs(
                Job::new("quiet job", |task| async move {
                    task.shutdown.cancelled().await;
                })
                .stalls_after(Duration::from_millis(300)),
            )
        } else {
            parts
        })
    }
}

/// Takes its time, then writes an event to the outbox.
async fn slow_event(State(db): State<PgPool>) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let envelope = Envelope::new("probe", "thing.happened", "k", serde_json::json!({}));
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, TOPIC, "k", &envelope)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    StatusCode::NO_CONTENT
}

struct Recorder;

impl EventHandler for Recorder {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                .bind(event.id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

struct Running {
    url: String,
    host: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    tasks: platform::service::Tasks,
    shutdown: CancellationToken,
    db: PgPool,
    _database: TestDatabase,
}

async fn start(extra: &[(&str, &str)]) -> Running {
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("probe");
    let mut source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
    ]);
    for (key, value) in extra {
        source = source.with(*key, *value);
    }
    let config = Probe::load(&source, RunMode::Single).unwrap();
    let host = Host::<Probe>::build(config, Arc::new(MemoryBus::new(Duration::from_secs(5))))
        .await
        .expect("the probe starts");
    let url = format!("http://127.0.0.1:{}", host.port());
    let tasks = host.tasks();
    let shutdown = CancellationToken::new();
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database.url)
        .await
        .unwrap();
    Running {
        url,
        host: Some(tokio::spawn(host.run_until_stopped(shutdown.clone()))),
        tasks,
        shutdown,
        db,
        _database: database,
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn ready(url: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{url}/ready")).await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap())
}

/// `/ready` until it is no longer 200, for at most `within`.
async fn ready_until_unavailable(url: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, body) = ready(url).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return body;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "/ready stayed ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_consumer_that_dies_turns_ready_to_503_naming_it() {
    let probe = start(&[]).await;
    let (status, body) = ready(&probe.url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["tasks"], "ok");
    let names = probe.tasks.names();
    assert!(
        names.contains(&"consumer probe.recorder".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"outbox relay".to_owned()), "{names:?}");

    assert!(probe.tasks.abort("consumer probe.recorder"));
    let body = ready_until_unavailable(&probe.url, Duration::from_secs(2)).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["tasks"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        body["failures"]["tasks"], "consumer probe.recorder was aborted",
        "{body}"
    );
    // The rest of the service still answers.
    let health = reqwest::get(format!("{}/health", probe.url)).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn a_job_that_stops_beating_its_heartbeat_is_reported_stalled() {
    let probe = start(&[("PROBE_STALLING_JOB", "true")]).await;
    let body = ready_until_unavailable(&probe.url, Duration::from_secs(3)).await;
    let failure = body["failures"]["tasks"].as_str().unwrap_or_default();
    assert!(
        failure.starts_with("quiet job made no progress for"),
        "{body}"
    );
}

#[tokio::test]
async fn shutdown_drains_requests_then_flushes_the_relay_before_consumers_stop() {
    let probe = start(&[]).await;
    let client = reqwest::Client::new();
    let request = tokio::spawn(client.post(format!("{}/slow-event", probe.url)).send());
    // Shutdown begins while the request is in flight.
    tokio::time::sleep(Duration::from_millis(150)).await;
    probe.shutdown.cancel();
    let response = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status().as_u16(), 204);
    let mut probe = probe;
    let host = probe.host.take().unwrap();
    tokio::time::timeout(Duration::from_secs(15), host)
        .await
        .expect("the service stops")
        .unwrap()
        .expect("the service stops cleanly");
    // The event the drained request wrote was published before the relay stopped, and consumed
    // before the consumer stopped (the in-process bus answers a publish once it is acknowledged).
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&probe.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
        .fetch_one(&probe.db)
        .await
        .unwrap();
    assert_eq!(effects, 1);
    // Every task stopped because it was told to; none is reported dead.
    assert_eq!(probe.tasks.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn events_reports_the_outbox_backlog_and_the_dead_letters() {
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("probe");
    let source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
    ]);
    // Without a transport, what the service publishes waits in its outbox.
    let host = Host::<Probe>::build(
        Probe::load(&source, RunMode::Single).unwrap(),
        Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let url = format!("http://127.0.0.1:{}", host.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(host.run_until_stopped(shutdown.clone()));
    let events = || async {
        let response = reqwest::get(format!("{url}/events")).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Value>().await.unwrap()
    };
    let idle = events().await;
    assert_eq!(
        (idle["outboxPending"].as_i64(), idle["deadLetters"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(idle["oldestPendingSeconds"].is_null());

    let client = reqwest::Client::new();
    for _ in 0..2 {
        let written = client
            .post(format!("{url}/slow-event"))
            .send()
            .await
            .unwrap();
        assert_eq!(written.status().as_u16(), 204);
    }
    let db = PgPool::connect(&database.url).await.unwrap();
    sqlx::query(
        "INSERT INTO dead_letters (consumer, topic, envelope, error, attempts) \
         VALUES ('probe.recorder', 'probe.things', '{}', 'unreadable', 3)",
    )
    .execute(&db)
    .await
    .unwrap();
    let behind = events().await;
    assert_eq!(behind["outboxPending"], 2);
    assert!(behind["oldestPendingSeconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(behind["deadLetters"], 1);
    assert!(behind["lastDeadLetterAt"].is_string());
    shutdown.cancel();
}
