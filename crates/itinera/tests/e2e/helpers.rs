use std::sync::Arc;
use std::time::Duration;

use itinera::registry;
use platform::config::{ConfigSource, RunMode};
use platform::events::bus::Disconnected;
use platform::events::{EventBus, MemoryBus};
use platform::service::{Entry, Instance};
use platform::testing::TestDatabase;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "securepassword123";
pub const ADMIN: (&str, &str) = ("root", "rootpassword1");

/// The whole platform, as `itinera up` runs it: every service of the registry, then the gateway.
pub struct Platform {
    pub gateway: String,
    /// Every notification instance's own URL (the first is the restartable one).
    pub notification_urls: Vec<String>,
    pub client: reqwest::Client,
    pub booking_db: sqlx::PgPool,
    pub catalog_db: sqlx::PgPool,
    pub notification_db: sqlx::PgPool,
    pub payment_db: sqlx::PgPool,
    shutdown: CancellationToken,
    /// Every service runs under a token of its own, so a test can stop and restart it.
    services: Vec<ServiceHandle>,
    memory: Arc<dyn EventBus>,
    options: Options,
    _databases: Vec<TestDatabase>,
}

/// The services a test stops and starts again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restartable {
    Booking,
    Notification,
    Payment,
}

impl Restartable {
    fn name(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Notification => "notification",
            Self::Payment => "payment",
        }
    }
}

struct ServiceHandle {
    entry: Entry,
    /// Its configuration, with the port it first got, so the gateway finds it again.
    source: ConfigSource,
    shutdown: std::sync::Mutex<CancellationToken>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for handle in &self.services {
            handle.shutdown.lock().unwrap().cancel();
        }
    }
}

async fn pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("test connects")
}

/// How a test wants the platform.
#[derive(Clone, Default)]
pub struct Options {
    /// Events over the test Kafka broker (topics of this test's own) instead of the in-process bus.
    pub kafka: bool,
    /// `smtp://host:port` of a mail server for the notification service.
    pub smtp: Option<String>,
    /// Extra settings for every service (e.g. `BOOKING_HOLD_SECS`).
    pub settings: Vec<(&'static str, String)>,
    /// Notification instances besides the restartable one, all behind the gateway.
    pub extra_notification_instances: usize,
}

async fn bus_for(
    options: &Options,
    entry: &Entry,
    source: &ConfigSource,
    memory: &Arc<dyn EventBus>,
) -> Arc<dyn EventBus> {
    if !options.kafka {
        return memory.clone();
    }
    let settings = entry.settings(source, RunMode::Single).unwrap();
    platform::events::kafka_transport(&settings, &contracts::events::topics::ALL)
        .await
        .expect("the test broker is running (scripts/kafka.sh start)")
        .expect("KAFKA_BROKERS is set")
}

/// Builds one service (subscribed to its topics, not yet running). A restarted service takes the
/// port its previous run had, once that run has let go of it.
async fn build_service(
    entry: &Entry,
    source: &ConfigSource,
    bus: Arc<dyn EventBus>,
) -> Box<dyn Instance> {
    let name = entry.spec.name;
    for attempt in 0.. {
        match entry.build(source, RunMode::Single, bus.clone()).await {
            Ok(instance) => return instance,
            Err(e) if attempt < 100 => {
                tracing::debug!(error = %e, "{name} not started yet; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{name} starts: {e:#}"),
        }
    }
    unreachable!()
}

/// The URL of the test database of `service`.
fn database_of<'a>(databases: &'a [TestDatabase], service: &str) -> &'a str {
    registry::BACKENDS
        .iter()
        .zip(databases)
        .find(|(entry, _)| entry.spec.name == service)
        .map(|(_, database)| database.url.as_str())
        .expect("a service with a database")
}

impl Platform {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        platform::telemetry::init_for_tests();
        let databases: Vec<TestDatabase> = registry::BACKENDS
            .iter()
            .map(|entry| TestDatabase::new(entry.spec.name))
            .collect();
        let mut base = ConfigSource::from_pairs([
            ("SERVICE_PORT", "0"),
            ("IDENTITY_GRPC_PORT", "0"),
            ("DATABASE_MAX_CONNECTIONS", "5"),
            ("ITINERA_ADMIN_USERNAME", ADMIN.0),
            ("ITINERA_ADMIN_PASSWORD", ADMIN.1),
            ("SEED_DAYS", "3"),
            // The platform as `itinera up` runs it; production mode has tests of its own, which
            // override this in `Options::settings`.
            ("ITINERA_MODE", "demo"),
            // These tests race hundreds of bookings from one user; the gateway's limits and
            // booking's limits on unpaid holds have tests of their own.
            ("RATE_LIMIT_ENABLED", "false"),
            ("BOOKING_MAX_PENDING_PER_USER", "1000"),
            ("BOOKING_MAX_HELD_SEATS_PER_USER", "1000"),
            ("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "100"),
            // Tests that choose production mode run the simulated card processor, which production
            // starts only when it is named.
            ("PAYMENT_PROCESSOR", "simulated"),
        ]);
        if options.kafka {
            let brokers =
                std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
            base = base
                .with("KAFKA_BROKERS", brokers)
                .with("KAFKA_SESSION_TIMEOUT_MS", "6000")
                .with(
                    "KAFKA_TOPIC_PREFIX",
                    format!("t{}.", uuid::Uuid::new_v4().simple()),
                );
        }
        if let Some(smtp) = &options.smtp {
            base = base.with("SMTP_URL", smtp.as_str());
        }
        for (key, value) in &options.settings {
            base = base.with(*key, value.as_str());
        }
        let shutdown = CancellationToken::new();
        let memory: Arc<dyn EventBus> = Arc::new(MemoryBus::new(Duration::from_secs(10)));

        // Every service in the registry's order, as `itinera up` starts them: all are built (and
        // subscribed) before any runs, so no event is published before its consumers exist.
        let mut services = Vec::new();
        let mut built: Vec<(Box<dyn Instance>, CancellationToken)> = Vec::new();
        let mut upstreams: Vec<(&str, Vec<String>)> = Vec::new();
        for (entry, database) in registry::BACKENDS.iter().zip(&databases) {
            let source = base.clone().with("DATABASE_URL", database.url.as_str());
            let token = CancellationToken::new();
            let bus = bus_for(&options, entry, &source, &memory).await;
            let instance = build_service(entry, &source, bus).await;
            for (key, value) in instance.exported() {
                if base.get(key).is_none() {
                    base = base.with(key.as_str(), value.as_str());
                }
            }
            let port = instance.port();
            upstreams.push((entry.spec.name, vec![format!("http://127.0.0.1:{port}")]));
            services.push(ServiceHandle {
                entry: *entry,
                source: source.with("SERVICE_PORT", port.to_string()),
                shutdown: std::sync::Mutex::new(token.clone()),
            });
            built.push((instance, token));
        }
        let notification = registry::find("notification").unwrap();
        for _ in 0..options.extra_notification_instances {
            let source = base
                .clone()
                .with("DATABASE_URL", database_of(&databases, "notification"))
                .with("SERVICE_PORT", "0");
            let bus = bus_for(&options, &notification, &source, &memory).await;
            let instance = build_service(&notification, &source, bus).await;
            for (service, urls) in &mut upstreams {
                if *service == "notification" {
                    urls.push(format!("http://127.0.0.1:{}", instance.port()));
                }
            }
            built.push((instance, shutdown.clone()));
        }
        for (instance, token) in built {
            tokio::spawn(instance.run_until_stopped(token));
        }
        let mut gateway_source = base.clone();
        for (service, urls) in &upstreams {
            gateway_source = gateway_source.with(
                format!("{}_UPSTREAMS", service.to_ascii_uppercase()),
                urls.join(","),
            );
        }
        let gateway =
            build_service(&registry::GATEWAY, &gateway_source, Arc::new(Disconnected)).await;
        let gateway_port = gateway.port();
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
        let notification_urls = upstreams
            .iter()
            .find(|(service, _)| *service == "notification")
            .map(|(_, urls)| urls.clone())
            .unwrap_or_default();

        Self {
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            notification_urls,
            client: reqwest::Client::new(),
            catalog_db: pool(database_of(&databases, "catalog")).await,
            booking_db: pool(database_of(&databases, "booking")).await,
            notification_db: pool(database_of(&databases, "notification")).await,
            payment_db: pool(database_of(&databases, "payment")).await,
            shutdown,
            services,
            memory,
            options,
            _databases: databases,
        }
    }

    fn handle(&self, kind: Restartable) -> &ServiceHandle {
        self.services
            .iter()
            .find(|handle| handle.entry.spec.name == kind.name())
            .expect("a service of the registry")
    }

    /// Stops a service: it leaves the gateway's view as its listener closes, and its consumers
    /// stop after it (an event they hold unacknowledged is delivered again).
    pub fn stop(&self, kind: Restartable) {
        self.handle(kind).shutdown.lock().unwrap().cancel();
    }

    /// Starts a new instance of a stopped service on the same database, topics and port.
    pub async fn start(&self, kind: Restartable) {
        let handle = self.handle(kind);
        let token = CancellationToken::new();
        let bus = bus_for(&self.options, &handle.entry, &handle.source, &self.memory).await;
        let instance = build_service(&handle.entry, &handle.source, bus).await;
        tokio::spawn(instance.run_until_stopped(token.clone()));
        *handle.shutdown.lock().unwrap() = token;
    }

    pub fn stop_notification(&self) {
        self.stop(Restartable::Notification);
    }

    pub async fn start_notification(&self) {
        self.start(Restartable::Notification).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    // These return futures that own their request, so that closures can return them.

    pub fn get(&self, path: &str) -> impl Future<Output = Response> + use<> {
        send(self.client.get(self.url(path)))
    }

    pub fn get_as(&self, path: &str, token: &str) -> impl Future<Output = Response> + use<> {
        send(self.client.get(self.url(path)).bearer_auth(token))
    }

    pub fn post_as(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Response> + use<> {
        send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
    }

    pub async fn login(&self, username: &str, password: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Registers a customer and returns `(user id, token)`.
    pub async fn customer(&self, username: &str) -> (i64, String) {
        let response = self
            .client
            .post(self.url("/api/auth/register"))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let login = self.login(username, PASSWORD).await;
        (
            login["userId"].as_i64().unwrap(),
            login["token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN.0, ADMIN.1).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An airport pair, an aircraft with `rows` rows of `letters` in economy (and a 2-row
    /// business cabin), and one flight tomorrow; returns the flight's detail.
    pub async fn small_flight(&self, admin: &str, number: &str, rows: i32, letters: &str) -> Value {
        for (iata, city, tz) in [
            ("AAA", "Alphaville", "Europe/Paris"),
            ("BBB", "Betaville", "America/New_York"),
        ] {
            let response = self
                .post_as(
                    "/api/airports",
                    admin,
                    &json!({"iata": iata, "name": format!("{city} International"), "city": city, "country": "FR", "timeZone": tz}),
                )
                .await;
            assert!(
                matches!(response.status().as_u16(), 201 | 409),
                "{}",
                response.status()
            );
        }
        let model = format!("Test {number}");
        let aircraft: Value = self
            .post_as(
                "/api/aircraft",
                admin,
                &json!({"model": model, "cabins": [
                    {"cabin": "business", "firstRow": 1, "lastRow": 2, "seatLetters": "AC"},
                    {"cabin": "economy", "firstRow": 3, "lastRow": 2 + rows, "seatLetters": letters},
                ]}),
            )
            .await
            .json()
            .await
            .unwrap();
        let departure = chrono::Utc::now() + chrono::Duration::days(1);
        let response = self
            .post_as(
                "/api/flights",
                admin,
                &json!({
                    "flightNumber": number,
                    "airline": "Test Air",
                    "origin": "AAA",
                    "destination": "BBB",
                    "departureAt": departure.to_rfc3339(),
                    "arrivalAt": (departure + chrono::Duration::hours(8)).to_rfc3339(),
                    "aircraftTypeId": aircraft["id"],
                    "fares": {"economy": {"amount": "199.99", "currency": "USD"}, "business": {"amount": "899", "currency": "USD"}},
                }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let flight: Value = response.json().await.unwrap();
        self.wait_until_bookable(flight["flightId"].as_i64().unwrap())
            .await;
        flight
    }

    /// Waits until booking has received the flight's inventory from catalog's events.
    pub async fn wait_until_bookable(&self, flight_id: i64) {
        eventually("booking knows the flight", || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM inventory WHERE flight_id = $1)",
            )
            .bind(flight_id)
            .fetch_one(&self.booking_db)
            .await
            .unwrap()
        })
        .await;
    }
}

async fn send(request: reqwest::RequestBuilder) -> Response {
    request.send().await.expect("request sent")
}

/// Polls `check` until it is true, for at most 20 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

pub use platform::testing::problem;

/// An aiosmtpd server on loopback that stores what it receives in a maildir.
pub struct MailServer {
    process: std::process::Child,
    maildir: std::path::PathBuf,
    pub url: String,
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(self.maildir.parent().unwrap_or(&self.maildir));
    }
}

impl MailServer {
    pub async fn start() -> Self {
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
        let process = std::process::Command::new(&python)
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
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
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
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// Messages to `address` whose subject contains `subject`.
    pub fn count(&self, address: &str, subject: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.contains(&format!("X-RcptTo: {address}")) && m.contains(subject))
            .count()
    }

    pub async fn wait_for(&self, address: &str, subject: &str) -> String {
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
