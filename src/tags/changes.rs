//! Change tracking: which tags changed since a consumer last looked.
//!
//! Every northbound face that forwards changes (OPC UA now, Sparkplug next)
//! registers a consumer and gets its own dirty set: one bit per tag, and one
//! summary bit per 64-bit word of them. A change sets the tag's bit in every
//! consumer's set; a consumer drains its set at its own pace and reads the
//! latest state of each tag it finds there from the store.
//!
//! This is lossless in the sense a consumer needs: however far it falls
//! behind, one drain yields every tag that changed, and the store holds its
//! final state. Nothing is replayed or resynchronised, memory is fixed (one
//! bit per tag per consumer), and an unchanged tag costs nothing: a drain
//! visits only the words its summary marks. What a drain cannot show is a
//! change undone before it looked (a pulse shorter than the consumer's
//! period), which is what sampling means.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use super::TagId;
use crate::append::{AppendVec, Full};
use crate::lock::lock;

/// Consumers one store can track for; the faces are few and fixed.
pub const MAX_CONSUMERS: usize = 8;

const BITS: usize = 64;

/// A store already tracks changes for `MAX_CONSUMERS` consumers.
#[derive(Debug, thiserror::Error)]
#[error("the tag store tracks changes for at most {MAX_CONSUMERS} consumers")]
pub struct TooManyConsumers;

/// One consumer's dirty bits.
#[derive(Debug)]
struct DirtySet {
    /// Bit `i % 64` of word `i / 64`: tag `i` changed.
    words: AppendVec<AtomicU64>,
    /// Bit `w % 64` of summary word `w / 64`: word `w` may have bits set.
    summary: AppendVec<AtomicU64>,
    /// Set by a change, cleared by a drain: something may be waiting.
    pending: AtomicBool,
    wake: Notify,
}

impl DirtySet {
    /// A set with every one of `tags` bits set: a new consumer starts by
    /// reading every tag once.
    fn all_dirty(tags: usize) -> Self {
        let words = tags.div_ceil(BITS);
        let set = DirtySet {
            words: AppendVec::new((0..words).map(|_| AtomicU64::new(0)).collect()),
            summary: AppendVec::new(
                (0..words.div_ceil(BITS))
                    .map(|_| AtomicU64::new(0))
                    .collect(),
            ),
            pending: AtomicBool::new(false),
            wake: Notify::new(),
        };
        for i in 0..tags {
            set.mark(i);
        }
        set
    }

    /// Room for the bits of `tags` tags.
    fn grow(&self, tags: usize) -> Result<(), Full> {
        let words = tags.div_ceil(BITS);
        let more = words.saturating_sub(self.words.len());
        self.words.extend((0..more).map(|_| AtomicU64::new(0)))?;
        let more = words.div_ceil(BITS).saturating_sub(self.summary.len());
        self.summary.extend((0..more).map(|_| AtomicU64::new(0)))?;
        Ok(())
    }

    fn mark(&self, tag: usize) {
        let (word, bit) = (tag / BITS, tag % BITS);
        let Some(w) = self.words.get(word) else {
            return;
        };
        // The marker that turns a word non-zero owns its summary bit. A drain
        // that swapped the summary before that bit lands finds it next time;
        // one that swapped it after takes this bit with the word.
        if w.fetch_or(1u64 << bit, Ordering::AcqRel) == 0
            && let Some(s) = self.summary.get(word / BITS)
        {
            s.fetch_or(1u64 << (word % BITS), Ordering::AcqRel);
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    fn drain(&self, out: &mut Vec<TagId>) -> usize {
        let before = out.len();
        // Cleared first: a change during the scan sets it again and wakes
        // the consumer once more, so nothing is left behind unannounced.
        self.pending.store(false, Ordering::Release);
        for (s, summary) in self.summary.iter().enumerate() {
            let mut flagged = summary.swap(0, Ordering::AcqRel);
            while flagged != 0 {
                let word = s * BITS + flagged.trailing_zeros() as usize;
                flagged &= flagged - 1;
                let Some(w) = self.words.get(word) else {
                    continue;
                };
                let mut bits = w.swap(0, Ordering::AcqRel);
                while bits != 0 {
                    out.push(TagId::new(word * BITS + bits.trailing_zeros() as usize));
                    bits &= bits - 1;
                }
            }
        }
        out.len() - before
    }
}

/// The consumers of one store.
#[derive(Debug)]
pub(super) struct ChangeTracker {
    consumers: [OnceLock<Arc<DirtySet>>; MAX_CONSUMERS],
    /// Tags tracked, and consumers registered: a registration and a growth
    /// take turns, so no consumer is left with too few bits.
    sizes: Mutex<Sizes>,
}

#[derive(Debug)]
struct Sizes {
    tags: usize,
    registered: usize,
}

impl ChangeTracker {
    /// A tracker for `tags` tags and no consumer yet.
    pub(super) fn new(tags: usize) -> Self {
        ChangeTracker {
            consumers: std::array::from_fn(|_| OnceLock::new()),
            sizes: Mutex::new(Sizes {
                tags,
                registered: 0,
            }),
        }
    }

    /// Track `added` more tags (ids from the current count on) and mark them
    /// changed for every consumer, so each reads them once.
    pub(super) fn grow(&self, added: usize) -> Result<(), Full> {
        let mut sizes = lock(&self.sizes);
        let first = sizes.tags;
        let tags = first + added;
        for set in self.consumers.iter().filter_map(OnceLock::get) {
            set.grow(tags)?;
        }
        sizes.tags = tags;
        drop(sizes);
        for i in first..tags {
            self.mark(TagId::new(i));
        }
        Ok(())
    }

    /// Tag `id` changed: tell every consumer.
    pub(super) fn mark(&self, id: TagId) {
        // Every slot, not up to the first empty one: two registrations may
        // fill their slots out of order.
        for slot in &self.consumers {
            if let Some(set) = slot.get() {
                set.mark(id.index());
            }
        }
    }

    /// A new consumer, whose first drain yields every tag.
    pub(super) fn register(&self) -> Result<ChangeCursor, TooManyConsumers> {
        let mut sizes = lock(&self.sizes);
        let slot = self
            .consumers
            .get(sizes.registered)
            .ok_or(TooManyConsumers)?;
        let set = Arc::new(DirtySet::all_dirty(sizes.tags));
        slot.set(set.clone()).map_err(|_| TooManyConsumers)?;
        sizes.registered += 1;
        Ok(ChangeCursor { set })
    }
}

/// One consumer's view of the changes: wait for some, then drain them.
#[derive(Debug)]
pub struct ChangeCursor {
    set: Arc<DirtySet>,
}

impl ChangeCursor {
    /// Wait until at least one tag may have changed since the last drain.
    pub async fn changed(&self) {
        // A change between the check and the wait leaves a permit in the
        // Notify, so the wait returns at once; a stale permit only costs an
        // empty drain.
        while !self.set.pending.load(Ordering::Acquire) {
            self.set.wake.notified().await;
        }
    }

    /// Whether a change may be waiting.
    pub fn has_changes(&self) -> bool {
        self.set.pending.load(Ordering::Acquire)
    }

    /// Append every tag changed since the last drain to `out`, once each, in
    /// id order; returns how many. Read their state from the store.
    pub fn drain(&self, out: &mut Vec<TagId>) -> usize {
        self.set.drain(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn drained(cursor: &ChangeCursor) -> Vec<usize> {
        let mut out = Vec::new();
        cursor.drain(&mut out);
        out.into_iter().map(TagId::index).collect()
    }

    #[test]
    fn a_new_consumer_first_sees_every_tag_then_only_changes() {
        let tracker = ChangeTracker::new(130);
        let cursor = tracker.register().unwrap();
        assert!(cursor.has_changes());
        assert_eq!(drained(&cursor), (0..130).collect::<Vec<_>>());
        assert!(!cursor.has_changes());
        assert!(drained(&cursor).is_empty());
        tracker.mark(TagId::new(129));
        tracker.mark(TagId::new(3));
        tracker.mark(TagId::new(3));
        assert_eq!(drained(&cursor), vec![3, 129]);
    }

    #[test]
    fn consumers_are_independent() {
        let tracker = ChangeTracker::new(10);
        let a = tracker.register().unwrap();
        let b = tracker.register().unwrap();
        drained(&a);
        drained(&b);
        tracker.mark(TagId::new(4));
        assert_eq!(drained(&a), vec![4]);
        tracker.mark(TagId::new(5));
        assert_eq!(drained(&a), vec![5]);
        assert_eq!(drained(&b), vec![4, 5]);
    }

    #[test]
    fn registrations_beyond_the_limit_are_refused() {
        let tracker = ChangeTracker::new(1);
        for _ in 0..MAX_CONSUMERS {
            tracker.register().unwrap();
        }
        assert!(tracker.register().is_err());
    }

    #[test]
    fn grown_tags_are_read_once_by_every_consumer_then_tracked() {
        let tracker = ChangeTracker::new(10);
        let before = tracker.register().unwrap();
        drained(&before);
        tracker.grow(4100).unwrap();
        let after = tracker.register().unwrap();
        assert_eq!(drained(&before), (10..4110).collect::<Vec<_>>());
        assert_eq!(drained(&after), (0..4110).collect::<Vec<_>>());
        tracker.mark(TagId::new(4109));
        tracker.mark(TagId::new(2));
        assert_eq!(drained(&before), vec![2, 4109]);
        assert_eq!(drained(&after), vec![2, 4109]);
    }

    #[test]
    fn out_of_range_ids_are_ignored() {
        let tracker = ChangeTracker::new(3);
        let cursor = tracker.register().unwrap();
        drained(&cursor);
        tracker.mark(TagId::new(64 * 64 + 1));
        assert!(drained(&cursor).is_empty());
    }

    #[tokio::test]
    async fn changed_wakes_on_a_mark_made_before_or_during_the_wait() {
        let tracker = Arc::new(ChangeTracker::new(5));
        let cursor = tracker.register().unwrap();
        cursor.changed().await;
        drained(&cursor);
        tracker.mark(TagId::new(1));
        cursor.changed().await;
        drained(&cursor);
        let marker = tracker.clone();
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            marker.mark(TagId::new(2));
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), cursor.changed())
            .await
            .unwrap();
        task.await.unwrap();
        assert_eq!(drained(&cursor), vec![2]);
    }

    proptest! {
        /// Any interleaving of marks and drains: every drain yields exactly
        /// the tags marked since the previous one, in id order.
        #[test]
        fn drains_match_a_set_model(
            tags in 1usize..5000,
            ops in proptest::collection::vec(prop_oneof![
                3 => any::<usize>().prop_map(Some),
                1 => Just(None),
            ], 0..400),
        ) {
            let tracker = ChangeTracker::new(tags);
            let cursor = tracker.register().unwrap();
            drained(&cursor);
            let mut model = BTreeSet::new();
            for op in ops {
                if let Some(raw) = op {
                    let id = raw % tags;
                    tracker.mark(TagId::new(id));
                    model.insert(id);
                } else {
                    let got = drained(&cursor);
                    prop_assert_eq!(got, std::mem::take(&mut model).into_iter().collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(drained(&cursor), model.into_iter().collect::<Vec<_>>());
        }
    }
}
