//! Body buffers kept from one scrape to the next.
//!
//! A 100,000-tag body is 17 MB. Allocated fresh, it is regrown a dozen times
//! while it is written and each new page is faulted in; kept, the next scrape
//! writes into memory that is already there. The buffer goes out with the
//! response without a copy (as the owner of its `Bytes`) and comes back when
//! hyper has sent it and drops it. A scrape that finds the pool empty (another
//! is still being sent) allocates one sized like the last body.
//!
//! Bound: a pool keeps one buffer, so what stays allocated between scrapes is
//! one compressed body (Prometheus asks for gzip) and, only once something
//! scraped without gzip, one plain body: each the size of the largest recent
//! scrape of its kind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::lock::lock;

/// Buffers of one kind of body.
#[derive(Debug, Default)]
pub(super) struct Pool {
    /// The kept buffer, empty but with its capacity; `None` while in use.
    free: Mutex<Option<Vec<u8>>>,
    /// Length of the last body, to size a new buffer.
    last_len: AtomicUsize,
}

impl Pool {
    /// The kept buffer, or a new one sized like the last body.
    pub(super) fn take(self: &Arc<Self>) -> Pooled {
        let buf = lock(&self.free)
            .take()
            .unwrap_or_else(|| Vec::with_capacity(self.last_len.load(Ordering::Relaxed)));
        Pooled {
            buf,
            pool: Arc::clone(self),
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        self.last_len.store(buf.len(), Ordering::Relaxed);
        buf.clear();
        let mut free = lock(&self.free);
        // Keep the larger of two returning buffers: it fits the next body.
        if free
            .as_ref()
            .is_none_or(|kept| kept.capacity() < buf.capacity())
        {
            *free = Some(buf);
        }
    }
}

/// A buffer on loan from a pool, returned when dropped.
#[derive(Debug)]
pub(super) struct Pooled {
    buf: Vec<u8>,
    pool: Arc<Pool>,
}

impl Pooled {
    /// The buffer, to write the body into.
    pub(super) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The body as `Bytes` that return the buffer when the last clone drops.
    pub(super) fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}
