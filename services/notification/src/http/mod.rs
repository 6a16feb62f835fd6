//! `/api/notifications`: a user's in-app notifications, unread first, and marking them read;
//! flight subscriptions (`/api/subscriptions`, seed 002's `/api/auth/user-subscriptions/{id}`); and
//! the live updates stream (`/api/live/updates`).

pub mod subscriptions;

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::{get, post, put};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use platform::Problem;
use platform::auth::{Caller, JwtVerifier};
use platform::http::{PageRequest, Paged, Path, Query};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<JwtVerifier>,
    pub live: Arc<crate::live::Live>,
}

impl FromRef<AppState> for Arc<crate::live::Live> {
    fn from_ref(state: &AppState) -> Self {
        state.live.clone()
    }
}

impl FromRef<AppState> for Arc<JwtVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/{notification_id}/read", post(mark_read))
        .route(
            "/api/auth/user-subscriptions/{user_id}",
            get(subscriptions::user_subscriptions),
        )
        .route("/api/subscriptions", get(subscriptions::list))
        .route(
            "/api/subscriptions/{flight_code}",
            put(subscriptions::put).delete(subscriptions::delete),
        )
        .route("/api/live/updates", get(crate::live::sse::stream))
        .with_state(state)
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct NotificationView {
    #[sqlx(rename = "id")]
    notification_id: i64,
    kind: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(flatten)]
    page: Paged<NotificationView>,
    unread: i64,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<JsonResponse<Page>, Problem> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let items: Vec<NotificationView> = sqlx::query_as(
        "SELECT id, kind, subject, body, created_at, read_at FROM notifications \
         WHERE user_id = $1 AND channel = 'in_app' \
         ORDER BY read_at IS NOT NULL, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(caller.user_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&state.db)
    .await?;
    let (total, unread): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE read_at IS NULL) FROM notifications \
         WHERE user_id = $1 AND channel = 'in_app'",
    )
    .bind(caller.user_id)
    .fetch_one(&state.db)
    .await?;
    Ok(JsonResponse(Page {
        page: Paged::new(items, page, total),
        unread,
    }))
}

/// Marks one of the caller's notifications read; someone else's is not found.
async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<JsonResponse<NotificationView>, Problem> {
    sqlx::query_as(
        "UPDATE notifications SET read_at = COALESCE(read_at, now()) \
         WHERE id = $1 AND user_id = $2 AND channel = 'in_app' \
         RETURNING id, kind, subject, body, created_at, read_at",
    )
    .bind(id)
    .bind(caller.user_id)
    .fetch_optional(&state.db)
    .await?
    .map(JsonResponse)
    .ok_or_else(|| Problem::not_found("Notification not found"))
}
