//! A current-thread tokio runtime on a paused clock, one per fuzzing
//! thread and kept between inputs: a timeout in an input costs no real
//! time, and no input pays for building a runtime.

use std::future::Future;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
}

/// Run `f` to completion on this thread's paused runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}
