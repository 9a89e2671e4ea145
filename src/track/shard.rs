//! Splitting the connection table into shards that run on separate threads.
//!
//! A connection's packets all go to the shard its key hashes to, with a fixed
//! hash so the split never depends on the run; an ICMP error also goes to the
//! shard of the connection it quotes. Each packet carries the capture's clock
//! (the latest timestamp read so far, over all packets), so every shard
//! expires connections as one table would: a connection's record never
//! depends on the split, only the moment it is handed over does. The number of
//! shards is fixed ([`SHARDS`]) whatever the thread count, and the pipeline
//! merges their output in a fixed order, so the output is the same for any
//! `--threads`.
//!
//! Every thread running shards reads every packet of a round and keeps those
//! of its own shards: routing costs a key per packet on each such thread, but
//! no thread has to route for the others, and the key is computed only once
//! for the packets a thread keeps.

use super::key::{ConnKey, EndpointId, packet_key};
use super::table::Tracker;
use super::{Connection, TrackConfig, TrackStats, icmp};
use crate::decode::{Packet, Transport};
use crate::time::Timestamp;
use std::hash::BuildHasher;

/// Shards the pipeline splits connections into: up to this many threads can
/// track at once. Fixed, so that output does not depend on the thread count.
pub const SHARDS: usize = 4;

/// A packet of a round kept for one shard, with its key already computed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Routed {
    /// Index of the packet in the round.
    pub index: u32,
    /// The capture's clock at this packet: the latest timestamp so far.
    pub clock: Timestamp,
    /// Track the packet's own flow (false: the flow is another shard's, and
    /// the packet is here for the ICMP error it carries).
    pub flow: bool,
    /// Record the ICMP error the packet carries, if any, on the connection it
    /// quotes (false: that connection is another shard's).
    pub quote: bool,
    /// The packet's connection key.
    pub key: ConnKey,
    /// [`key_hash`] of `key`: picks the shard and indexes the tracker.
    pub hash: u64,
    /// Its sending endpoint.
    pub src: EndpointId,
}

impl Routed {
    /// Packet `index` of a round at the capture's `clock`, keyed, tracked for
    /// its own flow and for the ICMP error it may carry.
    pub(crate) fn new(p: &Packet<'_>, index: u32, clock: Timestamp) -> Self {
        let (key, src) = packet_key(p);
        Routed {
            index,
            clock,
            flow: true,
            quote: true,
            key,
            hash: key_hash(&key),
            src,
        }
    }
}

/// A fixed hash of a connection key, computed once per packet: its low bits
/// pick the shard ([`shard_of`]), its high half indexes the tracker.
///
/// Fixed, because the split must be the same in every run. Traffic can be
/// built to collide on it; that skews the shards' balance and sends the
/// colliding keys to the tracker's overflow map (keyed by whole key and
/// seeded randomly), which costs a lookup each, never a chain.
pub(crate) fn key_hash(key: &ConnKey) -> u64 {
    foldhash::fast::FixedState::with_seed(0x666c_6f77_6175_6469).hash_one(key)
}

/// The shard (of `count`) a connection key belongs to, by its [`key_hash`].
pub(crate) fn shard_of(hash: u64, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    (hash % count as u64) as usize
}

/// The shard of the connection an ICMP error packet quotes, if it quotes one.
fn quoted_shard(p: &Packet<'_>, count: usize) -> Option<usize> {
    if p.transport != Transport::Icmp {
        return None;
    }
    let q = p.icmp.and_then(|i| i.quoted)?;
    let k = icmp::quoted_key(&q)?;
    Some(shard_of(key_hash(&k), count))
}

/// The shards one thread runs. Fed every packet of the capture, round by
/// round, it keeps those of its shards and tracks them, shard by shard.
pub struct ShardSet {
    /// (shard index, its tracker, its packets of the current round).
    shards: Vec<(usize, Tracker, Vec<Routed>)>,
    /// Which set each shard belongs to, by shard index (position in `shards`).
    mine: [Option<usize>; SHARDS],
    /// The capture's clock: the latest timestamp so far.
    clock: Timestamp,
}

impl ShardSet {
    /// The shards `indices` (each below [`SHARDS`]), each holding at most its
    /// share of [`TrackConfig::max_connections`].
    pub fn new(cfg: TrackConfig, indices: impl IntoIterator<Item = usize>) -> Self {
        let mut mine = [None; SHARDS];
        let mut shards = Vec::new();
        // Each shard holds at most its share of the limit.
        let share = TrackConfig {
            max_connections: cfg.max_connections.max(1).div_ceil(SHARDS),
            ..cfg
        };
        for i in indices {
            if let Some(m) = mine.get_mut(i) {
                *m = Some(shards.len());
                shards.push((i, Tracker::new(share), Vec::new()));
            }
        }
        ShardSet {
            shards,
            mine,
            clock: Timestamp(i64::MIN),
        }
    }

    /// Tracks one round: the next stretch of the capture's packets, in order
    /// (all of them, not only this set's). Connections that end are handed to
    /// `done` with their shard index, shard by shard in the order of the set.
    pub fn round(&mut self, packets: &[Packet<'_>], done: &mut dyn FnMut(usize, Connection)) {
        for (i, p) in packets.iter().enumerate() {
            if !p.copy {
                // A copy must not move the clock: the output is the same with
                // or without the other input's copies.
                self.clock = self.clock.max(p.ts);
            }
            let mut routed = Routed::new(p, i as u32, self.clock);
            let own = shard_of(routed.hash, SHARDS);
            let quoted = quoted_shard(p, SHARDS);
            routed.quote = quoted.is_none_or(|q| q == own);
            if let Some(Some(m)) = self.mine.get(own)
                && let Some((_, _, list)) = self.shards.get_mut(*m)
            {
                list.push(routed);
            }
            if let Some(q) = quoted.filter(|&q| q != own)
                && let Some(Some(m)) = self.mine.get(q)
                && let Some((_, _, list)) = self.shards.get_mut(*m)
            {
                list.push(Routed {
                    flow: false,
                    quote: true,
                    ..routed
                });
            }
        }
        for (index, tracker, list) in &mut self.shards {
            let index = *index;
            tracker.routed(packets, list, &mut |c| done(index, c));
            list.clear();
        }
    }

    /// End of the capture: hands every connection still open to `done`.
    pub fn finish(&mut self, done: &mut dyn FnMut(usize, Connection)) {
        for (index, tracker, _) in &mut self.shards {
            let index = *index;
            tracker.finish(&mut |c| done(index, c));
        }
    }

    /// The shards' counters, added up (see [`TrackStats::absorb`]).
    pub fn stats(&self) -> TrackStats {
        let mut s = TrackStats::default();
        for (_, t, _) in &self.shards {
            s.absorb(t.stats());
        }
        s
    }
}
