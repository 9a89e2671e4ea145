//! Connection tracking: [`Packet`](crate::decode::Packet)s into [`Connection`]s with
//! Zeek's `conn.log` semantics (`conn_state`, `history`, counters), plus
//! flowaudit's own handshake verdict.
//!
//! Only connections that are still open are held in memory; a connection that
//! times out, is replaced by port reuse, or is still open at the end of the trace
//! is handed to the caller's sink and forgotten.
//!
//! # How closely this follows Zeek
//!
//! The rules are Zeek's (9.x), read from its source: the TCP endpoint state
//! machine, sizes from sequence numbers and history letters of
//! `TCPSessionAdapter.cc` / `TCP_Endpoint.cc` (module `tcp`); the UDP flow states of
//! `UDPSessionAdapter.cc`; ICMP "ports" (type, and counterpart type or code) of
//! `ICMP.cc` (module `key`); `conn_state()` of `base/protocols/conn/main.zeek`; the
//! role flips of `WantConnection` (likely server ports, listed in
//! `key::likely_tcp_server_port`) and of the SYN/SYN-ACK reversal; port reuse
//! (`IsReuse`: a SYN on a closed connection, or with a new ISN, starts a new
//! row); and Zeek's timers: inactivity (TCP 5 min, UDP and ICMP 1 min),
//! `tcp_close_delay` (5 s after a complete close), `tcp_reset_delay`, and the DNS
//! analyzer's 10 s session timeout for UDP DNS. Expiry is driven by packet time.
//!
//! Over the 24 Zeek baselines in the test corpus (all 221 rows, TCP, UDP, ICMP
//! and unknown transports), `conn_state`, `history`, `orig_pkts` and `resp_pkts`
//! agree on every row (see `tests/zeek_baselines.rs`, which runs the whole pipeline).
//!
//! Deliberate or unavoidable differences:
//! - Unanswered SYN retransmissions stay one connection (`syn_attempts`,
//!   `syn_times`) unless [`TrackConfig::tcp_attempt_delay`] is set; Zeek drops the
//!   attempt 5 s after the first SYN and logs later retransmissions as new rows
//!   ([`TrackConfig::zeek`] restores that). When the originator also sent more
//!   than SYNs (an ACK, data: a client-side half-duplex capture), the 5 s
//!   timer applies as in Zeek ([`ZEEK_ATTEMPT_DELAY`]): `S0`/`SAD`, then a
//!   second row for the later packets.
//! - Checksums are not verified: no `C`/`c` letters, and bad-checksum packets are
//!   counted (Zeek without `-C` skips them).
//! - No stream reassembly: no content gaps (`G`/`g`), `missed_bytes` is always 0,
//!   and closes are never deferred for pending data.
//! - Zeek only logs `orig_bytes`/`resp_bytes` when the duration is positive; they
//!   are always filled here (the report stage can blank them).
//! - Zeek's ExpireTimer/linger checks (every 6 s) are folded into the close
//!   delay; connections whose only remaining timer is a partial-close timer
//!   wait for the inactivity timeout.
//! - An IPv6 address that is itself IPv4-mapped (`::ffff:a.b.c.d`) is reported
//!   in its IPv4 form.
//!
//! Beyond Zeek, an ICMP error (unreachable, time exceeded, ...) is also
//! recorded on the TCP/UDP connection whose packet it quotes
//! ([`Connection::icmp`]), and each TCP/UDP connection gets a [`Handshake`] verdict.
//!
//! # Memory
//!
//! Per open connection: the slab entry (384 bytes on x86-64, six cache lines
//! from a line boundary, what every packet touches in the first four; TCP
//! state included: both endpoints' sequence bookkeeping, the history letters
//! (inline up to 24), a pointer to the ICMP error if one came), one index
//! entry (a 4-byte hash and a 4-byte slot, about 10 bytes with hashbrown's
//! control bytes and load factor), one or two 16-byte expiry entries, and
//! small heap allocations only for the SYN times of TCP with a SYN (32 bytes,
//! up to 128), an ICMP error (40 bytes) and histories past 24 letters. About
//! 0.5 KB of live data per connection; with growth transients and allocator
//! overhead the resident peak measured 1.2 KiB per connection
//! ([`BYTES_PER_CONNECTION`]), so a million concurrent
//! connections need roughly 1.2 GiB. The slab never grows past
//! [`TrackConfig::max_connections`] slots (it grows by doubling, capped at the
//! limit), so the tracker's memory is bounded by the limit times
//! [`BYTES_PER_CONNECTION`], whatever the file size.
//!
//! # When the table is full
//!
//! A SYN flood, a port scan or a capture of long-lived connections can open
//! more connections than [`TrackConfig::max_connections`]. When a new
//! connection would exceed the limit, the tracker evicts a batch of 1/16 of
//! the table (at least one connection), in this order:
//! 1. connections whose responder never sent anything (unanswered TCP SYNs
//!    and half-open attempts, `S0`/`OTH`-like, and UDP flows without reply),
//!    least recently active first;
//! 2. then every other connection, least recently active first.
//!
//! Ties break by creation order, so eviction is deterministic. An evicted
//! connection is not lost: its record is handed to the sink at once, as
//! Zeek does under memory pressure, and counted in [`TrackStats`] (by
//! `conn_state` and by handshake verdict). Verdicts that may be affected:
//! - an evicted unanswered SYN whose retransmission (or late answer) comes
//!   later becomes a second connection: the first is `unanswered` with fewer
//!   `syn_attempts`, the second is `unanswered` or, if answered, `midstream`
//!   (a SYN-ACK without the SYN);
//! - an evicted established connection's later packets start a new
//!   connection with a `midstream` verdict, and both rows carry only part of
//!   the counters; its `conn_state` is what it was at eviction (often `S1`);
//! - a UDP flow evicted before its reply came is `unanswered`, and the reply
//!   becomes a flow of its own.
//!
//! The index's buckets and its overflow map of colliding keys are seeded
//! randomly per tracker, so keys built to collide cost an extra lookup each,
//! never a probe chain; nothing reads the map's order to produce output
//! (uids come from a fixed hash, end-of-trace flushes are sorted by start).

use crate::decode::Transport;
use crate::time::{Duration, Timestamp};
pub use compact_str::CompactString;
use serde::Serialize;
use std::net::IpAddr;

mod attempt;
mod history;
mod icmp;
mod key;
mod packed;
mod shard;
mod table;
mod tcp;
mod timers;
mod udp;
mod uid;

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;

pub use packed::Packed;
pub use shard::{SHARDS, ShardSet};
pub use table::{TrackStats, Tracker};

/// Timeouts and delays of the tracker; the defaults are Zeek's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackConfig {
    /// TCP inactivity timeout (Zeek `tcp_inactivity_timeout`, 5 min).
    pub tcp_timeout: Duration,
    /// UDP inactivity timeout (Zeek `udp_inactivity_timeout`, 1 min).
    pub udp_timeout: Duration,
    /// ICMP inactivity timeout (Zeek `icmp_inactivity_timeout`, 1 min).
    pub icmp_timeout: Duration,
    /// Inactivity timeout for other IP protocols (Zeek has none of its own; 1 min like UDP).
    pub other_timeout: Duration,
    /// How long a TCP connection stays after its close completed (Zeek `tcp_close_delay`, 5 s):
    /// late packets (the last ACK) still count, a new SYN is port reuse.
    pub tcp_close_delay: Duration,
    /// How long a TCP connection stays after a RST that follows a FIN (Zeek `tcp_reset_delay`, 5 s).
    pub tcp_reset_delay: Duration,
    /// Zeek `tcp_attempt_delay` (5 s): an unanswered SYN's connection is logged
    /// and dropped this long after the first SYN, so a retransmission after it starts a new row.
    /// `None` (the default) keeps the attempt open until the inactivity timeout so that
    /// all retransmissions of an unanswered SYN land in one connection (`syn_attempts`);
    /// this is the one default that deliberately differs from Zeek.
    pub tcp_attempt_delay: Option<Duration>,
    /// Zeek's `dns_session_timeout` (10 s): the DNS analyzer, attached to UDP
    /// connections whose responder port is 53, 137, 5353 or 5355, removes them once
    /// idle this long (checked every 10 s), so a later query on the same ports is a new row.
    /// `None` leaves DNS to the UDP inactivity timeout.
    pub dns_session_timeout: Option<Duration>,
    /// Most connections held open at once (at least 1). When a new connection
    /// would exceed it, the tracker evicts a batch of open connections (see
    /// [`Tracker`]'s eviction order), hands them to the sink early and counts
    /// them in [`TrackStats`]. The default, 1 000 000, bounds the tracker at
    /// about 1.2 GiB ([`BYTES_PER_CONNECTION`] each); captures rarely hold more
    /// than a few thousand connections open at once.
    pub max_connections: usize,
}

/// Zeek's `tcp_attempt_delay` (5 s). With [`TrackConfig::tcp_attempt_delay`]
/// unset, flowaudit still applies it to connections whose originator sent
/// more than SYNs while the responder stayed silent (a client-side
/// half-duplex capture), as Zeek does: such a record ends 5 s after the first
/// SYN and later packets start another.
pub const ZEEK_ATTEMPT_DELAY: Duration = Duration::from_secs(5);

/// Default [`TrackConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_000_000;

/// Upper estimate of the resident memory one open connection costs, for
/// sizing [`TrackConfig::max_connections`]: the live data is about 570 bytes
/// (see "Memory" above); while the slab and map grow, old and new tables
/// coexist (about 750 bytes requested per connection at the peak), and the
/// allocator's headers and fragmentation add the rest. `benches/flood.rs`
/// measured 1.2 KiB per connection of peak private memory (glibc malloc,
/// x86-64) at 100 000 and 200 000 connections.
pub const BYTES_PER_CONNECTION: usize = 1280;

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            tcp_timeout: Duration::from_secs(300),
            udp_timeout: Duration::from_secs(60),
            icmp_timeout: Duration::from_secs(60),
            other_timeout: Duration::from_secs(60),
            tcp_close_delay: Duration::from_secs(5),
            tcp_reset_delay: Duration::from_secs(5),
            tcp_attempt_delay: None,
            dns_session_timeout: Some(Duration::from_secs(10)),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl TrackConfig {
    /// Zeek's exact defaults, including splitting unanswered SYN retransmissions
    /// 5 s after the first SYN (`tcp_attempt_delay`).
    pub fn zeek() -> Self {
        TrackConfig {
            tcp_attempt_delay: Some(Duration::from_secs(5)),
            ..TrackConfig::default()
        }
    }
}

/// flowaudit's verdict on how a connection's handshake went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handshake {
    /// TCP: SYN, SYN-ACK and ACK (or data) seen.
    Established,
    /// TCP: the SYN was answered by RST.
    Rejected,
    /// TCP: SYN (and retransmissions) never answered; UDP: no reply.
    Unanswered,
    /// An ICMP error (unreachable, prohibited, time exceeded) came back.
    IcmpUnreachable,
    /// TCP: the capture starts after the handshake.
    Midstream,
    /// TCP: SYN-ACK seen, then closed or reset before the originator completed the handshake
    /// (or the trace ended first).
    ClosedEarly,
    /// UDP: the responder replied.
    Answered,
    /// Not TCP or UDP: no handshake to judge.
    None,
}

/// The ICMP error attributed to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    /// ICMP type (3 unreachable, 11 time exceeded, ... ; ICMPv6: 1, 2, 3, 4).
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code (e.g. 13: communication administratively prohibited).
    pub code: u8,
    /// True for ICMPv6.
    pub v6: bool,
    /// Address of the router or host that sent the ICMP error.
    pub reporter: IpAddr,
    /// When the (first) ICMP error arrived.
    pub ts: Timestamp,
    /// How many ICMP errors quoted this connection.
    pub count: u32,
}

/// One connection, with the fields of Zeek's conn.log and flowaudit's own.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// Time of the first packet.
    pub ts: Timestamp,
    /// Deterministic unique id (`C` + base62), stable across runs and thread
    /// counts; held inline (no heap allocation per connection).
    pub uid: CompactString,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port (ICMP: code).
    pub resp_p: u16,
    /// Transport protocol.
    pub proto: Transport,
    /// Time from first to last packet.
    pub duration: Duration,
    /// Originator payload bytes (TCP: from sequence numbers, as Zeek).
    pub orig_bytes: u64,
    /// Responder payload bytes.
    pub resp_bytes: u64,
    /// Zeek conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH).
    pub conn_state: &'static str,
    /// Bytes missed in content gaps (TCP).
    pub missed_bytes: u64,
    /// Zeek history letters (uppercase originator, lowercase responder);
    /// inline up to 24 letters.
    pub history: CompactString,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// IP bytes from the originator.
    pub orig_ip_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// flowaudit's handshake verdict.
    pub handshake: Handshake,
    /// TCP: SYNs sent by the originator (1 + retransmissions), 0 when no SYN was seen.
    pub syn_attempts: u32,
    /// Times of those SYNs (at most the first 16 kept).
    pub syn_times: Vec<Timestamp>,
    /// The ICMP error quoting this connection, if any.
    pub icmp: Option<IcmpError>,
    /// Outer VLAN id of the first packet.
    pub vlan: Option<u16>,
    /// Inner VLAN id of the first packet (QinQ).
    pub inner_vlan: Option<u16>,
    /// Tunnel layers around this connection (0: not tunnelled).
    pub tunnel_depth: u8,
    /// The inputs read together that showed it, one bit each ([`input_bit`]).
    pub inputs: u16,
}

/// The bit of [`Connection::inputs`] for vantage point `input` (0-based);
/// those from the 16th on share the last bit (a finding then names them all).
pub fn input_bit(input: impl Into<usize>) -> u16 {
    1u16 << input.into().min(15)
}

impl Connection {
    /// Zeek's `proto` column: "tcp", "udp", "icmp" or "unknown_transport".
    pub fn proto_name(&self) -> &'static str {
        match self.proto {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Icmp => "icmp",
            Transport::Other(_) => "unknown_transport",
        }
    }

    /// A test's TCP attempt from `orig`:50000 to `resp`:`port` at `ts`: one SYN,
    /// never answered (`S`, S0), seen by the first input.
    #[cfg(test)]
    pub(crate) fn unanswered_syn(ts: Timestamp, orig: IpAddr, resp: IpAddr, port: u16) -> Self {
        Connection {
            ts,
            uid: "C1".into(),
            orig_h: orig,
            orig_p: 50000,
            resp_h: resp,
            resp_p: port,
            proto: Transport::Tcp,
            duration: Duration(0),
            orig_bytes: 0,
            resp_bytes: 0,
            conn_state: "S0",
            missed_bytes: 0,
            history: "S".into(),
            orig_pkts: 1,
            orig_ip_bytes: 40,
            resp_pkts: 0,
            resp_ip_bytes: 0,
            handshake: Handshake::Unanswered,
            syn_attempts: 1,
            syn_times: Vec::new(),
            icmp: None,
            vlan: None,
            inner_vlan: None,
            tunnel_depth: 0,
            inputs: 1,
        }
    }
}

/// Where finished connections go, whatever made them (the tracker from a
/// capture's packets, a log's rows): the classifier, the role inference, the
/// audit's fold ([`crate::audit::connections`]), a test's closure.
pub trait ConnectionSink {
    /// One finished connection.
    fn accept(&mut self, c: Connection);
}

impl<F: FnMut(Connection)> ConnectionSink for F {
    fn accept(&mut self, c: Connection) {
        self(c)
    }
}

impl ConnectionSink for crate::infer::Observer {
    fn accept(&mut self, c: Connection) {
        self.connection(&c)
    }
}

impl ConnectionSink for crate::classify::Classifier<'_> {
    fn accept(&mut self, c: Connection) {
        self.connection(&c)
    }
}
