use super::*;
use proptest::prelude::*;

const BIG: u64 = 1 << 30;
const WEEK_MS: u64 = 7 * 24 * 3600 * 1000;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "edge-gateway-buffer-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn body(i: u32) -> Vec<u8> {
    format!("record {i}").into_bytes()
}

fn read_all(log: &mut Log, now: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let batch = log.read_batch(7, now).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch.into_iter().map(|(_, b)| b));
    }
}

#[test]
fn records_survive_a_reopen_in_order_and_a_commit_empties_the_log() {
    let dir = Dir::new("reopen");
    let (mut log, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    assert_eq!(opened, Opened::default());
    for i in 0..100 {
        log.append(1000, &body(i)).unwrap();
    }
    log.write_pending().unwrap();
    // No commit, no clean close: as after a kill -9.
    drop(log);
    let (mut log, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    assert_eq!(opened.records, 100);
    assert_eq!(
        read_all(&mut log, 2000),
        (0..100).map(body).collect::<Vec<_>>()
    );
    log.commit().unwrap();
    assert_eq!(log.records(), 0);
    drop(log);
    let (mut log, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    assert_eq!(opened.records, 0);
    assert!(read_all(&mut log, 2000).is_empty());
}

#[test]
fn a_torn_tail_is_cut_and_the_records_before_it_kept() {
    let dir = Dir::new("torn");
    let (mut log, _) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    for i in 0..10 {
        log.append(1000, &body(i)).unwrap();
    }
    log.write_pending().unwrap();
    drop(log);
    let seg = dir.0.join(segment_name(0));
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    let (mut log, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    assert_eq!(opened.records, 9);
    assert!(opened.cut_bytes > 0);
    assert_eq!(
        read_all(&mut log, 2000),
        (0..9).map(body).collect::<Vec<_>>()
    );
    // New records go on after the cut ones.
    log.append(1000, &body(99)).unwrap();
    assert_eq!(read_all(&mut log, 2000), vec![body(99)]);
}

#[test]
fn a_full_log_drops_its_oldest_records_and_counts_them() {
    let dir = Dir::new("full");
    let max = 4 * MIN_SEGMENT;
    let (mut log, _) = Log::open(&dir.0, max, WEEK_MS).unwrap();
    let big = vec![7u8; 1000];
    for i in 0..2000u32 {
        let mut b = big.clone();
        b.extend_from_slice(&i.to_le_bytes());
        log.append(1000, &b).unwrap();
    }
    log.write_pending().unwrap();
    assert!(log.bytes() <= max + MIN_SEGMENT, "{} bytes", log.bytes());
    let kept = read_all(&mut log, 2000);
    assert_eq!(kept.len() as u64 + log.dropped(), 2000);
    assert!(log.dropped() > 0);
    let ids: Vec<u32> = kept
        .iter()
        .map(|b| u32::from_le_bytes(b[1000..].try_into().unwrap()))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "the newest, in order"
    );
    assert_eq!(ids.last(), Some(&1999));
}

#[test]
fn records_older_than_max_age_are_dropped_and_counted() {
    let dir = Dir::new("age");
    let (mut log, _) = Log::open(&dir.0, BIG, 10_000).unwrap();
    log.append(1_000, b"old").unwrap();
    log.append(50_000, b"new").unwrap();
    assert_eq!(read_all(&mut log, 55_000), vec![b"new".to_vec()]);
    assert_eq!(log.dropped(), 1);
}

#[test]
fn what_was_read_but_not_committed_is_read_again() {
    let dir = Dir::new("rewind");
    let (mut log, _) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    for i in 0..5 {
        log.append(1000, &body(i)).unwrap();
    }
    let bodies = |b: Vec<(u64, Vec<u8>)>| b.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    assert_eq!(
        bodies(log.read_batch(2, 1000).unwrap()),
        vec![body(0), body(1)]
    );
    log.commit().unwrap();
    assert_eq!(
        bodies(log.read_batch(2, 1000).unwrap()),
        vec![body(2), body(3)]
    );
    log.rewind();
    assert!(log.has_unread());
    assert_eq!(read_all(&mut log, 1000), vec![body(2), body(3), body(4)]);
    // A restart after a partial commit starts at the commit.
    drop(log);
    let (mut log, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    assert_eq!(opened.records, 3);
    assert_eq!(read_all(&mut log, 1000), vec![body(2), body(3), body(4)]);
}

#[test]
fn a_mark_commits_what_was_read_before_it_and_not_after() {
    let dir = Dir::new("mark");
    let (mut log, _) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
    for i in 0..6 {
        log.append(1000, &body(i)).unwrap();
    }
    log.read_batch(2, 1000).unwrap();
    let mark = log.read_mark();
    log.read_batch(2, 1000).unwrap();
    log.commit_to(mark).unwrap();
    assert_eq!(log.records(), 4);
    log.rewind();
    assert_eq!(
        read_all(&mut log, 1000),
        (2..6).map(body).collect::<Vec<_>>()
    );
    // A mark taken before a rewind is stale and commits nothing.
    log.rewind();
    log.commit_to(mark).unwrap();
    assert_eq!(log.records(), 4);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Read(usize),
    Commit,
    Rewind,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u8>().prop_map(Op::Append),
        2 => (1usize..20).prop_map(Op::Read),
        1 => Just(Op::Commit),
        1 => Just(Op::Rewind),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any interleaving of appends, reads, commits, rewinds and restarts
    /// reads every record once between commits, in order, and loses none:
    /// the log behaves as a queue with a committed head.
    #[test]
    fn the_log_behaves_as_a_queue_across_restarts(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = Dir::new("model");
        let (mut log, _) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
        let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
        let mut read = 0usize;
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let mut b = body(next);
                    b.resize(b.len() + usize::from(n), n);
                    next += 1;
                    log.append(1000, &b).unwrap();
                    queue.push_back(b);
                }
                Op::Read(max) => {
                    let got: Vec<Vec<u8>> = log.read_batch(max, 1000).unwrap().into_iter().map(|(_, b)| b).collect();
                    let want: Vec<Vec<u8>> = queue.iter().skip(read).take(max).cloned().collect();
                    read += got.len();
                    prop_assert_eq!(got, want);
                }
                Op::Commit => {
                    log.commit().unwrap();
                    queue.drain(..read);
                    read = 0;
                }
                Op::Rewind => {
                    log.rewind();
                    read = 0;
                }
                Op::Reopen => {
                    log.write_pending().unwrap();
                    drop(log);
                    let (l, opened) = Log::open(&dir.0, BIG, WEEK_MS).unwrap();
                    prop_assert_eq!(opened.records, queue.len() as u64);
                    log = l;
                    read = 0;
                }
            }
            prop_assert_eq!(log.records(), queue.len() as u64);
        }
    }
}

#[test]
fn an_entry_holds_a_device_name_and_a_payload() {
    let e = entry("plc1", b"\x01\x02");
    assert_eq!(parse_entry(&e), Some(("plc1", &b"\x01\x02"[..])));
    assert_eq!(parse_entry(b"\x05\x00ab"), None);
    assert_eq!(parse_entry(b""), None);
}
