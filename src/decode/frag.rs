//! Bounded IPv4/IPv6 fragment reassembly.
//!
//! etherparse 0.21's `defrag::IpDefragPool` has no limit on buffered bytes or
//! datagrams and no eviction, and wants whole sliced packets, so this small pool
//! replaces it. Policy:
//! - a datagram is keyed by (src, dst, identification, protocol), as RFC 791/8200 say;
//! - overlapping fragments: **last writer wins** (a later fragment's bytes
//!   overwrite earlier ones), which is what a simple copy into the buffer gives;
//! - a datagram is dropped when a packet arrives `fragment_timeout` after its
//!   first fragment (capture time), or evicted, oldest first, when holding a new
//!   fragment would exceed `max_fragment_bytes` or `max_fragment_datagrams`.
//!
//! The only allocations are the per-datagram buffers.

use super::DecodeConfig;
use super::ip::FragInfo;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// Largest reassembled payload: IPv4 total length is 16 bits, as is IPv6's payload length.
const MAX_DATAGRAM: u32 = 65_535;

/// Identifies the fragments of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FragKey {
    /// Source address.
    src: IpAddr,
    /// Destination address.
    dst: IpAddr,
    /// Identification field.
    id: u32,
    /// Transport protocol (IPv4 protocol / IPv6 fragment header's next header).
    proto: u8,
}

/// One datagram being reassembled.
#[derive(Debug)]
pub(crate) struct FragEntry {
    /// Capture time of its first fragment (drives the timeout).
    first_ts: Timestamp,
    /// Arrival order, to evict the oldest deterministically.
    seq: u64,
    /// Payload bytes placed at their offsets.
    pub data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    ranges: Vec<(u32, u32)>,
    /// Payload length, known once the last fragment (no MF) arrived.
    total: Option<u32>,
    /// Frames counted in this datagram (fragments that have no other fate).
    pub frames: u64,
    /// IPv6 datagram.
    pub v6: bool,
    /// Header length before the fragmentable part (IPv4 header of the first
    /// fragment; IPv6 fixed header plus unfragmentable extension headers).
    pub hdr_len: u32,
}

impl FragEntry {
    /// All of `0..total` received.
    fn complete(&self) -> bool {
        matches!((self.total, self.ranges.as_slice()), (Some(t), [(0, e)]) if *e == t)
    }
}

/// Frames of datagrams dropped without completing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// IPv4 frames of timed-out datagrams.
    pub v4_expired: u64,
    /// IPv6 frames of timed-out datagrams.
    pub v6_expired: u64,
    /// IPv4 frames of datagrams evicted for room.
    pub v4_evicted: u64,
    /// IPv6 frames of datagrams evicted for room.
    pub v6_evicted: u64,
}

impl Dropped {
    /// Counts `e` as expired or evicted.
    fn add(&mut self, e: &FragEntry, evicted: bool) {
        match (e.v6, evicted) {
            (false, false) => self.v4_expired += e.frames,
            (true, false) => self.v6_expired += e.frames,
            (false, true) => self.v4_evicted += e.frames,
            (true, true) => self.v6_evicted += e.frames,
        }
    }
}

/// What adding a fragment did.
#[derive(Debug)]
pub(crate) enum Added {
    /// Held; the datagram is still incomplete.
    Buffered,
    /// The datagram is complete and handed over (its buffer is `data[..total]`).
    Complete(FragEntry),
    /// The fragment cannot belong to a valid datagram.
    Rejected(&'static str),
}

/// The pool of incomplete datagrams.
#[derive(Debug)]
pub(crate) struct FragPool {
    /// Limits.
    cfg: DecodeConfig,
    /// Incomplete datagrams.
    map: HashMap<FragKey, FragEntry, foldhash::fast::FixedState>,
    /// Sum of buffer lengths.
    bytes: usize,
    /// Next arrival number.
    next_seq: u64,
    /// Earliest time at which some datagram times out (None when empty).
    next_deadline: Option<Timestamp>,
    /// Drops from making room, waiting to be collected by [`FragPool::take_evicted`].
    evicted: Dropped,
}

impl FragPool {
    /// An empty pool.
    pub fn new(cfg: DecodeConfig) -> Self {
        FragPool {
            cfg,
            map: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            bytes: 0,
            next_seq: 0,
            next_deadline: None,
            evicted: Dropped::default(),
        }
    }

    /// Datagrams held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops datagrams that timed out at `now`; `None` when nothing was due.
    pub fn expire(&mut self, now: Timestamp) -> Option<Dropped> {
        let deadline = self.next_deadline?;
        if now < deadline {
            return None;
        }
        let timeout = self.cfg.fragment_timeout.0;
        let mut d = Dropped::default();
        let mut next: Option<Timestamp> = None;
        let bytes = &mut self.bytes;
        self.map.retain(|_, e| {
            let due = Timestamp(e.first_ts.0.saturating_add(timeout));
            if now >= due {
                d.add(e, false);
                *bytes = bytes.saturating_sub(e.data.len());
                false
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
                true
            }
        });
        self.next_deadline = next;
        Some(d)
    }

    /// Drops everything (end of trace).
    pub fn drain_all(&mut self) -> Dropped {
        let mut d = Dropped::default();
        for e in self.map.values() {
            d.add(e, false);
        }
        self.map.clear();
        self.bytes = 0;
        self.next_deadline = None;
        d
    }

    /// Frames dropped to make room since the last call.
    pub fn take_evicted(&mut self) -> Dropped {
        std::mem::take(&mut self.evicted)
    }

    /// Evicts the datagram that started first.
    fn evict_oldest(&mut self) {
        let oldest = self
            .map
            .iter()
            .min_by_key(|(_, e)| (e.first_ts, e.seq))
            .map(|(k, _)| *k);
        if let Some(k) = oldest
            && let Some(e) = self.map.remove(&k)
        {
            self.bytes = self.bytes.saturating_sub(e.data.len());
            self.evicted.add(&e, true);
        }
    }

    /// Adds one fragment's captured `payload`. `counts_frame` is false when the
    /// frame already has a fate (it was emitted as an outer tunnel packet).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        frag: FragInfo,
        hdr_len: u32,
        payload_len: u32,
        payload: &[u8],
        counts_frame: bool,
    ) -> Added {
        let v6 = src.is_ipv6();
        let start = frag.offset;
        // Only the captured bytes can be placed; a fragment cut by the snaplen leaves a hole.
        let end = start.saturating_add(payload.len() as u32);
        let claimed_end = start.saturating_add(payload_len);
        if claimed_end > MAX_DATAGRAM {
            return Added::Rejected(if v6 {
                "ipv6: fragment beyond 65535 bytes"
            } else {
                "ipv4: fragment beyond 65535 bytes"
            });
        }
        let key = FragKey {
            src,
            dst,
            id: frag.id,
            proto,
        };
        if !self.map.contains_key(&key) {
            while !self.map.is_empty() && self.map.len() >= self.cfg.max_fragment_datagrams.max(1) {
                self.evict_oldest();
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.map.insert(
                key,
                FragEntry {
                    first_ts: ts,
                    seq,
                    data: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    frames: 0,
                    v6,
                    hdr_len,
                },
            );
            let due = Timestamp(ts.0.saturating_add(self.cfg.fragment_timeout.0));
            self.next_deadline = Some(self.next_deadline.map_or(due, |n| n.min(due)));
        }
        // Room for growth: evict other datagrams, oldest first, until it fits.
        let cur = self.map.get(&key).map_or(0, |e| e.data.len());
        let grow = (end as usize).saturating_sub(cur);
        while self.bytes + grow > self.cfg.max_fragment_bytes {
            let others = self
                .map
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| (e.first_ts, e.seq))
                .map(|(k, _)| *k);
            match others {
                Some(k) => {
                    if let Some(e) = self.map.remove(&k) {
                        self.bytes = self.bytes.saturating_sub(e.data.len());
                        self.evicted.add(&e, true);
                    }
                }
                None => {
                    // This datagram alone is too big for the pool: drop it.
                    // This frame itself is counted by the caller, as rejected.
                    if let Some(e) = self.map.remove(&key) {
                        self.bytes = self.bytes.saturating_sub(e.data.len());
                        self.evicted.add(&e, true);
                    }
                    return Added::Rejected(if v6 {
                        "ipv6: fragment evicted, reassembly buffer full"
                    } else {
                        "ipv4: fragment evicted, reassembly buffer full"
                    });
                }
            }
        }
        let Some(e) = self.map.get_mut(&key) else {
            return Added::Rejected("ipv4: fragment lost");
        };
        if e.data.len() < end as usize {
            self.bytes += end as usize - e.data.len();
            e.data.resize(end as usize, 0);
        }
        if let Some(dst) = e.data.get_mut(start as usize..end as usize) {
            dst.copy_from_slice(payload);
        }
        if start == 0 {
            e.hdr_len = hdr_len;
        }
        if !frag.more {
            e.total = Some(claimed_end);
        }
        e.frames += u64::from(counts_frame);
        if end > start {
            insert_range(&mut e.ranges, (start, end));
        }
        if e.complete() {
            let mut e = match self.map.remove(&key) {
                Some(e) => e,
                None => return Added::Rejected("ipv4: fragment lost"),
            };
            self.bytes = self.bytes.saturating_sub(e.data.len());
            let total = e.total.unwrap_or(0) as usize;
            e.data.truncate(total);
            if self.map.is_empty() {
                self.next_deadline = None;
            }
            return Added::Complete(e);
        }
        Added::Buffered
    }
}

/// Inserts `r` into sorted, disjoint `ranges`, merging overlapping and adjacent ones.
fn insert_range(ranges: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    let (mut s, mut e) = r;
    let mut out_at = ranges.len();
    let mut i = 0;
    while i < ranges.len() {
        let (a, b) = ranges[i];
        if b < s {
            i += 1;
            continue;
        }
        if a > e {
            out_at = i;
            break;
        }
        s = s.min(a);
        e = e.max(b);
        ranges.remove(i);
        out_at = i;
    }
    ranges.insert(out_at.min(ranges.len()), (s, e));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_adjacent_and_overlapping() {
        let mut r = Vec::new();
        insert_range(&mut r, (16, 24));
        insert_range(&mut r, (0, 8));
        assert_eq!(r, vec![(0, 8), (16, 24)]);
        insert_range(&mut r, (8, 16));
        assert_eq!(r, vec![(0, 24)]);
        insert_range(&mut r, (40, 48));
        insert_range(&mut r, (4, 44));
        assert_eq!(r, vec![(0, 48)]);
    }
}
