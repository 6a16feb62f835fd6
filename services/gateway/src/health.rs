//! The health of upstream instances: active `/ready` checks of every instance, and the
//! gateway's own readiness (every service behind it has an instance that answers).

use std::sync::Arc;
use std::time::Duration;

use platform::readiness::{CheckFuture, ReadinessCheck};
use platform::service::TaskContext;

use crate::proxy::HttpClient;
use crate::upstream::{HealthState, Outcome, Upstreams};

/// Active health checks: each instance's `/ready` on a timer, reported like a request. An
/// ejected instance is checked only once its ejection has run out (the check is its probation).
pub(crate) async fn check_health(
    upstreams: Arc<Upstreams>,
    client: HttpClient,
    interval: Duration,
    task: TaskContext,
) {
    loop {
        task.heartbeat.beat();
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        for instance in upstreams.instances().iter() {
            if instance.state() == HealthState::Ejected {
                continue;
            }
            let Ok(request) = axum::http::Request::get(format!("{}/ready", instance.base))
                .body(axum::body::Body::empty())
            else {
                continue;
            };
            let ready = matches!(
                tokio::time::timeout(interval.min(Duration::from_secs(2)), client.request(request)).await,
                Ok(Ok(response)) if response.status().is_success()
            );
            let outcome = if ready {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            if instance.report(outcome, &upstreams.outlier) {
                tracing::warn!(instance = %instance.name, "not ready: ejected by the active check");
            }
        }
    }
}

/// Ready while at least one instance of each upstream service answers `/health`.
pub(crate) struct UpstreamCheck {
    pub(crate) client: HttpClient,
    pub(crate) upstreams: Arc<Upstreams>,
}

impl ReadinessCheck for UpstreamCheck {
    fn name(&self) -> &'static str {
        self.upstreams.service
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut last_error = String::from("no instances configured");
            for instance in self.upstreams.instances().iter() {
                let uri = format!("{}/health", instance.base);
                let request = axum::http::Request::get(&uri)
                    .body(axum::body::Body::empty())
                    .map_err(|e| e.to_string())?;
                match self.client.request(request).await {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    Ok(response) => {
                        last_error = format!("{} answered {}", instance.name, response.status())
                    }
                    Err(e) => last_error = format!("{}: {e}", instance.name),
                }
            }
            Err(last_error)
        })
    }
}
