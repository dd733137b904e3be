//! Invariants over the token chain, searched with generated cases through the real
//! handlers (issue 25): what no sequence of requests may ever break, rather than the
//! named paths the other modules check.
//!
//! - `binding`: a sender-constrained token never yields a less bound one;
//! - `one_winner`: of N concurrent uses of one refresh token exactly one wins;
//! - `refused`: a refused request writes nothing (beyond what SPEC says it writes);
//! - `secrets`: no secret in any response, log line or exported span.
//!
//! Cases come from a seeded generator (`rand`'s `StdRng`): each test prints its seed,
//! every failure message repeats it with the steps taken so far, and
//! `TESSERA_INVARIANT_SEED=<seed>` replays that run exactly (same cases, same order).
//! `TESSERA_INVARIANT_CASES=<n>` runs n cases per test instead of the default, for a
//! longer search by hand. Each test runs on SQLite and, with
//! `TESSERA_TEST_POSTGRES_URL`, on PostgreSQL, like every other test.

mod binding;
mod one_winner;
mod refused;
mod secrets;

use crate::helpers::TestDb;
use diesel::{Connection, PgConnection, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt;

/// A test's generator and the record of what it did, for failure messages.
pub struct Run {
    pub rng: StdRng,
    seed: u64,
    test: &'static str,
    steps: Vec<String>,
    tally: BTreeMap<String, usize>,
}

impl Run {
    /// The generator for `test`: seeded from `TESSERA_INVARIANT_SEED` when set, else at
    /// random; the seed is printed so any run can be replayed.
    pub fn new(test: &'static str) -> Run {
        let seed = match std::env::var("TESSERA_INVARIANT_SEED") {
            Ok(s) if !s.trim().is_empty() => {
                s.trim().parse().expect("TESSERA_INVARIANT_SEED is a u64")
            }
            _ => rand::random(),
        };
        eprintln!("{test}: seed {seed} (replay with TESSERA_INVARIANT_SEED={seed})");
        Run {
            rng: StdRng::seed_from_u64(seed),
            seed,
            test,
            steps: Vec::new(),
            tally: BTreeMap::new(),
        }
    }

    /// How many cases to run: `TESSERA_INVARIANT_CASES`, else `default`.
    pub fn cases(&self, default: usize) -> usize {
        std::env::var("TESSERA_INVARIANT_CASES")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(default)
    }

    /// Records a step; failure messages list the last ones.
    pub fn step(&mut self, what: impl Into<String>) {
        self.steps.push(what.into());
    }

    /// Counts one outcome of `kind`, for the summary [`Run::finish`] prints.
    pub fn count(&mut self, kind: impl Into<String>) {
        *self.tally.entry(kind.into()).or_default() += 1;
    }

    /// Prints what the run covered (shown with `--nocapture`, and on failure).
    pub fn finish(&self) {
        eprintln!(
            "{}: {} steps, seed {}",
            self.test,
            self.steps.len(),
            self.seed
        );
        for (kind, n) in &self.tally {
            eprintln!("  {n:5}  {kind}");
        }
    }

    /// A value in `range`.
    pub fn pick<T: rand::distributions::uniform::SampleUniform + PartialOrd>(
        &mut self,
        range: std::ops::RangeInclusive<T>,
    ) -> T {
        self.rng.gen_range(range)
    }

    /// One of `items`.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    /// A printable random string of `len` characters from `alphabet` (or, for an
    /// empty one, any of a mix of ASCII, punctuation and non-ASCII characters).
    pub fn text(&mut self, len: usize, alphabet: &str) -> String {
        const MIX: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\
                           -._~!$&'()*+,;=:@/?#[]% \"<>\\^`{|}éß€😀";
        let chars: Vec<char> = if alphabet.is_empty() { MIX } else { alphabet }
            .chars()
            .collect();
        (0..len)
            .map(|_| chars[self.rng.gen_range(0..chars.len())])
            .collect()
    }
}

/// A failure message's context: the test, its seed and the last steps.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.steps.len().saturating_sub(12);
        writeln!(
            f,
            "[{} seed {} — replay with TESSERA_INVARIANT_SEED={}]",
            self.test, self.seed, self.seed
        )?;
        for (i, s) in self.steps.iter().enumerate().skip(from) {
            writeln!(f, "  step {i}: {s}")?;
        }
        Ok(())
    }
}

/// Every table of the database with its rows as text, sorted: two snapshots are equal
/// exactly when nothing was inserted, updated or deleted. The table list is read from
/// the database itself, so a table a later migration adds is covered without a change
/// here.
pub type Snapshot = BTreeMap<String, Vec<String>>;

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// The current contents of every table of `db`.
pub fn snapshot(db: &TestDb) -> Snapshot {
    let mut out = Snapshot::new();
    match db {
        TestDb::Sqlite { .. } => {
            let mut c = diesel::SqliteConnection::establish(&db.url()).expect("sqlite");
            let tables: Vec<TextRow> = diesel::sql_query(
                "SELECT name AS v FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%'",
            )
            .load(&mut c)
            .expect("tables");
            for t in tables {
                let columns: Vec<TextRow> = diesel::sql_query(format!(
                    "SELECT name AS v FROM pragma_table_info('{}')",
                    t.v
                ))
                .load(&mut c)
                .expect("columns");
                let row = columns
                    .iter()
                    .map(|col| format!("quote(\"{}\")", col.v))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                let rows: Vec<TextRow> =
                    diesel::sql_query(format!("SELECT {row} AS v FROM \"{}\"", t.v))
                        .load(&mut c)
                        .expect("rows");
                let mut rows: Vec<String> = rows.into_iter().map(|r| r.v).collect();
                rows.sort();
                out.insert(t.v, rows);
            }
        }
        TestDb::Postgres { .. } => {
            let mut c = PgConnection::establish(&db.url()).expect("postgres");
            let tables: Vec<TextRow> = diesel::sql_query(
                "SELECT tablename::text AS v FROM pg_tables WHERE schemaname = 'public'",
            )
            .load(&mut c)
            .expect("tables");
            for t in tables {
                let rows: Vec<TextRow> =
                    diesel::sql_query(format!("SELECT t::text AS v FROM \"{}\" t", t.v))
                        .load(&mut c)
                        .expect("rows");
                let mut rows: Vec<String> = rows.into_iter().map(|r| r.v).collect();
                rows.sort();
                out.insert(t.v, rows);
            }
        }
    }
    out
}

/// The tables whose rows differ between `before` and `after`, each with the rows that
/// left and the rows that came.
pub fn changes(
    before: &Snapshot,
    after: &Snapshot,
) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = Vec::new();
    for name in names {
        let (b, a) = (
            before.get(name).unwrap_or(&empty),
            after.get(name).unwrap_or(&empty),
        );
        if a != b {
            let gone: Vec<String> = b.iter().filter(|r| !a.contains(r)).cloned().collect();
            let came: Vec<String> = a.iter().filter(|r| !b.contains(r)).cloned().collect();
            out.insert(name.clone(), (gone, came));
        }
    }
    out
}

/// Server settings every invariant test shares: the DPoP tests' issuer (proofs name
/// its URLs), and no background job that could write while a test compares snapshots.
pub fn quiet(c: &mut tessera::config::ConfigArgs) {
    c.server.issuer = Some(crate::jose::ISSUER.into());
    c.signing.key_refresh_interval = Some(600);
    c.database.purge_interval = Some(3_600);
}
