use contracts::identity::v1::user_directory_client::UserDirectoryClient;
use contracts::identity::v1::{GetUserRequest, ValidateUserRequest};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, token};

async fn client(app: &TestApp) -> UserDirectoryClient<Channel> {
    UserDirectoryClient::connect(format!("http://127.0.0.1:{}", app.grpc_port))
        .await
        .expect("gRPC connects")
}

fn with_token<T>(message: T, jwt: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {jwt}").parse().unwrap());
    request
}

#[tokio::test]
async fn validate_user_over_a_real_socket() {
    let app = TestApp::spawn().await;
    let login = app.user("johndoe").await;
    let user_id = login["userId"].as_i64().unwrap();
    let jwt = token(&login);
    let mut directory = client(&app).await;

    let reply = directory
        .validate_user(with_token(ValidateUserRequest { user_id }, &jwt))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.valid);
    assert_eq!(reply.role, "customer");

    let reply = directory
        .validate_user(with_token(ValidateUserRequest { user_id: 987_654 }, &jwt))
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.valid);
    assert!(reply.role.is_empty());

    let status = directory
        .validate_user(tonic::Request::new(ValidateUserRequest { user_id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = directory
        .validate_user(with_token(
            ValidateUserRequest { user_id },
            &crate::helpers::tamper(&jwt),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn get_user_returns_own_profile_and_refuses_others_to_customers() {
    let app = TestApp::spawn().await;
    let john = app.user("johndoe").await;
    let jane = app.user("janedoe").await;
    let mut directory = client(&app).await;

    let user = directory
        .get_user(with_token(
            GetUserRequest {
                user_id: john["userId"].as_i64().unwrap(),
            },
            &token(&john),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user.username, "johndoe");
    assert_eq!(user.email, "johndoe@example.com");

    let status = directory
        .get_user(with_token(
            GetUserRequest {
                user_id: jane["userId"].as_i64().unwrap(),
            },
            &token(&john),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let admin = app.admin_token().await;
    let status = directory
        .get_user(with_token(GetUserRequest { user_id: 987_654 }, &admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}
