//! The store-and-forward log: what the edge node could not publish, on disk
//! until it can.
//!
//! Append-only segment files `seg-<index>.log` in the buffer folder, each a
//! run of framed records (`record`): a CRC per record, the time it was
//! written, and its body (one device's changes of one round). Records are
//! written to the file at the end of every round, so a `kill -9` loses none
//! of them; `fsync` is grouped (the caller syncs a handle from `sync_handle`
//! about once a second), so a power cut loses at most the last second, and
//! the torn record it may leave is cut off when the log is opened, not fatal.
//!
//! Bounded by bytes and by age: beyond `max_bytes` the oldest segment is
//! dropped, and records older than `max_age` are dropped when they would be
//! read; either way they are counted. Reading runs ahead of a committed
//! cursor (`cursor` file): records read but not committed (the connection
//! dropped before they were confirmed sent) are read again after `rewind`,
//! so a record can be sent twice but is never lost to a reconnect. A
//! segment wholly behind the cursor is deleted.

mod record;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use record::Parsed;

/// Pending bytes beyond which an append writes to the file at once.
const WRITE_AT: usize = 64 * 1024;
/// Bytes read from a segment at a time while replaying.
const READ_CHUNK: usize = 1024 * 1024;
/// Segments a full log is split into: dropping the oldest frees a sixteenth.
const SEGMENTS_PER_LOG: u64 = 16;
const MIN_SEGMENT: u64 = 64 * 1024;
const MAX_SEGMENT: u64 = 16 * 1024 * 1024;
const CURSOR_FILE: &str = "cursor";

/// A place in the log: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct Position {
    segment: u64,
    offset: u64,
}

#[derive(Debug)]
struct Segment {
    index: u64,
    /// Bytes on disk (plus pending, for the active one).
    size: u64,
    /// Records at or after the committed cursor.
    records: u64,
    /// When its newest record was written (ms since the epoch).
    newest_ms: u64,
}

/// A read position with the count of records read up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    position: Position,
    records: u64,
}

/// What opening an existing log found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Opened {
    /// Records waiting to be sent.
    pub(super) records: u64,
    /// Bytes of torn or corrupt tail cut off.
    pub(super) cut_bytes: u64,
}

/// The log.
#[derive(Debug)]
pub(super) struct Log {
    dir: PathBuf,
    max_bytes: u64,
    max_age_ms: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is appended to.
    segments: VecDeque<Segment>,
    active: Option<File>,
    pending: Vec<u8>,
    /// Committed: everything before it was sent and confirmed.
    cursor: Position,
    /// Read so far (at or after `cursor`).
    read: Position,
    /// Records read past `cursor` but not committed.
    read_records: u64,
    dropped: u64,
}

/// The body of a record: the device's name, then a Sparkplug payload of its
/// changed metrics (by name, `is_historical`).
pub(super) fn entry(device: &str, payload: &[u8]) -> Vec<u8> {
    let name = device.as_bytes();
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + name.len() + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(name.get(..usize::from(len)).unwrap_or(name));
    out.extend_from_slice(payload);
    out
}

/// The device name and payload of a record body; `None` if it is not one.
pub(super) fn parse_entry(body: &[u8]) -> Option<(&str, &[u8])> {
    let len = usize::from(u16::from_le_bytes(body.get(..2)?.try_into().ok()?));
    let name = std::str::from_utf8(body.get(2..2 + len)?).ok()?;
    Some((name, body.get(2 + len..)?))
}

fn segment_name(index: u64) -> String {
    format!("seg-{index:016x}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    u64::from_str_radix(hex, 16).ok()
}

/// What a scan of one segment found.
struct Scanned {
    /// Intact records from the scan's start offset on.
    records: u64,
    /// Length of the intact part.
    intact: usize,
    newest_ms: u64,
}

/// Scan a segment's bytes, counting the records from `from` on.
fn scan(bytes: &[u8], from: usize) -> Scanned {
    let mut s = Scanned {
        records: 0,
        intact: 0,
        newest_ms: 0,
    };
    while let Some(rest) = bytes.get(s.intact..) {
        match record::parse(rest) {
            Parsed::Record {
                size,
                written_at_ms,
                ..
            } => {
                if s.intact >= from {
                    s.records += 1;
                }
                s.newest_ms = s.newest_ms.max(written_at_ms);
                s.intact += size;
            }
            Parsed::End | Parsed::Broken => break,
        }
    }
    s
}

impl Log {
    /// Open the log in `dir` (made if missing), cutting torn tails.
    pub(super) fn open(
        dir: &Path,
        max_bytes: u64,
        max_age_ms: u64,
    ) -> std::io::Result<(Log, Opened)> {
        std::fs::create_dir_all(dir)?;
        let mut indexes: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| parse_segment_name(e.ok()?.file_name().to_str()?))
            .collect();
        indexes.sort_unstable();
        let cursor = std::fs::read_to_string(dir.join(CURSOR_FILE))
            .ok()
            .and_then(|t| {
                let mut it = t.split_whitespace().map(str::parse::<u64>);
                Some(Position {
                    segment: it.next()?.ok()?,
                    offset: it.next()?.ok()?,
                })
            })
            .filter(|c| indexes.contains(&c.segment))
            .unwrap_or(Position {
                segment: indexes.first().copied().unwrap_or(0),
                offset: 0,
            });
        let mut opened = Opened::default();
        let mut segments = VecDeque::new();
        for index in indexes {
            let path = dir.join(segment_name(index));
            if index < cursor.segment {
                // Wholly sent before the last stop; its deletion was cut short.
                std::fs::remove_file(&path)?;
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let from = if index == cursor.segment {
                usize::try_from(cursor.offset).unwrap_or(usize::MAX)
            } else {
                0
            };
            let Scanned {
                records,
                intact,
                newest_ms,
            } = scan(&bytes, from);
            if intact < bytes.len() {
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(intact as u64)?;
                f.sync_all()?;
                opened.cut_bytes += (bytes.len() - intact) as u64;
            }
            opened.records += records;
            segments.push_back(Segment {
                index,
                size: intact as u64,
                records,
                newest_ms,
            });
        }
        let segment_bytes = (max_bytes / SEGMENTS_PER_LOG).clamp(MIN_SEGMENT, MAX_SEGMENT);
        let mut log = Log {
            dir: dir.to_path_buf(),
            max_bytes,
            max_age_ms,
            segment_bytes,
            segments,
            active: None,
            pending: Vec::new(),
            cursor,
            read: cursor,
            read_records: 0,
            dropped: 0,
        };
        // Appends always go to a fresh segment: the last one may end in what
        // was cut, and a new file keeps old and new runs apart.
        log.rotate()?;
        Ok((log, opened))
    }

    /// Start a new active segment.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.write_pending()?;
        let index = self.segments.back().map_or(0, |s| s.index + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(segment_name(index)))?;
        self.active = Some(file);
        self.segments.push_back(Segment {
            index,
            size: 0,
            records: 0,
            newest_ms: 0,
        });
        Ok(())
    }

    /// Append a record written at `now_ms`; it reaches the file at the next
    /// `write_pending` (or at once when enough is pending).
    pub(super) fn append(&mut self, now_ms: u64, body: &[u8]) -> std::io::Result<()> {
        let before = self.pending.len();
        record::frame(&mut self.pending, now_ms, body);
        if let Some(s) = self.segments.back_mut() {
            s.size += (self.pending.len() - before) as u64;
            s.records += 1;
            s.newest_ms = s.newest_ms.max(now_ms);
        }
        if self.pending.len() >= WRITE_AT {
            self.write_pending()?;
        }
        let full = self
            .segments
            .back()
            .is_some_and(|s| s.size >= self.segment_bytes);
        if full {
            self.rotate()?;
        }
        self.enforce_bounds(now_ms)
    }

    /// Hand what is pending to the file (the kernel keeps it across a crash
    /// of the process; `sync_handle` makes it survive a power cut).
    pub(super) fn write_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(f) = self.active.as_mut() {
            f.write_all(&self.pending)?;
        }
        self.pending.clear();
        Ok(())
    }

    /// A handle to fsync the active segment with, off the async threads.
    pub(super) fn sync_handle(&self) -> Option<File> {
        self.active.as_ref().and_then(|f| f.try_clone().ok())
    }

    /// Drop the oldest segments while the log is over `max_bytes`, or while
    /// the newest record of the oldest one is older than `max_age`.
    fn enforce_bounds(&mut self, now_ms: u64) -> std::io::Result<()> {
        while self.segments.len() > 1
            && (self.bytes() > self.max_bytes
                || self
                    .segments
                    .front()
                    .is_some_and(|s| now_ms.saturating_sub(s.newest_ms) > self.max_age_ms))
        {
            self.drop_oldest()?;
        }
        Ok(())
    }

    fn drop_oldest(&mut self) -> std::io::Result<()> {
        let Some(old) = self.segments.pop_front() else {
            return Ok(());
        };
        // Records of it already read (sent, not yet committed) are not lost.
        let read_in_old = if self.read.segment >= old.index {
            old.records.min(self.read_records)
        } else {
            0
        };
        self.dropped += old.records - read_in_old;
        self.read_records -= read_in_old;
        let next = Position {
            segment: self.segments.front().map_or(old.index + 1, |s| s.index),
            offset: 0,
        };
        if self.cursor.segment <= old.index {
            self.cursor = next;
            self.save_cursor()?;
        }
        if self.read.segment <= old.index {
            self.read = next;
        }
        match std::fs::remove_file(self.dir.join(segment_name(old.index))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Up to `max` records after the read position, oldest first, with the
    /// time each was written, skipping (and counting) those older than
    /// `max_age` at `now_ms`.
    pub(super) fn read_batch(
        &mut self,
        max: usize,
        now_ms: u64,
    ) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
        self.write_pending()?;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(seg) = self.segments.iter().find(|s| s.index >= self.read.segment) else {
                break;
            };
            let (index, size) = (seg.index, seg.size);
            if index > self.read.segment {
                self.read = Position {
                    segment: index,
                    offset: 0,
                };
            }
            if self.read.offset >= size {
                if self.segments.back().is_some_and(|s| s.index == index) {
                    break;
                }
                self.read = Position {
                    segment: index + 1,
                    offset: 0,
                };
                continue;
            }
            let mut f = File::open(self.dir.join(segment_name(index)))?;
            f.seek(SeekFrom::Start(self.read.offset))?;
            let mut chunk = Vec::with_capacity(
                READ_CHUNK.min(usize::try_from(size - self.read.offset).unwrap_or(READ_CHUNK)),
            );
            f.take(READ_CHUNK as u64).read_to_end(&mut chunk)?;
            let mut at = 0;
            let mut progressed = false;
            while out.len() < max {
                let Some(rest) = chunk.get(at..) else { break };
                match record::parse(rest) {
                    Parsed::Record {
                        written_at_ms,
                        body,
                        size: n,
                    } => {
                        if now_ms.saturating_sub(written_at_ms) > self.max_age_ms {
                            self.dropped += 1;
                        } else {
                            out.push((written_at_ms, body.to_vec()));
                        }
                        at += n;
                        self.read_records += 1;
                        progressed = true;
                    }
                    Parsed::End | Parsed::Broken => break,
                }
            }
            self.read.offset += at as u64;
            if !progressed {
                // A record larger than a chunk, or damage after opening: the
                // rest of this segment cannot be read; move past it.
                if self.segments.back().is_some_and(|s| s.index == index) {
                    break;
                }
                self.read = Position {
                    segment: index + 1,
                    offset: 0,
                };
            }
        }
        Ok(out)
    }

    /// Where reading stands, to commit up to later (`commit_to`).
    pub(super) fn read_mark(&self) -> Mark {
        Mark {
            position: self.read,
            records: self.read_records,
        }
    }

    /// Everything read so far was sent: move the cursor there, delete the
    /// segments wholly behind it.
    #[cfg(test)]
    pub(super) fn commit(&mut self) -> std::io::Result<()> {
        self.commit_to(self.read_mark())
    }

    /// What was read up to `mark` was sent: move the cursor there. A mark
    /// from before a rewind or a drop of its segment is ignored.
    pub(super) fn commit_to(&mut self, mark: Mark) -> std::io::Result<()> {
        if mark.position <= self.cursor
            || mark.position > self.read
            || mark.records > self.read_records
        {
            return Ok(());
        }
        let mut left = mark.records;
        for s in &mut self.segments {
            if s.index > mark.position.segment || left == 0 {
                break;
            }
            let take = left.min(s.records);
            s.records -= take;
            left -= take;
        }
        self.read_records -= mark.records;
        self.cursor = mark.position;
        while self
            .segments
            .front()
            .is_some_and(|s| s.index < self.cursor.segment)
        {
            if let Some(old) = self.segments.pop_front() {
                let _ = std::fs::remove_file(self.dir.join(segment_name(old.index)));
            }
        }
        self.save_cursor()
    }

    /// Forget what was read since the last commit: it is read again.
    pub(super) fn rewind(&mut self) {
        self.read = self.cursor;
        self.read_records = 0;
    }

    fn save_cursor(&self) -> std::io::Result<()> {
        let tmp = self.dir.join("cursor.tmp");
        std::fs::write(
            &tmp,
            format!("{} {}\n", self.cursor.segment, self.cursor.offset),
        )?;
        std::fs::rename(tmp, self.dir.join(CURSOR_FILE))
    }

    /// Records waiting to be sent (including those read but not committed).
    pub(super) fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// Whether records wait beyond the read position.
    pub(super) fn has_unread(&self) -> bool {
        self.records() > self.read_records
    }

    /// Bytes of the log, on disk and pending.
    pub(super) fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Records dropped so far (over the byte or age bound).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }
}
