//! Seed 002's `GET /api/auth/simulate-failure`: the instance that serves it fails every request
//! (readiness included) for a while, so that the gateway's circuit breaker can be watched at work.
//! `/health` and `/metrics` keep answering: the process is alive, only its work fails.
//! `SIMULATED_FAILURE_SECS=0` turns the endpoint off (404), as it should be in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use serde_json::{Value, json};

/// The path that switches the failure on.
pub const PATH: &str = "/api/auth/simulate-failure";

pub struct FailureSwitch {
    /// How long one call makes the instance fail; zero: the endpoint is off.
    duration: Duration,
    /// Unix time in milliseconds until which requests fail.
    until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl FailureSwitch {
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            until_ms: AtomicU64::new(0),
        }
    }

    /// Milliseconds of failure left.
    fn remaining_ms(&self) -> u64 {
        self.until_ms
            .load(Ordering::Relaxed)
            .saturating_sub(now_ms())
    }
}

/// Starts failing; answers before the failure starts, so the caller sees it was accepted.
pub async fn simulate(State(switch): State<Arc<FailureSwitch>>) -> Result<Json<Value>, Problem> {
    if switch.duration.is_zero() {
        return Err(Problem::not_found("Simulated failures are turned off"));
    }
    let millis = u64::try_from(switch.duration.as_millis()).unwrap_or(u64::MAX / 2);
    switch.until_ms.store(now_ms() + millis, Ordering::Relaxed);
    tracing::warn!(
        seconds = switch.duration.as_secs_f64(),
        "simulated failure switched on"
    );
    Ok(Json(json!({
        "message": format!(
            "This identity instance will fail every request for {} s",
            switch.duration.as_secs_f64()
        ),
        "failingForSeconds": switch.duration.as_secs_f64(),
    })))
}

/// While failing, every request but liveness, metrics and the switch itself gets 503.
pub async fn fail_while_switched_on(
    State(switch): State<Arc<FailureSwitch>>,
    request: Request,
    next: Next,
) -> Response {
    let remaining = switch.remaining_ms();
    let exempt = matches!(request.uri().path(), "/health" | "/metrics" | PATH);
    if remaining == 0 || exempt {
        return next.run(request).await;
    }
    Problem::service_unavailable(format!(
        "This identity instance is failing on purpose (simulate-failure) for {:.1} s more",
        remaining as f64 / 1000.0
    ))
    .with_type("simulated-failure")
    .with_retry_after(remaining.div_ceil(1000))
    .into_response()
}
