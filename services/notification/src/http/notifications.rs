//! `/api/notifications`: a user's in-app notifications, unread first, and marking them read.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, Utc};
use platform::auth::Caller;
use platform::http::{PageRequest, Paged, Path, Query};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::error::NotificationError;
use crate::store::notifications::{self, NotificationRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/{notification_id}/read", post(mark_read))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationView {
    notification_id: i64,
    kind: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for NotificationView {
    fn from(row: NotificationRow) -> Self {
        Self {
            notification_id: row.id,
            kind: row.kind,
            subject: row.subject,
            body: row.body,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
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
) -> Result<JsonResponse<Page>, NotificationError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let items: Vec<NotificationView> =
        notifications::page_in_app(&state.db, caller.user_id, page.limit(), page.offset())
            .await?
            .into_iter()
            .map(NotificationView::from)
            .collect();
    let (total, unread) = notifications::count_in_app(&state.db, caller.user_id).await?;
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
) -> Result<JsonResponse<NotificationView>, NotificationError> {
    notifications::mark_read(&state.db, id, caller.user_id)
        .await?
        .map(|row| JsonResponse(row.into()))
        .ok_or(NotificationError::NotificationNotFound)
}
