//! The OpenAPI document the gateway serves describes routes that exist.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::Platform;

/// The first operation of every path in the document, as `(method, path)`.
fn operations(document: &str) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    let mut path: Option<String> = None;
    for line in document.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
            continue;
        }
        let method = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .find(|m| line.starts_with(&format!("    {m}:")));
        if let (Some(method), Some(p)) = (method, path.take()) {
            operations.push((method.to_uppercase().parse().unwrap(), p));
        }
    }
    operations
}

#[tokio::test]
async fn every_documented_path_is_routed_through_the_gateway() {
    let platform = Platform::spawn().await;
    let response = platform.get("/api/openapi.yaml").await;
    assert_eq!(response.status(), StatusCode::OK);
    let operations = operations(&response.text().await.unwrap());
    assert!(
        operations.len() >= 26,
        "only {} paths found in the document",
        operations.len()
    );
    for (method, path) in operations {
        let concrete = [
            "{userId}",
            "{flightId}",
            "{bookingId}",
            "{aircraftId}",
            "{notificationId}",
        ]
        .iter()
        .fold(path.clone(), |p, param| p.replace(param, "1"))
        .replace("{flightCode}", "FL001");
        let response = platform
            .client
            .request(method.clone(), platform.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let unrouted = status == StatusCode::NOT_FOUND
            && body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("No route for"));
        assert!(
            !unrouted && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
}
