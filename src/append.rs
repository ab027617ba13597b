//! An append-only vector that readers index without a lock while a writer
//! appends: the tag store's tags and devices, the request counters and the
//! bus heartbeats, which a reload may add to but never moves, so an index
//! handed out stays valid and `&T` stays borrowed for as long as the owner lives.
//!
//! The items the vector starts with are one plain slice (the config read at
//! start-up costs nothing extra); appended items go into segments of doubling
//! size, each allocated once and never moved, with one `OnceLock` per item so
//! a reader sees an item whole or not at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::lock::lock;

/// Slots in the first appended segment; segment `s` holds `GROWN_FIRST << s`.
const GROWN_FIRST: usize = 64;

/// Appended segments: together they hold more items than memory could.
const GROWN_SEGMENTS: usize = 40;

/// The vector's segments are full (2^46 appended items): nothing was appended.
#[derive(Debug, thiserror::Error)]
#[error("the store cannot hold more items")]
pub struct Full;

/// Items at fixed indexes, read lock-free, appended in batches.
pub struct AppendVec<T> {
    initial: Box<[T]>,
    grown: [OnceLock<Box<[OnceLock<T>]>>; GROWN_SEGMENTS],
    /// Items readers may see: an appended batch is published once whole.
    len: AtomicUsize,
    /// Serializes appenders (a reload at a time).
    append: Mutex<()>,
}

impl<T> AppendVec<T> {
    /// A vector holding `initial`.
    pub fn new(initial: Vec<T>) -> Self {
        let initial = initial.into_boxed_slice();
        AppendVec {
            len: AtomicUsize::new(initial.len()),
            initial,
            grown: std::array::from_fn(|_| OnceLock::new()),
            append: Mutex::new(()),
        }
    }

    /// Number of items: every index below it holds one.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// True when the vector holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item at `index`, if there is one yet.
    pub fn get(&self, index: usize) -> Option<&T> {
        if let Some(item) = self.initial.get(index) {
            return Some(item);
        }
        if index >= self.len() {
            return None;
        }
        let (segment, offset) = locate(index - self.initial.len());
        self.grown.get(segment)?.get()?.get(offset)?.get()
    }

    /// Every item, in index order, as of the call.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Append `items` and publish them together: readers see none of them
    /// until all are in. Returns their indexes.
    pub fn extend(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<std::ops::Range<usize>, Full> {
        let _one_appender = lock(&self.append);
        let start = self.len();
        let mut end = start;
        for item in items {
            let (segment, offset) = locate(end - self.initial.len());
            let slot = self
                .grown
                .get(segment)
                .ok_or(Full)?
                .get_or_init(|| {
                    (0..GROWN_FIRST << segment)
                        .map(|_| OnceLock::new())
                        .collect()
                })
                .get(offset)
                .ok_or(Full)?;
            // Under the appender lock, a slot at or past `len` is empty.
            if slot.set(item).is_err() {
                return Err(Full);
            }
            end += 1;
        }
        self.len.store(end, Ordering::Release);
        Ok(start..end)
    }
}

/// The segment and offset of the `grown`-th appended item.
fn locate(grown: usize) -> (usize, usize) {
    // Segment s starts after GROWN_FIRST * (2^s - 1) items.
    let slot = grown / GROWN_FIRST + 1;
    let segment = (usize::BITS - 1 - slot.leading_zeros()) as usize;
    (segment, grown - GROWN_FIRST * ((1 << segment) - 1))
}

impl<T> std::fmt::Debug for AppendVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendVec")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn segments_tile_the_appended_indexes() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(64 + 127), (1, 127));
        assert_eq!(locate(64 + 128), (2, 0));
    }

    #[test]
    fn an_index_past_the_end_has_no_item() {
        let v = AppendVec::new(vec![1, 2]);
        assert_eq!(v.get(2), None);
        assert_eq!(v.extend([3]).unwrap(), 2..3);
        assert_eq!(v.get(2), Some(&3));
        assert_eq!(v.get(3), None);
    }

    #[test]
    fn readers_see_a_batch_whole_or_not_at_all() {
        let v = Arc::new(AppendVec::new(Vec::<usize>::new()));
        let reader = {
            let v = v.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    // Batches are 100 long: a published length is a multiple.
                    let len = v.len();
                    assert_eq!(len % 100, 0);
                    assert_eq!(v.iter().take(len).count(), len);
                }
            })
        };
        for batch in 0..50 {
            v.extend((0..100).map(|i| batch * 100 + i)).unwrap();
        }
        reader.join().unwrap();
        assert!(v.iter().copied().eq(0..5000));
    }

    proptest! {
        /// Any start and any batches: the vector reads as the same items a
        /// `Vec` built the same way holds.
        #[test]
        fn reads_like_a_vec(
            initial in proptest::collection::vec(any::<u16>(), 0..300),
            batches in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..300), 0..8),
        ) {
            let v = AppendVec::new(initial.clone());
            let mut model = initial;
            for batch in batches {
                let range = v.extend(batch.iter().copied()).unwrap();
                prop_assert_eq!(range, model.len()..model.len() + batch.len());
                model.extend(batch);
            }
            prop_assert_eq!(v.len(), model.len());
            prop_assert!(v.iter().eq(model.iter()));
            for (i, x) in model.iter().enumerate() {
                prop_assert_eq!(v.get(i), Some(x));
            }
        }
    }
}
