//! `/api/users/*`: a user's own profile, and user administration for admins.

use axum::Json as JsonResponse;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use platform::Problem;
use platform::auth::{Caller, Role};
use platform::http::{Json, PageRequest, Paged, Path, Query};
use serde::{Deserialize, Serialize};

use super::{AppState, ClientAddress};
use crate::accounts::ProfileChange;
use crate::domain::{Email, Password};
use crate::error::IdentityError;
use crate::store;
use crate::store::users::User;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list_users))
        .route("/api/users/me", get(own_profile).patch(change_own_profile))
        .route("/api/users/{user_id}", get(profile))
        .route("/api/users/{user_id}/role", put(change_role))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    user_id: i64,
    username: String,
    email: String,
    role: Role,
    created_at: DateTime<Utc>,
}

impl From<User> for Profile {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            created_at: user.created_at,
        }
    }
}

async fn own_profile(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<JsonResponse<Profile>, IdentityError> {
    Ok(JsonResponse(
        state.accounts.user(caller.user_id).await?.into(),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfilePatch {
    email: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
}

async fn change_own_profile(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddress(address): ClientAddress,
    Json(patch): Json<ProfilePatch>,
) -> Result<JsonResponse<Profile>, IdentityError> {
    let email = patch.email.as_deref().map(Email::parse).transpose()?;
    let new_password = patch
        .password
        .as_deref()
        .map(|p| Password::parse(p, Some(&caller.username)))
        .transpose()?;
    let change = ProfileChange {
        email,
        new_password,
        current_password: patch.current_password,
    };
    Ok(JsonResponse(
        state
            .accounts
            .change_profile(caller.user_id, change, address)
            .await?
            .into(),
    ))
}

async fn profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> Result<JsonResponse<Profile>, IdentityError> {
    caller.require_self_or_staff(user_id)?;
    Ok(JsonResponse(state.accounts.user(user_id).await?.into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<JsonResponse<Paged<Profile>>, IdentityError> {
    caller.require(&[Role::Admin])?;
    let page = PageRequest::new(query.page, query.page_size)?;
    let (users, total) =
        store::users::list(&state.accounts.db, page.offset(), page.limit()).await?;
    Ok(JsonResponse(Paged::new(
        users.into_iter().map(Profile::from).collect(),
        page,
        total,
    )))
}

#[derive(Deserialize)]
struct RoleChange {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
    Json(body): Json<RoleChange>,
) -> Result<JsonResponse<Profile>, IdentityError> {
    caller.require(&[Role::Admin])?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        Problem::bad_request(format!(
            "Unknown role {:?}; expected customer, ops or admin",
            body.role
        ))
    })?;
    Ok(JsonResponse(
        state.accounts.set_role(user_id, role).await?.into(),
    ))
}
