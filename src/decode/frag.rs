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
use std::collections::{HashMap, VecDeque};
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
    /// Incomplete datagrams. The hasher is seeded randomly so that crafted
    /// fragment ids cannot be steered into collisions; nothing depends on the
    /// map's order (eviction and expiry follow `order`, drains only count).
    map: HashMap<FragKey, FragEntry, foldhash::fast::RandomState>,
    /// Datagrams in arrival order, for expiry and eviction without scanning the
    /// map; entries whose datagram is gone (or was replaced) are skipped lazily.
    order: VecDeque<(u64, FragKey)>,
    /// Sum of buffer lengths.
    bytes: usize,
    /// Next arrival number.
    next_seq: u64,
    /// Drops from making room, waiting to be collected by [`FragPool::take_evicted`].
    evicted: Dropped,
}

impl FragPool {
    /// An empty pool.
    pub fn new(cfg: DecodeConfig) -> Self {
        FragPool {
            cfg,
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            order: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            evicted: Dropped::default(),
        }
    }

    /// Datagrams held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when `(seq, k)` still names a held datagram.
    fn live(&self, seq: u64, k: &FragKey) -> bool {
        self.map.get(k).is_some_and(|e| e.seq == seq)
    }

    /// The oldest held datagram, dropping stale order entries on the way.
    fn oldest(&mut self) -> Option<FragKey> {
        while let Some(&(seq, k)) = self.order.front() {
            if self.live(seq, &k) {
                return Some(k);
            }
            self.order.pop_front();
        }
        None
    }

    /// The oldest held datagram other than `key`.
    fn oldest_other(&self, key: &FragKey) -> Option<FragKey> {
        self.order
            .iter()
            .find(|(seq, k)| k != key && self.live(*seq, k))
            .map(|(_, k)| *k)
    }

    /// Removes a datagram, counting its frames as dropped.
    fn drop_entry(&mut self, k: &FragKey, evicted: bool, into: &mut Dropped) {
        if let Some(e) = self.map.remove(k) {
            self.bytes = self.bytes.saturating_sub(e.data.len());
            into.add(&e, evicted);
        }
    }

    /// Nothing held and nothing to tidy up: [`FragPool::expire`] would do nothing.
    #[inline]
    pub fn idle(&self) -> bool {
        self.map.is_empty() && self.order.is_empty()
    }

    /// Drops datagrams that timed out at `now`, in arrival order (with capture
    /// timestamps going backwards a datagram may outlive its timeout a little);
    /// `None` when nothing was due.
    pub fn expire(&mut self, now: Timestamp) -> Option<Dropped> {
        if self.map.is_empty() {
            self.order.clear();
            return None;
        }
        let mut d: Option<Dropped> = None;
        while let Some(k) = self.oldest() {
            let first = self.map.get(&k).map_or(now, |e| e.first_ts);
            if now.0 < first.0.saturating_add(self.cfg.fragment_timeout.0) {
                break;
            }
            let mut acc = d.unwrap_or_default();
            self.drop_entry(&k, false, &mut acc);
            d = Some(acc);
        }
        d
    }

    /// Drops everything (end of trace).
    pub fn drain_all(&mut self) -> Dropped {
        let mut d = Dropped::default();
        for e in self.map.values() {
            d.add(e, false);
        }
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
        d
    }

    /// Frames dropped to make room since the last call.
    pub fn take_evicted(&mut self) -> Dropped {
        std::mem::take(&mut self.evicted)
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
        let mut evicted = std::mem::take(&mut self.evicted);
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cfg.max_fragment_datagrams.max(1) {
                match self.oldest() {
                    Some(k) => self.drop_entry(&k, true, &mut evicted),
                    None => break,
                }
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
            self.order.push_back((seq, key));
            // Keep the order queue from filling with entries of completed datagrams.
            if self.order.len() > 2 * self.map.len() + 64 {
                let map = &self.map;
                self.order
                    .retain(|(seq, k)| map.get(k).is_some_and(|e| e.seq == *seq));
            }
        }
        // Room for growth: evict other datagrams, oldest first, until it fits.
        let cur = self.map.get(&key).map_or(0, |e| e.data.len());
        let grow = (end as usize).saturating_sub(cur);
        while self.bytes.saturating_add(grow) > self.cfg.max_fragment_bytes {
            match self.oldest_other(&key) {
                Some(k) => self.drop_entry(&k, true, &mut evicted),
                None => {
                    // This datagram alone is too big for the pool: drop it. This
                    // frame itself is counted by the caller, as rejected.
                    self.drop_entry(&key, true, &mut evicted);
                    self.evicted = evicted;
                    return Added::Rejected(if v6 {
                        "ipv6: fragment evicted, reassembly buffer full"
                    } else {
                        "ipv4: fragment evicted, reassembly buffer full"
                    });
                }
            }
        }
        self.evicted = evicted;
        let Some(e) = self.map.get_mut(&key) else {
            return Added::Rejected("ipv4: fragment lost");
        };
        if e.data.len() < end as usize {
            self.bytes += end as usize - e.data.len();
            e.data.resize(end as usize, 0);
        }
        if let Some(dst) = e.data.get_mut(start as usize..end as usize)
            && dst.len() == payload.len()
        {
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
        if e.complete()
            && let Some(mut e) = self.map.remove(&key)
        {
            self.bytes = self.bytes.saturating_sub(e.data.len());
            let total = e.total.unwrap_or(0) as usize;
            e.data.truncate(total);
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

    fn cfg(datagrams: usize) -> DecodeConfig {
        DecodeConfig {
            max_fragment_datagrams: datagrams,
            ..DecodeConfig::default()
        }
    }

    fn first_half(id: u32) -> FragInfo {
        FragInfo {
            id,
            offset: 0,
            more: true,
        }
    }

    #[test]
    fn many_incomplete_datagrams_stay_bounded() {
        let mut pool = FragPool::new(cfg(100));
        let (a, b) = (IpAddr::from([1, 1, 1, 1]), IpAddr::from([2, 2, 2, 2]));
        for id in 0..1000u32 {
            let r = pool.add(
                Timestamp(i64::from(id)),
                a,
                b,
                17,
                first_half(id),
                20,
                16,
                &[0; 16],
                true,
            );
            assert!(matches!(r, Added::Buffered));
        }
        assert_eq!(pool.len(), 100);
        assert_eq!(pool.take_evicted().v4_evicted, 900);
        assert_eq!(pool.bytes, 100 * 16);
        // The survivors are the newest: completing id 999 works, id 0 starts afresh.
        let last = FragInfo {
            id: 999,
            offset: 16,
            more: false,
        };
        assert!(
            matches!(pool.add(Timestamp(2000), a, b, 17, last, 20, 8, &[1; 8], true), Added::Complete(e) if e.data.len() == 24 && e.frames == 2)
        );
        // Expiry at first fragment + 60 s drops all the rest.
        let d = pool.expire(Timestamp(60_000_000_000 + 998)).expect("due");
        assert_eq!(d.v4_expired, 99);
        assert_eq!((pool.len(), pool.bytes), (0, 0));
    }
}
