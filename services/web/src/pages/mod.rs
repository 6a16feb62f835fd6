//! Every page, one module per part of the site; each contributes its routes.

use axum::Router;
use axum::http::StatusCode;
use maud::{Markup, html};

use crate::api::Api;

mod account;
mod admin;
mod admin_listings;
mod auth;
mod bookings;
mod cars;
mod checkout;
mod flights;
mod live;
mod notifications;
mod search;
mod stays;
mod trip;

/// What pages share.
#[derive(Clone)]
pub struct AppState {
    pub api: Api,
    /// Checkout forms being submitted, so that each books once.
    pub(crate) submissions: checkout::Submissions,
}

/// The traveller site and the admin portal.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(search::router())
        .merge(auth::router())
        .merge(flights::router())
        .merge(bookings::router())
        .merge(account::router())
        .merge(notifications::router())
        .merge(live::router())
        .merge(stays::router())
        .merge(cars::router())
        .merge(trip::router())
        .nest("/admin", admin::router())
        .with_state(state)
}

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `value` as one segment of an API path: percent-encoded, and never `.` or `..` (which URL
/// parsing would resolve to another path) or empty.
pub fn segment(value: &str) -> Result<String, crate::error::PageError> {
    match value {
        "" | "." | ".." => Err(crate::error::PageError::not_found(
            "There is no such thing here.",
        )),
        value => Ok(encode(value)),
    }
}

/// A query string's pairs, in order, repeated fields (`stars=4&stars=5`) included; an unreadable
/// query is an empty one.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default()
}

/// A form whose only field is its CSRF token (a button that does one thing).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A query string from its pairs, skipping empty values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A local time with its offset (`2026-12-07T17:50:00+01:00`) as a traveller reads it:
/// `Mon 7 Dec 2026, 17:50 (UTC+01:00)`.
pub fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |t| {
            format!(
                "{} (UTC{})",
                t.format("%a %-d %b %Y, %H:%M"),
                t.format("%:z")
            )
        },
    )
}

/// A status as a badge whose colour says good, pending or bad.
pub fn status_badge(status: &str) -> Markup {
    let tone = match status {
        "CONFIRMED" | "SUCCEEDED" | "On Time" | "Landed" | "Boarding" => "good",
        "PENDING_PAYMENT" | "PENDING" | "PROCESSING" | "Delayed" => "wait",
        "CANCELLED" | "EXPIRED" | "FAILED" | "VOIDED" | "Cancelled" => "bad",
        _ => "info",
    };
    html! { span class={"badge " (tone)} { (human_status(status)) } }
}

/// A booking or payment status in words.
pub fn human_status(status: &str) -> &str {
    match status {
        "PENDING_PAYMENT" => "Payment pending",
        "CONFIRMED" => "Confirmed",
        "CANCELLED" => "Cancelled",
        "EXPIRED" => "Expired",
        "SUCCEEDED" => "Paid",
        "PENDING" | "PROCESSING" => "Processing",
        "FAILED" => "Failed",
        "VOIDED" => "Voided",
        other => other,
    }
}

/// A payment failure reason in words.
pub fn failure_reason(reason: &str) -> &str {
    match reason {
        "card_declined" => "the card was declined",
        "insufficient_funds" => "the card has insufficient funds",
        "processor_timeout" => "the card processor did not answer",
        "processor_error" => "the card processor failed",
        "card_not_found" => "the card is no longer on file",
        other => other,
    }
}

/// The response status of an API refusal that a form shows beside itself.
pub fn shown_beside_form(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::UNAUTHORIZED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_keep_their_offset() {
        assert_eq!(
            local_time("2026-12-07T17:50:00+01:00"),
            "Mon 7 Dec 2026, 17:50 (UTC+01:00)"
        );
        assert_eq!(local_time("not a time"), "not a time");
    }

    #[test]
    fn path_segments_never_climb() {
        assert!(segment("..").is_err());
        assert!(segment(".").is_err());
        assert!(segment("").is_err());
        assert_eq!(segment("a/b").unwrap(), "a%2Fb");
    }

    #[test]
    fn queries_encode_their_values_and_skip_empty_ones() {
        assert_eq!(
            query(&[("from", "New York"), ("to", ""), ("x", "a&b=c/é")]),
            "from=New%20York&x=a%26b%3Dc%2F%C3%A9"
        );
    }
}
