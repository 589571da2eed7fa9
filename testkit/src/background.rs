//! A background thread that runs until told to stop and then hands back what it made.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A named thread running `work(stop)` until `stop` is set. Dropping it stops and joins the
/// thread (a panic in it is then ignored); [`Background::finish`] stops it and returns its
/// result, passing its panic on.
pub struct Background<T> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    pub fn spawn(name: &str, work: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || work(flag))
            .unwrap_or_else(|e| panic!("cannot spawn the {name} thread: {e}"));
        Background {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread and returns what it made.
    pub fn finish(mut self) -> T {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.take().expect("finished once");
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
