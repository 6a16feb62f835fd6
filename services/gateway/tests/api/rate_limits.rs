//! Rate limits at the gateway: per route class and caller, with `RateLimit-*` headers and 429,
//! local to one gateway or shared by several through Redis.

use platform::config::{ConfigSource, RunMode};
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{PASSWORD, Platform};

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_request_past_the_limit_gets_429_with_the_ratelimit_headers() {
    let platform =
        Platform::spawn_with(&[("RATE_LIMIT_LOGIN", "3/1m"), ("RATE_LIMIT_DEFAULT", "4/1m")]).await;
    // Registration and login share the strict class, counted per client address.
    let registered = platform
        .post(
            "/api/auth/register",
            &json!({"username": "limited", "email": "limited@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_eq!(header(&registered, "ratelimit-limit"), "3");
    assert_eq!(header(&registered, "ratelimit-remaining"), "2");
    assert_eq!(header(&registered, "ratelimit-policy"), "3;w=60");
    let login = json!({"username": "limited", "password": PASSWORD});
    let first = platform.post("/api/auth/login", &login).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "ratelimit-remaining"), "1");
    let token = first.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = platform.post("/api/auth/login", &login).await;
    assert_eq!(header(&second, "ratelimit-remaining"), "0");
    let refused = platform.post("/api/auth/login", &login).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests"),
        "{body}"
    );
    assert!(body["type"].as_str().unwrap().ends_with("rate-limited"));
    assert_eq!(
        platform.identity_requests("/api/auth/login").await,
        2,
        "the refused login never reached identity"
    );

    // Authenticated routes count per user: four for this one, then 429.
    for remaining in ["3", "2", "1", "0"] {
        let response = platform.get("/api/users/me", &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-remaining"), remaining);
    }
    assert_eq!(
        platform.get("/api/users/me", &token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn with_limits_off_nothing_is_counted() {
    let platform = Platform::spawn().await;
    let login = platform.user("unlimited").await;
    let token = login["token"].as_str().unwrap();
    for _ in 0..80 {
        let response = platform.get("/api/users/me", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn two_gateways_sharing_redis_share_the_limit() {
    let prefix = format!("itinera:test:{}:", uuid::Uuid::new_v4().simple());
    let platform = Platform::spawn_with(&[("RATE_LIMIT_ENABLED", "false")]).await;
    let mut gateways = Vec::new();
    let shutdown = CancellationToken::new();
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    for _ in 0..2 {
        let source = ConfigSource::from_pairs([
            ("SERVICE_PORT", "0"),
            ("REDIS_URL", redis.as_str()),
            ("RATE_LIMIT_KEY_PREFIX", prefix.as_str()),
            ("RATE_LIMIT_DEFAULT", "4/1m"),
            ("IDENTITY_UPSTREAMS", platform.identity.as_str()),
            ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ]);
        let gateway = gateway::Application::build(
            gateway::Config::load(&source, RunMode::Single).unwrap(),
            std::sync::Arc::new(platform::events::bus::Disconnected),
        )
        .await
        .expect("gateway starts with Redis (the test script starts Redis if needed)");
        gateways.push(format!("http://127.0.0.1:{}", gateway.port()));
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    }
    let client = reqwest::Client::new();
    let jwks = |gateway: &str| {
        client
            .get(format!("{gateway}/.well-known/jwks.json"))
            .send()
    };
    // Two on each gateway use up the shared four.
    for gateway in [&gateways[0], &gateways[1], &gateways[0], &gateways[1]] {
        assert_eq!(jwks(gateway).await.unwrap().status(), StatusCode::OK);
    }
    for gateway in &gateways {
        let refused = jwks(gateway).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
    }
    shutdown.cancel();
}

#[tokio::test]
async fn forged_tokens_from_one_address_are_refused_before_they_are_verified() {
    let platform =
        Platform::spawn_with(&[("ITINERA_MODE", "demo"), ("RATE_LIMIT_ADDRESS", "5/1m")]).await;
    let mut statuses = Vec::new();
    for n in 0..20 {
        let response = platform
            .get("/api/users/me", &format!("forged.{n}.token"))
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("RATE_LIMIT_ADDRESS"),
                "{body}"
            );
        }
    }
    assert_eq!(
        statuses,
        [
            vec![StatusCode::UNAUTHORIZED; 5],
            vec![StatusCode::TOO_MANY_REQUESTS; 15]
        ]
        .concat()
    );
    assert_eq!(
        platform
            .gateway_counter("gateway_token_verifications")
            .await,
        5,
        "only the tokens within the address's limit were checked"
    );
}

#[tokio::test]
async fn a_direct_client_cannot_dodge_its_limit_with_a_made_up_forwarded_for() {
    // Proxies are trusted, but the test client is not one of them.
    let platform = Platform::spawn_with(&[
        ("RATE_LIMIT_DEFAULT", "2/1m"),
        ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8"),
    ])
    .await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let response = platform
            .client
            .get(platform.url("/.well-known/jwks.json"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_clients_count_by_their_forwarded_address_and_ipv6_by_its_64() {
    // The test client is the load balancer here.
    let platform = Platform::spawn_with(&[
        ("RATE_LIMIT_DEFAULT", "2/1m"),
        ("GATEWAY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
    ])
    .await;
    let jwks = async |forwarded_for: &str| {
        platform
            .client
            .get(platform.url("/.well-known/jwks.json"))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The client's own claim (the leftmost entry) is not believed; the entry the trusted hops
    // recorded is.
    assert_eq!(jwks("1.1.1.1, 198.51.100.7").await, StatusCode::OK);
    assert_eq!(
        jwks("1.1.1.2, 198.51.100.7, 10.1.2.3").await,
        StatusCode::OK
    );
    assert_eq!(
        jwks("198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS,
        "198.51.100.7 has had its two"
    );
    assert_eq!(jwks("198.51.100.8").await, StatusCode::OK, "another client");
    // One IPv6 /64 is one client, whichever of its addresses it uses.
    assert_eq!(jwks("2001:db8:1:2::1").await, StatusCode::OK);
    assert_eq!(jwks("2001:db8:1:2:ffff::9").await, StatusCode::OK);
    assert_eq!(
        jwks("2001:db8:1:2:abcd::1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(jwks("2001:db8:1:3::1").await, StatusCode::OK, "another /64");
}
