//! The OpenAPI document the gateway serves describes routes that exist.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::Platform;

#[tokio::test]
async fn every_documented_path_is_routed_through_the_gateway() {
    let platform = Platform::spawn().await;
    let response = platform.get("/api/openapi.yaml").await;
    assert_eq!(response.status(), StatusCode::OK);
    let document = response.text().await.unwrap();
    let mut checked = 0;
    let mut method = None;
    let mut path = None;
    for line in document.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
            method = None;
        } else if let Some(m) = ["get", "post", "put", "patch", "delete"].iter().find(|m| line.starts_with(&format!("    {m}:"))) {
            if method.is_none() {
                method = Some(*m);
                let Some(path) = &path else { continue };
                let concrete = path.replace("{userId}", "1").replace("{flightId}", "1").replace("{bookingId}", "1").replace("{aircraftId}", "1");
                let request = match *m {
                    "get" => platform.client.get(platform.url(&concrete)),
                    "post" => platform.client.post(platform.url(&concrete)),
                    "put" => platform.client.put(platform.url(&concrete)),
                    "patch" => platform.client.patch(platform.url(&concrete)),
                    _ => platform.client.delete(platform.url(&concrete)),
                };
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let unrouted = status == StatusCode::NOT_FOUND
                    && body["message"].as_str().is_some_and(|m| m.starts_with("No route for"));
                assert!(!unrouted && status != StatusCode::METHOD_NOT_ALLOWED, "{m} {path}: {status} {body}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} operations found in the document");
}
