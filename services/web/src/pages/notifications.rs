//! The notifications inbox and the flights a traveller follows (their status changes arrive in
//! the inbox and, while a page is open, live).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use reqwest::Method;
use serde::Deserialize;

use super::{AppState, encode};
use crate::api::types::{Notifications, Subscriptions};
use crate::error::PageError;
use crate::layout::{self, alert, csrf, notice};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(inbox))
        .route("/notifications/{id}/read", post(mark_read))
        .route("/following", post(follow))
        .route("/following/{code}/delete", post(unfollow))
}

#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
    error: Option<String>,
}

async fn inbox(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    session.user("/notifications")?;
    let caller = session.caller();
    let (inbox, following) = tokio::join!(
        state
            .api
            .get::<Notifications>(caller, "/api/notifications?pageSize=50"),
        state.api.get::<Subscriptions>(caller, "/api/subscriptions"),
    );
    let inbox = inbox.map_err(|e| PageError::from_api(e, "/notifications"))?;
    let following = following.map(|s| s.items).unwrap_or_default();
    let codes: Vec<&str> = following.iter().map(|s| s.flight_code.as_str()).collect();
    let body = html! {
        h1 { "Notifications" }
        (notice(shown.done.as_deref().and_then(|done| (done == "followed").then_some("You now follow that flight."))))
        (alert(shown.error.as_deref().and_then(|error| (error == "follow").then_some(
            "That flight could not be followed: a flight code is letters, digits and dashes, and one account follows a limited number of flights."
        ))))
        p { (inbox.unread) " unread of " (inbox.total) "." }
        @if inbox.items.is_empty() { p { "Nothing yet." } }
        ul.inbox {
            @for n in &inbox.items {
                li class=(if n.read_at.is_none() { "unread" } else { "read" }) {
                    h2 { (n.subject) }
                    p { (n.body) }
                    p.muted { (n.created_at.format("%Y-%m-%d %H:%M UTC")) }
                    @if n.read_at.is_none() {
                        form method="post" action={"/notifications/" (n.notification_id) "/read"} {
                            (csrf(&session))
                            button.link type="submit" { "Mark as read" span.visually-hidden { ": " (n.subject) } }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="following-title" data-live-flights=(codes.join(",")) {
            h2 id="following-title" { "Flights I follow" }
            @if following.is_empty() { p { "You follow no flight yet." } }
            ul {
                @for s in &following {
                    li {
                        (s.flight_code) " "
                        span data-flight-status=(s.flight_code) {}
                        form.inline method="post" action={"/following/" (encode(&s.flight_code)) "/delete"} {
                            (csrf(&session))
                            button.link type="submit" { "Stop following" span.visually-hidden { " " (s.flight_code) } }
                        }
                    }
                }
            }
            form.inline method="post" action="/following" {
                (csrf(&session))
                label { "Flight code" input name="flightCode" required maxlength="32" placeholder="IT101-20261201"; }
                button type="submit" { "Follow" }
            }
            div.live role="log" aria-live="polite" aria-label="Live flight updates" data-live-log {}
        }
    };
    Ok(layout::page(&session, "Notifications", body).into_response())
}

async fn mark_read(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    session.user("/notifications")?;
    state
        .api
        .act(
            session.caller(),
            Method::POST,
            &format!("/api/notifications/{id}/read"),
            None,
        )
        .await
        .map_err(|e| PageError::from_api(e, "/notifications"))?;
    Ok(Redirect::to("/notifications").into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Follow {
    flight_code: String,
}

async fn follow(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<Follow>,
) -> Result<Response, PageError> {
    session.user("/notifications")?;
    let code = form.flight_code.trim();
    let path = format!("/api/subscriptions/{}", super::segment(code)?);
    Ok(match state
        .api
        .act(session.caller(), Method::PUT, &path, None)
        .await
    {
        Ok(()) => Redirect::to("/notifications?done=followed"),
        Err(e) if super::shown_beside_form(e.status) => Redirect::to("/notifications?error=follow"),
        Err(e) => return Err(PageError::from_api(e, "/notifications")),
    }
    .into_response())
}

async fn unfollow(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(code): Path<String>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    session.user("/notifications")?;
    let path = format!("/api/subscriptions/{}", super::segment(&code)?);
    match state
        .api
        .act(session.caller(), Method::DELETE, &path, None)
        .await
    {
        Ok(()) => {}
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {}
        Err(e) => return Err(PageError::from_api(e, "/notifications")),
    }
    Ok(Redirect::to("/notifications").into_response())
}
