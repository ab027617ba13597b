//! Read-block planner: turns each tag's footprint in a device's address space
//! ([`Span`]) into the few Modbus read requests ([`Block`]) that cover them all.
//!
//! Fewer, larger reads cut per-cycle latency, but a read may not exceed the
//! protocol limit for its table, and reading a wide hole of unused addresses
//! wastes bandwidth and risks touching registers the device does not have.
//! [`plan`] therefore coalesces greedily under [`Limits`]; [`split`] bisects a
//! block the device refused so the gateway can home in on the bad address.
//!
//! Invariants of [`plan`]'s output (all checked by the property tests):
//! - every non-empty span lies inside exactly one block of its kind, and its
//!   `index` appears in exactly that block's `tags`;
//! - a block never spans a hole of unread addresses wider than `max_gap`;
//! - a block exceeds its kind's limit only when a single span alone is that
//!   long (the block is then exactly that span's extent);
//! - spans that share an address are never torn across blocks, so blocks of
//!   one kind never overlap — unless a chain of mutually overlapping spans is
//!   itself longer than the limit, the one case where overlap is unavoidable
//!   short of breaking the limit;
//! - blocks come ordered by kind (Coil, Discrete, Input, Holding) then start,
//!   and, given distinct indices, the output does not depend on the order of
//!   the input spans (ties are broken by `index`);
//! - there are never more blocks than [`naive_requests`].
//!
//! Malformed input never panics. Upstream validation guarantees `count >= 1`
//! and `address + count - 1 <= 65535`; if that is violated anyway, a span with
//! `count == 0` reads nothing and is skipped, and a span running past 65535 is
//! clipped to end at 65535. A limit of 0 is treated as 1 so every block makes
//! progress. All lengths are computed in `u32` so no arithmetic can overflow.

// Beyond the crate policy: addresses and counts from the config meet
// arithmetic here, so every operation is checked or widened.
#![deny(clippy::arithmetic_side_effects)]

use std::cmp::Reverse;

use super::protocol::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::tags::Kind;

/// One tag's footprint in a device's address space. `index` is the caller's tag index (opaque here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Caller's tag index, echoed back in [`Block::tags`].
    pub index: usize,
    /// Data table the tag lives in.
    pub kind: Kind,
    /// First register (or bit) of the tag.
    pub address: u16,
    /// Registers, or bits for Coil/Discrete; `>= 1`.
    pub count: u16,
}

/// Limits for coalescing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Widest hole of unused addresses a block may read across.
    pub max_gap: u16,
    /// Longest Input/Holding read, in registers (0 acts as 1).
    pub max_registers: u16,
    /// Longest Coil/Discrete read, in bits (0 acts as 1).
    pub max_bits: u16,
}

impl Limits {
    /// The Modbus protocol maxima with a modest gap allowance.
    pub const MODBUS_MAX: Limits = Limits {
        max_gap: crate::config::defaults::MAX_GAP,
        max_registers: MAX_READ_REGISTERS,
        max_bits: MAX_READ_BITS,
    };

    /// Longest read allowed for `kind`; zero is raised to one so blocks always make progress.
    fn for_kind(self, kind: Kind) -> u32 {
        let raw = match kind {
            Kind::Coil | Kind::Discrete => self.max_bits,
            Kind::Input | Kind::Holding => self.max_registers,
        };
        u32::from(raw.max(1))
    }
}

/// One read request: a contiguous range of one kind, and the tags it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Data table read.
    pub kind: Kind,
    /// First address read.
    pub start: u16,
    /// Registers (or bits) read.
    pub count: u16,
    /// `Span::index` of every span inside the block, sorted by address then index.
    pub tags: Vec<usize>,
}

/// Output order of kinds; also the order `Kind` derives `Ord` in.
const KINDS: [Kind; 4] = [Kind::Coil, Kind::Discrete, Kind::Input, Kind::Holding];

/// Exclusive end of the address space: a span may end exactly here.
const ADDRESS_END: u32 = 1 << 16;

/// A span reduced to its clipped half-open range `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    end: u32,
    index: usize,
}

/// Clipped extent of `span`, or `None` when it covers no address.
fn entry(span: &Span) -> Option<Entry> {
    if span.count == 0 {
        return None;
    }
    let start = u32::from(span.address);
    let end = start.saturating_add(u32::from(span.count)).min(ADDRESS_END);
    Some(Entry {
        start,
        end,
        index: span.index,
    })
}

/// Smallest range `[start, end)` covering all `entries`, or `None` if there are none.
fn reach(entries: &[Entry]) -> Option<(u32, u32)> {
    let start = entries.iter().map(|e| e.start).min()?;
    let end = entries.iter().map(|e| e.end).max()?;
    Some((start, end))
}

/// Builds the output block for a set of entries, or `None` if there are none.
fn block_of(kind: Kind, members: &[Entry]) -> Option<Block> {
    let (start, end) = reach(members)?;
    let mut order: Vec<(u32, usize)> = members.iter().map(|e| (e.start, e.index)).collect();
    order.sort_unstable();
    Some(Block {
        kind,
        // Clipping keeps start <= 65535 and any block's length <= 65535 (a
        // single span is at most 65535 long; coalesced blocks obey a u16
        // limit), so the fallbacks are unreachable; they only avoid a panic path.
        start: u16::try_from(start).unwrap_or(u16::MAX),
        count: u16::try_from(end.saturating_sub(start)).unwrap_or(u16::MAX),
        tags: order.into_iter().map(|(_, index)| index).collect(),
    })
}

/// Splits sorted entries into runs whose spans chain-overlap (share at least
/// one address); adjacent-but-disjoint spans start a new run.
fn clusters(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let mut rest = entries;
    while let Some(first) = rest.first() {
        let mut end = first.end;
        let len = rest
            .iter()
            .take_while(|e| {
                let overlaps = e.start < end;
                if overlaps {
                    end = end.max(e.end);
                }
                overlaps
            })
            .count();
        // `first` always overlaps itself (end > start), so len >= 1 and the
        // loop shrinks `rest` every time; `max(1)` makes that unconditional.
        let Some((head, tail)) = rest.split_at_checked(len.max(1)) else {
            break;
        };
        out.push(head);
        rest = tail;
    }
    out
}

/// The block currently being grown by the greedy pass.
struct Open {
    start: u32,
    end: u32,
    members: Vec<Entry>,
}

impl Open {
    /// Takes `item` if the hole before it is small enough and the block stays
    /// within `limit`; an item that does not lengthen the block always fits,
    /// so spans inside an oversized span join it instead of overlapping it.
    fn absorb(&mut self, item: &[Entry], max_gap: u32, limit: u32) -> bool {
        let Some((start, end)) = reach(item) else {
            return true;
        };
        let hole = start.saturating_sub(self.end);
        let new_end = self.end.max(end);
        let fits = new_end == self.end || new_end.saturating_sub(self.start) <= limit;
        if hole <= max_gap && fits {
            self.end = new_end;
            self.members.extend_from_slice(item);
            true
        } else {
            false
        }
    }
}

/// Greedy coalescing of one kind's entries, sorted by (start, end desc, index).
fn plan_kind(kind: Kind, entries: &[Entry], max_gap: u32, limit: u32, out: &mut Vec<Block>) {
    let mut open: Option<Open> = None;
    let mut push = |item: &[Entry]| {
        if let Some(current) = open.as_mut()
            && current.absorb(item, max_gap, limit)
        {
            return;
        }
        let Some((start, end)) = reach(item) else {
            return;
        };
        let fresh = Open {
            start,
            end,
            members: item.to_vec(),
        };
        if let Some(done) = open.replace(fresh) {
            out.extend(block_of(kind, &done.members));
        }
    };
    for cluster in clusters(entries) {
        let Some((start, end)) = reach(cluster) else {
            continue;
        };
        // Overlapping spans move as one unit so a block boundary never falls
        // inside a span that another block also needs; only a unit too long
        // to read at once is broken up, span by span.
        if end.saturating_sub(start) <= limit {
            push(cluster);
        } else {
            for one in cluster.chunks(1) {
                push(one);
            }
        }
    }
    if let Some(done) = open {
        out.extend(block_of(kind, &done.members));
    }
}

/// Coalesce spans into blocks.
pub fn plan(spans: &[Span], limits: &Limits) -> Vec<Block> {
    let max_gap = u32::from(limits.max_gap);
    let mut blocks = Vec::new();
    for kind in KINDS {
        let mut entries: Vec<Entry> = spans
            .iter()
            .filter(|s| s.kind == kind)
            .filter_map(entry)
            .collect();
        // Longest first at an address, so shorter spans there fall inside the
        // block it opens; index last makes the result independent of input order.
        entries.sort_unstable_by_key(|e| (e.start, Reverse(e.end), e.index));
        plan_kind(kind, &entries, max_gap, limits.for_kind(kind), &mut blocks);
    }
    blocks
}

/// Resolves each of `block.tags` to a span of the block's kind lying inside
/// it, sorted by (start, index); `None` if any tag has no such span.
fn members_of(block: &Block, spans: &[Span]) -> Option<Vec<Entry>> {
    let lo = u32::from(block.start);
    let hi = lo.saturating_add(u32::from(block.count));
    let mut candidates: Vec<Entry> = spans
        .iter()
        .filter(|s| s.kind == block.kind)
        .filter_map(entry)
        .filter(|e| lo <= e.start && e.end <= hi)
        .collect();
    // Stable, so a duplicated index resolves to its first span in `spans`.
    candidates.sort_by_key(|e| e.index);
    let mut members = Vec::with_capacity(block.tags.len());
    for &tag in &block.tags {
        let at = candidates.partition_point(|e| e.index < tag);
        let found = candidates.get(at).filter(|e| e.index == tag)?;
        members.push(*found);
    }
    members.sort_unstable_by_key(|e| (e.start, e.index));
    Some(members)
}

/// Picks where to cut `members` (sorted by start): between two distinct
/// starts, as near the middle by tag count as possible, preferring on ties a
/// cut no span straddles, so the halves do not re-read each other's registers.
fn choose_cut(members: &[Entry]) -> Option<usize> {
    let n = members.len();
    let mut left_end = 0u32;
    let mut best: Option<((usize, bool), usize)> = None;
    for (k, pair) in (1usize..).zip(members.windows(2)) {
        let [a, b] = pair else { continue };
        left_end = left_end.max(a.end);
        if a.start == b.start {
            continue;
        }
        let key = (k.saturating_mul(2).abs_diff(n), left_end > b.start);
        if best.is_none_or(|(best_key, _)| key < best_key) {
            best = Some((key, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Split a block that a device refused (Modbus exception 02) into two smaller blocks covering its tags, by tag boundary, each trimmed to the tags it holds. Returns None when the block can't be split (one tag, or all its tags share one identical span).
///
/// Tags go left or right by their span's start, so a span is never divided;
/// the halves may overlap when a span straddles the cut. Also `None` when the
/// tags all start at one address (even with different lengths) or when a tag
/// cannot be matched to a span of the block's kind inside the block. Every
/// split strictly shrinks both halves' tag counts, so repeated splitting ends.
pub fn split(block: &Block, spans: &[Span]) -> Option<(Block, Block)> {
    let members = members_of(block, spans)?;
    let cut = choose_cut(&members)?;
    let (left, right) = members.split_at_checked(cut)?;
    Some((block_of(block.kind, left)?, block_of(block.kind, right)?))
}

/// Requests per cycle with no coalescing: one per tag (for reports).
///
/// Zero-length spans are not counted, matching [`plan`], which skips them.
pub fn naive_requests(spans: &[Span]) -> usize {
    spans.iter().filter(|s| s.count > 0).count()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn span(index: usize, kind: Kind, address: u16, count: u16) -> Span {
        Span {
            index,
            kind,
            address,
            count,
        }
    }

    fn holding(index: usize, address: u16, count: u16) -> Span {
        span(index, Kind::Holding, address, count)
    }

    fn limits(max_gap: u16, max_registers: u16, max_bits: u16) -> Limits {
        Limits {
            max_gap,
            max_registers,
            max_bits,
        }
    }

    fn ranges(blocks: &[Block]) -> Vec<(Kind, u16, u16)> {
        blocks.iter().map(|b| (b.kind, b.start, b.count)).collect()
    }

    fn end(b: &Block) -> u32 {
        u32::from(b.start).saturating_add(u32::from(b.count))
    }

    // ---- plan: gaps and limits ----

    #[test]
    fn gap_of_max_gap_joins_but_one_more_splits() {
        let l = limits(3, 125, 2000);
        // Hole of 3 (addresses 2,3,4) joins.
        let joined = plan(&[holding(0, 0, 2), holding(1, 5, 1)], &l);
        assert_eq!(ranges(&joined), vec![(Kind::Holding, 0, 6)]);
        // Hole of 4 splits.
        let apart = plan(&[holding(0, 0, 2), holding(1, 6, 1)], &l);
        assert_eq!(
            ranges(&apart),
            vec![(Kind::Holding, 0, 2), (Kind::Holding, 6, 1)]
        );
    }

    #[test]
    fn zero_gap_still_joins_adjacent_registers() {
        let blocks = plan(&[holding(0, 0, 2), holding(1, 2, 2)], &limits(0, 125, 2000));
        assert_eq!(ranges(&blocks), vec![(Kind::Holding, 0, 4)]);
        let blocks = plan(&[holding(0, 0, 2), holding(1, 3, 2)], &limits(0, 125, 2000));
        assert_eq!(blocks.len(), 2);
    }

    #[test]
    fn block_never_exceeds_125_registers() {
        let spans: Vec<Span> = (0..200u16)
            .map(|i| holding(usize::from(i), i * 2, 2))
            .collect();
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert!(blocks.iter().all(|b| b.count <= 125));
        // 400 contiguous registers of 2-register tags: 62 tags (124 regs) per block.
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0].count, 124);
        assert_eq!(blocks.iter().map(|b| b.tags.len()).sum::<usize>(), 200);
    }

    #[test]
    fn block_fills_exactly_to_the_limit() {
        let spans: Vec<Span> = (0..126u16).map(|i| holding(usize::from(i), i, 1)).collect();
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Holding, 0, 125), (Kind::Holding, 125, 1)]
        );
    }

    #[test]
    fn coils_use_the_2000_bit_limit() {
        let spans: Vec<Span> = (0..2500u16)
            .map(|i| span(usize::from(i), Kind::Coil, i, 1))
            .collect();
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Coil, 0, 2000), (Kind::Coil, 2000, 500)]
        );
    }

    #[test]
    fn discrete_inputs_use_the_bit_limit_not_the_register_limit() {
        let spans: Vec<Span> = (0..300u16)
            .map(|i| span(usize::from(i), Kind::Discrete, i, 1))
            .collect();
        let blocks = plan(&spans, &limits(0, 10, 200));
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Discrete, 0, 200), (Kind::Discrete, 200, 100)]
        );
    }

    #[test]
    fn input_registers_use_the_register_limit() {
        let spans: Vec<Span> = (0..30u16)
            .map(|i| span(usize::from(i), Kind::Input, i, 1))
            .collect();
        let blocks = plan(&spans, &limits(0, 10, 2000));
        assert_eq!(blocks.len(), 3);
        assert!(blocks.iter().all(|b| b.count == 10));
    }

    #[test]
    fn zero_limits_behave_as_one() {
        let spans = [
            holding(0, 0, 1),
            holding(1, 1, 1),
            span(2, Kind::Coil, 0, 1),
            span(3, Kind::Coil, 1, 1),
        ];
        let blocks = plan(&spans, &limits(0, 0, 0));
        assert_eq!(blocks.len(), 4);
        assert!(blocks.iter().all(|b| b.count == 1 && b.tags.len() == 1));
    }

    #[test]
    fn oversized_span_gets_its_own_block_and_its_inner_tags_join_it() {
        // A 20-register string with a u16 view inside it, under a 10-register limit.
        let spans = [holding(0, 100, 20), holding(1, 105, 1), holding(2, 121, 1)];
        let blocks = plan(&spans, &limits(8, 10, 2000));
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Holding, 100, 20), (Kind::Holding, 121, 1)]
        );
        assert_eq!(blocks[0].tags, vec![0, 1]);
    }

    // ---- plan: sharing and ordering ----

    #[test]
    fn bit_tags_share_their_register_block() {
        // A status word at 40 plus its individual bit tags, all reading register 40.
        let mut spans = vec![holding(0, 40, 1)];
        spans.extend((1..=16).map(|i| holding(i, 40, 1)));
        spans.push(holding(17, 41, 2));
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(ranges(&blocks), vec![(Kind::Holding, 40, 3)]);
        assert_eq!(blocks[0].tags, (0..=17).collect::<Vec<_>>());
    }

    #[test]
    fn u32_and_its_u16_halves_share_a_block() {
        let spans = [holding(7, 10, 1), holding(3, 10, 2), holding(5, 11, 1)];
        let blocks = plan(&spans, &limits(0, 2, 2000));
        assert_eq!(ranges(&blocks), vec![(Kind::Holding, 10, 2)]);
        assert_eq!(blocks[0].tags, vec![3, 7, 5]);
    }

    #[test]
    fn overlapping_tags_are_never_torn_across_blocks() {
        // Greedy span by span would take [0,1)+[2,4) = 4 registers, then have
        // to open an overlapping block for [3,5). Moving [2,4)+[3,5) as one
        // unit gives two disjoint blocks instead.
        let spans = [holding(0, 0, 1), holding(1, 2, 2), holding(2, 3, 2)];
        let blocks = plan(&spans, &limits(8, 4, 2000));
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Holding, 0, 1), (Kind::Holding, 2, 3)]
        );
    }

    #[test]
    fn overlap_chain_longer_than_the_limit_is_broken_span_by_span() {
        let spans = [holding(0, 0, 3), holding(1, 2, 3)];
        let blocks = plan(&spans, &limits(8, 4, 2000));
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Holding, 0, 3), (Kind::Holding, 2, 3)]
        );
    }

    #[test]
    fn kinds_never_share_a_block() {
        let spans = [
            holding(0, 0, 1),
            span(1, Kind::Input, 1, 1),
            span(2, Kind::Coil, 0, 1),
        ];
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(blocks.len(), 3);
    }

    #[test]
    fn blocks_are_ordered_by_kind_then_start() {
        let spans = [
            holding(0, 500, 1),
            holding(1, 0, 1),
            span(2, Kind::Input, 9, 1),
            span(3, Kind::Discrete, 3000, 1),
            span(4, Kind::Coil, 70, 1),
            span(5, Kind::Discrete, 1, 1),
        ];
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(
            ranges(&blocks),
            vec![
                (Kind::Coil, 70, 1),
                (Kind::Discrete, 1, 1),
                (Kind::Discrete, 3000, 1),
                (Kind::Input, 9, 1),
                (Kind::Holding, 0, 1),
                (Kind::Holding, 500, 1),
            ]
        );
    }

    #[test]
    fn tags_are_sorted_by_address_then_index() {
        let spans = [
            holding(9, 4, 1),
            holding(2, 4, 1),
            holding(5, 1, 3),
            holding(1, 6, 1),
        ];
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(blocks[0].tags, vec![5, 2, 9, 1]);
    }

    #[test]
    fn empty_input_plans_nothing() {
        assert!(plan(&[], &Limits::MODBUS_MAX).is_empty());
        assert_eq!(naive_requests(&[]), 0);
    }

    // ---- plan: malformed input ----

    #[test]
    fn zero_count_span_is_skipped() {
        let spans = [holding(0, 10, 0), holding(1, 20, 1)];
        let blocks = plan(&spans, &Limits::MODBUS_MAX);
        assert_eq!(ranges(&blocks), vec![(Kind::Holding, 20, 1)]);
        assert_eq!(naive_requests(&spans), 1);
    }

    #[test]
    fn span_running_past_65535_is_clipped() {
        let blocks = plan(&[holding(0, 65_530, 100)], &Limits::MODBUS_MAX);
        assert_eq!(ranges(&blocks), vec![(Kind::Holding, 65_530, 6)]);
    }

    #[test]
    fn top_of_address_space_plans_without_overflow() {
        let spans = [
            holding(0, 65_535, 1),
            holding(1, 65_534, 1),
            holding(2, 0, u16::MAX),
        ];
        let blocks = plan(&spans, &limits(u16::MAX, u16::MAX, u16::MAX));
        assert_eq!(
            ranges(&blocks),
            vec![(Kind::Holding, 0, u16::MAX), (Kind::Holding, 65_535, 1)]
        );
    }

    #[test]
    fn naive_requests_counts_one_per_tag() {
        let spans = [
            holding(0, 0, 1),
            holding(1, 0, 1),
            span(2, Kind::Coil, 0, 1),
        ];
        assert_eq!(naive_requests(&spans), 3);
    }

    // ---- split ----

    #[test]
    fn split_never_cuts_a_multi_register_tag() {
        // Tags at 0, 1..5 (u32 pair spanning 1..5) and 5: the u32s move together.
        let spans = [
            holding(0, 0, 1),
            holding(1, 1, 4),
            holding(2, 3, 2),
            holding(3, 5, 1),
        ];
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        let (left, right) = split(&block, &spans).unwrap();
        for half in [&left, &right] {
            for tag in &half.tags {
                let s = spans[*tag];
                assert!(
                    half.start <= s.address
                        && u32::from(s.address) + u32::from(s.count) <= end(half)
                );
            }
        }
        assert_eq!(left.tags.len() + right.tags.len(), 4);
    }

    #[test]
    fn split_halves_are_trimmed_to_their_tags() {
        let spans = [
            holding(0, 0, 2),
            holding(1, 6, 2),
            holding(2, 10, 1),
            holding(3, 15, 2),
        ];
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        assert_eq!((block.start, block.count), (0, 17));
        let (left, right) = split(&block, &spans).unwrap();
        assert_eq!(
            (left.start, left.count, left.tags.clone()),
            (0, 8, vec![0, 1])
        );
        assert_eq!(
            (right.start, right.count, right.tags.clone()),
            (10, 7, vec![2, 3])
        );
    }

    #[test]
    fn split_cuts_near_the_middle_by_tag_count() {
        let spans: Vec<Span> = (0..9u16).map(|i| holding(usize::from(i), i, 1)).collect();
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        let (left, right) = split(&block, &spans).unwrap();
        assert_eq!((left.tags.len(), right.tags.len()), (4, 5));
    }

    #[test]
    fn split_prefers_a_clean_cut_when_equally_central() {
        // Of five tags, cuts after the 2nd and after the 3rd are equally central;
        // the first would leave the 3-register tag straddling into the right half.
        let spans = [
            holding(0, 0, 1),
            holding(1, 1, 3),
            holding(2, 2, 1),
            holding(3, 4, 1),
            holding(4, 5, 1),
        ];
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        let (left, right) = split(&block, &spans).unwrap();
        assert_eq!(left.tags, vec![0, 1, 2]);
        assert_eq!(right.tags, vec![3, 4]);
        assert!(end(&left) <= u32::from(right.start));
    }

    #[test]
    fn split_of_single_tag_is_none() {
        let spans = [holding(0, 0, 4)];
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        assert_eq!(split(&block, &spans), None);
    }

    #[test]
    fn split_of_same_start_tags_is_none() {
        let spans = [holding(0, 10, 2), holding(1, 10, 1), holding(2, 10, 1)];
        let block = plan(&spans, &Limits::MODBUS_MAX).remove(0);
        assert_eq!(split(&block, &spans), None);
    }

    #[test]
    fn split_with_a_tag_it_cannot_find_is_none() {
        let spans = [holding(0, 0, 1), holding(1, 5, 1)];
        let block = Block {
            kind: Kind::Holding,
            start: 0,
            count: 6,
            tags: vec![0, 1, 99],
        };
        assert_eq!(split(&block, &spans), None);
        let empty = Block {
            kind: Kind::Holding,
            start: 0,
            count: 0,
            tags: vec![],
        };
        assert_eq!(split(&empty, &spans), None);
    }

    #[test]
    fn split_ignores_same_index_spans_of_other_kinds() {
        let spans = [
            holding(0, 0, 1),
            holding(1, 5, 1),
            span(0, Kind::Coil, 3, 1),
            span(1, Kind::Coil, 3, 1),
        ];
        let block = plan(&spans, &Limits::MODBUS_MAX).pop().unwrap();
        assert_eq!(block.kind, Kind::Holding);
        let (left, right) = split(&block, &spans).unwrap();
        assert_eq!(
            ranges(&[left, right]),
            vec![(Kind::Holding, 0, 1), (Kind::Holding, 5, 1)]
        );
    }

    #[test]
    fn repeated_split_reaches_single_start_blocks() {
        let spans: Vec<Span> = (0..50u16)
            .map(|i| holding(usize::from(i), i * 2, 1 + i % 3))
            .collect();
        let block = plan(&spans, &limits(8, u16::MAX, 2000)).remove(0);
        let leaves = split_fully(&block, &spans);
        assert_eq!(leaves.len(), 50);
        assert!(leaves.iter().all(|b| b.tags.len() == 1));
    }

    /// Splits until nothing splits, asserting it takes at most n - 1 splits.
    fn split_fully(block: &Block, spans: &[Span]) -> Vec<Block> {
        let mut stack = vec![block.clone()];
        let mut leaves = Vec::new();
        let mut splits: usize = 0;
        while let Some(b) = stack.pop() {
            match split(&b, spans) {
                Some((l, r)) => {
                    splits = splits.saturating_add(1);
                    assert!(splits < block.tags.len().max(1), "split did not terminate");
                    stack.push(l);
                    stack.push(r);
                }
                None => leaves.push(b),
            }
        }
        leaves
    }

    // ---- properties ----

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Coil),
            Just(Kind::Discrete),
            Just(Kind::Input),
            Just(Kind::Holding)
        ]
    }

    fn is_bits(kind: Kind) -> bool {
        matches!(kind, Kind::Coil | Kind::Discrete)
    }

    /// Valid spans as upstream validation would produce them; index = position.
    fn valid_spans() -> impl Strategy<Value = Vec<Span>> {
        prop::collection::vec((kind(), 0u16..2000, 1u16..=4), 0..200).prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(index, (kind, address, count))| Span {
                    index,
                    kind,
                    address,
                    count: if is_bits(kind) { 1 } else { count },
                })
                .collect()
        })
    }

    fn valid_limits() -> impl Strategy<Value = Limits> {
        (0u16..20, 1u16..=125, 1u16..=2000).prop_map(|(g, r, b)| limits(g, r, b))
    }

    fn extent(s: &Span) -> (u32, u32) {
        (
            u32::from(s.address),
            u32::from(s.address).saturating_add(u32::from(s.count)),
        )
    }

    /// Length of the longest chain of mutually overlapping spans per kind.
    fn longest_cluster(spans: &[Span], kind: Kind) -> u32 {
        let mut e: Vec<(u32, u32)> = spans
            .iter()
            .filter(|s| s.kind == kind)
            .map(extent)
            .collect();
        e.sort_unstable();
        let mut best = 0;
        let mut cur: Option<(u32, u32)> = None;
        for (s, t) in e {
            cur = match cur {
                Some((cs, ct)) if s < ct => Some((cs, ct.max(t))),
                _ => Some((s, t)),
            };
            let (cs, ct) = cur.unwrap();
            best = best.max(ct.saturating_sub(cs));
        }
        best
    }

    proptest! {
        #[test]
        fn every_span_is_in_exactly_one_block(spans in valid_spans(), l in valid_limits()) {
            let blocks = plan(&spans, &l);
            for s in &spans {
                let (a, z) = extent(s);
                let holders: Vec<&Block> = blocks.iter().filter(|b| b.tags.contains(&s.index)).collect();
                prop_assert_eq!(holders.len(), 1);
                let b = holders[0];
                prop_assert_eq!(b.kind, s.kind);
                prop_assert!(u32::from(b.start) <= a && z <= end(b));
                prop_assert_eq!(b.tags.iter().filter(|t| **t == s.index).count(), 1);
            }
            let total: usize = blocks.iter().map(|b| b.tags.len()).sum();
            prop_assert_eq!(total, spans.len());
        }

        #[test]
        fn blocks_are_trimmed_and_tags_sorted(spans in valid_spans(), l in valid_limits()) {
            for b in plan(&spans, &l) {
                let members: Vec<Span> = b.tags.iter().map(|t| spans[*t]).collect();
                prop_assert_eq!(members.iter().map(|s| s.address).min(), Some(b.start));
                prop_assert_eq!(members.iter().map(|s| extent(s).1).max(), Some(end(&b)));
                let keys: Vec<(u16, usize)> = members.iter().map(|s| (s.address, s.index)).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                prop_assert_eq!(keys, sorted);
            }
        }

        #[test]
        fn block_exceeds_limit_only_for_a_single_oversized_span(spans in valid_spans(), l in valid_limits()) {
            for b in plan(&spans, &l) {
                if u32::from(b.count) > l.for_kind(b.kind) {
                    let whole = b.tags.iter().any(|t| extent(&spans[*t]) == (u32::from(b.start), end(&b)));
                    prop_assert!(whole, "oversized block {:?} is not one span", b);
                }
            }
        }

        #[test]
        fn no_block_reads_a_hole_wider_than_max_gap(spans in valid_spans(), l in valid_limits()) {
            for b in plan(&spans, &l) {
                let mut e: Vec<(u32, u32)> = b.tags.iter().map(|t| extent(&spans[*t])).collect();
                e.sort_unstable();
                let mut reach = e[0].1;
                for (s, t) in e {
                    prop_assert!(s.saturating_sub(reach) <= u32::from(l.max_gap));
                    reach = reach.max(t);
                }
            }
        }

        #[test]
        fn never_more_blocks_than_naive_requests(spans in valid_spans(), l in valid_limits()) {
            prop_assert!(plan(&spans, &l).len() <= naive_requests(&spans));
        }

        #[test]
        fn blocks_are_ordered_and_overlap_only_when_forced(spans in valid_spans(), l in valid_limits()) {
            let blocks = plan(&spans, &l);
            for pair in blocks.windows(2) {
                prop_assert!((pair[0].kind, pair[0].start) < (pair[1].kind, pair[1].start));
            }
            for (i, a) in blocks.iter().enumerate() {
                for b in &blocks[i.saturating_add(1)..] {
                    if a.kind == b.kind && u32::from(b.start) < end(a) {
                        // Overlap is only allowed inside an overlap chain the limit can't hold.
                        prop_assert!(longest_cluster(&spans, a.kind) > l.for_kind(a.kind));
                    }
                }
            }
        }

        #[test]
        fn plan_ignores_input_order(
            (spans, shuffled) in valid_spans().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            l in valid_limits(),
        ) {
            prop_assert_eq!(plan(&spans, &l), plan(&shuffled, &l));
        }

        #[test]
        fn split_partitions_a_block_into_smaller_halves(spans in valid_spans(), l in valid_limits()) {
            for b in plan(&spans, &l) {
                if let Some((left, right)) = split(&b, &spans) {
                    let mut joined: Vec<usize> = left.tags.iter().chain(&right.tags).copied().collect();
                    let mut original = b.tags.clone();
                    joined.sort_unstable();
                    original.sort_unstable();
                    prop_assert_eq!(joined, original);
                    let last_left = left.tags.iter().map(|t| spans[*t].address).max().unwrap();
                    let first_right = right.tags.iter().map(|t| spans[*t].address).min().unwrap();
                    prop_assert!(last_left < first_right);
                    for half in [&left, &right] {
                        prop_assert_eq!(half.kind, b.kind);
                        prop_assert!(!half.tags.is_empty() && half.tags.len() < b.tags.len());
                        prop_assert!(b.start <= half.start && end(half) <= end(&b));
                        for t in &half.tags {
                            let (a, z) = extent(&spans[*t]);
                            prop_assert!(u32::from(half.start) <= a && z <= end(half));
                        }
                    }
                } else {
                    let starts: Vec<u16> = b.tags.iter().map(|t| spans[*t].address).collect();
                    prop_assert!(starts.iter().all(|s| *s == starts[0]));
                }
            }
        }

        #[test]
        fn repeated_split_terminates_in_single_start_blocks(spans in valid_spans(), l in valid_limits()) {
            for b in plan(&spans, &l) {
                let leaves = split_fully(&b, &spans);
                let mut tags: Vec<usize> = leaves.iter().flat_map(|x| x.tags.clone()).collect();
                let mut original = b.tags.clone();
                tags.sort_unstable();
                original.sort_unstable();
                prop_assert_eq!(tags, original);
                for leaf in leaves {
                    let first = spans[leaf.tags[0]].address;
                    prop_assert!(leaf.tags.iter().all(|t| spans[*t].address == first));
                }
            }
        }

        #[test]
        fn arbitrary_input_never_panics(
            raw in prop::collection::vec((0usize..50, kind(), any::<u16>(), any::<u16>()), 0..100),
            gap in any::<u16>(), regs in any::<u16>(), bits in any::<u16>(),
            bogus in (kind(), any::<u16>(), any::<u16>(), prop::collection::vec(0usize..60, 0..20)),
        ) {
            let spans: Vec<Span> = raw.into_iter().map(|(i, k, a, c)| span(i, k, a, c)).collect();
            let l = limits(gap, regs, bits);
            let blocks = plan(&spans, &l);
            prop_assert!(blocks.len() <= naive_requests(&spans));
            let placed: usize = blocks.iter().map(|b| b.tags.len()).sum();
            prop_assert_eq!(placed, naive_requests(&spans));
            for b in &blocks {
                prop_assert!(b.count >= 1 && end(b) <= 65_536);
                let _ = split_fully(b, &spans);
            }
            let (kind, start, count, tags) = bogus;
            let _ = split(&Block { kind, start, count, tags }, &spans);
        }
    }
}
