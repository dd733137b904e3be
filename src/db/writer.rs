//! Where request-path writes run. On SQLite, one dedicated thread runs them back to
//! back: SQLite has one writer anyway, and a thread that stays busy while the queue is
//! non-empty avoids waking a blocking-pool thread per write and handing the write lock
//! around between threads. On PostgreSQL, writes run on the blocking pool like reads:
//! the database orders concurrent writers itself.

use super::pool::{get_for_write, WriteConn};
use super::{DbError, DbPool};
use crate::oauth::OAuthError;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Writes waiting for the SQLite writer beyond which callers get "unavailable".
const QUEUE: usize = 4096;

type Job = Box<dyn FnOnce(Result<WriteConn, DbError>) + Send>;

/// Runs units of work that write.
#[derive(Debug, Clone)]
pub struct Writer {
    pool: DbPool,
    thread: Option<SyncSender<Job>>,
}

impl Writer {
    /// A writer over `pool`; with `dedicated_thread` (SQLite) one thread runs every write.
    pub fn start(pool: DbPool, dedicated_thread: bool) -> std::io::Result<Writer> {
        let thread = if dedicated_thread {
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let p = pool.clone();
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job(get_for_write(&p));
                    }
                })?;
            Some(tx)
        } else {
            None
        };
        Ok(Writer { pool, thread })
    }

    /// Runs `f` with a connection for writing, off the async workers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&mut super::DbConnection) -> Result<T, OAuthError> + Send + 'static,
    {
        match &self.thread {
            Some(tx) => {
                let (done, result) = tokio::sync::oneshot::channel();
                let job: Job = Box::new(move |conn| {
                    let out = conn.map_err(OAuthError::from).and_then(|mut c| f(&mut c));
                    let _ = done.send(out);
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
                    let mut conn = get_for_write(&pool).map_err(OAuthError::from)?;
                    f(&mut conn)
                })
                .await
                .unwrap_or_else(|e| Err(DbError::Unavailable(e.to_string()).into()))
            }
        }
    }
}
