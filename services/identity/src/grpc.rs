//! The `UserDirectory` gRPC service (seed 000's user validation), for other services.
//!
//! Calls carry the end user's access token in `authorization` metadata and are verified like any
//! HTTP request: the port being internal is no reason to trust the caller.

use std::sync::Arc;

use contracts::identity::v1::user_directory_server::UserDirectory;
use contracts::identity::v1::{GetUserRequest, User, ValidateUserRequest, ValidateUserResponse};
use platform::auth::{Caller, JwtVerifier};
use tonic::{Request, Response, Status};

use crate::accounts::Accounts;
use crate::error::IdentityError;

pub struct Directory {
    pub accounts: Arc<Accounts>,
    pub verifier: Arc<JwtVerifier>,
}

impl Directory {
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization metadata"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed authorization metadata"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("expected `Bearer <token>`"))?;
        self.verifier
            .verify(token.trim())
            .await
            .map_err(|e| match e {
                platform::auth::AuthError::KeysUnavailable => Status::unavailable(e.to_string()),
                other => Status::unauthenticated(other.to_string()),
            })
    }
}

fn status_of(error: IdentityError) -> Status {
    match error {
        IdentityError::UserNotFound => Status::not_found("user not found"),
        IdentityError::Database(e) => {
            tracing::error!(error = %e, "UserDirectory database error");
            Status::unavailable("identity database unavailable")
        }
        other => {
            tracing::error!(error = %other, "UserDirectory failed");
            Status::internal("internal error")
        }
    }
}

#[tonic::async_trait]
impl UserDirectory for Directory {
    async fn validate_user(
        &self,
        request: Request<ValidateUserRequest>,
    ) -> Result<Response<ValidateUserResponse>, Status> {
        self.caller(&request).await?;
        let user_id = request.into_inner().user_id;
        let reply = match self.accounts.user(user_id).await {
            Ok(user) => ValidateUserResponse {
                valid: true,
                role: user.role.as_str().to_owned(),
            },
            Err(IdentityError::UserNotFound) => ValidateUserResponse {
                valid: false,
                role: String::new(),
            },
            Err(e) => return Err(status_of(e)),
        };
        Ok(Response::new(reply))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let caller = self.caller(&request).await?;
        let user_id = request.into_inner().user_id;
        if caller.user_id != user_id && !caller.is_staff() {
            return Err(Status::permission_denied("you may only read your own user"));
        }
        let user = self.accounts.user(user_id).await.map_err(status_of)?;
        Ok(Response::new(User {
            user_id: user.id,
            username: user.username,
            email: user.email,
            role: user.role.as_str().to_owned(),
            created_at: user.created_at.to_rfc3339(),
        }))
    }
}
