//! Where request-path writes run. On SQLite, one dedicated thread runs them back to
//! back: SQLite has one writer anyway, and a thread that stays busy while the queue is
//! non-empty avoids waking a blocking-pool thread per write and handing the write lock
//! around between threads. Writes that queued up meanwhile run as one group: one
//! transaction, each write in its own savepoint (an error undoes that write only), and
//! every caller learns its result once the group has committed — one commit for many
//! small writes (replay-cache entries, login counters, refresh rotations). The thread
//! runs at a lower priority so that, under load, the groups have time to form.
//! On PostgreSQL, writes run on the blocking pool like reads: the database orders
//! concurrent writers itself.
//!
//! The thread serves every request that writes, so a bug that panics inside one unit of
//! work must not take it down: the panic becomes that unit's error (its writes undone,
//! whatever transaction it left open rolled back) and the thread takes the next write.

use super::lock::immediate_transaction;
use super::pool::get_for_write;
use super::{DbConnection, DbError, DbPool};
use crate::worker::{self, Liveness};
use diesel::connection::{Connection, TransactionManager};
use diesel::result::Error as DieselError;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Writes waiting for the SQLite writer beyond which callers get "unavailable".
const QUEUE: usize = 4096;
/// Most writes committed together.
const MAX_GROUP: usize = 64;
/// The writer thread runs at a lower priority (nice +5): waking up, it does not
/// preempt the request workers at once, so under load writes queue up for a moment
/// and commit as a group (measured: twice the writes per commit, a tenth more tokens
/// per second with one replay-cache write each); when the workers are idle it still
/// runs at once.
const WRITER_NICENESS: i32 = 5;

/// Delivers a write's result, given the group's commit error if there was one.
type Finish = Box<dyn FnOnce(Option<&DbError>) + Send>;
/// A queued write: runs on the connection (or learns why there is none), in a group
/// or alone, and returns how to deliver its result.
type Job = Box<dyn FnOnce(Result<&mut DbConnection, DbError>, bool) -> Finish + Send>;

/// The writer thread's name, in `/readyz` and the log.
const THREAD_NAME: &str = "sqlite-writer";

/// Runs units of work that write.
#[derive(Debug, Clone)]
pub struct Writer {
    pool: DbPool,
    thread: Option<SyncSender<Job>>,
    liveness: Liveness,
}

impl Writer {
    /// A writer over `pool`; with `dedicated_thread` (SQLite) one thread runs every write.
    pub fn start(pool: DbPool, dedicated_thread: bool) -> std::io::Result<Writer> {
        let liveness = Liveness::new(THREAD_NAME);
        let thread = if dedicated_thread {
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let p = pool.clone();
            let alive = liveness.thread();
            std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || {
                    let _alive = alive;
                    // A panic outside any unit of work (none is known) loses the group
                    // in hand, whose callers hear "unavailable"; the loop starts over.
                    while worker::contain(THREAD_NAME, || write_loop(&p, &rx)).is_err() {}
                })?;
            Some(tx)
        } else {
            None
        };
        Ok(Writer {
            pool,
            thread,
            liveness,
        })
    }

    /// Whether the writer can still run writes (its thread, where it has one, is alive).
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Runs `f` with a connection for writing, off the async workers. `E` is the
    /// caller's error type; storage failures become one through `From<DbError>`.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut super::DbConnection) -> Result<T, E> + Send + 'static,
    {
        match &self.thread {
            Some(tx) => {
                let (done, result) = tokio::sync::oneshot::channel();
                let job: Job = Box::new(move |conn, grouped| {
                    let out = match conn {
                        Err(e) => Err(E::from(e)),
                        Ok(c) if grouped => in_savepoint(c, |c| contained(c, f)),
                        Ok(c) => contained(c, f),
                    };
                    Box::new(move |commit_failed: Option<&DbError>| {
                        let out = match commit_failed {
                            Some(e) => Err(DbError::Unavailable(e.to_string()).into()),
                            None => out,
                        };
                        let _ = done.send(out);
                    })
                });
                match tx.try_send(job) {
                    Ok(()) => result.await.unwrap_or_else(|_| {
                        Err(DbError::Unavailable("writer stopped".into()).into())
                    }),
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        Err(DbError::Unavailable("too many writes queued".into()).into())
                    }
                }
            }
            None => {
                let pool = self.pool.clone();
                actix_web::web::block(move || {
                    let mut conn = get_for_write(&pool).map_err(E::from)?;
                    contained(&mut conn, f)
                })
                .await
                .unwrap_or_else(|e| Err(DbError::Unavailable(e.to_string()).into()))
            }
        }
    }
}

/// The SQLite writer thread: takes what has queued up (at most `MAX_GROUP`), runs it
/// as one group, delivers the results, repeats.
fn write_loop(pool: &DbPool, rx: &Receiver<Job>) {
    worker::lower_current_thread(WRITER_NICENESS, "sqlite writer");
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut conn = match get_for_write(pool) {
            Ok(c) => c,
            Err(e) => {
                for job in group {
                    job(Err(DbError::Unavailable(e.to_string())), false)(None);
                }
                continue;
            }
        };
        let mut finishes = Vec::with_capacity(group.len());
        let committed = if group.len() == 1 {
            group
                .into_iter()
                .for_each(|job| finishes.push(job(Ok(&mut conn), false)));
            Ok(())
        } else {
            immediate_transaction(&mut conn, |c| {
                for job in group {
                    finishes.push(job(Ok(&mut *c), true));
                }
                Ok(())
            })
        };
        drop(conn);
        let failed = committed.err();
        if let Some(e) = &failed {
            log::error!("a group of writes failed to commit: {e}");
        }
        for finish in finishes {
            finish(failed.as_ref());
        }
    }
}

/// Runs one unit of work with its panic contained (on the SQLite writer thread and on
/// the blocking pool alike): a panic is the unit's error
/// ([`DbError::Panicked`], a 500 for its request alone), and any transaction it left
/// open is rolled back, so the connection and the group around it go on as if the unit
/// had returned that error.
fn contained<T, E: From<DbError>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let depth = transaction_depth(conn);
    match worker::contain(THREAD_NAME, || f(conn)) {
        Ok(out) => out,
        Err(message) => {
            while transaction_depth(conn) > depth {
                type Manager = <DbConnection as Connection>::TransactionManager;
                if Manager::rollback_transaction(conn).is_err() {
                    // The connection's transaction state is broken: the pool discards
                    // it on return, and the group's commit reports the failure.
                    break;
                }
            }
            Err(DbError::Panicked(message).into())
        }
    }
}

/// How many transactions (and savepoints) are open on `conn`; 0 when its state is broken.
fn transaction_depth(conn: &mut DbConnection) -> u32 {
    type Manager = <DbConnection as Connection>::TransactionManager;
    Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .map_or(0, std::num::NonZeroU32::get)
}

/// Runs `f` inside a savepoint of the group's transaction: its error undoes its own
/// writes and nothing else.
fn in_savepoint<T, E: From<DbError>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mut out = None;
    let done = conn.transaction::<(), DieselError, _>(|c| {
        let result = f(c);
        let failed = result.is_err();
        out = Some(result);
        if failed {
            Err(DieselError::RollbackTransaction)
        } else {
            Ok(())
        }
    });
    match (out, done) {
        (Some(result), Ok(()) | Err(DieselError::RollbackTransaction)) => result,
        (_, Err(e)) => Err(DbError::from(e).into()),
        (None, Ok(())) => Err(DbError::Query(DieselError::RollbackTransaction).into()),
    }
}
