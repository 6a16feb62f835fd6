//! The gateway's own operational endpoints: staff only in production mode, open in demo mode.

use std::sync::Arc;

use platform::config::{ConfigSource, RunMode};
use platform::testing::TestIssuer;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

const STAFF_ONLY: [&str; 3] = ["/metrics", "/ready", "/api/discovery/status"];

/// A gateway in `mode` (unset: the default of a service run alone, production).
async fn gateway(issuer: &TestIssuer, mode: Option<&str>) -> (String, CancellationToken) {
    platform::telemetry::init_for_tests();
    let mut source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ("JWT_JWKS_URL", issuer.jwks_url()),
    ]);
    if let Some(mode) = mode {
        source = source.with("ITINERA_MODE", mode);
    }
    let gateway = gateway::Application::build(
        gateway::Config::load(&source, RunMode::Single).unwrap(),
        Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    (base, shutdown)
}

async fn status(base: &str, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

/// `/ready` answers 503 here (no service runs behind this gateway): it was let through.
fn let_through(path: &str, status: StatusCode) -> bool {
    status == StatusCode::OK || (path == "/ready" && status == StatusCode::SERVICE_UNAVAILABLE)
}

#[tokio::test]
async fn in_production_the_gateways_operational_endpoints_need_a_staff_token() {
    let issuer = TestIssuer::start().await;
    let (base, shutdown) = gateway(&issuer, None).await;
    let customer = issuer.customer(1, "carol");
    let ops = issuer.ops(2, "oscar");
    let admin = issuer.token(3, "ada", platform::auth::Role::Admin);
    for path in STAFF_ONLY {
        let anonymous = reqwest::get(format!("{base}{path}")).await.unwrap();
        let body = platform::testing::problem(anonymous, StatusCode::UNAUTHORIZED).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("needs an ops or admin access token"),
            "{path}: {body}"
        );
        assert_eq!(
            status(&base, path, Some("forged.token.here")).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            status(&base, path, Some(&customer)).await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        for staff in [&ops, &admin] {
            let answered = status(&base, path, Some(staff)).await;
            assert!(let_through(path, answered), "{path}: {answered}");
        }
    }
    // What a load balancer and a client need stays open.
    for path in ["/health", "/version", "/api/gateway/status"] {
        assert_eq!(status(&base, path, None).await, StatusCode::OK, "{path}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn in_demo_mode_the_gateways_operational_endpoints_stay_open() {
    let issuer = TestIssuer::start().await;
    let (base, shutdown) = gateway(&issuer, Some("demo")).await;
    for path in STAFF_ONLY {
        let answered = status(&base, path, None).await;
        assert!(let_through(path, answered), "{path}: {answered}");
    }
    shutdown.cancel();
}
