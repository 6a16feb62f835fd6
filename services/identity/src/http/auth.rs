//! `/api/auth/*`: registration and login exactly as seed 002 documents them, plus refresh, logout,
//! key rotation, and the JWKS that every verifier reads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json as JsonResponse, Router};
use platform::Problem;
use platform::auth::{Caller, Role};
use platform::http::{Json, Path};
use serde::{Deserialize, Serialize};

use super::{AppState, ClientAddress};
use crate::accounts::Registration;
use crate::error::IdentityError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/keys/rotate", post(rotate_keys))
        .route("/api/auth/keys/{kid}", delete(revoke_key))
        .route("/.well-known/jwks.json", get(jwks))
}

#[derive(Deserialize)]
struct RegisterRequest {
    username: String,
    password: String,
    email: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    message: &'static str,
    user_id: i64,
}

#[tracing::instrument(skip_all, fields(username = %logged(&body.username)))]
async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> Result<impl IntoResponse, IdentityError> {
    let registration = Registration::parse(&body.username, &body.email, &body.password)?;
    let user = state
        .accounts
        .register(registration, Role::Customer)
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(Registered {
            message: "User registered successfully",
            user_id: user.id,
        }),
    ))
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoggedIn {
    message: &'static str,
    user_id: i64,
    /// The access token (seed 002's `token`).
    token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    role: Role,
}

#[tracing::instrument(skip_all, fields(username = %logged(&body.username)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Json(body): Json<LoginRequest>,
) -> Result<JsonResponse<LoggedIn>, IdentityError> {
    let (user, tokens) = state
        .accounts
        .login(&body.username, &body.password, address)
        .await?;
    Ok(JsonResponse(LoggedIn {
        message: "Login successful",
        user_id: user.id,
        token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
        role: user.role,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Refreshed {
    user_id: i64,
    token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<JsonResponse<Refreshed>, IdentityError> {
    let (user, tokens) = state.accounts.refresh(&body.refresh_token).await?;
    Ok(JsonResponse(Refreshed {
        user_id: user.id,
        token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
    }))
}

async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, IdentityError> {
    state.accounts.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Rotated {
    kid: String,
}

async fn rotate_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<Rotated>, IdentityError> {
    caller.require(&[Role::Admin])?;
    let kid = state.accounts.tokens.ring().rotate().await?;
    Ok(JsonResponse(Rotated { kid }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Revoked {
    kid: String,
    revoked_at: chrono::DateTime<chrono::Utc>,
    /// The key that signs new tokens from now on.
    signing_kid: String,
}

/// Revokes a signing key at once (a compromised key): it leaves the JWKS, so every verifier
/// refuses its tokens within its refresh interval (`JWT_JWKS_REFRESH_SECS`), and this instance
/// at once. Revoking the key that signs now rotates a new one in first.
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(kid): Path<String>,
) -> Result<JsonResponse<Revoked>, IdentityError> {
    caller.require(&[Role::Admin])?;
    let Some(revocation) = state.accounts.tokens.ring().revoke(&kid).await? else {
        return Err(Problem::not_found(format!("No signing key has the kid {kid:?}")).into());
    };
    if let Err(e) = state.verifier.refresh_keys().await {
        tracing::warn!(error = %e, "cannot refresh this instance's verifier after a revocation");
    }
    tracing::warn!(
        kid,
        admin = caller.user_id,
        "signing key revoked by an administrator"
    );
    Ok(JsonResponse(Revoked {
        kid,
        revoked_at: revocation.revoked_at,
        signing_kid: revocation.signing_kid,
    }))
}

/// The JWKS may be cached no longer than verifiers wait between fetches, so that a revoked key
/// does not outlive its revocation in a cache.
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let max_age = state.accounts.tokens.settings().jwks_refresh.as_secs();
    (
        [(
            axum::http::header::CACHE_CONTROL,
            format!("public, max-age={max_age}"),
        )],
        JsonResponse((*state.accounts.tokens.ring().jwks()).clone()),
    )
}

/// A username as it may appear in logs: the caller chooses it, so at most 64 characters of it.
fn logged(username: &str) -> &str {
    username
        .char_indices()
        .nth(64)
        .map_or(username, |(end, _)| &username[..end])
}
