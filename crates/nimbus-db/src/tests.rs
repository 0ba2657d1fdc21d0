//! Proof that the single-source pattern works on both engines: the same
//! statements with `$n` placeholders and the same Rust types.

use super::*;
use sqlx::Row;

async fn roundtrip(db: &Db) {
    db.migrate().await.unwrap();
    // Migrating again is a no-op.
    db.migrate().await.unwrap();
    let pool = db.pool();
    sqlx::query(
        "INSERT INTO identity_domains (id, name, description, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("d1")
    .bind("Dom")
    .bind("")
    .bind(1_i64)
    .bind(now_micros())
    .execute(pool)
    .await
    .unwrap();
    let dup = sqlx::query(
        "INSERT INTO identity_domains (id, name, description, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("d2")
    .bind("Dom")
    .bind("")
    .bind(0_i64)
    .bind(0_i64)
    .execute(pool)
    .await
    .unwrap_err();
    assert!(is_unique_violation(&dup), "{dup}");
    sqlx::query(
        "INSERT INTO identity_users (id, domain_id, name, enabled, password_hash, default_project_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind("u1")
    .bind("d1")
    .bind("alice")
    .bind(0_i64)
    .bind(Option::<String>::None)
    .bind(Some("p".to_string()))
    .bind(42_i64)
    .execute(pool)
    .await
    .unwrap();
    let row = sqlx::query("SELECT name, enabled, password_hash, default_project_id, created_at FROM identity_users WHERE id = $1 AND enabled = $2")
        .bind("u1")
        .bind(0_i64)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("name"), "alice");
    assert_eq!(row.get::<i64, _>("enabled"), 0);
    assert_eq!(row.get::<Option<String>, _>("password_hash"), None);
    assert_eq!(
        row.get::<Option<String>, _>("default_project_id")
            .as_deref(),
        Some("p")
    );
    assert_eq!(row.get::<i64, _>("created_at"), 42);
    // Foreign keys are enforced on both.
    let orphan = sqlx::query(
        "INSERT INTO identity_users (id, domain_id, name, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("u2")
    .bind("missing")
    .bind("bob")
    .bind(1_i64)
    .bind(0_i64)
    .execute(pool)
    .await;
    assert!(orphan.is_err());
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM identity_users WHERE id = $1")
        .bind("u1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM identity_users")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn sqlite_single_source_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(&dir.path().join("nimbus.sqlite"), 2)
        .await
        .unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    roundtrip(&db).await;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn postgres_single_source_roundtrip() {
    let Ok(base) = std::env::var("NIMBUS_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("NIMBUS_TEST_REQUIRE_ALL").is_err(),
            "NIMBUS_TEST_DATABASE_URL is required"
        );
        eprintln!("skipped: NIMBUS_TEST_DATABASE_URL is not set");
        return;
    };
    let admin = Db::connect(&base, 1).await.unwrap();
    let name = format!("nimbus_db_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("bad url"),
    };
    let db = Db::connect(&url, 2).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    roundtrip(&db).await;
    db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_scheme_is_a_config_error() {
    let err = Db::connect("mysql://x", 1).await.unwrap_err();
    assert_eq!(err.kind(), DbErrorKind::Config);
}
