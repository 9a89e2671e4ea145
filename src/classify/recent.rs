//! Flows the classifier remembers for a while after their record arrived, by
//! address and port pair, so that a later record of the same flow can be
//! judged with the earlier one: a UDP reply that came after the tracker had
//! already closed the request's record (Zeek's 10 s DNS session timeout, or
//! the 60 s UDP one), or a stray final ACK arriving after a TCP connection
//! was closed and forgotten.
//!
//! The records themselves keep Zeek's semantics (two rows); only the verdict
//! looks at both.
//!
//! Memory: a flow is remembered by a 64-bit hash of its [`FlowId`], seeded
//! randomly per run (so traffic cannot be built to collide), not by the
//! 42-byte id itself: about 90 bytes per value with the map's and the
//! queue's slack, where the whole id would take twice that. Two live flows
//! sharing a hash (odds about n²/2⁶⁵ for n flows held: 10⁻⁹ for 10⁵) would
//! at worst take one record for the other's late reply or stray tail.

use crate::catalogue::Proto;
use crate::time::Timestamp;
use crate::track::Connection;
use foldhash::{HashMap, HashMapExt};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::IpAddr;

/// A flow's transport, addresses and ports, the same whichever end is the
/// originator, so a record Zeek flipped (`^`) finds the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FlowId {
    /// `tcp` or `udp`.
    proto: Proto,
    /// The lower (address, port) of the two ends.
    lo: (IpAddr, u16),
    /// The higher one.
    hi: (IpAddr, u16),
}

impl FlowId {
    /// The flow `c` belongs to.
    pub(super) fn of(c: &Connection, proto: Proto) -> FlowId {
        let a = (c.orig_h, c.orig_p);
        let b = (c.resp_h, c.resp_p);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowId { proto, lo, hi }
    }
}

/// Values by flow, each remembered from a time on until [`Recent::expire`]
/// is called with a later cut-off (or the map outgrows its cap). At most one
/// value per flow: inserting a second hands the first back.
#[derive(Debug)]
pub(super) struct Recent<V> {
    /// The live values by flow hash, each with the sequence number of its `order` entry.
    map: HashMap<u64, (u64, V)>,
    /// Insertions in order: (time, sequence number, flow hash). Entries
    /// whose value was taken or replaced stay until they reach the front.
    order: VecDeque<(Timestamp, u64, u64)>,
    /// Hashes flow ids; seeded randomly.
    hasher: foldhash::quality::RandomState,
    /// The next sequence number.
    seq: u64,
    /// Most values held; past it the oldest are expired early.
    cap: usize,
}

impl<V> Recent<V> {
    /// An empty memory holding at most `cap` values.
    pub(super) fn new(cap: usize) -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            cap: cap.max(1),
            hasher: foldhash::quality::RandomState::default(),
        }
    }

    /// The key `id` is held under.
    fn key(&self, id: &FlowId) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Values held.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Remembers `v` for `id` from time `at`; returns the value it replaces.
    pub(super) fn insert(&mut self, id: FlowId, at: Timestamp, v: V) -> Option<V> {
        self.seq += 1;
        let key = self.key(&id);
        self.order.push_back((at, self.seq, key));
        self.map.insert(key, (self.seq, v)).map(|(_, old)| old)
    }

    /// The value for `id`, if one is held.
    pub(super) fn get(&self, id: &FlowId) -> Option<&V> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(&self.key(id)).map(|(_, v)| v)
    }

    /// Takes the value for `id` out, if one is held.
    pub(super) fn take(&mut self, id: &FlowId) -> Option<V> {
        if self.map.is_empty() {
            return None;
        }
        let key = self.key(id);
        self.map.remove(&key).map(|(_, v)| v)
    }

    /// Hands every value remembered before `cutoff` to `out`, oldest first,
    /// and as many more as keep the memory within its cap.
    pub(super) fn expire(&mut self, cutoff: Timestamp, out: &mut impl FnMut(V)) {
        while let Some(&(at, seq, id)) = self.order.front() {
            if at >= cutoff && self.map.len() <= self.cap {
                break;
            }
            self.order.pop_front();
            // A stale entry (its value taken or replaced) is just dropped.
            if self.map.get(&id).is_some_and(|(s, _)| *s == seq)
                && let Some((_, v)) = self.map.remove(&id)
            {
                out(v);
            }
        }
        if self.map.is_empty() {
            self.order.clear();
        }
    }

    /// Every value still held, in the order they were inserted.
    pub(super) fn drain(&mut self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.map.len());
        while let Some((_, seq, id)) = self.order.pop_front() {
            if self.map.get(&id).is_some_and(|(s, _)| *s == seq)
                && let Some((_, v)) = self.map.remove(&id)
            {
                out.push(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(port: u16) -> FlowId {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        FlowId {
            proto: Proto::Udp,
            lo: (a, port),
            hi: (b, 53),
        }
    }

    #[test]
    fn values_leave_in_insertion_order_once_older_than_the_cutoff() {
        let mut r = Recent::new(10);
        for (i, p) in [1u16, 2, 3].into_iter().enumerate() {
            assert!(r.insert(id(p), Timestamp(i as i64 * 10), p).is_none());
        }
        let mut out = Vec::new();
        r.expire(Timestamp(15), &mut |v| out.push(v));
        assert_eq!(out, [1, 2]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.drain(), [3]);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_taken_or_replaced_value_is_never_handed_out_again() {
        let mut r = Recent::new(10);
        r.insert(id(1), Timestamp(0), "first");
        r.insert(id(2), Timestamp(1), "other");
        assert_eq!(r.insert(id(1), Timestamp(2), "second"), Some("first"));
        assert_eq!(r.take(&id(2)), Some("other"));
        assert_eq!(r.take(&id(2)), None);
        let mut out = Vec::new();
        r.expire(Timestamp(100), &mut |v| out.push(v));
        assert_eq!(out, ["second"]);
    }

    #[test]
    fn the_cap_expires_the_oldest_early() {
        let mut r = Recent::new(2);
        let mut out = Vec::new();
        for p in 1..=4u16 {
            r.insert(id(p), Timestamp(i64::from(p)), p);
            r.expire(Timestamp(0), &mut |v| out.push(v));
        }
        assert_eq!(out, [1, 2]);
        assert_eq!(r.get(&id(3)), Some(&3));
        assert_eq!(r.get(&id(4)), Some(&4));
    }

    #[test]
    fn either_orientation_names_the_same_flow() {
        use crate::decode::Transport;
        let mut c =
            super::super::tests::base(Timestamp(0), "10.0.1.10", "10.0.0.4", 53, Transport::Udp);
        let forward = FlowId::of(&c, Proto::Udp);
        std::mem::swap(&mut c.orig_h, &mut c.resp_h);
        std::mem::swap(&mut c.orig_p, &mut c.resp_p);
        assert_eq!(FlowId::of(&c, Proto::Udp), forward);
        assert_ne!(FlowId::of(&c, Proto::Tcp), forward);
    }
}
