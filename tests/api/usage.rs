//! Usage data: tokens counted in memory and written by a periodic flush (never a write
//! per token), summed across replicas, shown as `last_used_at`, the unused-client
//! gauges, token outcomes per minute, and the clients inventory with 10,000 clients.

use crate::helpers::{count_sql, exec_sql, spawn_app_with, test_settings, TestApp, TestDb};
use std::time::{Duration, Instant};
use tessera::admin::clients::{self, Filter, InventoryQuery, Sort, SortKey};
use tessera::db::DbConnection;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn conn(db: &TestDb) -> tessera::db::pool::PooledConn {
    let settings = test_settings(db, |_| {});
    let pool = tessera::startup::pool_for(&settings, false).expect("pool");
    tessera::db::pool::get(&pool).expect("connection")
}

fn today(db: &TestDb, id: &str) -> u64 {
    let mut c = conn(db);
    let days = clients::daily_usage(&mut c, id, 7, now()).expect("days");
    assert_eq!(days.len(), 7);
    days.last().expect("today").1
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fast_flush() -> TestApp {
    spawn_app_with(|c| c.database.usage_flush_interval = Some(1)).await
}

#[tokio::test]
async fn issued_tokens_show_as_last_used_and_daily_counts_after_the_flush() {
    let app = fast_flush().await;
    let client = app.create_client(&[]).await;
    let shown = app.cli(&["client", "show", &client.id]).await.json();
    assert!(shown["last_used_at"].is_null(), "{shown}");
    let before = now();
    for _ in 0..3 {
        let a = app
            .token_basic(&client, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    eventually("three tokens counted today", || {
        today(&app.db, &client.id) == 3
    })
    .await;
    let shown = app.cli(&["client", "show", &client.id]).await.json();
    let last = shown["last_used_at"].as_i64().expect("last_used_at");
    assert!(last >= before && last <= now(), "{shown}");
    let listed = app.cli(&["client", "list"]).await.json();
    let row = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["client_id"] == client.id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(row["last_used_at"], last);
    // RFC 7592 read.
    let admin = app.admin_token().await;
    let read = app
        .http
        .get(format!("{}/oauth/register/{}", app.address, client.id))
        .bearer_auth(admin)
        .send()
        .await
        .expect("sent");
    let body: serde_json::Value = read.json().await.expect("json");
    assert_eq!(body["last_used_at"], last, "{body}");
}

#[tokio::test]
async fn tokens_are_written_by_the_flush_not_one_write_per_token() {
    let app = spawn_app_with(|c| c.database.usage_flush_interval = Some(3600)).await;
    let client = app.create_client(&[]).await;
    for _ in 0..50 {
        let a = app
            .token_basic(&client, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200);
    }
    // Nothing written while the tokens were issued…
    assert_eq!(
        count_sql(&app.db, "SELECT COUNT(*) AS n FROM client_usage"),
        0
    );
    assert_eq!(
        count_sql(&app.db, "SELECT COUNT(*) AS n FROM token_outcomes"),
        0
    );
    let db = app.stop().await;
    // …and one row with all 50 once the server stops (its final flush).
    let id = client.id.clone();
    eventually("the final flush", || {
        count_sql(
            &db,
            &format!("SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS n FROM client_usage WHERE client_id = '{id}'"),
        ) == 50
    })
    .await;
    assert_eq!(count_sql(&db, "SELECT COUNT(*) AS n FROM client_usage"), 1);
}

#[tokio::test]
async fn two_replicas_on_one_database_sum_their_counts() {
    let app = fast_flush().await;
    let second = tessera::startup::Application::build(test_settings(&app.db, |c| {
        c.database.usage_flush_interval = Some(1)
    }))
    .await
    .expect("second replica");
    let port = second.port();
    tokio::spawn(second.run_until_stopped());
    let client = app.create_client(&[]).await;
    for _ in 0..5 {
        assert_eq!(
            app.token_basic(&client, "grant_type=client_credentials")
                .await
                .status,
            200
        );
    }
    for _ in 0..7 {
        let res = app
            .http
            .post(format!("http://127.0.0.1:{port}/oauth/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
    }
    eventually("12 tokens from two replicas", || {
        today(&app.db, &client.id) == 12
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(today(&app.db, &client.id), 12, "counts are added once");
}

#[tokio::test]
async fn failed_token_requests_are_counted_by_outcome() {
    let app = fast_flush().await;
    let client = app.create_client(&[]).await;
    let mut wrong = client.clone();
    wrong.secret = "not-the-secret-é".into();
    for _ in 0..2 {
        let a = app
            .token_basic(&wrong, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 401);
    }
    let a = app.token_basic(&client, "grant_type=bogus").await;
    assert_eq!(a.status, 400);
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200);
    let db = &app.db;
    let hour = || {
        let mut c = conn(db);
        let idle = tessera::service::usage::Usage::default();
        tessera::service::usage::last_hour(&mut c, &idle, now()).expect("last hour")
    };
    let sum = |h: &[(String, Vec<u64>)], name: &str| -> u64 {
        h.iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| v.iter().sum())
    };
    eventually("the outcomes flushed", || {
        let h = hour();
        sum(&h, "issued") >= 1 && sum(&h, "invalid_client") == 2
    })
    .await;
    let h = hour();
    assert_eq!(h[0].0, "issued");
    assert!(h.iter().all(|(_, v)| v.len() == 60));
    assert_eq!(sum(&h, "unsupported_grant_type"), 1);
}

#[tokio::test]
async fn metrics_count_clients_unused_for_30_and_90_days() {
    let app = fast_flush().await;
    let old = app.create_client(&[]).await;
    let month = app.create_client(&[]).await;
    let t = now();
    exec_sql(
        &app.db,
        &format!(
            "UPDATE clients SET created_at = {} WHERE client_id = '{}'",
            t - 100 * 86_400,
            old.id
        ),
    );
    exec_sql(
        &app.db,
        &format!(
            "UPDATE clients SET created_at = {} WHERE client_id = '{}'",
            t - 40 * 86_400,
            month.id
        ),
    );
    let gauge = |text: &str, days: &str| -> Option<i64> {
        let prefix = format!("tessera_clients_unused{{days=\"{days}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    };
    let mut text = String::new();
    let started = Instant::now();
    while gauge(&text, "30") != Some(2) || gauge(&text, "90") != Some(1) {
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        text = app.get("/metrics").await.text().await.expect("text");
    }
    assert!(!text.contains(&old.id), "no client ids in the gauges");
    // Used now: no longer unused.
    assert_eq!(
        app.token_basic(&old, "grant_type=client_credentials")
            .await
            .status,
        200
    );
    let started = Instant::now();
    while gauge(&text, "30") != Some(1) || gauge(&text, "90") != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        text = app.get("/metrics").await.text().await.expect("text");
    }
}

#[tokio::test]
async fn deleting_a_client_deletes_its_usage() {
    let app = fast_flush().await;
    let client = app.create_client(&[]).await;
    assert_eq!(
        app.token_basic(&client, "grant_type=client_credentials")
            .await
            .status,
        200
    );
    eventually("counted", || today(&app.db, &client.id) == 1).await;
    assert!(app.cli(&["client", "delete", &client.id]).await.success);
    let n = count_sql(
        &app.db,
        &format!(
            "SELECT COUNT(*) AS n FROM client_usage WHERE client_id = '{}'",
            client.id
        ),
    );
    assert_eq!(n, 0);
}

fn seed(db: &TestDb, n: i64) {
    let t = now();
    exec_sql(
        db,
        &format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO clients (client_id, name, secret_hash, auth_method, scope, grant_types, \
             audiences, disabled, created_at, updated_at, require_dpop, resource_uris) \
             SELECT 'client-' || CAST(i AS TEXT), 'Service ' || CAST(i AS TEXT), 'x', \
             'client_secret_basic', 'a', 'client_credentials', '', i % 10 = 0, \
             {t} - i * 3600, {t}, FALSE, '' FROM s"
        ),
    );
    // Every other client used: the later, the more tokens.
    let day = t - t.rem_euclid(86_400);
    exec_sql(
        db,
        &format!(
            "WITH RECURSIVE s(i) AS (SELECT 2 UNION ALL SELECT i + 2 FROM s WHERE i < {n}) \
             INSERT INTO client_usage (client_id, day, tokens, last_used_at) \
             SELECT 'client-' || CAST(i AS TEXT), {day}, i, {t} - i FROM s"
        ),
    );
}

fn p50(conn: &mut DbConnection, q: &InventoryQuery) -> (Duration, clients::InventoryPage) {
    let mut times = Vec::new();
    let mut page = None;
    for _ in 0..15 {
        let started = Instant::now();
        page = Some(clients::inventory(conn, q, now()).expect("inventory"));
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], page.expect("page"))
}

#[tokio::test]
async fn the_inventory_pages_ten_thousand_clients_in_the_database() {
    let app = spawn_app_with(|_| {}).await;
    seed(&app.db, 10_000);
    exec_sql(
        &app.db,
        "INSERT INTO clients (client_id, name, auth_method, scope, grant_types, audiences, \
         disabled, created_at, updated_at, require_dpop, resource_uris) VALUES \
         ('odd_one', 'Zürich 100% ÉTÉ', 'private_key_jwt', 'a', 'client_credentials', '', \
         FALSE, 0, 0, FALSE, '')",
    );
    let mut c = conn(&app.db);
    let queries = [
        (
            "first page by id",
            InventoryQuery {
                per_page: 50,
                ..Default::default()
            },
        ),
        (
            "search, sorted by last use",
            InventoryQuery {
                search: Some("service 12".into()),
                sort: Sort {
                    key: SortKey::LastUsed,
                    descending: true,
                },
                per_page: 50,
                ..Default::default()
            },
        ),
        (
            "tokens, page 20",
            InventoryQuery {
                sort: Sort {
                    key: SortKey::Tokens24h,
                    descending: true,
                },
                page: 20,
                per_page: 50,
                ..Default::default()
            },
        ),
        (
            "stale for 30 days, by secret age",
            InventoryQuery {
                state: Filter::Stale30,
                sort: Sort {
                    key: SortKey::SecretAge,
                    descending: true,
                },
                per_page: 100,
                ..Default::default()
            },
        ),
    ];
    for (what, q) in &queries {
        let (took, page) = p50(&mut c, q);
        println!(
            "inventory p50 with 10,000 clients, {what}: {took:?} ({} matching)",
            page.total
        );
        assert!(took < Duration::from_millis(500), "{what}: {took:?}");
    }
    let (_, first) = p50(&mut c, &queries[0].1);
    assert_eq!(first.total, 10_002); // with the bootstrap admin
    assert_eq!(first.rows.len(), 50);
    let (_, searched) = p50(&mut c, &queries[1].1);
    // Service 12, 120-129, 1200-1299: 111, case-insensitive.
    assert_eq!(searched.total, 111);
    let used: Vec<_> = searched.rows.iter().map(|r| r.last_used_at).collect();
    let mut sorted = used.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(used, sorted);
    let (_, by_tokens) = p50(
        &mut c,
        &InventoryQuery {
            sort: Sort {
                key: SortKey::Tokens24h,
                descending: true,
            },
            per_page: 1,
            ..Default::default()
        },
    );
    assert_eq!(by_tokens.rows[0].client_id, "client-10000");
    assert_eq!(by_tokens.rows[0].tokens_24h, 10_000);
    // `%` and `_` are literal; non-ASCII text is text.
    let mut search = |s: &str| {
        clients::inventory(
            &mut c,
            &InventoryQuery {
                search: Some(s.into()),
                per_page: 10,
                ..Default::default()
            },
            now(),
        )
        .expect("inventory")
        .total
    };
    assert_eq!(search("100%"), 1);
    assert_eq!(search("%"), 1);
    assert_eq!(search("t_1"), 0);
    assert_eq!(search("odd_one"), 1);
    assert_eq!(search("zürich"), 1);
    assert!(clients::inventory(
        &mut c,
        &InventoryQuery {
            search: Some("x".repeat(201)),
            ..Default::default()
        },
        now(),
    )
    .is_err());
    let disabled = clients::inventory(
        &mut c,
        &InventoryQuery {
            state: Filter::Disabled,
            ..Default::default()
        },
        now(),
    )
    .expect("inventory");
    assert_eq!(disabled.total, 1_000);
    let (s30, s90) = clients::stale_counts(&mut c, now()).expect("stale");
    // Unused: the odd ones (created i hours ago) older than 30/90 days, and odd_one.
    let odd_older = |days: i64| {
        (1..=10_000i64)
            .filter(|i| i % 2 == 1 && i * 3600 > days * 86_400)
            .count() as u64
    };
    assert_eq!((s30, s90), (odd_older(30) + 1, odd_older(90) + 1));
}
