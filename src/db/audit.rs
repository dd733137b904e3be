//! The one audit path: every audited change (the operators' through `admin/`, a
//! revocation, a key lifecycle step) is recorded here, in the `audit_log` table (so every replica's and
//! the CLI's changes are in one place) and as a log line. Never a secret.
//!
//! The row is written in the change's own transaction, so it exists exactly when the
//! change does. The log line must tell the same truth, so it is written only once the
//! change is committed: [`record`] logs at once when its statement committed by
//! itself (no transaction open), and otherwise keeps the line on this thread until the
//! transaction's outcome is known. Whoever runs an audited change in a transaction
//! runs it through [`transaction`] (or [`committed`] around one it opens itself, or
//! [`captured`] when someone else commits, as the SQLite writer does): a rolled-back
//! change — a dry run, a failed apply, an `apply` update found to change nothing —
//! logs nothing.

use super::models::audit as rows;
use super::DbConnection;
use diesel::QueryResult;
use std::cell::{Cell, RefCell};

thread_local! {
    /// Lines of audited changes whose transaction has not ended yet, oldest first.
    static PENDING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// How many of [`committed`] / [`captured`] are running on this thread.
    static SCOPES: Cell<usize> = const { Cell::new(0) };
}

/// Records `action` on `target` by `actor` with non-secret `details`.
pub fn record(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
    now: i64,
) -> QueryResult<()> {
    let details = details.to_string();
    rows::record(conn, now, actor, action, target, &details)?;
    let line = format!("audit: actor={actor} action={action} target={target} details={details}");
    if super::in_transaction(conn) {
        debug_assert!(
            SCOPES.get() > 0,
            "an audited change inside a transaction must run through db::audit::transaction \
             (or committed/captured), or its log line is never written"
        );
        PENDING.with_borrow_mut(|p| p.push(line));
    } else {
        log::info!("{line}");
    }
    Ok(())
}

/// The audit lines of changes made by one unit of work, to be logged once it has
/// committed ([`Lines::log`]).
#[derive(Debug, Default)]
#[must_use = "the lines are logged by calling log() once the change has committed"]
pub struct Lines(Vec<String>);

impl Lines {
    /// Logs the lines (call it once their changes have committed).
    pub fn log(self) {
        for line in self.0 {
            log::info!("{line}");
        }
    }
}

/// Marks the start of a scope; [`Scope::end`] settles the lines recorded within it.
struct Scope {
    mark: usize,
}

impl Scope {
    fn start() -> Scope {
        SCOPES.set(SCOPES.get().saturating_add(1));
        Scope {
            mark: PENDING.with_borrow(Vec::len),
        }
    }

    /// Drops the scope's lines (`keep` false) or returns them; the outermost scope also
    /// clears what an unscoped transaction left behind, so nothing stale is logged
    /// later and the thread keeps no garbage.
    fn end(self, keep: bool) -> Lines {
        let outermost = SCOPES.get() == 1;
        SCOPES.set(SCOPES.get().saturating_sub(1));
        let mark = self.mark;
        std::mem::forget(self);
        PENDING.with_borrow_mut(|p| {
            let mark = mark.min(p.len());
            let mine: Vec<String> = p.drain(mark..).collect();
            if outermost {
                p.clear();
            }
            if keep {
                Lines(mine)
            } else {
                Lines::default()
            }
        })
    }

    /// Leaves the scope's lines for the enclosing transaction to settle.
    fn defer(self) {
        SCOPES.set(SCOPES.get().saturating_sub(1));
        std::mem::forget(self);
    }
}

impl Drop for Scope {
    /// A panic inside the scope: its changes are rolled back, so are its lines.
    fn drop(&mut self) {
        SCOPES.set(SCOPES.get().saturating_sub(1));
        PENDING.with_borrow_mut(|p| p.truncate(self.mark.min(p.len())));
    }
}

/// Runs `f`, which makes audited changes (and usually opens a transaction), and logs
/// their lines once they are committed: when `f` succeeds and no transaction is left
/// open on `conn`. Inside an enclosing transaction, the lines wait for its outcome
/// (its own [`committed`] decides); when `f` fails, they are dropped.
pub fn committed<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let scope = Scope::start();
    let out = f(conn);
    match &out {
        Err(_) => scope.end(false).log(),
        Ok(_) if super::in_transaction(conn) => scope.defer(),
        Ok(_) => scope.end(true).log(),
    }
    out
}

/// Runs `f` in a transaction of its own (a savepoint inside an enclosing one; on
/// SQLite holding the write lock from its start, see `db::immediate_transaction`) and
/// logs its audit lines once committed: the way to make an audited change.
pub fn transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<super::QueryError>,
{
    committed(conn, |conn| super::immediate_transaction(conn, f))
}

/// Runs `f` for a caller that commits later (the SQLite writer commits a group of
/// units together): returns `f`'s audit lines with its result, for the caller to log
/// once the commit is done; drops them when `f` fails.
pub fn captured<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<(T, Lines), E> {
    let scope = Scope::start();
    match f(conn) {
        Ok(value) => Ok((value, scope.end(true))),
        Err(e) => {
            let _ = scope.end(false);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;
    use diesel::Connection;

    /// A failure of the change under test (any error its caller's type converts).
    fn refused() -> DbError {
        DbError::Migration("refused".into())
    }

    fn conn() -> DbConnection {
        crate::db::memory_connection()
    }

    fn change(conn: &mut DbConnection, target: &str) -> QueryResult<()> {
        record(
            conn,
            "test",
            "thing.change",
            target,
            serde_json::json!({}),
            1,
        )
    }

    fn rows(conn: &mut DbConnection) -> usize {
        rows::recent(conn, 100).expect("rows").len()
    }

    fn pending() -> usize {
        PENDING.with_borrow(Vec::len)
    }

    #[test]
    fn a_committed_change_yields_its_line_once_and_a_rolled_back_one_none() {
        let mut c = conn();
        let (_, lines) = captured(&mut c, |c| {
            crate::db::immediate_transaction(c, |c| transaction(c, |c| change(c, "kept")))
        })
        .expect("committed");
        assert_eq!(lines.0.len(), 1);
        assert!(lines.0[0].contains("target=kept"));
        assert_eq!(rows(&mut c), 1);

        // Rolled back by the enclosing transaction after its own savepoint succeeded.
        let out = captured(&mut c, |c| {
            crate::db::immediate_transaction(c, |c| {
                transaction(c, |c| change(c, "undone"))?;
                Err::<(), DbError>(refused())
            })
        });
        assert!(out.is_err());
        assert_eq!(rows(&mut c), 1, "the row went with the rollback");
        assert_eq!(pending(), 0, "and so did the line");

        // A savepoint rolled back inside a committed transaction.
        let (_, lines) = captured(&mut c, |c| {
            crate::db::immediate_transaction(c, |c| {
                let _ = transaction(c, |c| {
                    change(c, "inner")?;
                    Err::<(), DbError>(refused())
                });
                change(c, "outer")
            })
        })
        .expect("committed");
        assert_eq!(lines.0.len(), 1);
        assert!(lines.0[0].contains("target=outer"), "{:?}", lines.0);
        assert_eq!(pending(), 0);
    }

    #[test]
    fn an_outermost_transaction_logs_itself_and_leaves_nothing_behind() {
        let mut c = conn();
        transaction(&mut c, |c| change(c, "a")).expect("committed");
        assert_eq!(pending(), 0, "logged at its commit");
        // An autocommitted statement is committed at once.
        change(&mut c, "b").expect("autocommit");
        assert_eq!(pending(), 0);
        let (_, lines) = captured(&mut c, |c| transaction(c, |c| change(c, "c"))).expect("ok");
        assert!(lines.0.is_empty(), "its own commit logged it already");
        assert_eq!(rows(&mut c), 3);
        // A transaction opened without a scope leaves lines that the next outermost
        // scope clears rather than logs.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = c.transaction::<(), DbError, _>(|c| Ok(change(c, "unscoped")?));
        }));
        let (_, lines) = captured(&mut c, |_| Ok::<(), DbError>(())).expect("ok");
        assert!(lines.0.is_empty());
        assert_eq!(pending(), 0);
    }
}
