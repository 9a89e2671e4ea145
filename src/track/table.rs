//! The connection table: open connections by key, and their expiry.
//!
//! Connections live in a slab (`Vec<Option<Conn>>` plus a free list) indexed
//! by a map from 32 bits of the fixed hash that also picks their shard
//! ([`key_hash`]) to their slot (colliding keys go to a small overflow map
//! keyed by the whole key, seeded randomly).
//! Expiry is a queue of `(deadline, slot, generation)` entries
//! ([`super::timers`]), kept lazily: a connection has at least one entry no
//! later than its real deadline; a popped entry whose connection is gone or
//! was re-queued is dropped, one whose connection is still busy is pushed
//! again at the new deadline. So a packet costs a queue peek, and a push only
//! when a connection's deadline moves earlier (a close).
//!
//! A connection whose only packet so far is a plain SYN lives in a second,
//! smaller slab of [`Attempt`]s (a flood's millions of them would otherwise
//! each take a full record); the index marks their slots with [`ATTEMPT`].
//! It moves to the full slab on its next packet, and is made whole before it
//! is emitted, so what the tracker emits does not depend on the split: every
//! order (expiry, eviction, end of trace) goes by deadline or time, then by
//! generation (creation order), never by slot.

use super::attempt::{ATTEMPT, Attempt};
use super::history::History;
use super::key::{ConnKey, EndpointId, likely_tcp_server_port};
use super::shard::{Routed, key_hash};
use super::tcp::{Delays, EpState, Segment, TcpConn};
use super::timers::Timers;
use super::udp::{FlowSizes, HIST_ORIG_DATA, HIST_RESP_DATA, Ntp};
use super::uid::make_uid;
use super::{Connection, Handshake, IcmpError, TrackConfig, icmp, input_bit, tcp, udp};
use crate::decode::tcp_flags::{ACK, SYN};
use crate::decode::{Packet, Transport};
use crate::time::{Duration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

/// Transport-specific state.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// TCP endpoints.
    Tcp(TcpConn),
    /// UDP, ICMP and other transports: payload sums per direction.
    Flow(FlowSizes),
}

/// One open connection.
///
/// `repr(C, align(64))`: the fields every packet reads or writes (key,
/// counters, times, history flags, then the transport state, whose own hot
/// fields come first) fill the first cache lines of an aligned slot, and
/// what few packets touch (ICMP error, VLANs, reuse count, slab generation)
/// comes last. Each packet then waits on four lines instead of the six or
/// seven the compiler's order spread them over, and misses on connection
/// state are most of the tracker's time once the table outgrows the cache.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct Conn {
    /// Its key (to remove it from the map on expiry).
    pub key: ConnKey,
    /// The inputs that showed its packets ([`input_bit`]): every packet
    /// sets its bit, so it sits in the two bytes of padding after the key,
    /// on the first line, and is 16 bits so it stays there.
    pub inputs: u16,
    /// Key side (0 = `key.a`) of the originator.
    pub orig_side: usize,
    /// Packets by key side.
    pub pkts: [u64; 2],
    /// IP bytes by key side.
    pub ip_bytes: [u64; 2],
    /// Zeek's `last_time`: last packet that counted for the duration.
    pub last: Timestamp,
    /// Earliest expiry entry for this connection.
    pub queued_at: Timestamp,
    /// First packet's time.
    pub start: Timestamp,
    /// History letters.
    pub hist: History,
    /// Transport state.
    pub kind: Kind,
    /// ICMP error quoting this connection.
    /// Boxed: rare, and inline it would add 32 bytes to every connection.
    pub icmp: Option<Box<IcmpError>>,
    /// VLAN ids and tunnel depth of the first packet.
    pub vlan: Option<u16>,
    /// Inner VLAN id of the first packet.
    pub inner_vlan: Option<u16>,
    /// Tunnel depth of the first packet.
    pub tunnel_depth: u8,
    /// How many earlier connections of this 5-tuple were replaced by reuse (for the uid).
    pub reuse: u32,
    /// Slab generation, to tell stale expiry entries apart.
    pub generation: u32,
}

/// `t` plus `d`, saturating.
pub(super) fn add(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_add(d.0))
}

impl Conn {
    /// Reads a field from each cache line of the connection a packet
    /// updates, so that [`Tracker::routed`] can load them ahead of the update.
    fn touch(&self) -> u64 {
        let mut t = u64::from(self.key.a.port) ^ self.queued_at.0 as u64;
        if let Kind::Tcp(tcp) = &self.kind {
            t ^= tcp.ep[0].touch() ^ tcp.ep[1].touch() ^ tcp.close_at.map_or(0, |c| c.0 as u64);
        }
        t
    }

    /// The responder's port.
    fn resp_port(&self) -> u16 {
        if self.orig_side == 0 {
            self.key.b.port
        } else {
            self.key.a.port
        }
    }

    /// When this connection should be removed, given no further packets.
    // Called for every packet; see `packet_keyed`.
    #[inline(always)]
    pub(super) fn deadline(&self, cfg: &TrackConfig) -> Timestamp {
        match &self.kind {
            Kind::Tcp(t) => {
                if let Some(c) = t.close_at {
                    return c;
                }
                let mut d = add(self.last, cfg.tcp_timeout);
                if let Some(a) = t.attempt_at
                    && (cfg.tcp_attempt_delay.is_some() && t.attempt_pending(self.orig_side)
                        || t.half_duplex_pending(self.orig_side))
                {
                    d = d.min(a);
                }
                d
            }
            Kind::Flow(_) => {
                let timeout = match self.key.proto {
                    Transport::Udp => cfg.udp_timeout,
                    Transport::Icmp => cfg.icmp_timeout,
                    _ => cfg.other_timeout,
                };
                let d = add(self.last, timeout);
                match cfg.dns_session_timeout {
                    Some(dns)
                        if self.key.proto == Transport::Udp && is_dns_port(self.resp_port()) =>
                    {
                        d.min(dns_deadline(self.start, self.last, dns))
                    }
                    _ => d,
                }
            }
        }
    }
}

/// Queues connection `c` (in `slot`) at its deadline when that moved earlier
/// than its earliest queued entry (see the module doc: entries are lazy).
#[inline(always)]
fn queue_deadline(c: &mut Conn, slot: u32, cfg: &TrackConfig, timers: &mut Timers) {
    let d = c.deadline(cfg);
    if d < c.queued_at {
        c.queued_at = d;
        timers.push((d, c.generation, slot));
    }
}

/// Zeek's NTP analyzer flips the roles of `c` on a datagram (`ip_len` IP
/// bytes) from key side `side`. Zeek flips after the UDP adapter counted the
/// datagram's history letter and payload bytes and before ConnSize counts the
/// packet: letters and payload bytes stay with the role names, earlier packet
/// counts go with the hosts, and this packet counts for the role it was sent
/// as. Out of line: rare, and off the per-packet body.
#[cold]
#[inline(never)]
fn ntp_flip(c: &mut Conn, side: usize, ip_len: u32) {
    if let Kind::Flow(sizes) = &mut c.kind {
        sizes.len.swap(0, 1);
    }
    let other = 1 - side;
    c.pkts[side] = c.pkts[side].saturating_sub(1);
    c.pkts[other] = c.pkts[other].saturating_add(1);
    let ip = u64::from(ip_len);
    c.ip_bytes[side] = c.ip_bytes[side].saturating_sub(ip);
    c.ip_bytes[other] = c.ip_bytes[other].saturating_add(ip);
    c.orig_side = 1 - c.orig_side;
    c.hist.add('^');
}

/// Ports Zeek's DNS analyzer is registered for on UDP (`DNS::ports`).
fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 137 | 5353 | 5355)
}

/// Zeek's DNS analyzer removes a UDP connection from its own timer: first
/// `dns_session_timeout` after the start, then every `dns_session_timeout`, the
/// connection goes once it has been idle for at least the timeout minus one
/// second. The deadline is the first such check that finds it idle long enough.
fn dns_deadline(start: Timestamp, last: Timestamp, timeout: Duration) -> Timestamp {
    let period = timeout.0.max(1);
    let idle_needed = timeout.0.saturating_sub(1_000_000_000);
    let wanted = last.0.saturating_add(idle_needed);
    let k = wanted
        .saturating_sub(start.0)
        .max(0)
        .saturating_add(period - 1)
        / period;
    Timestamp(start.0.saturating_add(k.max(1).saturating_mul(period)))
}

/// What the tracker did besides emitting connections: how full it got and
/// what it had to evict (see "When the table is full" in the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrackStats {
    /// The configured limit ([`TrackConfig::max_connections`]).
    pub max_connections: usize,
    /// Most connections held open at once.
    pub peak_open: usize,
    /// Connections created.
    pub connections: u64,
    /// Connections evicted early because the table was full (each was still emitted).
    pub evicted: u64,
    /// Evicted connections by their Zeek `conn_state` at eviction.
    pub evicted_by_state: BTreeMap<String, u64>,
    /// Evicted connections by their handshake verdict at eviction (kebab-case names).
    pub evicted_by_handshake: BTreeMap<String, u64>,
    /// Evicted connections whose responder had sent nothing (eviction class 1).
    pub evicted_unanswered: u64,
    /// Times the table was full and a batch was evicted.
    pub eviction_passes: u64,
}

impl TrackStats {
    /// One line for the report when connections were evicted: how many, and
    /// which verdicts may be affected (see "When the table is full" in the
    /// module doc); `None` when the limit was never reached.
    pub fn eviction_warning(&self) -> Option<String> {
        if self.evicted == 0 {
            return None;
        }
        let answered = self.evicted - self.evicted_unanswered.min(self.evicted);
        let mut w = format!(
            "{} connections were reported early because more than {} were open at once \
             (the connection limit)",
            self.evicted, self.max_connections
        );
        if self.evicted_unanswered > 0 {
            w.push_str(&format!(
                "; {} of them were unanswered attempts: a later retransmission or answer \
                 shows as a separate unanswered or midstream connection",
                self.evicted_unanswered
            ));
        }
        if answered > 0 {
            w.push_str(&format!(
                "; {answered} had replies: their later packets show as separate midstream \
                 connections and their verdicts and counters are partial"
            ));
        }
        w.push_str("; raise the connection limit to avoid this");
        Some(w)
    }
}

impl TrackStats {
    /// Adds the counters of another shard's tracker. `peak_open` becomes the
    /// sum of the shards' peaks: an upper bound of the whole table's peak, as
    /// shards need not peak at the same moment.
    pub fn absorb(&mut self, other: &TrackStats) {
        self.peak_open += other.peak_open;
        self.connections += other.connections;
        self.evicted += other.evicted;
        self.evicted_unanswered += other.evicted_unanswered;
        self.eviction_passes += other.eviction_passes;
        for (k, v) in &other.evicted_by_state {
            *self.evicted_by_state.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.evicted_by_handshake {
            *self.evicted_by_handshake.entry(k.clone()).or_default() += v;
        }
    }
}

/// The kebab-case name of a verdict, as it is serialized.
fn handshake_name(h: Handshake) -> &'static str {
    match h {
        Handshake::Established => "established",
        Handshake::Rejected => "rejected",
        Handshake::Unanswered => "unanswered",
        Handshake::IcmpUnreachable => "icmp-unreachable",
        Handshake::Midstream => "midstream",
        Handshake::ClosedEarly => "closed-early",
        Handshake::Answered => "answered",
        Handshake::None => "none",
    }
}

/// Adds one to a named counter without allocating when the name is present.
fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
    match map.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            map.insert(name.to_owned(), 1);
        }
    }
}

/// Packets whose connections [`Tracker::routed`] looks up together.
const WARM_GROUP: usize = 8;

/// Connection tracker: feed packets in capture order, receive finished connections.
///
/// Holds at most [`TrackConfig::max_connections`] open connections; when full
/// it evicts (emits early) a batch, unanswered attempts first, see the module
/// doc. The index is keyed by the fixed `key_hash`, but its buckets are
/// placed by a randomly seeded hasher and keys whose hashes collide go to a
/// randomly seeded map of whole keys, so hostile traffic cannot build probe
/// chains; output never depends on those seeds.
pub struct Tracker {
    cfg: TrackConfig,
    delays: Delays,
    /// Slot of each connection by the high half of its [`key_hash`]: 8 bytes
    /// an entry, so the index stays in the CPU cache where a map holding whole
    /// keys (or 64-bit hashes) would not. Buckets placed by a random seed.
    by_hash: HashMap<u32, u32, foldhash::fast::SeedableRandomState>,
    /// Connections whose index hash equals another open connection's: rare
    /// by chance, and what forced collisions cost (seeded randomly).
    overflow: HashMap<ConnKey, u32, foldhash::fast::SeedableRandomState>,
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    /// Connections of one plain SYN so far (index slots marked [`ATTEMPT`]).
    attempts: Vec<Option<Attempt>>,
    /// Free slots of `attempts`.
    attempt_free: Vec<u32>,
    generation: u32,
    /// Expiry entries, by deadline.
    timers: Timers,
    now: Timestamp,
    stats: TrackStats,
    /// Bits of the key hash the index uses: all but in tests, which force
    /// collisions to exercise the overflow map.
    hash_mask: u32,
}

impl Tracker {
    /// A tracker with the given timeouts and limit, its hasher seeded randomly.
    pub fn new(cfg: TrackConfig) -> Self {
        Self::with_hasher(cfg, foldhash::fast::SeedableRandomState::random())
    }

    /// A tracker whose key hasher uses `seed` (with the process's random shared
    /// seed): for tests showing that output does not depend on the hasher.
    pub fn with_hash_seed(cfg: TrackConfig, seed: u64) -> Self {
        Self::with_hasher(
            cfg,
            foldhash::fast::SeedableRandomState::with_seed(
                seed,
                foldhash::SharedSeed::global_random(),
            ),
        )
    }

    fn with_hasher(cfg: TrackConfig, hasher: foldhash::fast::SeedableRandomState) -> Self {
        let delays = Delays {
            close: cfg.tcp_close_delay,
            reset: cfg.tcp_reset_delay,
            attempt: cfg.tcp_attempt_delay.unwrap_or(super::ZEEK_ATTEMPT_DELAY),
        };
        Tracker {
            cfg,
            delays,
            by_hash: HashMap::with_hasher(hasher.clone()),
            overflow: HashMap::with_hasher(hasher),
            slots: Vec::new(),
            free: Vec::new(),
            attempts: Vec::new(),
            attempt_free: Vec::new(),
            generation: 0,
            timers: Timers::default(),
            now: Timestamp(i64::MIN),
            stats: TrackStats {
                max_connections: cfg.max_connections.max(1),
                ..TrackStats::default()
            },
            hash_mask: u32::MAX,
        }
    }

    /// A tracker whose index keeps only `bits` bits of each key hash, so
    /// that keys collide and go through the overflow map (tests).
    #[cfg(test)]
    pub(super) fn with_colliding_index(cfg: TrackConfig, bits: u32) -> Self {
        let mut t = Self::new(cfg);
        t.hash_mask = (1u32 << bits.min(31)) - 1;
        t
    }

    /// Connections currently held.
    pub fn open_connections(&self) -> usize {
        self.by_hash.len() + self.overflow.len()
    }

    /// The index hash of a key.
    fn hash_key(&self, key: &ConnKey) -> u32 {
        self.index_hash(key_hash(key))
    }

    /// The index hash of a key with this [`key_hash`]: its high half, apart
    /// from the low bits that pick the shard.
    fn index_hash(&self, hash: u64) -> u32 {
        (hash >> 32) as u32 & self.hash_mask
    }

    /// The most connections held at once: the limit, below the slot bit
    /// that marks attempts.
    fn max_open(&self) -> usize {
        self.cfg.max_connections.clamp(1, (ATTEMPT - 1) as usize)
    }

    /// The key of the connection in index slot `slot` (either slab).
    fn key_at(&self, slot: u32) -> Option<&ConnKey> {
        if slot & ATTEMPT != 0 {
            let a = self.attempts.get((slot & !ATTEMPT) as usize)?.as_ref()?;
            Some(&a.key)
        } else {
            Some(&self.slots.get(slot as usize)?.as_ref()?.key)
        }
    }

    /// The index slot of the open connection with this key (`hash` is its
    /// [`Tracker::hash_key`]): a full record's, or one marked [`ATTEMPT`].
    fn find(&self, key: &ConnKey, hash: u32) -> Option<u32> {
        if let Some(&s) = self.by_hash.get(&hash)
            && self.key_at(s) == Some(key)
        {
            return Some(s);
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.get(key).copied()
        }
    }

    fn index_insert(&mut self, key: ConnKey, hash: u32, slot: u32) {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.overflow.insert(key, slot);
            }
        }
    }

    /// Points the index entry of `key` from slot `old` to `new`.
    fn index_move(&mut self, key: &ConnKey, old: u32, new: u32) {
        let hash = self.hash_key(key);
        match self.by_hash.get_mut(&hash) {
            Some(s) if *s == old => *s = new,
            _ => {
                if let Some(s) = self.overflow.get_mut(key) {
                    *s = new;
                }
            }
        }
    }

    /// Makes the attempt in index slot `slot` a full record (the one its
    /// SYN would have made) and returns the record's slot.
    fn promote(&mut self, slot: u32) -> Option<u32> {
        let i = slot & !ATTEMPT;
        let a = self.attempts.get_mut(i as usize)?.take()?;
        self.attempt_free.push(i);
        let mut c = a.materialize(&self.delays);
        c.queued_at = Timestamp(i64::MAX);
        let s = self.slab_put(c);
        self.index_move(&a.key, slot, s);
        if let Some(Some(c)) = self.slots.get_mut(s as usize) {
            queue_deadline(c, s, &self.cfg, &mut self.timers);
        }
        Some(s)
    }

    /// The full record's slot for index slot `slot`, promoting an attempt.
    fn full(&mut self, slot: u32) -> Option<u32> {
        if slot & ATTEMPT != 0 {
            self.promote(slot)
        } else {
            Some(slot)
        }
    }

    fn index_remove(&mut self, key: &ConnKey, slot: u32) {
        let hash = self.hash_key(key);
        if self.by_hash.get(&hash) == Some(&slot) {
            self.by_hash.remove(&hash);
        } else {
            self.overflow.remove(key);
        }
    }

    /// Expiry entries held (tests check that evictions do not grow it).
    #[cfg(test)]
    pub(super) fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Slab slots allocated (tests check the cap).
    #[cfg(test)]
    pub(super) fn slot_capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Counters so far: peak table size, evictions.
    pub fn stats(&self) -> &TrackStats {
        &self.stats
    }

    /// Feeds one packet (capture order). Connections that end (inactivity
    /// timeout driven by packet timestamps, close delay, port reuse) are handed to `done`.
    pub fn packet(&mut self, p: &Packet<'_>, done: &mut dyn FnMut(Connection)) {
        let clock = if p.copy { self.now } else { p.ts.max(self.now) };
        let r = Routed::new(p, 0, clock);
        self.packet_keyed(p, &r, self.index_hash(r.hash), u32::MAX, done);
    }

    /// [`Tracker::packet`] for a routed packet (its key, sending endpoint,
    /// clock and what to do with it), with its key hash and the slot its
    /// connection had when looked up (`u32::MAX`: none).
    // The per-packet body: inlined into its one hot caller on purpose, as
    // LTO's own choice flipped with unrelated changes (+1.5 % instructions).
    #[inline(always)]
    fn packet_keyed(
        &mut self,
        p: &Packet<'_>,
        r: &Routed,
        hash: u32,
        hint: u32,
        done: &mut dyn FnMut(Connection),
    ) {
        if p.copy {
            // Another input's packet again: only who saw the connection changes.
            if r.flow
                && let Some(s) = match self.slots.get(hint as usize) {
                    Some(Some(c)) if c.key == r.key => Some(hint),
                    _ => self.find(&r.key, hash),
                }
            {
                if s & ATTEMPT != 0 {
                    if let Some(Some(a)) = self.attempts.get_mut((s & !ATTEMPT) as usize) {
                        a.inputs |= input_bit(p.input);
                    }
                } else if let Some(Some(c)) = self.slots.get_mut(s as usize) {
                    c.inputs |= input_bit(p.input);
                }
            }
            return;
        }
        if r.clock > self.now {
            self.now = r.clock;
        }
        self.expire(done);

        if p.transport == Transport::Tcp && p.tcp.is_none() {
            // Zeek needs the TCP header to build a connection.
            return;
        }
        if p.transport == Transport::Other(59) {
            // IPv6 "No Next Header" (e.g. Teredo bubbles): nothing Zeek logs.
            return;
        }

        // An ICMP error also counts against the connection it quotes.
        if r.quote
            && let (Transport::Icmp, Some(q)) = (p.transport, p.icmp.and_then(|i| i.quoted))
            && let Some(k) = icmp::quoted_key(&q)
            && let Some(slot) = self.find(&k, self.hash_key(&k))
            && let Some(slot) = self.full(slot)
            && let Some(Some(c)) = self.slots.get_mut(slot as usize)
        {
            icmp::record(&mut c.icmp, p);
        }
        if !r.flow {
            return;
        }

        let (key, src) = (&r.key, &r.src);
        let mut reuse = 0;
        // The slot looked up before this group's updates is still right if it
        // holds this key (keys are unique in the table); otherwise look again.
        let mut slot = match self.slots.get(hint as usize) {
            Some(Some(c)) if c.key == *key => Some(hint),
            _ => self.find(key, hash).and_then(|s| self.full(s)),
        };
        if let Some(s) = slot {
            let is_reuse = match self.slots.get(s as usize) {
                Some(Some(Conn {
                    kind: Kind::Tcp(t),
                    orig_side,
                    ..
                })) => match p.tcp {
                    Some(info) => t.is_reuse(*orig_side, &info),
                    None => false,
                },
                _ => false,
            };
            if is_reuse {
                if let Some(old) = self.remove(s) {
                    reuse = old.reuse.saturating_add(1);
                    done(self.finish_conn(old));
                }
                slot = None;
            }
        }
        let s = match slot {
            Some(s) => s,
            None if super::attempt::eligible(p) => {
                self.insert_attempt(p, *key, hash, *src, reuse, done);
                return;
            }
            None => self.insert(p, *key, hash, *src, reuse, done),
        };
        let cfg_delays = self.delays;
        let Some(Some(c)) = self.slots.get_mut(s as usize) else {
            return;
        };
        c.inputs |= input_bit(p.input);
        if p.header_only {
            // Zeek has made the connection by now and drops the packet at its
            // TCP options: nothing of it counts, but the new connection expires.
            queue_deadline(c, s, &self.cfg, &mut self.timers);
            return;
        }
        let side = c.key.side_of(src);
        if let Some(n) = c.pkts.get_mut(side) {
            *n = n.saturating_add(1);
        }
        if let Some(b) = c.ip_bytes.get_mut(side) {
            *b = b.saturating_add(u64::from(p.ip_len));
        }
        let is_orig = side == c.orig_side;
        match &mut c.kind {
            Kind::Tcp(t) => {
                if let Some(info) = p.tcp {
                    if c.pkts[0] + c.pkts[1] == 1 {
                        t.first_packet(&info);
                    } else {
                        t.flip_after_synack(&mut c.hist, &mut c.orig_side, &info, p.payload_len);
                    }
                    let seg = Segment {
                        side,
                        ts: p.ts,
                        tcp: info,
                        len: p.payload_len,
                    };
                    t.process::<true>(
                        &mut c.hist,
                        &mut c.orig_side,
                        &mut c.last,
                        &seg,
                        &cfg_delays,
                    );
                }
            }
            Kind::Flow(sizes) => {
                c.last = p.ts;
                if p.transport == Transport::Udp {
                    if is_orig {
                        c.hist.check(true, HIST_ORIG_DATA, 'D');
                    } else {
                        c.hist.check(true, HIST_RESP_DATA, 'd');
                    }
                }
                sizes.add(side, p.payload_len);
                if p.transport == Transport::Udp && sizes.ntp.flips(is_orig, p.ntp_mode) {
                    ntp_flip(c, side, p.ip_len);
                }
            }
        }
        queue_deadline(c, s, &self.cfg, &mut self.timers);
    }

    /// Feeds packets in capture order, exactly as [`Tracker::packet`] one by
    /// one would; see `Tracker::routed` for why batches are faster.
    pub fn packets(&mut self, batch: &[Packet<'_>], done: &mut dyn FnMut(Connection)) {
        let mut clock = self.now;
        let routed: Vec<Routed> = batch
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if !p.copy {
                    clock = clock.max(p.ts);
                }
                Routed::new(p, i as u32, clock)
            })
            .collect();
        self.routed(batch, &routed, done);
    }

    /// Feeds the packets `routed` picks from `packets`, in order, each with
    /// the capture's clock at that packet. Looks up the connections of each
    /// small group of packets in phases (all index entries, then all
    /// connections) before updating any: the loads of a phase do not depend on
    /// each other, so their cache misses overlap instead of queueing one after
    /// another, and misses are most of the tracker's time once the table
    /// outgrows the cache.
    pub(crate) fn routed(
        &mut self,
        packets: &[Packet<'_>],
        routed: &[Routed],
        done: &mut dyn FnMut(Connection),
    ) {
        for group in routed.chunks(WARM_GROUP) {
            let mut hashes = [0u32; WARM_GROUP];
            for (h, r) in hashes.iter_mut().zip(group) {
                *h = self.index_hash(r.hash);
            }
            let mut slots = [u32::MAX; WARM_GROUP];
            for (slot, h) in slots.iter_mut().zip(&hashes) {
                *slot = self.by_hash.get(h).copied().unwrap_or(u32::MAX);
            }
            let mut touched = 0u64;
            for &s in &slots {
                if let Some(Some(c)) = self.slots.get(s as usize) {
                    touched ^= c.touch();
                } else if let Some(Some(a)) = self.attempts.get((s & !ATTEMPT) as usize) {
                    touched ^= u64::from(a.key.a.port);
                }
            }
            std::hint::black_box(touched);
            for ((r, &hash), &hint) in group.iter().zip(&hashes).zip(&slots) {
                if let Some(p) = packets.get(r.index as usize) {
                    self.packet_keyed(p, r, hash, hint, done);
                }
            }
        }
    }

    /// End of trace: hands every open connection to `done`, oldest first.
    pub fn finish(&mut self, done: &mut dyn FnMut(Connection)) {
        // Sort small (start, generation, slot) entries, not the connections
        // themselves (hundreds of bytes each); the slot makes ties total.
        let mut order: Vec<(Timestamp, u32, u32)> =
            self.slots
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().map(|c| (c.start, c.generation, i as u32)))
                .chain(self.attempts.iter().enumerate().filter_map(|(i, a)| {
                    a.as_ref().map(|a| (a.ts, a.generation, i as u32 | ATTEMPT))
                }))
                .collect();
        order.sort_unstable();
        // Index and timers go first; each connection leaves its slot as it
        // is handed over, and the slab is freed at the end, so a full table
        // is never copied (a million open connections are 384 MB).
        self.by_hash.clear();
        self.by_hash.shrink_to_fit();
        self.overflow.clear();
        self.overflow.shrink_to_fit();
        self.free = Vec::new();
        self.attempt_free = Vec::new();
        self.timers.clear();
        for &(_, _, i) in &order {
            let c = if i & ATTEMPT != 0 {
                self.attempts
                    .get_mut((i & !ATTEMPT) as usize)
                    .and_then(Option::take)
                    .map(|a| a.materialize(&self.delays))
            } else {
                self.slots.get_mut(i as usize).and_then(Option::take)
            };
            if let Some(c) = c {
                done(self.finish_conn(c));
            }
        }
        self.slots = Vec::new();
        self.attempts = Vec::new();
    }

    fn insert(
        &mut self,
        p: &Packet<'_>,
        key: ConnKey,
        hash: u32,
        src: EndpointId,
        reuse: u32,
        done: &mut dyn FnMut(Connection),
    ) -> u32 {
        self.make_room(done);
        let src_side = key.side_of(&src);
        let flip = match p.transport {
            Transport::Tcp => p
                .tcp
                .is_some_and(|t| tcp_flip_new(t.flags, p.sport, p.dport)),
            Transport::Udp => udp::flip_new(p.sport, p.dport, p.dst),
            _ => false,
        };
        let mut hist = History::default();
        if flip {
            hist.add('^');
        }
        self.generation = self.generation.wrapping_add(1);
        let conn = Conn {
            key,
            orig_side: if flip { 1 - src_side } else { src_side },
            start: p.ts,
            last: p.ts,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            inputs: 0,
            hist,
            icmp: None,
            vlan: p.vlan,
            inner_vlan: p.inner_vlan,
            tunnel_depth: p.tunnel_depth,
            reuse,
            queued_at: Timestamp(i64::MAX),
            generation: self.generation,
            kind: match p.transport {
                Transport::Tcp => Kind::Tcp(TcpConn::new()),
                _ => Kind::Flow(FlowSizes {
                    ntp: if p.transport == Transport::Udp {
                        // The responder's port once the roles are set.
                        Ntp::for_port(if flip { p.sport } else { p.dport })
                    } else {
                        Ntp::default()
                    },
                    ..FlowSizes::default()
                }),
            },
        };
        let slot = self.slab_put(conn);
        self.index_insert(key, hash, slot);
        self.stats.connections += 1;
        self.stats.peak_open = self.stats.peak_open.max(self.open_connections());
        slot
    }

    /// Before a new connection: evicts a batch if the table is full, and
    /// drops stale expiry entries once they outnumber the connections.
    fn make_room(&mut self, done: &mut dyn FnMut(Connection)) {
        let max = self.max_open();
        if self.open_connections() >= max {
            self.evict(max, done);
        }
        if self.timers.len() > 2 * self.open_connections() + 4096 {
            self.compact_timers();
        }
    }

    /// Puts a full record in a free slot of the slab (not the index).
    fn slab_put(&mut self, conn: Conn) -> u32 {
        let max = self.max_open();
        put(&mut self.slots, &mut self.free, conn, max)
    }

    /// Opens a connection whose first packet `p` is a plain SYN (see
    /// [`super::attempt::eligible`]) as an attempt.
    fn insert_attempt(
        &mut self,
        p: &Packet<'_>,
        key: ConnKey,
        hash: u32,
        src: EndpointId,
        reuse: u32,
        done: &mut dyn FnMut(Connection),
    ) {
        self.make_room(done);
        self.generation = self.generation.wrapping_add(1);
        let side = key.side_of(&src);
        let mut a = Attempt::new(p, key, side, reuse, self.generation, input_bit(p.input));
        let d = a.deadline(&self.cfg, &self.delays);
        a.queued_at = d;
        debug_assert_eq!(a.materialize(&self.delays).deadline(&self.cfg), d);
        let max = self.max_open();
        let i = put(&mut self.attempts, &mut self.attempt_free, a, max);
        self.index_insert(key, hash, i | ATTEMPT);
        self.timers.push((d, self.generation, i | ATTEMPT));
        self.stats.connections += 1;
        self.stats.peak_open = self.stats.peak_open.max(self.open_connections());
    }

    /// The table is full: emits and removes a batch of 1/16 of it (at least
    /// one), unanswered attempts first, then the least recently active; ties by
    /// creation order. One pass over the slab per batch keeps the amortised
    /// cost per new connection constant.
    fn evict(&mut self, max: usize, done: &mut dyn FnMut(Connection)) {
        let batch = (max / 16).max(1).min(self.open_connections());
        if batch == 0 {
            return;
        }
        self.stats.eviction_passes += 1;
        // (class, last activity, generation, slot): class 0 = the responder sent nothing.
        // Attempts are class 0, last active at their SYN.
        let mut cand: Vec<(u8, Timestamp, u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                let answered = c.pkts.get(1 - c.orig_side).is_some_and(|&n| n > 0);
                Some((u8::from(answered), c.last, c.generation, i as u32))
            })
            .chain(self.attempts.iter().enumerate().filter_map(|(i, a)| {
                let a = a.as_ref()?;
                Some((0, a.ts, a.generation, i as u32 | ATTEMPT))
            }))
            .collect();
        if batch < cand.len() {
            cand.select_nth_unstable(batch - 1);
            cand.truncate(batch);
        }
        let mut out: Vec<Conn> = cand
            .iter()
            .filter_map(|&(_, _, _, slot)| self.remove(slot))
            .collect();
        drop(cand);
        out.sort_by_key(|c| (c.start, c.generation));
        for c in out {
            let unanswered = c.pkts.get(1 - c.orig_side).is_none_or(|&n| n == 0);
            let conn = self.finish_conn(c);
            self.stats.evicted += 1;
            if unanswered {
                self.stats.evicted_unanswered += 1;
            }
            bump(&mut self.stats.evicted_by_state, conn.conn_state);
            bump(
                &mut self.stats.evicted_by_handshake,
                handshake_name(conn.handshake),
            );
            done(conn);
        }
        self.compact_timers();
    }

    /// Drops expiry entries of connections that are gone, so evictions (which
    /// leave their entries behind) cannot grow the timers past the table.
    fn compact_timers(&mut self) {
        let (slots, attempts) = (&self.slots, &self.attempts);
        self.timers.retain(|&(t, generation, slot)| {
            if slot & ATTEMPT != 0 {
                matches!(attempts.get((slot & !ATTEMPT) as usize), Some(Some(a)) if a.generation == generation && a.queued_at == t)
            } else {
                matches!(slots.get(slot as usize), Some(Some(c)) if c.generation == generation && c.queued_at == t)
            }
        });
    }

    /// Takes the connection in index slot `slot` out of the table, made
    /// whole if it was an attempt.
    fn remove(&mut self, slot: u32) -> Option<Conn> {
        if slot & ATTEMPT != 0 {
            let i = slot & !ATTEMPT;
            let a = self.attempts.get_mut(i as usize)?.take()?;
            self.index_remove(&a.key, slot);
            self.attempt_free.push(i);
            return Some(a.materialize(&self.delays));
        }
        let c = self.slots.get_mut(slot as usize)?.take()?;
        self.index_remove(&c.key, slot);
        self.free.push(slot);
        Some(c)
    }

    fn expire(&mut self, done: &mut dyn FnMut(Connection)) {
        while let Some((t, generation, slot)) = self.timers.peek_due(self.now) {
            self.timers.pop();
            if slot & ATTEMPT != 0 {
                // An attempt's deadline never moves: due is done.
                if matches!(self.attempts.get((slot & !ATTEMPT) as usize), Some(Some(a)) if a.generation == generation && a.queued_at == t)
                    && let Some(old) = self.remove(slot)
                {
                    done(self.finish_conn(old));
                }
                continue;
            }
            let Some(Some(c)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if c.generation != generation || c.queued_at != t {
                continue; // stale entry
            }
            let d = c.deadline(&self.cfg);
            if d > self.now {
                c.queued_at = d;
                self.timers.push((d, generation, slot));
                continue;
            }
            if let Some(old) = self.remove(slot) {
                done(self.finish_conn(old));
            }
        }
    }

    fn finish_conn(&self, c: Conn) -> Connection {
        let o = c.orig_side;
        let r = 1 - o;
        let (orig_h, orig_p) = endpoint(if o == 0 { &c.key.a } else { &c.key.b }, c.key.proto);
        let (resp_h, resp_p) = endpoint(if o == 0 { &c.key.b } else { &c.key.a }, c.key.proto);
        let uid = make_uid(&c.key, c.start, c.reuse);
        let history = c.hist.letters;
        let (orig_bytes, resp_bytes, conn_state, handshake, syn_attempts, syn_times) = match c.kind
        {
            Kind::Tcp(t) => {
                let (os, rs) = (t.ep[o].state, t.ep[r].state);
                let (ob, rb) = (t.size(o), t.size(r));
                let state = tcp::conn_state(os, rs, ob, rb, &history);
                let hs = tcp_verdict(&t, o, c.icmp.is_some());
                (ob, rb, state, hs, t.syn_attempts, t.syn_times)
            }
            Kind::Flow(s) => {
                let (ol, rl) = (s.len[o], s.len[r]);
                let state = match c.key.proto {
                    Transport::Udp => udp::conn_state(ol.is_some(), rl.is_some()),
                    _ => "OTH",
                };
                let hs = match c.key.proto {
                    Transport::Udp if rl.is_some() => Handshake::Answered,
                    Transport::Udp if c.icmp.is_some() => Handshake::IcmpUnreachable,
                    Transport::Udp => Handshake::Unanswered,
                    _ => Handshake::None,
                };
                let (ob, rb) = match c.key.proto {
                    // Zeek keeps no sizes for transports it does not analyse.
                    Transport::Other(_) => (0, 0),
                    _ => (ol.unwrap_or(0), rl.unwrap_or(0)),
                };
                (ob, rb, state, hs, 0, Vec::new())
            }
        };
        Connection {
            ts: c.start,
            uid,
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            proto: c.key.proto,
            duration: c.last.since(c.start),
            orig_bytes,
            resp_bytes,
            conn_state,
            missed_bytes: 0,
            history,
            orig_pkts: c.pkts[o],
            orig_ip_bytes: c.ip_bytes[o],
            resp_pkts: c.pkts[r],
            resp_ip_bytes: c.ip_bytes[r],
            handshake,
            syn_attempts,
            syn_times,
            icmp: c.icmp.map(|e| *e),
            vlan: c.vlan,
            inner_vlan: c.inner_vlan,
            tunnel_depth: c.tunnel_depth,
            inputs: c.inputs,
        }
    }
}

/// Puts `item` in a free slot of `slab` (listed in `free`) or a new one, and
/// returns the slot. Grows by doubling, but never past `max` slots: the spare
/// capacity must not double the memory bound.
fn put<T>(slab: &mut Vec<Option<T>>, free: &mut Vec<u32>, item: T, max: usize) -> u32 {
    if let Some(s) = free.pop()
        && let Some(x) = slab.get_mut(s as usize)
    {
        *x = Some(item);
        return s;
    }
    if slab.len() == slab.capacity() {
        let len = slab.len();
        let extra = len.max(16).min(max.saturating_sub(len)).max(1);
        slab.reserve_exact(extra);
    }
    slab.push(Some(item));
    (slab.len() - 1) as u32
}

/// Zeek's `TCPAnalyzer::WantConnection` role flip for a connection's first packet:
/// only when it is not a plain SYN, and the source port looks like a server's.
pub(crate) fn tcp_flip_new(flags: u8, sport: u16, dport: u16) -> bool {
    let syn = flags & SYN != 0;
    let plain_syn = syn && flags & ACK == 0;
    if plain_syn || !likely_tcp_server_port(sport) {
        return false;
    }
    if likely_tcp_server_port(dport) {
        // Both plausible: flip only for non-SYN packets towards the higher port.
        !syn && sport < dport
    } else {
        true
    }
}

/// flowaudit's verdict from what each side sent: no originator SYN is midstream;
/// a SYN-ACK answer is established once the originator acknowledged it (or both
/// endpoints reached ESTABLISHED), otherwise closed early (closed, reset, or the
/// trace ended first); a RST answer is a reject; else an ICMP error or silence.
fn tcp_verdict(t: &TcpConn, o: usize, icmp_error: bool) -> Handshake {
    let (orig, resp) = (&t.ep[o], &t.ep[1 - o]);
    if !orig.sent_syn {
        return Handshake::Midstream;
    }
    if resp.sent_synack {
        if orig.completed
            || (orig.state == EpState::Established && resp.state == EpState::Established)
        {
            Handshake::Established
        } else {
            Handshake::ClosedEarly
        }
    } else if resp.sent_rst {
        Handshake::Rejected
    } else if icmp_error {
        Handshake::IcmpUnreachable
    } else {
        Handshake::Unanswered
    }
}

fn endpoint(e: &EndpointId, proto: Transport) -> (IpAddr, u16) {
    let v6 = Ipv6Addr::from(e.addr.0);
    let ip = match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    };
    let _ = proto;
    (ip, e.port)
}

#[cfg(test)]
mod size_guard {
    use super::*;

    /// The per-connection footprint documented in the module doc (384 bytes,
    /// six cache lines, on x86-64); this guards against accidental growth.
    #[test]
    fn conn_stays_small() {
        assert!(std::mem::size_of::<Conn>() <= 384);
        assert_eq!(
            std::mem::size_of::<Option<Conn>>(),
            std::mem::size_of::<Conn>()
        );
        assert!(std::mem::size_of::<ConnKey>() <= 40);
    }

    /// What a packet of an open TCP connection reads and writes lies in the
    /// first four cache lines of the slot, and slots start on a line.
    #[test]
    fn hot_fields_share_four_lines() {
        assert_eq!(std::mem::align_of::<Option<Conn>>(), 64);
        let key = ConnKey::new(
            Transport::Tcp,
            EndpointId {
                addr: super::super::key::Addr([0; 16]),
                port: 1,
            },
            EndpointId {
                addr: super::super::key::Addr([1; 16]),
                port: 2,
            },
            false,
        );
        let c = Some(Conn {
            key,
            orig_side: 0,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            inputs: 0,
            last: Timestamp(0),
            queued_at: Timestamp(0),
            start: Timestamp(0),
            hist: History::default(),
            kind: Kind::Tcp(TcpConn::new()),
            icmp: None,
            vlan: None,
            inner_vlan: None,
            tunnel_depth: 0,
            reuse: 0,
            generation: 0,
        });
        let Some(c) = &c else { unreachable!() };
        let Kind::Tcp(t) = &c.kind else {
            unreachable!()
        };
        let base = std::ptr::from_ref(c) as usize;
        // Where a field ends, in bytes from the start of the slot.
        fn end<T>(base: usize, field: &T) -> usize {
            std::ptr::from_ref(field) as usize - base + std::mem::size_of_val(field)
        }
        let hot = [
            end(base, &c.key),
            end(base, &c.hist),
            end(base, &t.ep),
            end(base, &t.close_at),
            end(base, &t.attempt_at),
            end(base, &t.is_active),
        ];
        for h in hot {
            assert!(h <= 4 * 64, "a hot field ends at byte {h}");
        }
    }
}
