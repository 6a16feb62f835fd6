use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, problem};

#[tokio::test]
async fn login_answers_as_seed_002_documents() {
    let app = TestApp::spawn().await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    let body = app.logged_in("johndoe", PASSWORD).await;
    assert_eq!(body["message"], "Login successful");
    assert!(body["userId"].is_i64());
    assert_eq!(
        body["token"].as_str().unwrap().split('.').count(),
        3,
        "a JWT"
    );
    assert_eq!(body["expiresIn"], 900);
    assert!(body["refreshToken"].as_str().unwrap().starts_with("rt_"));

    // Usernames are matched without regard to case.
    assert_eq!(
        app.login("JOHNDOE", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::spawn().await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    for (username, password) in [("johndoe", "wrongpassword1"), ("nobody", PASSWORD)] {
        let body = problem(
            app.login(username, password).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(body["message"], "Invalid username or password");
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_retry_after() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    for _ in 0..3 {
        assert_eq!(
            app.login("johndoe", "wrongpassword1").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while the account is locked.
    let response = app.login("johndoe", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;

    // Other accounts are not affected by one account's lock.
    app.register("janedoe", "janedoe@example.com", PASSWORD)
        .await;
    assert_eq!(
        app.login("janedoe", PASSWORD).await.status(),
        StatusCode::OK
    );

    // Once the lock has passed, the right password works and clears the count.
    sqlx::query("UPDATE login_failures SET locked_until = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.login("johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_the_address() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "4")]).await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    for name in ["a1", "b2", "c3", "d4"] {
        assert_eq!(
            app.login(name, PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.login("johndoe", PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}
