//! The page shell every page shares: head, navigation, main content, footer; and the two
//! static assets (one stylesheet, one script), served under a name that changes with their
//! content so that browsers may keep them for a year.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

use crate::session::Session;

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// The first 12 hex digits of the content's SHA-256.
fn fingerprint(content: &str) -> String {
    Sha256::digest(content.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

static CSS_PATH: LazyLock<String> =
    LazyLock::new(|| format!("/assets/app.{}.css", fingerprint(CSS)));
static JS_PATH: LazyLock<String> = LazyLock::new(|| format!("/assets/app.{}.js", fingerprint(JS)));

/// `/assets/app.<fingerprint>.css` and `.js`.
pub fn assets() -> Router {
    Router::new()
        .route("/assets/{name}", get(asset))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn asset(Path(name): Path<String>) -> Response {
    let path = format!("/assets/{name}");
    let (body, content_type) = if path == *CSS_PATH {
        (CSS, "text/css; charset=utf-8")
    } else if path == *JS_PATH {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Itinera" }
            link rel="stylesheet" href=(*CSS_PATH);
            script src=(*JS_PATH) defer {}
        }
    }
}

/// A traveller page.
pub fn page(session: &Session, title: &str, main: Markup) -> Html<String> {
    Html(shell(session, title, main, false).into_string())
}

/// An admin portal page: the same shell with the portal's own navigation.
pub fn admin_page(session: &Session, title: &str, main: Markup) -> Html<String> {
    Html(shell(session, title, main, true).into_string())
}

fn shell(session: &Session, title: &str, main: Markup, admin: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(if admin { "/admin" } else { "/" }) {
                        "Itinera" @if admin { " admin" }
                    }
                    nav aria-label="Main" {
                        ul {
                            @if admin {
                                li { a href="/admin/flights" { "Flights" } }
                                li { a href="/admin/listings" { "Hotels & cars" } }
                                li { a href="/admin/bookings" { "Bookings" } }
                                li { a href="/admin/users" { "Users" } }
                                li { a href="/admin/payments" { "Payments" } }
                                li { a href="/admin/system" { "System" } }
                                li { a href="/" { "Traveller site" } }
                            } @else {
                                li { a href="/" { "Search" } }
                                @if session.user.is_some() {
                                    li { a href="/bookings" { "My trips" } }
                                    li { a href="/notifications" { "Notifications" } }
                                    li { a href="/account" { "Account" } }
                                }
                                @if session.user.as_ref().is_some_and(|u| u.is_staff()) {
                                    li { a href="/admin" { "Admin" } }
                                }
                            }
                        }
                    }
                    div.who {
                        @if let Some(user) = &session.user {
                            span { "Signed in as " strong { (user.name) } }
                            form method="post" action="/logout" {
                                (csrf(session))
                                button.link type="submit" { "Sign out" }
                            }
                        } @else {
                            a href="/login" { "Sign in" }
                            " · "
                            a href="/register" { "Create account" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (main) }
                footer { p { "Itinera · prices include taxes and fees · times are local to each airport" } }
            }
        }
    }
}

/// A page without a session (error pages).
pub fn bare(title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "Itinera" } }
                main id="main" { (main) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A message after an action (`?done=` on the page it redirected to), announced to screen readers.
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

/// An error shown beside a form.
pub fn alert(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.alert role="alert" { (text) }
        }
    }
}
