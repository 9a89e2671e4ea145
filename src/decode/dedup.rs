//! The same packet captured twice, by two inputs read together (a sensor at
//! the sync server and one at the DC): the second sighting is dropped, so a
//! SYN seen by both is one SYN, not a retransmission, and counters are not
//! doubled.
//!
//! Two packets are the same when their IP addresses, transport, ports, IP
//! and payload lengths, TCP sequence, acknowledgment, flags and window, ICMP
//! type and code, and first 64 payload bytes agree, and they come from
//! different inputs less than [`NEAR`] apart. What differs between vantage
//! points is left out: link headers, VLAN tags, tunnels, TTL. Each sighting
//! absorbs at most one copy from each other input, so a real retransmission
//! seen by both inputs still counts twice, once per sending.
//!
//! Only records [`crate::read::merge`] marks as near another input's are
//! looked at; a capture read alone is never deduplicated.

use super::Packet;
use crate::read::merge::NEAR;
use crate::time::Timestamp;
use foldhash::{HashMap, HashMapExt};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};

/// Payload bytes that go into a packet's fingerprint.
const PAYLOAD_PREFIX: usize = 64;

/// The last sighting of one fingerprint.
#[derive(Clone, Copy, Debug)]
struct Sighting {
    ts: Timestamp,
    input: usize,
    /// Bit `j % 64` set: input `j` already had its copy of this sighting dropped.
    absorbed: u64,
}

/// Recent packets of inputs read together, by fingerprint.
#[derive(Debug)]
pub struct Dedup {
    seen: HashMap<u64, Sighting>,
    /// (time, fingerprint) in the order seen, for expiry.
    order: VecDeque<(Timestamp, u64)>,
    /// Seeded randomly, so traffic cannot be built to collide (a collision
    /// would drop a packet that only shares a 64-bit hash with another).
    hasher: foldhash::quality::RandomState,
    /// Packets dropped as copies.
    dropped: u64,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            seen: HashMap::new(),
            order: VecDeque::new(),
            hasher: foldhash::quality::RandomState::default(),
            dropped: 0,
        }
    }
}

impl Dedup {
    /// No packets seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packets dropped as copies so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn fingerprint(&self, p: &Packet<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        (p.transport, p.src, p.dst, p.sport, p.dport).hash(&mut h);
        (p.ip_len, p.payload_len).hash(&mut h);
        if let Some(t) = p.tcp {
            (t.flags, t.seq, t.ack, t.window).hash(&mut h);
        }
        if let Some(i) = p.icmp {
            (i.v6, i.icmp_type, i.code).hash(&mut h);
        }
        p.payload
            .get(..PAYLOAD_PREFIX)
            .unwrap_or(p.payload)
            .hash(&mut h);
        h.finish()
    }

    /// True when `p`, from input `input`, is a copy of a packet another input
    /// showed less than [`NEAR`] before (it is then counted as dropped);
    /// otherwise `p` is remembered as the latest sighting of its kind.
    pub fn is_copy(&mut self, input: usize, p: &Packet<'_>) -> bool {
        let cutoff = p.ts.0.saturating_sub(NEAR.0);
        while let Some(&(t, fp)) = self.order.front() {
            if t.0 >= cutoff {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&fp).is_some_and(|s| s.ts == t) {
                self.seen.remove(&fp);
            }
        }
        let fp = self.fingerprint(p);
        let bit = 1u64 << (input % 64);
        if let Some(s) = self.seen.get_mut(&fp)
            && s.input != input
            && s.absorbed & bit == 0
            && p.ts.0.abs_diff(s.ts.0) <= NEAR.0.unsigned_abs()
        {
            s.absorbed |= bit;
            self.dropped += 1;
            return true;
        }
        self.seen.insert(
            fp,
            Sighting {
                ts: p.ts,
                input,
                absorbed: 0,
            },
        );
        self.order.push_back((p.ts, fp));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{TcpInfo, Transport};

    fn syn(ts_ms: i64, seq: u32) -> Packet<'static> {
        Packet {
            number: 1,
            ip_len: 52,
            tcp: Some(TcpInfo {
                flags: 0x02,
                seq,
                ack: 0,
                window: 64240,
            }),
            ..Packet::new(
                Timestamp(ts_ms * 1_000_000),
                Transport::Tcp,
                ([10, 0, 1, 10].into(), 50000),
                ([10, 0, 0, 4].into(), 88),
                &[],
            )
        }
    }

    #[test]
    fn the_second_sensors_copy_is_dropped_a_retransmission_is_not() {
        let mut d = Dedup::new();
        assert!(!d.is_copy(0, &syn(0, 7)));
        assert!(d.is_copy(1, &syn(1, 7)), "sensor 1 saw sensor 0's SYN");
        // The retransmission 1 s later, seen by both: one more SYN.
        assert!(!d.is_copy(0, &syn(1000, 7)));
        assert!(d.is_copy(1, &syn(1001, 7)));
        // A third copy from sensor 1 is its own retransmission, not a copy.
        assert!(!d.is_copy(1, &syn(1002, 7)));
        assert_eq!(d.dropped(), 2);
    }

    #[test]
    fn one_input_never_drops_its_own_packets_and_far_apart_is_not_a_copy() {
        let mut d = Dedup::new();
        assert!(!d.is_copy(0, &syn(0, 7)));
        assert!(!d.is_copy(0, &syn(1, 7)));
        let far = NEAR.0 / 1_000_000 + 10;
        assert!(!d.is_copy(1, &syn(far, 7)));
        assert!(!d.is_copy(1, &syn(far + 1, 8)), "another sequence number");
        assert_eq!(d.dropped(), 0);
    }
}
