//! What the gateway does to every answer: CORS for configured origins, gzip when asked.

use reqwest::StatusCode;

use crate::helpers::Platform;

#[tokio::test]
async fn cors_answers_preflights_for_configured_origins_only() {
    let platform = Platform::spawn_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
    ])
    .await;
    let preflight = |origin: &'static str| {
        platform
            .client
            .request(reqwest::Method::OPTIONS, platform.url("/api/bookings"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(
        allowed_headers.contains("idempotency-key"),
        "{allowed_headers}"
    );
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // A real request from the allowed origin can read the rate-limit and request-id headers.
    let login = platform.user("corsuser").await;
    let response = platform
        .client
        .get(platform.url("/api/users/me"))
        .bearer_auth(login["token"].as_str().unwrap())
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-request-id") && exposed.contains("ratelimit-remaining"));
}

#[tokio::test]
async fn json_answers_are_gzipped_for_clients_that_accept_it() {
    let platform = Platform::spawn().await;
    let login = platform.user("gzipuser").await;
    let token = login["token"].as_str().unwrap();
    let get = |encoding: Option<&'static str>| {
        let mut request = platform
            .client
            .get(platform.url("/api/users/me"))
            .bearer_auth(token);
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let gzipped = get(Some("gzip")).await.unwrap();
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let bytes = gzipped.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip stream");
    let plain = get(None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["username"], "gzipuser");
}

#[tokio::test]
async fn a_body_trickled_slower_than_the_route_timeout_is_answered_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let platform = Platform::spawn_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("GATEWAY_UPSTREAM_TIMEOUT_SECS", "1"),
    ])
    .await;
    let address = platform.gateway.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // An Idempotency-Key makes the request retryable, so the gateway reads its body first.
    writer
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
              Idempotency-Key: trickle-1\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut answer = vec![0_u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), reader.read(&mut answer))
        .await
        .expect("the gateway answers a trickled body within its timeout")
        .unwrap();
    trickle.abort();
    let head = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
