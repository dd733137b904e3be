//! Scheduling priority of tessera's helper threads.

/// Lowers the calling thread's priority by `by` nice steps (Linux: per thread); where
/// that is not possible it stays as it is. `what` names the thread for the debug log.
pub fn lower_current_thread(by: i32, what: &str) {
    let tid = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), current + by) {
        log::debug!("{what} thread keeps its scheduling priority: {e}");
    }
}
