use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, PASSWORD, TestApp, problem, token};

#[tokio::test]
async fn a_user_reads_and_changes_their_own_profile() {
    let app = TestApp::spawn().await;
    let login = app.user("johndoe").await;
    let jwt = token(&login);
    let me: Value = app.get("/api/users/me", &jwt).await.json().await.unwrap();
    assert_eq!(me["userId"], login["userId"]);
    assert_eq!(me["username"], "johndoe");
    assert_eq!(me["email"], "johndoe@example.com");
    assert_eq!(me["role"], "customer");

    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/users/me"))
            .bearer_auth(&jwt)
            .json(&body)
            .send()
    };

    let body = problem(
        patch(json!({"email": "new@example.com"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("currentPassword")
    );
    problem(
        patch(json!({"email": "new@example.com", "currentPassword": "wrongpassword9"}))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        patch(json!({"email": "nope", "currentPassword": PASSWORD}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        patch(json!({"username": "renamed"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;

    let response = patch(json!({"email": "new@example.com", "password": "newpassword42", "currentPassword": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["email"],
        "new@example.com"
    );
    assert_eq!(
        app.login("johndoe", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("johndoe", "newpassword42").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn customers_cannot_reach_admin_routes_or_other_profiles() {
    let app = TestApp::spawn().await;
    let jane = app.user("janedoe").await;
    let john = token(&app.user("johndoe").await);
    problem(app.get("/api/users", &john).await, StatusCode::FORBIDDEN).await;
    problem(
        app.get(&format!("/api/users/{}", jane["userId"]), &john)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let response = app
        .client
        .put(app.url(&format!("/api/users/{}/role", jane["userId"])))
        .bearer_auth(&john)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::FORBIDDEN).await;
    problem(
        app.get("/api/users/not-a-number", &john).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        app.client.get(app.url("/api/users")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn admins_list_users_by_page_and_change_roles() {
    let app = TestApp::spawn().await;
    let john = app.user("johndoe").await;
    app.user("janedoe").await;
    let admin = app.admin_token().await;

    let page: Value = app
        .get("/api/users?page=2&pageSize=2", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["username"], "janedoe");
    for bad in [
        "pageSize=1000",
        "page=0",
        "pageSize=-1",
        "page=abc",
        "sort=name",
    ] {
        problem(
            app.get(&format!("/api/users?{bad}"), &admin).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }

    let set_role = |id: &Value, role: &str| {
        app.client
            .put(app.url(&format!("/api/users/{id}/role")))
            .bearer_auth(&admin)
            .json(&json!({"role": role}))
            .send()
    };
    let response = set_role(&john["userId"], "ops").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "ops");
    // The next token carries the new role, and ops may read other users' profiles.
    let ops = token(&app.logged_in("johndoe", PASSWORD).await);
    assert_eq!(app.get("/api/users/1", &ops).await.status(), StatusCode::OK);

    problem(
        set_role(&john["userId"], "superuser").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        set_role(&json!(999_999), "ops").await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    let root_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(ADMIN.0)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let body = problem(
        set_role(&json!(root_id), "customer").await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("last administrator")
    );
}

#[tokio::test]
async fn changing_the_password_or_email_ends_every_session() {
    let app = TestApp::spawn().await;
    let phone = app.user("johndoe").await;
    let laptop = app.logged_in("johndoe", PASSWORD).await;
    let change = |jwt: String, body: Value| {
        app.client
            .patch(app.url("/api/users/me"))
            .bearer_auth(jwt)
            .json(&body)
            .send()
    };
    let refresh = async |login: &Value| {
        let body = json!({"refreshToken": login["refreshToken"].as_str().unwrap()});
        app.post("/api/auth/refresh", &body).await
    };

    let response = change(
        token(&laptop),
        json!({"password": "newpassword42", "currentPassword": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for session in [&phone, &laptop] {
        problem(refresh(session).await, StatusCode::UNAUTHORIZED).await;
    }

    // An email change does the same to the sessions signed in since.
    let tablet = app.logged_in("johndoe", "newpassword42").await;
    let response = change(
        token(&tablet),
        json!({"email": "john@example.org", "currentPassword": "newpassword42"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    problem(refresh(&tablet).await, StatusCode::UNAUTHORIZED).await;
    // Signing in with the new credentials works as before.
    let again = app.logged_in("johndoe", "newpassword42").await;
    assert_eq!(refresh(&again).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "3")]).await;
    let jwt = token(&app.user("johndoe").await);
    let change = |current: &str| {
        app.client
            .patch(app.url("/api/users/me"))
            .bearer_auth(&jwt)
            .json(&json!({"password": "newpassword42", "currentPassword": current}))
            .send()
    };
    // A stolen access token gets no more guesses at the password than the login form.
    for _ in 0..3 {
        problem(
            change("wrongpassword9").await.unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let response = change(PASSWORD).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    // The same counter as the login's: the login from this address waits too.
    problem(
        app.login("johndoe", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    sqlx::query("UPDATE login_throttles SET blocked_until = now()")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(change(PASSWORD).await.unwrap().status(), StatusCode::OK);
}
