//! Seed 002's `GET /api/auth/simulate-failure`: the instance that serves it fails every request
//! (readiness included) for a while, so that the gateway's circuit breaker can be watched at work.
//! `/health` and `/metrics` keep answering: the process is alive, only its work fails.
//!
//! In demo mode anyone may call it, as in seed 002. In production mode it answers 404 unless
//! `SIMULATED_FAILURE_ENABLED=true`, and even then only administrators may call it (401 without a
//! token, 403 for others): it takes the instance out of service. `SIMULATED_FAILURE_SECS=0` turns
//! it off in both modes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{FromRef, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use platform::auth::{Caller, JwtVerifier, Role};
use serde_json::{Value, json};

/// The path that switches the failure on.
pub const PATH: &str = "/api/auth/simulate-failure";

/// Who may switch the failure on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureAccess {
    /// Demo mode: anyone, as seed 002 documents.
    Anyone,
    /// Production mode with `SIMULATED_FAILURE_ENABLED=true`.
    Admins,
    /// 404, as if the endpoint did not exist.
    Off,
}

pub struct FailureSwitch {
    /// How long one call makes the instance fail.
    duration: Duration,
    access: FailureAccess,
    /// Unix time in milliseconds until which requests fail.
    until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl FailureSwitch {
    pub fn new(duration: Duration, access: FailureAccess) -> Self {
        Self {
            duration,
            access: if duration.is_zero() {
                FailureAccess::Off
            } else {
                access
            },
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

/// The endpoint's state: the switch, and the verifier for administrators' tokens.
#[derive(Clone)]
pub struct FailureState {
    pub switch: Arc<FailureSwitch>,
    pub verifier: Arc<JwtVerifier>,
}

impl FromRef<FailureState> for Arc<JwtVerifier> {
    fn from_ref(state: &FailureState) -> Self {
        state.verifier.clone()
    }
}

/// Starts failing; answers before the failure starts, so the caller sees it was accepted.
pub async fn simulate(
    State(state): State<FailureState>,
    caller: Result<Caller, Problem>,
) -> Result<Json<Value>, Problem> {
    let switch = &state.switch;
    match switch.access {
        FailureAccess::Off => {
            return Err(Problem::not_found(
                "Simulated failures are turned off (SIMULATED_FAILURE_ENABLED in production mode, \
                 SIMULATED_FAILURE_SECS=0 in either mode)",
            ));
        }
        FailureAccess::Admins => caller?.require(&[Role::Admin])?,
        FailureAccess::Anyone => {}
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
