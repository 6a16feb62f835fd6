//! Signing in, creating an account and signing out. Tokens go into HttpOnly cookies (see
//! `session`); the page never shows them.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::api::types::Tokens;
use crate::error::PageError;
use crate::layout::{self, alert, csrf};
use crate::session::{self, Form, Session, SessionChange};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path on this site only (never another site).
fn safe_next(next: Option<&str>) -> String {
    // Browsers drop tabs and newlines from URLs (`/\t/evil` is `//evil` to them), and read `\`
    // as `/`: only plain path characters are followed.
    let plain = |path: &str| {
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~?=&%+,:@".contains(&b))
    };
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && plain(path) => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_form(session: &Session, next: &str, username: &str, error: Option<&str>) -> Html<String> {
    layout::page(
        session,
        "Sign in",
        html! {
            h1 { "Sign in" }
            (alert(error))
            form.stack method="post" action="/login" {
                (csrf(session))
                input type="hidden" name="next" value=(next);
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required value=(username);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p { "New here? " a href={"/register?next=" (super::encode(next))} { "Create an account" } }
        },
    )
}

async fn login_page(Extension(session): Extension<Session>, Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    if session.user.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_form(&session, &next, "", None).into_response()
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

async fn sign_in(
    state: &AppState,
    session: &Session,
    username: &str,
    password: &str,
) -> Result<Tokens, crate::api::ApiError> {
    state
        .api
        .send(
            crate::api::Caller {
                token: None,
                address: session.address,
            },
            Method::POST,
            "/api/auth/login",
            &json!({ "username": username, "password": password }),
            None,
        )
        .await
}

async fn login(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<Credentials>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match sign_in(&state, &session, &form.username, &form.password).await {
        Ok(tokens) => (SessionChange::Start(tokens), Redirect::to(&next)).into_response(),
        Err(e) => (
            e.status,
            login_form(&session, &next, &form.username, Some(&e.message)),
        )
            .into_response(),
    }
}

fn register_form(
    session: &Session,
    next: &str,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> Html<String> {
    layout::page(
        session,
        "Create an account",
        html! {
            h1 { "Create an account" }
            (alert(error))
            form.stack method="post" action="/register" {
                (csrf(session))
                input type="hidden" name="next" value=(next);
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required
                    minlength="3" maxlength="32" value=(username) aria-describedby="username-help";
                small id="username-help" { "3 to 32 letters, digits, dots, dashes or underscores." }
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="email" required value=(email);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="new-password"
                    required minlength="8" aria-describedby="password-help";
                small id="password-help" { "At least 8 characters, with a letter and a digit." }
                button type="submit" { "Create account" }
            }
            p { "Already registered? " a href={"/login?next=" (super::encode(next))} { "Sign in" } }
        },
    )
}

async fn register_page(Extension(session): Extension<Session>, Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    register_form(&session, &next, "", "", None).into_response()
}

#[derive(Deserialize)]
struct Registration {
    username: String,
    email: String,
    password: String,
    next: Option<String>,
}

/// Registers, then signs the new user in.
async fn register(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<Registration>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let registered = state
        .api
        .send::<serde::de::IgnoredAny>(
            crate::api::Caller {
                token: None,
                address: session.address,
            },
            Method::POST,
            "/api/auth/register",
            &json!({ "username": form.username, "email": form.email, "password": form.password }),
            None,
        )
        .await;
    if let Err(e) = registered {
        return (
            e.status,
            register_form(
                &session,
                &next,
                &form.username,
                &form.email,
                Some(&e.message),
            ),
        )
            .into_response();
    }
    match sign_in(&state, &session, &form.username, &form.password).await {
        Ok(tokens) => (SessionChange::Start(tokens), Redirect::to(&next)).into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Revokes the refresh token at identity and forgets the cookies.
async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(_): Form<super::NoFields>,
) -> Response {
    if let Some(refresh) = session::refresh_token(&headers) {
        let body = json!({ "refreshToken": refresh });
        if let Err(e) = state
            .api
            .act(
                session.caller(),
                Method::POST,
                "/api/auth/logout",
                Some(&body),
            )
            .await
        {
            tracing::warn!(error = %e, "sign-out could not revoke the refresh token");
        }
    }
    (SessionChange::End, Redirect::to("/")).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/bookings/4")), "/bookings/4");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/x")), "/");
        assert_eq!(
            safe_next(Some("/flights?from=Paris&to=London")),
            "/flights?from=Paris&to=London"
        );
        assert_eq!(safe_next(None), "/");
    }
}
