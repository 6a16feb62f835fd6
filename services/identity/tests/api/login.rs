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
async fn a_username_longer_than_any_account_is_an_ordinary_failure() {
    let app = TestApp::spawn().await;
    // Random, so that PostgreSQL cannot compress it under its index row limit (about 2.7 KB)
    // were it stored whole.
    let long: String = (0..300)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for _ in 0..2 {
        let body = problem(app.login(&long, PASSWORD).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body["message"], "Invalid username or password");
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Lets the delays in force run out at once, as if the test had waited.
async fn let_delays_pass(app: &TestApp) {
    sqlx::query("UPDATE login_throttles SET blocked_until = now()")
        .execute(&app.db)
        .await
        .unwrap();
}

const ATTACKER: &str = "203.0.113.9";
const OWNER: &str = "198.51.100.7";

#[tokio::test]
async fn failures_from_one_address_delay_it_longer_each_time() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "3")]).await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    for _ in 0..3 {
        let response = app.login_from(ATTACKER, "johndoe", "wrongpassword1").await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    // From the third failure on, each attempt waits, twice as long after each failure; while it
    // waits, even the right password is refused without being checked.
    for expected in [1, 2, 4, 8] {
        let response = app.login_from(ATTACKER, "johndoe", PASSWORD).await;
        assert_eq!(retry_after(&response), expected);
        let body = problem(response, StatusCode::TOO_MANY_REQUESTS).await;
        assert_eq!(
            body["type"].as_str().unwrap().rsplit('/').next(),
            Some("too-many-attempts")
        );
        let_delays_pass(&app).await;
        let response = app.login_from(ATTACKER, "johndoe", "wrongpassword1").await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    // Once the delay has passed, the right password works and forgets this address's failures
    // for the account.
    let_delays_pass(&app).await;
    assert_eq!(
        app.login_from(ATTACKER, "johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        let response = app.login_from(ATTACKER, "johndoe", "wrongpassword1").await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn a_flood_from_one_address_does_not_keep_the_owner_out() {
    let app = TestApp::spawn().await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    let mut refused = 0;
    for round in 0..40 {
        let response = app.login_from(ATTACKER, "johndoe", "wrongpassword1").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("attempt {round}: {other}"),
        }
        if round % 4 == 3 {
            let_delays_pass(&app).await;
        }
    }
    assert!(refused > 0, "the attacker's address is delayed");
    problem(
        app.login_from(ATTACKER, "johndoe", "wrongpassword1").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login_from(ATTACKER, "johndoe", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address is delayed even with the right password"
    );
    // The owner, from their own address, signs in at once.
    assert_eq!(
        app.login_from(OWNER, "johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
    // And even a mistake of theirs is not answered with the attacker's delay.
    problem(
        app.login_from(OWNER, "johndoe", "typo-password1").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login_from(OWNER, "johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn guesses_from_many_addresses_delay_the_account_briefly() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "2"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "6"),
        ("LOGIN_MAX_ACCOUNT_DELAY_SECS", "5"),
    ])
    .await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    // Each address adds at most two failures to the account, however many it sends.
    for host in 1..=3 {
        let address = format!("192.0.2.{host}");
        for _ in 0..5 {
            app.login_from(&address, "johndoe", "wrongpassword1").await;
        }
        let account: i32 = sqlx::query_scalar(
            "SELECT failures FROM login_throttles WHERE scope = 'account' AND subject = 'johndoe'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(account, 2 * host);
    }
    // Six failures from three addresses: every address now waits, the owner's too, but only
    // as long as the account's cap.
    let response = app.login_from(OWNER, "johndoe", PASSWORD).await;
    let waited = retry_after(&response);
    assert!((1..=5).contains(&waited), "{waited}");
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    let_delays_pass(&app).await;
    assert_eq!(
        app.login_from(OWNER, "johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_get_no_extra_tries() {
    let app = TestApp::spawn_with(&[("LOGIN_DELAY_SECS", "60")]).await;
    app.register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request = app
            .client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", ATTACKER)
            .json(&serde_json::json!({"username": "johndoe", "password": format!("wrongpassword{i}")}));
        guesses.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = guesses.join_all().await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let delayed = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // The default allows five failures from one address for one account: exactly five
    // passwords were checked, however the twenty requests interleaved.
    assert_eq!((checked, delayed), (5, 15), "{statuses:?}");
    let counted: i32 =
        sqlx::query_scalar("SELECT failures FROM login_throttles WHERE scope = 'account-address'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(counted, 5);
}

#[tokio::test]
async fn repeated_failures_from_one_address_delay_the_address() {
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
    // Other addresses are not affected.
    assert_eq!(
        app.login_from(OWNER, "johndoe", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_replaced_lock_setting_is_refused_by_name() {
    let source = platform::config::ConfigSource::from_pairs([("LOGIN_LOCK_SECS", "30")]);
    let err = identity::Config::load(&source, platform::config::RunMode::Single)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("LOGIN_LOCK_SECS") && err.contains("LOGIN_DELAY_SECS"),
        "{err}"
    );
}
