//! Flight subscriptions (seed 002's `Subscription` table): stored, listed by seed 002's
//! `GET /api/auth/user-subscriptions/{user_id}`, and managed over REST as well as Socket.IO.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use platform::Problem;
use platform::auth::{Caller, Role};
use platform::http::Path;
use serde::Serialize;
use sqlx::PgPool;

use crate::http::AppState;
use crate::live::flight_code;

/// The flight codes `user_id` follows, oldest subscription first.
pub async fn of_user(db: &PgPool, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT flight_code FROM subscriptions WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(db)
        .await
}

/// Subscribes `user_id` to `code`; `true` when it was not subscribed yet.
pub async fn add(db: &PgPool, user_id: i64, code: &str) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO subscriptions (user_id, flight_code) VALUES ($1, $2) \
         ON CONFLICT (user_id, flight_code) DO NOTHING",
    )
    .bind(user_id)
    .bind(code)
    .execute(db)
    .await?;
    Ok(added.rows_affected() == 1)
}

/// Unsubscribes `user_id` from `code`; `true` when it was subscribed.
pub async fn remove(db: &PgPool, user_id: i64, code: &str) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM subscriptions WHERE user_id = $1 AND flight_code = $2")
        .bind(user_id)
        .bind(code)
        .execute(db)
        .await?;
    Ok(removed.rows_affected() == 1)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSubscriptions {
    user_id: i64,
    flights: Vec<String>,
}

/// Seed 002: `{"userId": 1, "flights": ["FL001", "FL002"]}`. A customer or ops user sees their
/// own; an admin sees anyone's.
pub async fn user_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> Result<JsonResponse<UserSubscriptions>, Problem> {
    if caller.user_id != user_id && caller.role != Role::Admin {
        return Err(Problem::forbidden(
            "You may only read your own subscriptions",
        ));
    }
    let flights = of_user(&state.db, user_id).await?;
    Ok(JsonResponse(UserSubscriptions { user_id, flights }))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    flight_code: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
pub struct SubscriptionList {
    items: Vec<SubscriptionView>,
}

/// `GET /api/subscriptions`: the caller's subscriptions.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<SubscriptionList>, Problem> {
    let items = sqlx::query_as(
        "SELECT flight_code, created_at FROM subscriptions WHERE user_id = $1 ORDER BY id",
    )
    .bind(caller.user_id)
    .fetch_all(&state.db)
    .await?;
    Ok(JsonResponse(SubscriptionList { items }))
}

async fn find(db: &PgPool, user_id: i64, code: &str) -> Result<Option<SubscriptionView>, Problem> {
    sqlx::query_as(
        "SELECT flight_code, created_at FROM subscriptions WHERE user_id = $1 AND flight_code = $2",
    )
    .bind(user_id)
    .bind(code)
    .fetch_optional(db)
    .await
    .map_err(platform::Problem::from)
}

/// `PUT /api/subscriptions/{flight_code}`: 201 when new, 200 when it already existed.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, Problem> {
    let code = flight_code(&raw).map_err(Problem::bad_request)?;
    let added = add(&state.db, caller.user_id, &code).await?;
    let view = find(&state.db, caller.user_id, &code)
        .await?
        .ok_or_else(|| Problem::conflict("The subscription was removed meanwhile"))?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, JsonResponse(view)).into_response())
}

/// `DELETE /api/subscriptions/{flight_code}`: 204, or 404 when there was none.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, Problem> {
    let code = flight_code(&raw).map_err(Problem::bad_request)?;
    if remove(&state.db, caller.user_id, &code).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!(
            "You are not subscribed to {code}"
        )))
    }
}
