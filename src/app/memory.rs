//! Keeping freed heap memory out of the resident set (glibc only).
//!
//! glibc returns free memory to the system only from the top of a heap, and
//! only beyond its trim threshold, which it raises each time a large mapped
//! block is freed (up to 64 MiB on 64-bit targets). Start-up frees a lot: the
//! parse tree of the config takes about 3 KB per tag. Left alone, the daemon
//! keeps tens of MiB of that free heap resident for as long as it runs
//! (bench/steady at 100k tags: 110.9 MiB, against 80.4 MiB with the threshold
//! fixed; BENCHMARKS.md). So `run` fixes the threshold before anything is
//! allocated, which also stops the raising, and asks glibc once, when
//! start-up is over, to give back every free page wherever it lies.
//!
//! musl (the static aarch64 build) has its own allocator, which unmaps freed
//! memory without being asked; there both calls do nothing.

/// Free memory at the top of a heap beyond this goes back to the system:
/// glibc's own default, held fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 * 1024;

/// Fix the allocator's trim threshold; call first thing in `main`.
pub fn fix_trim_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; it has no
    // preconditions and is thread-safe. A refusal (return 0) leaves glibc's
    // defaults, which are correct, only larger.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Give free heap pages back to the system; call once start-up has freed
/// its temporary data.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only releases pages that hold no allocation; it has
    // no preconditions and takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
