//! The tag store: per tag the latest value, its quality and timestamps; per
//! device its live status; and change tracking for the faces that forward
//! changes (see `changes`).
//!
//! Built at start-up from the validated config; a reload appends devices
//! and removes others, and never moves or reuses an id: tag ids are indexes,
//! so northbound consumers (HTTP, OPC UA, metrics) can keep them. A removed
//! device's ids stay behind as tombstones (its tags read as unknown), which a
//! restart clears: reloads are a commissioning engineer's, a few a day.
//!
//! Invariants:
//! - a tag that was never polled is `Bad(Waiting)` with no value;
//! - a value survives a failed poll as `Uncertain` only while it is younger than
//!   its device's `stale_after`; after that the quality is `Bad` and the value is
//!   withheld from readers (`TagSnapshot::usable_value`);
//! - a good value that no poll confirms (a bus that stopped finishing cycles)
//!   ages as it is read (`quality::aged`): uncertain, then bad; `age` stores
//!   that and marks the change, so subscribers hear of it too;
//! - a tag is marked changed for every change of value or quality, never for a
//!   plain re-confirmation, so consumers are not woken for nothing; it is
//!   marked after its new state is stored, so a consumer that finds the mark
//!   reads that state or a later one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::changes::{ChangeCursor, ChangeTracker, TooManyConsumers};
use super::quality::{aged, exceeds_deadband, quality_after_failure, unconfirmed_after};
use super::{BadCause, DataType, DeviceId, Quality, TagId, Value};
use crate::append::AppendVec;
pub use crate::append::Full;
use crate::lock::lock;

/// Static description of a tag: what consumers need to present it.
///
/// Held once per tag for the life of the gateway, so it is kept small: the
/// device's name is in its `DeviceMeta` (`TagStore::device_name`), strings
/// are boxed, and a unit is shared by every tag that has it.
#[derive(Debug, Clone)]
pub struct TagMeta {
    /// Index of the device in the config and in the store's device list.
    pub device: DeviceId,
    pub name: Box<str>,
    /// The type a client sees (f64 when scaled).
    pub data_type: DataType,
    pub unit: Option<Arc<str>>,
    pub description: Option<Box<str>>,
    pub writable: bool,
    pub deadband: Option<f64>,
}

/// The mutable part of a tag.
#[derive(Debug, Clone)]
struct TagState {
    value: Option<Value>,
    quality: Quality,
    /// When the response carrying the current value arrived; for a bad tag,
    /// when it went bad.
    source_time: Option<SystemTime>,
    /// When value or quality last changed.
    changed_at: Option<SystemTime>,
    /// When the last good value arrived, for the staleness rule.
    last_good: Option<Instant>,
    /// A write was acknowledged: the next good value is stored exactly, even
    /// inside the deadband, so a device that clamped the commanded value is
    /// shown holding what it holds.
    exact_next: bool,
}

/// A consistent copy of one tag's state for readers.
#[derive(Debug, Clone)]
pub struct TagSnapshot {
    pub value: Option<Value>,
    pub quality: Quality,
    pub source_time: Option<SystemTime>,
    pub changed_at: Option<SystemTime>,
}

impl TagSnapshot {
    /// The value if it may be shown as a value (good or uncertain), `None` when bad.
    pub fn usable_value(&self) -> Option<&Value> {
        match self.quality {
            Quality::Bad(_) => None,
            _ => self.value.as_ref(),
        }
    }
}

/// Live health of one device, written by its bus task.
#[derive(Debug, Clone, Default)]
pub struct DeviceStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_poll_duration: Duration,
    pub requests_per_cycle: u32,
    /// When the last cycle of this device finished (successfully or not).
    pub last_cycle_at: Option<SystemTime>,
    /// The same on the monotonic clock, for ageing unconfirmed values.
    pub last_cycle: Option<Instant>,
    /// True while the RTU bus skips this slave after repeated timeouts.
    pub demoted: bool,
}

/// Static description of a device for consumers.
#[derive(Debug, Clone)]
pub struct DeviceMeta {
    pub name: String,
    /// False for a device without tags: it is never polled.
    pub polled: bool,
    pub poll: Duration,
    pub stale_after: Duration,
    /// The bus this device is polled on (`tcp://host:port` or `rtu://port`):
    /// devices with the same key share one connection or serial line.
    pub bus: String,
}

struct DeviceSlot {
    meta: DeviceMeta,
    status: Mutex<DeviceStatus>,
    /// This device's tag ids (tags are stored device by device).
    tags: std::ops::Range<usize>,
    /// Set once by a reload that dropped the device: its ids are tombstones.
    removed: AtomicBool,
}

impl DeviceSlot {
    fn new(meta: DeviceMeta, tags: std::ops::Range<usize>) -> Self {
        DeviceSlot {
            meta,
            status: Mutex::new(DeviceStatus::default()),
            tags,
            removed: AtomicBool::new(false),
        }
    }

    fn live(&self) -> bool {
        !self.removed.load(Ordering::Acquire)
    }
}

/// A tag's description and state side by side: appended together, so a
/// reader that finds one finds the other.
struct TagSlot {
    meta: TagMeta,
    state: Mutex<TagState>,
}

impl TagSlot {
    fn waiting(meta: TagMeta) -> Self {
        TagSlot {
            meta,
            state: Mutex::new(TagState {
                value: None,
                quality: Quality::Bad(BadCause::Waiting),
                source_time: None,
                changed_at: None,
                last_good: None,
                exact_next: false,
            }),
        }
    }
}

/// Latest value, quality and timestamps of every tag.
pub struct TagStore {
    tags: AppendVec<TagSlot>,
    devices: AppendVec<DeviceSlot>,
    changes: ChangeTracker,
    /// One device added or removed at a time.
    reshape: Mutex<()>,
    /// Counts the devices added and removed since start-up (`shape`).
    shape: AtomicU64,
}

impl std::fmt::Debug for TagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagStore")
            .field("tags", &self.tags.len())
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

impl TagStore {
    /// A store for these devices and tags, every tag `Bad(Waiting)`.
    pub fn new(devices: Vec<DeviceMeta>, tags: Vec<TagMeta>) -> Self {
        let changes = ChangeTracker::new(tags.len());
        let devices = devices
            .into_iter()
            .enumerate()
            .map(|(i, meta)| {
                let first = tags.partition_point(|t| t.device.index() < i);
                let end = tags.partition_point(|t| t.device.index() <= i);
                DeviceSlot::new(meta, first..end.max(first))
            })
            .collect();
        TagStore {
            tags: AppendVec::new(tags.into_iter().map(TagSlot::waiting).collect()),
            devices: AppendVec::new(devices),
            changes,
            reshape: Mutex::new(()),
            shape: AtomicU64::new(0),
        }
    }

    /// Add a device and its tags (their `device` is set here), every tag
    /// `Bad(Waiting)`, after every id given so far; each consumer that tracks
    /// changes reads the new tags once.
    pub fn add_device(&self, meta: DeviceMeta, tags: Vec<TagMeta>) -> Result<DeviceId, Full> {
        let _one_reshape = lock(&self.reshape);
        let device = DeviceId::new(self.devices.len());
        let first = self.tags.len();
        let count = tags.len();
        // The device first: a reader that finds a new tag finds its device.
        self.devices
            .extend([DeviceSlot::new(meta, first..first + count)])?;
        self.tags.extend(tags.into_iter().map(|mut t| {
            t.device = device;
            TagSlot::waiting(t)
        }))?;
        self.changes.grow(count)?;
        self.shape.fetch_add(1, Ordering::AcqRel);
        Ok(device)
    }

    /// Remove a device: its tags read as unknown from now on (`meta` and
    /// `snapshot` are `None`) and are marked changed, so a consumer that
    /// tracks changes finds them gone. False when it was not there.
    pub fn remove_device(&self, device: DeviceId) -> bool {
        let _one_reshape = lock(&self.reshape);
        let Some(slot) = self.devices.get(device.index()) else {
            return false;
        };
        if slot.removed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.shape.fetch_add(1, Ordering::AcqRel);
        for i in slot.tags.clone() {
            self.changes.mark(TagId::new(i));
        }
        true
    }

    /// Changes whenever a device is added or removed: a consumer that keeps
    /// something per tag or device (rendered labels, nodes) rebuilds it
    /// when this differs from what it built it at.
    pub fn shape(&self) -> u64 {
        self.shape.load(Ordering::Acquire)
    }

    /// The slot of a tag of a device that is still there.
    fn live_tag(&self, id: TagId) -> Option<(&TagSlot, &DeviceSlot)> {
        let tag = self.tags.get(id.index())?;
        let device = self.devices.get(tag.meta.device.index())?;
        device.live().then_some((tag, device))
    }

    /// Number of tag ids given so far, removed ones included: every id is
    /// below it.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// True when the store has no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Every tag with its id, in id order, without removed ones.
    pub fn tags(&self) -> impl Iterator<Item = (TagId, &TagMeta)> {
        (0..self.tags.len()).filter_map(|i| {
            let id = TagId::new(i);
            self.live_tag(id).map(|(t, _)| (id, &t.meta))
        })
    }

    /// The static description of a tag; `None` for an unknown or removed id.
    pub fn meta(&self, id: TagId) -> Option<&TagMeta> {
        self.live_tag(id).map(|(t, _)| &t.meta)
    }

    /// The description a tag had, removed or not: for a consumer naming
    /// what it forgets after a reload.
    pub fn meta_even_removed(&self, id: TagId) -> Option<&TagMeta> {
        self.tags.get(id.index()).map(|t| &t.meta)
    }

    /// The name a device had, removed or not; empty for an unknown id.
    pub fn device_name_even_removed(&self, device: DeviceId) -> &str {
        self.devices
            .get(device.index())
            .map_or("", |d| d.meta.name.as_str())
    }

    /// Every device id, in config order, without removed ones.
    pub fn devices(&self) -> impl Iterator<Item = DeviceId> {
        (0..self.devices.len())
            .filter(|i| self.devices.get(*i).is_some_and(DeviceSlot::live))
            .map(DeviceId::new)
    }

    /// Find a tag by device and tag name.
    pub fn find(&self, device: &str, tag: &str) -> Option<TagId> {
        let device = self.devices().find(|d| self.device_name(*d) == device)?;
        self.find_in(device, tag)
    }

    /// A copy of one tag's state as of now; `None` for an unknown id.
    pub fn snapshot(&self, id: TagId) -> Option<TagSnapshot> {
        self.snapshot_at(id, Instant::now())
    }

    /// A copy of one tag's state as of `now` (one instant for a whole scrape):
    /// a value no poll confirmed for too long reads as aged (`quality::aged`).
    pub fn snapshot_at(&self, id: TagId, now: Instant) -> Option<TagSnapshot> {
        let (tag, device) = self.live_tag(id)?;
        let state = lock(&tag.state);
        Some(TagSnapshot {
            value: state.value.clone(),
            quality: aged_quality(device, &state, now),
            source_time: state.source_time,
            changed_at: state.changed_at,
        })
    }

    /// Only the quality of [`TagStore::snapshot_at`], without copying the
    /// value: for counting and filtering every tag of a large store.
    pub fn quality_at(&self, id: TagId, now: Instant) -> Option<Quality> {
        let (tag, device) = self.live_tag(id)?;
        Some(aged_quality(device, &lock(&tag.state), now))
    }

    /// Store the aged quality of every tag of a device that has finished no
    /// cycle for longer than its values may stand unconfirmed, and mark what
    /// changed, so that a face that forwards changes (a subscription) hears
    /// of a stalled bus too. Cheap when every device is on time: one check each.
    pub fn age(&self, now: Instant) {
        for d in self.devices.iter().filter(|d| d.live()) {
            let last_cycle = lock(&d.status).last_cycle;
            let doubt = unconfirmed_after(d.meta.stale_after, d.meta.poll);
            let Some(at) = last_cycle else { continue };
            if now.saturating_duration_since(at) < doubt {
                continue;
            }
            for i in d.tags.clone() {
                let Some(slot) = self.tags.get(i) else {
                    continue;
                };
                let changed = {
                    let mut state = lock(&slot.state);
                    let quality = aged(
                        state.quality,
                        state.last_good,
                        now,
                        d.meta.stale_after,
                        d.meta.poll,
                    );
                    let changed = quality != state.quality;
                    if changed {
                        let at = SystemTime::now();
                        state.quality = quality;
                        state.changed_at = Some(at);
                        if matches!(quality, Quality::Bad(_)) {
                            state.source_time = Some(at);
                        }
                    }
                    changed
                };
                if changed {
                    self.changes.mark(TagId::new(i));
                }
            }
        }
    }

    /// Start tracking changes for a new consumer: its first drain yields
    /// every tag, later ones the tags whose value or quality changed since.
    pub fn track_changes(&self) -> Result<ChangeCursor, TooManyConsumers> {
        self.changes.register()
    }

    /// Record a good value that arrived at `source_time`.
    pub fn set_good(&self, id: TagId, value: Value, source_time: SystemTime, now: Instant) {
        self.store_good(id, value, source_time, now, false);
    }

    /// Record a value the device just acknowledged writing: stored as is, even
    /// inside the deadband, so a reader sees exactly what was written; the
    /// next good value (the poll after the write) is stored exactly too.
    pub fn set_written(&self, id: TagId, value: Value, source_time: SystemTime, now: Instant) {
        self.store_good(id, value, source_time, now, true);
    }

    fn store_good(
        &self,
        id: TagId,
        value: Value,
        source_time: SystemTime,
        now: Instant,
        exact: bool,
    ) {
        let Some((slot, _)) = self.live_tag(id) else {
            return;
        };
        let meta = &slot.meta;
        let changed = {
            let mut state = lock(&slot.state);
            let after_write = std::mem::replace(&mut state.exact_next, exact);
            let exact_now = exact || after_write;
            let changed = state.quality != Quality::Good
                || (exact_now && state.value.as_ref() != Some(&value))
                || state
                    .value
                    .as_ref()
                    .is_none_or(|old| exceeds_deadband(old, &value, meta.deadband));
            state.source_time = Some(source_time);
            state.last_good = Some(now);
            if changed {
                state.value = Some(value);
                state.quality = Quality::Good;
                state.changed_at = Some(source_time);
            }
            changed
        };
        if changed {
            self.changes.mark(id);
        }
    }

    /// Record a failed poll of the tag: uncertain while the last value is fresh, else bad.
    pub fn set_failed(&self, id: TagId, cause: BadCause, at: SystemTime, now: Instant) {
        let Some((slot, device)) = self.live_tag(id) else {
            return;
        };
        let stale_after = device.meta.stale_after;
        let changed = {
            let mut state = lock(&slot.state);
            let quality = quality_after_failure(
                state.value.is_some(),
                state.last_good,
                now,
                stale_after,
                cause,
            );
            if quality == state.quality {
                false
            } else {
                state.quality = quality;
                state.changed_at = Some(at);
                // An uncertain value is the last usable one: it keeps the time it
                // was read. A bad tag has no value; its time is when it went bad.
                if matches!(quality, Quality::Bad(_)) || state.source_time.is_none() {
                    state.source_time = Some(at);
                }
                true
            }
        };
        if changed {
            self.changes.mark(id);
        }
    }

    /// The name of a device; empty for an unknown id.
    pub fn device_name(&self, device: DeviceId) -> &str {
        self.device_meta(device).map_or("", |m| m.name.as_str())
    }

    /// The ids of one device's tags, in order (tags are stored device by
    /// device); a removed device's too, for a consumer forgetting them.
    pub fn device_tags(&self, device: DeviceId) -> impl Iterator<Item = TagId> + use<> {
        self.devices
            .get(device.index())
            .map_or(0..0, |d| d.tags.clone())
            .map(TagId::new)
    }

    /// A tag of one device by name, looking only through that device's tags.
    pub fn find_in(&self, device: DeviceId, tag: &str) -> Option<TagId> {
        self.device_tags(device)
            .find(|id| self.meta(*id).is_some_and(|m| &*m.name == tag))
    }

    fn live_device(&self, device: DeviceId) -> Option<&DeviceSlot> {
        self.devices.get(device.index()).filter(|d| d.live())
    }

    /// Static description of a device; `None` once removed.
    pub fn device_meta(&self, device: DeviceId) -> Option<&DeviceMeta> {
        self.live_device(device).map(|d| &d.meta)
    }

    /// Number of device ids given so far, removed ones included.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// A copy of a device's live status.
    pub fn device_status(&self, device: DeviceId) -> Option<DeviceStatus> {
        self.live_device(device).map(|d| lock(&d.status).clone())
    }

    /// Update a device's live status in place.
    pub fn update_device(&self, device: DeviceId, f: impl FnOnce(&mut DeviceStatus)) {
        if let Some(d) = self.live_device(device) {
            f(&mut lock(&d.status));
        }
    }
}

/// A tag's quality as of `now`, aged by its device's timing.
fn aged_quality(device: &DeviceSlot, state: &TagState, now: Instant) -> Quality {
    aged(
        state.quality,
        state.last_good,
        now,
        device.meta.stale_after,
        device.meta.poll,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: TagId = TagId::new(0);

    fn store_with_one_tag(deadband: Option<f64>) -> TagStore {
        TagStore::new(
            vec![DeviceMeta {
                polled: true,
                name: "d".into(),
                poll: Duration::from_secs(1),
                stale_after: Duration::from_secs(3),
                bus: "tcp://127.0.0.1:502".into(),
            }],
            vec![TagMeta {
                device: DeviceId::new(0),
                name: "t".into(),
                data_type: DataType::F64,
                unit: None,
                description: None,
                writable: false,
                deadband,
            }],
        )
    }

    #[test]
    fn never_polled_tag_is_bad_waiting() {
        let store = store_with_one_tag(None);
        let snap = store.snapshot(T0).unwrap();
        assert_eq!(snap.quality, Quality::Bad(BadCause::Waiting));
        assert!(snap.value.is_none());
    }

    fn drained(cursor: &ChangeCursor) -> Vec<TagId> {
        let mut out = Vec::new();
        cursor.drain(&mut out);
        out
    }

    #[test]
    fn changes_are_tracked_but_not_reconfirmations() {
        let store = store_with_one_tag(None);
        let cursor = store.track_changes().unwrap();
        assert_eq!(drained(&cursor), vec![T0], "a new consumer reads every tag");
        let now = Instant::now();
        store.set_good(T0, Value::F64(1.0), SystemTime::now(), now);
        assert_eq!(drained(&cursor), vec![T0]);
        store.set_good(T0, Value::F64(1.0), SystemTime::now(), now);
        assert!(drained(&cursor).is_empty(), "same value must not notify");
        store.set_failed(T0, BadCause::Timeout, SystemTime::now(), now);
        assert_eq!(drained(&cursor), vec![T0]);
        assert_eq!(
            store.snapshot(T0).unwrap().quality,
            Quality::Uncertain(BadCause::Timeout)
        );
    }

    #[test]
    fn deadband_suppresses_small_changes() {
        let store = store_with_one_tag(Some(0.5));
        let now = Instant::now();
        store.set_good(T0, Value::F64(10.0), SystemTime::now(), now);
        store.set_good(T0, Value::F64(10.4), SystemTime::now(), now);
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(10.0)));
        store.set_good(T0, Value::F64(10.6), SystemTime::now(), now);
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(10.6)));
    }

    #[test]
    fn uncertain_keeps_the_source_time_of_the_last_good_value() {
        let store = store_with_one_tag(None);
        let t0 = Instant::now();
        let read_at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        store.set_good(T0, Value::F64(1.0), read_at, t0);
        store.set_failed(
            T0,
            BadCause::Timeout,
            read_at + Duration::from_secs(1),
            t0 + Duration::from_secs(1),
        );
        let snap = store.snapshot(T0).unwrap();
        assert_eq!(snap.quality, Quality::Uncertain(BadCause::Timeout));
        assert_eq!(snap.source_time, Some(read_at));
        let failed_at = read_at + Duration::from_secs(10);
        store.set_failed(
            T0,
            BadCause::Timeout,
            failed_at,
            t0 + Duration::from_secs(10),
        );
        assert_eq!(store.snapshot(T0).unwrap().source_time, Some(failed_at));
    }

    #[test]
    fn a_written_value_is_stored_exactly_even_inside_the_deadband() {
        let store = store_with_one_tag(Some(5.0));
        let now = Instant::now();
        store.set_good(T0, Value::F64(10.0), SystemTime::now(), now);
        store.set_written(T0, Value::F64(11.0), SystemTime::now(), now);
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(11.0)));
    }

    #[test]
    fn the_poll_after_a_write_is_stored_exactly_then_the_deadband_applies_again() {
        let store = store_with_one_tag(Some(10.0));
        let now = Instant::now();
        store.set_good(T0, Value::F64(0.0), SystemTime::now(), now);
        store.set_written(T0, Value::F64(100.0), SystemTime::now(), now);
        // The device clamped the command to 95: within the deadband, shown anyway.
        store.set_good(T0, Value::F64(95.0), SystemTime::now(), now);
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(95.0)));
        store.set_good(T0, Value::F64(96.0), SystemTime::now(), now);
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(95.0)));
    }

    fn device(name: &str) -> DeviceMeta {
        DeviceMeta {
            polled: true,
            name: name.into(),
            poll: Duration::from_secs(1),
            stale_after: Duration::from_secs(3),
            bus: "tcp://127.0.0.1:502".into(),
        }
    }

    fn tag(name: &str) -> TagMeta {
        TagMeta {
            // Set by `add_device`.
            device: DeviceId::new(usize::MAX),
            name: name.into(),
            data_type: DataType::U16,
            unit: None,
            description: None,
            writable: false,
            deadband: None,
        }
    }

    #[test]
    fn an_added_device_gets_new_ids_and_the_old_ones_keep_their_state() {
        let store = store_with_one_tag(None);
        let cursor = store.track_changes().unwrap();
        drained(&cursor);
        let now = Instant::now();
        store.set_good(T0, Value::F64(7.0), SystemTime::now(), now);
        drained(&cursor);
        let added = store
            .add_device(device("e"), vec![tag("a"), tag("b")])
            .unwrap();
        assert_eq!(added, DeviceId::new(1));
        let a = store.find("e", "a").unwrap();
        let b = store.find("e", "b").unwrap();
        assert_eq!((a, b), (TagId::new(1), TagId::new(2)));
        assert_eq!(store.meta(b).unwrap().device, added);
        assert_eq!(store.device_tags(added).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(drained(&cursor), vec![a, b], "the new tags are read once");
        assert_eq!(
            store.snapshot(a).unwrap().quality,
            Quality::Bad(BadCause::Waiting)
        );
        assert_eq!(store.snapshot(T0).unwrap().value, Some(Value::F64(7.0)));
        store.set_good(b, Value::U16(3), SystemTime::now(), now);
        assert_eq!(drained(&cursor), vec![b]);
        assert_eq!(store.len(), 3);
        assert_eq!(store.devices().count(), 2);
    }

    #[test]
    fn a_removed_device_reads_as_unknown_and_its_ids_are_not_reused() {
        let store = store_with_one_tag(None);
        let cursor = store.track_changes().unwrap();
        let e = store.add_device(device("e"), vec![tag("a")]).unwrap();
        drained(&cursor);
        assert!(store.remove_device(DeviceId::new(0)));
        assert!(!store.remove_device(DeviceId::new(0)), "once only");
        assert_eq!(drained(&cursor), vec![T0], "consumers hear of the removal");
        assert!(store.meta(T0).is_none());
        assert!(store.snapshot(T0).is_none());
        assert!(store.device_meta(DeviceId::new(0)).is_none());
        assert!(store.find("d", "t").is_none());
        assert_eq!(store.devices().collect::<Vec<_>>(), vec![e]);
        assert_eq!(
            store.tags().map(|(id, _)| id).collect::<Vec<_>>(),
            vec![TagId::new(1)]
        );
        store.set_good(T0, Value::F64(1.0), SystemTime::now(), Instant::now());
        assert!(
            drained(&cursor).is_empty(),
            "a write to a removed tag is dropped"
        );
        // The same name again is a new device with new ids.
        let again = store.add_device(device("d"), vec![tag("t")]).unwrap();
        assert_eq!(again, DeviceId::new(2));
        assert_eq!(store.find("d", "t"), Some(TagId::new(2)));
    }

    #[test]
    fn bad_tag_withholds_its_value() {
        let store = store_with_one_tag(None);
        let t0 = Instant::now();
        store.set_good(T0, Value::F64(1.0), SystemTime::now(), t0);
        store.set_failed(
            T0,
            BadCause::Timeout,
            SystemTime::now(),
            t0 + Duration::from_secs(10),
        );
        let snap = store.snapshot(T0).unwrap();
        assert_eq!(snap.quality, Quality::Bad(BadCause::Timeout));
        assert!(snap.usable_value().is_none());
    }
}
