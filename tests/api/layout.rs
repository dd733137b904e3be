//! The layers stay layers: checked on the source tree, so a change that makes storage
//! decide protocol, a lower layer reach up into the HTTP handlers or the operators'
//! side, a handler skip the service layer to reach the database, or diesel leak out of
//! `db/`, fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level module a source file belongs to (`src/http/token.rs` → `http`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The crate modules a file names through `crate::<module>`.
fn imports(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(i, _)| {
            text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn storage_never_decides_protocol_and_nothing_below_http_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    // Modules that sit above the HTTP handlers and may name them.
    let above_http = ["startup", "cli", "main", "lib", "http", "console"];
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).expect("source");
        let module = module_of(&src, &file);
        let used = imports(&text);
        let shown = file
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        if module == "db" && used.contains("oauth") {
            broken.push(format!("{shown}: db/ imports crate::oauth"));
        }
        if !above_http.contains(&module.as_str()) && used.contains("http") {
            broken.push(format!("{shown}: imports crate::http from below it"));
        }
        if module == "oauth" && (text.contains("actix") || text.contains("diesel")) {
            broken.push(format!("{shown}: oauth/ names actix or diesel"));
        }
        // What one request does never depends on what operators do: admin/ sits above
        // service/ (the audit path both use is db::audit).
        if module == "service" && used.contains("admin") {
            broken.push(format!("{shown}: service/ imports crate::admin"));
        }
        // Handlers reach rows through service/ (its units of work), never db/ itself;
        // so do the console's pages (through service/ and admin/).
        if (module == "http" || module == "console") && used.contains("db") {
            broken.push(format!(
                "{shown}: {module}/ imports crate::db (go through service/ or admin/)"
            ));
        }
        // Diesel is db/'s business: the layers above name its errors `db::QueryError`.
        // Paths only (`diesel::`): the word alone may name a log target.
        if module != "db" && text.contains("diesel::") {
            broken.push(format!("{shown}: names diesel:: outside db/"));
        }
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(used.into_iter().filter(|m| *m != module));
    }
    // No cycle between top-level modules (folders and top-level files).
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        graph.get(from).is_some_and(|deps| {
            deps.iter()
                .any(|d| d == to || (seen.insert(d.clone()) && reaches(graph, d, to, seen)))
        })
    }
    for (module, deps) in &graph {
        for dep in deps {
            if reaches(&graph, dep, module, &mut BTreeSet::new()) {
                broken.push(format!("cycle: {module} -> {dep} -> … -> {module}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}
