//! tessera's shared worker threads (the SQLite writer, the password-hash pool): their
//! scheduling priority, a job's panic kept to that job, and whether the threads are
//! still there.
//!
//! A worker runs jobs for many requests. A bug that panics inside one job must fail
//! that request alone: the thread catches it, reports it as the job's error and takes
//! the next job. Should a thread end anyway, its [`Liveness`] says so, and `/readyz`
//! reports the server not ready instead of answering every later request with 503.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Lowers the calling thread's priority by `by` nice steps (Linux: per thread); where
/// that is not possible it stays as it is. `what` names the thread for the debug log.
pub fn lower_current_thread(by: i32, what: &str) {
    let tid = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), current.saturating_add(by)) {
        log::debug!("{what} thread keeps its scheduling priority: {e}");
    }
}

/// Runs one job of a shared worker: a panic inside it becomes `Err` with the panic's
/// message (logged in full, as the bug it is), and the thread goes on.
pub fn contain<T>(worker: &str, job: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(job)).map_err(|payload| {
        let message = panic_message(payload.as_ref());
        log::error!("a job of the {worker} panicked (the worker goes on): {message}");
        message
    })
}

/// The text a panic carried.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// How many threads of one worker are alive, against how many were started.
#[derive(Debug, Clone)]
pub struct Liveness {
    name: &'static str,
    started: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
}

/// Counts one thread alive until it is dropped: when the thread returns or unwinds.
#[derive(Debug)]
pub struct Alive {
    alive: Arc<AtomicUsize>,
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Liveness {
    /// A worker called `name` (as `/readyz` reports it), with no thread yet.
    pub fn new(name: &'static str) -> Liveness {
        Liveness {
            name,
            started: Arc::new(AtomicUsize::new(0)),
            alive: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Counts a thread about to be started; move the guard into it. Taken before the
    /// spawn, so a server that has just started never looks short of a thread.
    pub fn thread(&self) -> Alive {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.alive.fetch_add(1, Ordering::AcqRel);
        Alive {
            alive: self.alive.clone(),
        }
    }

    /// Whether every thread started is still running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) == self.started.load(Ordering::Acquire)
    }

    /// The worker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let out: Result<i32, String> = contain("test worker", || panic!("boom {}", 7));
        assert_eq!(out, Err("boom 7".to_string()));
        assert_eq!(contain("test worker", || 3), Ok(3));
    }

    #[test]
    fn a_thread_that_ends_is_reported() {
        let liveness = Liveness::new("test worker");
        let guard = liveness.thread();
        let keep = liveness.thread();
        assert!(liveness.is_alive());
        let ended = std::thread::spawn(move || {
            let _guard = guard;
            panic!("a bug outside any job");
        })
        .join();
        assert!(ended.is_err());
        assert!(!liveness.is_alive(), "one of two threads is gone");
        drop(keep);
    }
}
