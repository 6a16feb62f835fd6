//! What database errors become for the caller.

use axum::http::StatusCode;
use platform::Problem;
use platform::testing::maintenance_url;

#[tokio::test]
async fn text_with_a_nul_character_is_the_callers_mistake_not_a_server_error() {
    let db = sqlx::PgPool::connect(&maintenance_url()).await.unwrap();
    let error = sqlx::query("SELECT $1::text")
        .bind("Gare du Nord\0")
        .fetch_one(&db)
        .await
        .unwrap_err();
    let problem = Problem::database(&error);
    assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{error}");
    assert!(problem.detail.contains("NUL"), "{problem}");
    assert!(
        !problem.detail.contains("UTF8"),
        "the cause stays in the log: {problem}"
    );
}
