//! `docs/threats.md`, the threat table: it has a row for every route the server
//! registers, and every test it names exists, so the table cannot drift from the code
//! it vouches for.

use crate::helpers::spawn_simplejwt_app;

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every `` `…` `` span of `text`.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[tokio::test]
async fn the_threat_table_has_every_route_and_names_only_tests_that_exist() {
    let table = repo_file("docs/threats.md");
    // A server with every optional route on (simplejwt's are registered only then).
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    // Each worker builds its routes when it starts; a request to one has started it.
    app.post_json("/api/token/", &serde_json::json!({}), None)
        .await;
    let routes = tessera::http::registered_routes();
    assert!(routes.iter().any(|(p, _)| p == "/api/token/"), "{routes:?}");
    let spans = code_spans(&table);
    for (path, _) in &routes {
        // `/oauth/register/{client_id}` is the row of `/oauth/register`.
        let base = path.split("/{").next().unwrap_or(path);
        assert!(
            spans.iter().any(|s| s.split([' ', ',']).any(|w| w == base)),
            "docs/threats.md has no row naming `{base}`"
        );
    }

    let mut named = 0;
    for span in spans {
        let name_like = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if let Some(target) = span.strip_prefix("fuzz/").filter(|t| name_like(t)) {
            let file = format!("fuzz/fuzz_targets/{target}.rs");
            assert!(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(&file)
                    .exists(),
                "docs/threats.md names fuzz target {target}, and {file} does not exist"
            );
            named += 1;
            continue;
        }
        let Some((module, test)) = span.rsplit_once("::") else {
            continue;
        };
        if test.is_empty()
            || !test
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
        {
            continue;
        }
        let file = match module.strip_prefix("src/") {
            Some(_) => module.to_string(),
            None => format!("tests/api/{}.rs", module.replace("::", "/")),
        };
        let source = repo_file(&file);
        let defined = source.contains(&format!("fn {test}()"))
            || (test.ends_with('_') && source.contains(&format!("fn {test}")));
        assert!(
            defined,
            "docs/threats.md names {span}, which {file} does not define"
        );
        named += 1;
    }
    assert!(named > 50, "the table names {named} tests");
}
