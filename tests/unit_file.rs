//! The systemd unit keeps the promises the README makes about it.
//! (`systemd-analyze verify` and `security` run in `.ci/run`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking

const UNIT: &str = include_str!("../systemd/edge-gateway.service");

/// Every value of `key=` in the unit.
fn values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_unit_starts_after_the_clock_is_set() {
    assert!(
        values("After")
            .iter()
            .any(|v| v.split_whitespace().any(|u| u == "time-sync.target")),
        "After= lacks time-sync.target"
    );
}

#[test]
fn the_unit_bounds_memory_above_the_start_up_peak() {
    let max = values("MemoryMax");
    let mib: u64 = max
        .first()
        .and_then(|v| v.strip_suffix('M'))
        .and_then(|v| v.parse().ok())
        .expect("MemoryMax= in MiB");
    // The config parse of 100k tags peaks near 310 MiB (BENCHMARKS.md).
    assert!(
        mib >= 400,
        "MemoryMax={mib}M would kill a 100k-tag start-up"
    );
}

#[test]
fn the_unit_bounds_tasks_above_every_thread_the_runtime_may_start() {
    let tasks: usize = values("TasksMax")
        .first()
        .and_then(|v| v.parse().ok())
        .expect("TasksMax= set");
    let threads =
        edge_gateway::app::MAX_WORKER_THREADS + edge_gateway::app::MAX_BLOCKING_THREADS + 2;
    assert!(
        tasks >= threads * 2,
        "TasksMax={tasks} leaves no room above {threads} threads"
    );
}
