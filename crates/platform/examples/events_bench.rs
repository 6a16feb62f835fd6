//! Event backbone benchmark: relay throughput and commit-to-effect latency, over the in-process
//! bus or Kafka. Run through `bench/events.sh`, which starts the broker and records the results.
//!
//! Usage: events_bench <memory|kafka> <events for throughput> <events for latency> <latency rate/s>

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::events::consumer::{Consumer, EventHandler, HandleFuture};
use platform::events::kafka::{KafkaBus, KafkaSettings};
use platform::events::relay::Relay;
use platform::events::{Envelope, EventBus, MemoryBus, outbox};
use platform::testing::TestDatabase;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

/// Stores how long after its creation (just before its transaction committed) each event's effect
/// was stored.
struct Latency;

impl EventHandler for Latency {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            sqlx::query("INSERT INTO latencies (event_id, micros) VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp() - $2) * 1e6)::bigint)")
                .bind(event.id)
                .bind(event.time)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

/// Commits `count` events for `topic` to the outbox in one transaction, keyed over 64 aggregates.
async fn commit_events(db: &sqlx::PgPool, topic: &str, count: usize) -> anyhow::Result<()> {
    let events: Vec<(String, Envelope)> = (0..count)
        .map(|i| {
            let key = (i % 64).to_string();
            let envelope = Envelope::new(
                "bench",
                "bench.happened",
                key.clone(),
                serde_json::json!({ "i": i }),
            );
            (key, envelope)
        })
        .collect();
    let mut tx = db.begin().await?;
    outbox::enqueue_many(&mut tx, topic, &events).await?;
    tx.commit().await?;
    Ok(())
}

fn kafka_settings(transport: &str, _shutdown: &CancellationToken) -> Option<KafkaSettings> {
    (transport == "kafka").then(|| KafkaSettings {
        brokers: std::env::var("KAFKA_BROKERS")
            .unwrap_or_else(|_| "127.0.0.1:9092".into())
            .split(',')
            .map(str::to_owned)
            .collect(),
        client_id: "itinera-bench".into(),
        partitions: 3,
        session_timeout: Duration::from_secs(6),
        prefix: String::new(),
        security: Default::default(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let transport = args.get(1).map_or("memory", String::as_str).to_owned();
    let bulk: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let paced: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let rate: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(200);

    let database = TestDatabase::new("bench");
    static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;
    let db = platform::db::connect_and_migrate(
        &platform::config::DatabaseSettings {
            url: database.url.clone(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        },
        &NO_MIGRATIONS,
    )
    .await?;
    platform::events::install(&db).await?;
    sqlx::query("CREATE TABLE latencies (event_id UUID PRIMARY KEY, micros BIGINT NOT NULL)")
        .execute(&db)
        .await?;

    let shutdown = CancellationToken::new();
    let topic = format!("bench.events.{}", uuid::Uuid::new_v4().simple());
    let bus: Arc<dyn EventBus> = match kafka_settings(&transport, &shutdown) {
        Some(settings) => Arc::new(
            KafkaBus::connect(settings, &[&topic])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        None => Arc::new(MemoryBus::default()),
    };
    // Relay alone: a subscriber that acknowledges at once, so only the relay's own work counts.
    let drain_topic = format!("{topic}.drain");
    if let Some(kafka) = kafka_settings(&transport, &shutdown) {
        KafkaBus::connect(kafka, &[&drain_topic])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut drain = bus.subscribe("drain", &[&drain_topic]);
    let drained = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = drained.clone();
    tokio::spawn(async move {
        while let Some(delivery) = drain.receiver.recv().await {
            delivery.ack();
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    commit_events(&db, &drain_topic, bulk).await?;
    let relay_stop = CancellationToken::new();
    let started = Instant::now();
    tokio::spawn(Relay::new(db.clone(), bus.clone()).run(relay_stop.clone()));
    while drained.load(std::sync::atomic::Ordering::Relaxed) < bulk {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let relay_only = bulk as f64 / started.elapsed().as_secs_f64();
    relay_stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("DELETE FROM outbox").execute(&db).await?;

    let subscription = bus.subscribe("bench", &[&topic]);
    tokio::spawn(
        Consumer::new("bench", db.clone(), Arc::new(Latency)).run(subscription, shutdown.clone()),
    );

    let count = |db: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM latencies")
            .fetch_one(&db)
            .await
            .unwrap_or(0) as usize
    };

    // Throughput: events already committed to the outbox, then the relay starts.
    commit_events(&db, &topic, bulk).await?;
    let started = Instant::now();
    tokio::spawn(Relay::new(db.clone(), bus.clone()).run(shutdown.clone()));
    while count(db.clone()).await < bulk {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let throughput = bulk as f64 / started.elapsed().as_secs_f64();
    sqlx::query("TRUNCATE latencies").execute(&db).await?;

    // Latency: one event per transaction at a steady rate.
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    for i in 0..paced {
        ticker.tick().await;
        let key = (i % 64).to_string();
        let envelope = Envelope::new(
            "bench",
            "bench.happened",
            key.clone(),
            serde_json::json!({ "i": i }),
        );
        let mut tx = db.begin().await?;
        outbox::enqueue(&mut tx, &topic, &key, &envelope).await?;
        tx.commit().await?;
    }
    while count(db.clone()).await < paced {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (p50, p99, max): (f64, f64, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY micros), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY micros), max(micros) FROM latencies",
    )
    .fetch_one(&db)
    .await?;
    shutdown.cancel();
    use std::io::Write;
    writeln!(
        std::io::stdout(),
        "| {transport} | {bulk} | {relay_only:.0} | {throughput:.0} | {paced} at {rate}/s | {:.1} ms | {:.1} ms | {:.1} ms |",
        p50 / 1000.0,
        p99 / 1000.0,
        max as f64 / 1000.0
    )?;
    Ok(())
}
