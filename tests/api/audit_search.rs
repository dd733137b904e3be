//! `tessera audit` filters (the console's audit page runs the same query): by actor,
//! action and client, exact text, newest first, a page at a time.

use crate::helpers::spawn_app;
use serde_json::Value;

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("entries")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn audit_entries_filter_by_actor_action_and_client_and_page_newest_first() {
    let app = spawn_app().await;
    let a = app.create_client(&[]).await;
    let b = app.create_client(&[]).await;
    assert!(app.cli(&["client", "disable", &a.id]).await.success);

    let on_a = app.cli(&["audit", "--client", &a.id]).await.json();
    let actions: Vec<&str> = on_a
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["client.disable", "client.create"], "newest first");
    let created = app
        .cli(&["audit", "--action", "client.create"])
        .await
        .json();
    let targets: Vec<&str> = created
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["target"].as_str().expect("target"))
        .collect();
    assert_eq!(targets[..2], [b.id.as_str(), a.id.as_str()], "newest first");
    // Exact text: % and _ are themselves, no pattern.
    for pattern in ["client%", "client_create", "%"] {
        let none = app.cli(&["audit", "--action", pattern]).await.json();
        assert_eq!(ids(&none), Vec::<i64>::new(), "{pattern}");
    }
    assert_eq!(
        ids(&app.cli(&["audit", "--actor", "nobody"]).await.json()).len(),
        0
    );
    let by_cli = ids(&app.cli(&["audit", "--actor", "cli"]).await.json());
    assert!(by_cli.len() >= 3);

    // Pages: one entry, then the ones before it.
    let first = ids(&app
        .cli(&["audit", "--actor", "cli", "--limit", "1"])
        .await
        .json());
    assert_eq!(first, by_cli[..1]);
    let before = first[0].to_string();
    let rest = ids(&app
        .cli(&["audit", "--actor", "cli", "--before", &before])
        .await
        .json());
    assert_eq!(rest, by_cli[1..]);

    let bad = app.cli(&["audit", "--limit", "0"]).await;
    assert!(
        !bad.success && bad.stderr.contains("--limit: must be 1 to 10000"),
        "{}",
        bad.stderr
    );
}
