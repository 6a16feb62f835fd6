//! Outbox → relay → bus → idempotent consumer, against a real database.

use std::sync::Arc;
use std::time::Duration;

use platform::events::consumer::{Consumer, EventHandler, HandleError, HandleFuture};
use platform::events::relay::Relay;
use platform::events::{Envelope, EventBus, MemoryBus, Message, outbox};
use platform::testing::TestDatabase;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// Stores `data.n` of every event; rejects events whose data has `"poison": true`.
struct Recorder;

impl EventHandler for Recorder {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            if event.data.get("poison").is_some() {
                return Err(HandleError::Reject("poison".into()));
            }
            let n = event.data["n"]
                .as_i64()
                .ok_or_else(|| HandleError::Reject("no n".into()))?;
            sqlx::query("INSERT INTO effects (event_id, n) VALUES ($1, $2)")
                .bind(event.id)
                .bind(n)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

struct Fixture {
    db: PgPool,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn fixture() -> Fixture {
    let database = TestDatabase::new("platform");
    let settings = platform::config::DatabaseSettings {
        url: database.url.clone(),
        max_connections: 8,
        acquire_timeout: Duration::from_secs(5),
    };
    static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;
    let db = platform::db::connect_and_migrate(&settings, &NO_MIGRATIONS)
        .await
        .unwrap();
    platform::events::install(&db).await.unwrap();
    sqlx::query("CREATE TABLE effects (event_id UUID NOT NULL, n BIGINT NOT NULL)")
        .execute(&db)
        .await
        .unwrap();
    Fixture {
        db,
        shutdown: CancellationToken::new(),
        _database: database,
    }
}

async fn enqueue(db: &PgPool, key: &str, data: serde_json::Value) -> Envelope {
    let envelope = Envelope::new("test", "thing.happened", key, data);
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "things", key, &envelope)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    envelope
}

async fn effects(db: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT n FROM effects ORDER BY n")
        .fetch_all(db)
        .await
        .unwrap()
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 5 s");
}

fn start(fixture: &Fixture, bus: &Arc<MemoryBus>) {
    let subscription = bus.subscribe("recorder", &["things"]);
    let consumer = Consumer::new("test.recorder", fixture.db.clone(), Arc::new(Recorder));
    tokio::spawn(consumer.run(subscription, fixture.shutdown.clone()));
    tokio::spawn(Relay::new(fixture.db.clone(), bus.clone()).run(fixture.shutdown.clone()));
}

#[tokio::test]
async fn committed_events_reach_the_consumer_in_order_and_rolled_back_ones_never_do() {
    let fixture = fixture().await;
    let bus = Arc::new(MemoryBus::default());
    start(&fixture, &bus);
    for n in 0..50 {
        enqueue(&fixture.db, "k", serde_json::json!({ "n": n })).await;
    }
    let mut tx = fixture.db.begin().await.unwrap();
    let rolled_back = Envelope::new(
        "test",
        "thing.happened",
        "k",
        serde_json::json!({ "n": 999 }),
    );
    outbox::enqueue(&mut tx, "things", "k", &rolled_back)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    eventually(async || effects(&fixture.db).await.len() == 50).await;
    let order: Vec<i64> =
        sqlx::query_scalar("SELECT e.n FROM effects e JOIN inbox i ON i.event_id = e.event_id ORDER BY i.processed_at, e.n")
            .fetch_all(&fixture.db)
            .await
            .unwrap();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&fixture.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let fixture = fixture().await;
    let bus = Arc::new(MemoryBus::default());
    let subscription = bus.subscribe("recorder", &["things"]);
    let consumer = Consumer::new("test.recorder", fixture.db.clone(), Arc::new(Recorder));
    tokio::spawn(consumer.run(subscription, fixture.shutdown.clone()));
    let message = Message {
        topic: "things".into(),
        key: "k".into(),
        envelope: Envelope::new("test", "thing.happened", "k", serde_json::json!({ "n": 7 })),
    };
    for _ in 0..3 {
        bus.publish(std::slice::from_ref(&message)).await.unwrap();
    }
    assert_eq!(effects(&fixture.db).await, [7]);

    // Duplicates arriving together, applied in one transaction, count once too.
    let other = Message {
        envelope: Envelope::new("test", "thing.happened", "k", serde_json::json!({ "n": 8 })),
        ..message.clone()
    };
    let burst = [message.clone(), other.clone(), other.clone(), message];
    bus.publish(&burst).await.unwrap();
    assert_eq!(effects(&fixture.db).await, [7, 8]);
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_later_events_still_flow() {
    let fixture = fixture().await;
    let bus = Arc::new(MemoryBus::default());
    start(&fixture, &bus);
    enqueue(&fixture.db, "k", serde_json::json!({ "n": 1 })).await;
    let poison = enqueue(&fixture.db, "k", serde_json::json!({ "poison": true })).await;
    enqueue(&fixture.db, "k", serde_json::json!({ "n": 2 })).await;
    eventually(async || effects(&fixture.db).await == [1, 2]).await;
    let (envelope, error): (serde_json::Value, String) =
        sqlx::query_as("SELECT envelope, error FROM dead_letters WHERE consumer = 'test.recorder'")
            .fetch_one(&fixture.db)
            .await
            .unwrap();
    assert_eq!(envelope["id"], poison.id.to_string());
    assert!(error.contains("poison"));
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_no_consumer_acknowledges_and_arrive_once_later() {
    let fixture = fixture().await;
    let bus = Arc::new(MemoryBus::new(Duration::from_millis(200)));
    // A consumer that takes events and dies without acknowledging them.
    let mut crashing = bus.subscribe("recorder", &["things"]);
    tokio::spawn(Relay::new(fixture.db.clone(), bus.clone()).run(fixture.shutdown.clone()));
    for n in 0..10 {
        enqueue(&fixture.db, "k", serde_json::json!({ "n": n })).await;
    }
    let first = crashing.receiver.recv().await.expect("delivered once");
    drop(first);
    drop(crashing);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&fixture.db)
        .await
        .unwrap();
    assert_eq!(
        unsent, 10,
        "nothing is marked sent without an acknowledgement"
    );

    // The consumer comes back: every event arrives, none twice.
    let subscription = bus.subscribe("recorder", &["things"]);
    let consumer = Consumer::new("test.recorder", fixture.db.clone(), Arc::new(Recorder));
    tokio::spawn(consumer.run(subscription, fixture.shutdown.clone()));
    eventually(async || effects(&fixture.db).await.len() == 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(effects(&fixture.db).await, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn only_one_relay_per_database_publishes() {
    let fixture = fixture().await;
    let bus = Arc::new(MemoryBus::default());
    start(&fixture, &bus);
    // A second relay on the same database (another instance of the service).
    tokio::spawn(Relay::new(fixture.db.clone(), bus.clone()).run(fixture.shutdown.clone()));
    for n in 0..30 {
        enqueue(
            &fixture.db,
            &format!("k{}", n % 3),
            serde_json::json!({ "n": n }),
        )
        .await;
    }
    eventually(async || effects(&fixture.db).await.len() == 30).await;
    let attempts: i64 = sqlx::query_scalar("SELECT sum(attempts) FROM outbox")
        .fetch_one(&fixture.db)
        .await
        .unwrap();
    assert_eq!(attempts, 30, "each event published exactly once");
}
