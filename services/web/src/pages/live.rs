//! Live flight status for page scripts: `GET /live?flights=A,B` is the notification service's
//! Server-Sent Events stream, opened with the signed-in user's access token (which page scripts
//! never see) and passed through as it comes. When the token expires the stream ends; the
//! browser's `EventSource` reconnects, and the session layer has renewed the token by then.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use reqwest::Method;

use super::AppState;
use crate::session::Session;

pub fn router() -> Router<AppState> {
    Router::new().route("/live", get(stream))
}

/// Flight codes: letters, digits and dashes, comma-separated, at most 50 (as the API).
fn flights(query: Option<&str>) -> Option<String> {
    let raw = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("flights="))?;
    let codes: Vec<&str> = raw.split(',').filter(|c| !c.is_empty()).collect();
    let valid = !codes.is_empty()
        && codes.len() <= 50
        && codes
            .iter()
            .all(|c| c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    valid.then(|| codes.join(","))
}

async fn stream(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(query): RawQuery,
) -> Response {
    if session.user.is_none() {
        return (StatusCode::UNAUTHORIZED, "Sign in to follow flights live.").into_response();
    }
    let Some(flights) = flights(query.as_deref()) else {
        return (
            StatusCode::BAD_REQUEST,
            "flights: 1 to 50 flight codes, comma-separated",
        )
            .into_response();
    };
    let upstream = state
        .api
        .request(
            session.caller(),
            Method::GET,
            &format!("/api/live/updates?flights={flights}"),
        )
        .header(header::ACCEPT, "text/event-stream")
        // The stream lasts as long as the token; the client's own timeout does not apply.
        .timeout(std::time::Duration::from_secs(24 * 3600))
        .send()
        .await;
    match upstream {
        Ok(response) if response.status().is_success() => (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            Body::from_stream(chunks(response)),
        )
            .into_response(),
        Ok(response) => {
            let status = response.status();
            (status, "The live updates refused this stream.").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "live updates unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Live updates are not available right now.",
            )
                .into_response()
        }
    }
}

/// The response body as it arrives, chunk by chunk; it ends after the first error.
fn chunks(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, reqwest::Error>> {
    futures_util::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::flights;

    #[test]
    fn only_lists_of_flight_codes_are_passed_on() {
        assert_eq!(
            flights(Some("flights=IT101-20261201,AB12")).as_deref(),
            Some("IT101-20261201,AB12")
        );
        assert_eq!(flights(Some("flights=IT1%26x=1")), None);
        assert_eq!(flights(Some("flights=")), None);
        assert_eq!(flights(None), None);
        let many = vec!["A1"; 51].join(",");
        assert_eq!(flights(Some(&format!("flights={many}"))), None);
    }
}
