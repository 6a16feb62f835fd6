//! Flight subscriptions over REST (`/api/subscriptions`), and seed 002's
//! `GET /api/auth/user-subscriptions/{user_id}`. Socket.IO manages them too (`live::socket`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use platform::auth::{Caller, Role};
use platform::http::Path;
use serde::Serialize;

use super::AppState;
use crate::error::NotificationError;
use crate::live::flight_code;
use crate::store::subscriptions::{self, Added, SubscriptionRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/auth/user-subscriptions/{user_id}",
            get(user_subscriptions),
        )
        .route("/api/subscriptions", get(list))
        .route("/api/subscriptions/{flight_code}", put(add).delete(remove))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserSubscriptions {
    user_id: i64,
    flights: Vec<String>,
}

/// Seed 002: `{"userId": 1, "flights": ["FL001", "FL002"]}`. A customer or ops user sees their
/// own; an admin sees anyone's.
async fn user_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> Result<JsonResponse<UserSubscriptions>, NotificationError> {
    if caller.user_id != user_id && caller.role != Role::Admin {
        return Err(NotificationError::OthersSubscriptions);
    }
    let flights = subscriptions::of_user(&state.db, user_id).await?;
    Ok(JsonResponse(UserSubscriptions { user_id, flights }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionView {
    flight_code: String,
    created_at: DateTime<Utc>,
}

impl From<SubscriptionRow> for SubscriptionView {
    fn from(row: SubscriptionRow) -> Self {
        Self {
            flight_code: row.flight_code,
            created_at: row.created_at,
        }
    }
}

#[derive(Serialize)]
struct SubscriptionList {
    items: Vec<SubscriptionView>,
}

/// `GET /api/subscriptions`: the caller's subscriptions.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<SubscriptionList>, NotificationError> {
    let items = subscriptions::list(&state.db, caller.user_id)
        .await?
        .into_iter()
        .map(SubscriptionView::from)
        .collect();
    Ok(JsonResponse(SubscriptionList { items }))
}

/// `PUT /api/subscriptions/{flight_code}`: 201 when new, 200 when it already existed, 409 when
/// the caller follows `NOTIFICATION_MAX_SUBSCRIPTIONS` flights already.
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, NotificationError> {
    let code = flight_code(&raw).map_err(NotificationError::Invalid)?;
    let max = state.max_subscriptions;
    let added = match subscriptions::add_within(&state.db, caller.user_id, &code, max).await? {
        Added::Full => return Err(NotificationError::TooManySubscriptions(max)),
        Added::New => true,
        Added::Existing => false,
    };
    let view = subscriptions::find(&state.db, caller.user_id, &code)
        .await?
        .map(SubscriptionView::from)
        .ok_or(NotificationError::SubscriptionRemoved)?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, JsonResponse(view)).into_response())
}

/// `DELETE /api/subscriptions/{flight_code}`: 204, or 404 when there was none.
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, NotificationError> {
    let code = flight_code(&raw).map_err(NotificationError::Invalid)?;
    if subscriptions::remove(&state.db, caller.user_id, &code).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(NotificationError::NotSubscribed(code))
    }
}
