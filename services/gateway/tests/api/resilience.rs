//! Several instances behind the gateway: balancing, outlier ejection (the circuit breaker), seed
//! 002's simulate-failure, retries of idempotent requests only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use platform::config::{ConfigSource, RunMode};
use platform::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::PASSWORD;

/// Three identity instances on one database behind one gateway.
struct Cluster {
    gateway: String,
    client: reqwest::Client,
    instances: Vec<(String, CancellationToken)>,
    source: ConfigSource,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for (_, token) in &self.instances {
            token.cancel();
        }
    }
}

async fn start_identity(source: &ConfigSource) -> (String, CancellationToken) {
    // A restarted instance may have to wait for its old socket to close.
    for _ in 0..50 {
        if let Ok(app) = identity::Application::build(
            identity::Config::load(source, RunMode::Single).unwrap(),
            Arc::new(platform::events::MemoryBus::default()),
        )
        .await
        {
            let url = format!("http://127.0.0.1:{}", app.port());
            let token = CancellationToken::new();
            tokio::spawn(app.run_until_stopped(token.clone()));
            return (url, token);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("identity does not start");
}

impl Cluster {
    async fn start(settings: &[(&str, &str)]) -> Self {
        Self::start_with(settings, false).await
    }

    /// With `registry`, the instances register in Redis and the gateway finds them there.
    async fn start_with(settings: &[(&str, &str)], registry: bool) -> Self {
        platform::telemetry::init_for_tests();
        let database = TestDatabase::new("gateway");
        let mut source = ConfigSource::from_pairs([
            ("DATABASE_URL", database.url.as_str()),
            ("SERVICE_PORT", "0"),
            ("IDENTITY_GRPC_PORT", "0"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("RATE_LIMIT_ENABLED", "false"),
        ]);
        for (key, value) in settings {
            source = source.with(*key, *value);
        }
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(start_identity(&source).await);
        }
        let urls: Vec<&str> = instances.iter().map(|(url, _)| url.as_str()).collect();
        let upstreams = if registry {
            "redis".to_owned()
        } else {
            urls.join(",")
        };
        // Demo mode: these tests read the gateway's discovery status without a token.
        let gateway_source = source
            .clone()
            .with("ITINERA_MODE", "demo")
            .with("IDENTITY_UPSTREAMS", upstreams)
            .with("JWT_JWKS_URL", format!("{}/.well-known/jwks.json", urls[0]));
        let gateway = gateway::Application::build(
            gateway::Config::load(&gateway_source, RunMode::Single).unwrap(),
            std::sync::Arc::new(platform::events::bus::Disconnected),
        )
        .await
        .unwrap();
        let gateway_url = format!("http://127.0.0.1:{}", gateway.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
        Self {
            gateway: gateway_url,
            client: reqwest::Client::new(),
            instances,
            source,
            shutdown,
            _database: database,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    async fn token(&self, username: &str) -> String {
        let registered = self
            .client
            .post(self.url("/api/auth/register"))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
        let login: Value = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().unwrap().to_owned()
    }

    async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The identity instances as `GET /api/discovery/status` lists them.
    async fn discovered(&self) -> Vec<Value> {
        let status: Value = self
            .client
            .get(self.url("/api/discovery/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], "Service Discovery is running");
        status["services"]["identity"].as_array().unwrap().clone()
    }

    /// The identity instances the gateway knows, by name.
    async fn listed(&self) -> Vec<String> {
        let instances = self.discovered().await;
        instances
            .iter()
            .map(|i| i["instance"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Each identity instance's health as the gateway reports it.
    async fn health(&self) -> Vec<String> {
        let instances = self.discovered().await;
        instances
            .iter()
            .map(|i| i["health"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How many `GET /api/users/me` an instance has served (its own metrics).
    async fn served(&self, instance: usize) -> u64 {
        let metrics = self
            .client
            .get(format!("{}/metrics", self.instances[instance].0))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("http_requests_total") && l.contains("route=\"/api/users/me\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traffic_is_spread_and_a_killed_instance_is_ejected_while_requests_keep_succeeding() {
    let mut cluster = Cluster::start(&[
        ("GATEWAY_HEALTH_INTERVAL_MS", "200"),
        ("GATEWAY_EJECTION_MS", "1000"),
    ])
    .await;
    let token = cluster.token("spread").await;
    for _ in 0..60 {
        assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);
    }
    for instance in 0..3 {
        let served = cluster.served(instance).await;
        assert!(served >= 10, "instance {instance} served {served} of 60");
    }

    // 400 requests, 8 at a time; the second instance dies a quarter of the way in.
    let cluster_ref = Arc::new(cluster.gateway.clone());
    let ok = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (gateway, ok, sent, token) =
            (cluster_ref.clone(), ok.clone(), sent.clone(), token.clone());
        load.spawn(async move {
            let client = reqwest::Client::new();
            while sent.fetch_add(1, Ordering::Relaxed) < 400 {
                let response = client
                    .get(format!("{gateway}/api/users/me"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                if response.is_ok_and(|r| r.status() == StatusCode::OK) {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while sent.load(Ordering::Relaxed) < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dead: SocketAddr = cluster.instances[1]
        .0
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    cluster.instances[1].1.cancel();
    load.join_all().await;
    let succeeded = ok.load(Ordering::Relaxed);
    assert!(succeeded >= 396, "{succeeded} of 400 succeeded");
    eventually("the dead instance is ejected", async || {
        cluster.health().await[1] == "ejected"
    })
    .await;
    assert_eq!(cluster.health().await[0], "healthy");

    // Back on its port, it returns to service.
    let source = cluster
        .source
        .clone()
        .with("SERVICE_PORT", dead.port().to_string());
    cluster.instances[1] = start_identity(&source).await;
    eventually("the restarted instance is back", async || {
        cluster.health().await[1] == "healthy"
    })
    .await;
    let before = cluster.served(1).await;
    for _ in 0..30 {
        assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);
    }
    assert!(cluster.served(1).await > before, "it serves again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulate_failure_opens_the_breaker_which_closes_after_recovery() {
    // Seed 002's open simulate-failure is a demo-mode door; production closes it.
    let cluster = Cluster::start(&[
        ("ITINERA_MODE", "demo"),
        ("SIMULATED_FAILURE_SECS", "2"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "100"),
        ("GATEWAY_EJECTION_MS", "300"),
        ("GATEWAY_MAX_EJECTION_MS", "600"),
    ])
    .await;
    let token = cluster.token("breaker").await;
    let simulate = || async {
        cluster
            .client
            .get(cluster.url("/api/auth/simulate-failure"))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(simulate().await.status(), StatusCode::OK);
    // One instance fails; the others serve every request.
    for _ in 0..30 {
        assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);
    }
    eventually("one instance is ejected", async || {
        cluster
            .health()
            .await
            .iter()
            .filter(|h| *h != "healthy")
            .count()
            == 1
    })
    .await;

    // All three failing (switched on at each instance directly, since the gateway would send
    // the call to whichever instance it chose): the breaker answers at once, as seed 002 shows.
    for (url, _) in &cluster.instances {
        let response = cluster
            .client
            .get(format!("{url}/api/auth/simulate-failure"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    eventually("every instance is ejected", async || {
        cluster.health().await.iter().all(|h| h == "ejected")
    })
    .await;
    let response = cluster.me(&token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("identity_")
            && message.ends_with(" is temporarily unavailable due to failures."),
        "{message}"
    );
    assert_eq!(body["service"], "identity");

    // The failures end; active checks bring every instance back.
    eventually("every instance is healthy again", async || {
        cluster.health().await.iter().all(|h| h == "healthy")
    })
    .await;
    for _ in 0..10 {
        assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);
    }
}

/// Three upstreams that always answer 503 and count what reaches them.
async fn failing_upstreams() -> (Vec<String>, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let mut urls = Vec::new();
    for _ in 0..3 {
        let hits = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::Relaxed);
                StatusCode::SERVICE_UNAVAILABLE
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    (urls, hits)
}

#[tokio::test]
async fn only_idempotent_requests_are_retried_and_never_on_the_same_instance() {
    let (urls, hits) = failing_upstreams().await;
    let source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        // Demo mode: the gateway's metrics are read without a token.
        ("ITINERA_MODE", "demo"),
        ("CATALOG_UPSTREAMS", urls.join(",").as_str()),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ("GATEWAY_EJECT_AFTER_FAILURES", "1000"),
        ("RATE_LIMIT_ENABLED", "false"),
    ]);
    let gateway = gateway::Application::build(
        gateway::Config::load(&source, RunMode::Single).unwrap(),
        std::sync::Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::new();

    // A read is tried on each of the three instances once.
    let response = client
        .get(format!("{base}/api/flights"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.swap(0, Ordering::Relaxed), 3);

    // A write without an Idempotency-Key is sent once, whatever the answer. (Catalog's writes
    // need a token at the gateway: an unsigned one is refused before any upstream sees it, so
    // use the public seed route, which forwards any method.)
    let response = client
        .post(format!("{base}/seed"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        hits.swap(0, Ordering::Relaxed),
        1,
        "a POST is never retried"
    );

    // With an Idempotency-Key, the service answers a repeat with the first result: retried.
    let response = client
        .post(format!("{base}/seed"))
        .header("idempotency-key", "k-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.swap(0, Ordering::Relaxed), 3);

    // The gateway's metrics count every attempt per instance, and the retries.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"gateway_retries_total{service="gateway",upstream="catalog"} 4"#),
        "{metrics}"
    );
    let attempts: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("gateway_upstream_requests_total") && l.contains(r#"outcome="5xx""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(attempts, 7, "3 + 1 + 3 attempts");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_register_in_redis_and_leave_on_shutdown_or_when_their_entry_expires() {
    let prefix = format!("itinera:test:{}:", uuid::Uuid::new_v4().simple());
    let redis_url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut cluster = Cluster::start_with(
        &[
            ("REDIS_URL", redis_url.as_str()),
            ("DISCOVERY_PREFIX", prefix.as_str()),
            ("DISCOVERY_TTL_MS", "900"),
            ("GATEWAY_DISCOVERY_INTERVAL_MS", "100"),
        ],
        true,
    )
    .await;
    let port = |url: &str| url.rsplit(':').next().unwrap().to_owned();
    let names: Vec<String> = cluster
        .instances
        .iter()
        .map(|(url, _)| format!("identity_{}", port(url)))
        .collect();
    eventually(
        "the gateway lists the three registered instances",
        async || {
            let mut listed = cluster.listed().await;
            listed.sort();
            let mut expected = names.clone();
            expected.sort();
            listed == expected
        },
    )
    .await;
    let token = cluster.token("registered").await;
    assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);

    // Shut down: it deregisters at once.
    let stopped: SocketAddr = cluster.instances[2]
        .0
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    cluster.instances[2].1.cancel();
    eventually("the stopped instance leaves the list", async || {
        !cluster.listed().await.contains(&names[2])
    })
    .await;

    // An instance that dies without deregistering leaves when its entry expires.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let ghost = json!({"url": "http://127.0.0.1:1", "instance": "identity_ghost"}).to_string();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}identity:identity_ghost"))
        .arg(ghost)
        .arg("PX")
        .arg(900)
        .query_async(&mut redis)
        .await
        .unwrap();
    eventually("the dead instance is listed", async || {
        cluster
            .listed()
            .await
            .contains(&"identity_ghost".to_owned())
    })
    .await;
    let listed_at = std::time::Instant::now();
    eventually(
        "the dead instance leaves within its time to live",
        async || {
            !cluster
                .listed()
                .await
                .contains(&"identity_ghost".to_owned())
        },
    )
    .await;
    assert!(listed_at.elapsed() < Duration::from_secs(2));
    for _ in 0..10 {
        assert_eq!(cluster.me(&token).await.status(), StatusCode::OK);
    }

    // Started again, it registers again.
    let source = cluster
        .source
        .clone()
        .with("SERVICE_PORT", stopped.port().to_string());
    cluster.instances[2] = start_identity(&source).await;
    eventually("the restarted instance is listed again", async || {
        cluster.listed().await.contains(&names[2])
    })
    .await;
}

#[tokio::test]
async fn a_dns_name_gives_the_instances_and_a_slow_service_times_out_on_its_own_deadline() {
    // A slow upstream behind a DNS name (localhost), with a deadline for catalog only.
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        "late"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        // Demo mode: the gateway's discovery status is read without a token.
        ("ITINERA_MODE", "demo"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        (
            "CATALOG_UPSTREAMS",
            format!("dns://localhost:{port}").as_str(),
        ),
        ("CATALOG_TIMEOUT_MS", "200"),
    ]);
    let gateway = gateway::Application::build(
        gateway::Config::load(&source, RunMode::Single).unwrap(),
        std::sync::Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::new();
    let status: Value = client
        .get(format!("{base}/api/discovery/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = status["services"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"catalog_127.0.0.1"), "{names:?}");
    let started = std::time::Instant::now();
    let response = client
        .get(format!("{base}/api/flights"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    shutdown.cancel();
}
