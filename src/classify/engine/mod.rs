//! The classifier: folds finished connections into per-group aggregates, then
//! turns the aggregates into findings. The rules it applies are documented on
//! the [`classify`](super) module.

use super::evidence::{
    IcmpMeaning, fmt_delay, fmt_hosts, fmt_list, fmt_secs, fmt_span, icmp_advice, icmp_name, plural,
};
use super::filter::{self, FilterPair, MAX_FILTER_PAIRS, Shape};
use super::recent::{FlowId, Recent};
use super::{Audit, Finding, FindingKind, HostPair, How, Severity, Summary};
use crate::catalogue::{Catalogue, Feature, Kind, Proto, Role, Rule, When};
use crate::decode::Transport;
use crate::inventory::{Inventory, RoleTable};
use crate::time::{Duration, Timestamp};
use crate::track::{Connection, Handshake, IcmpError};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use pairs::PairMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::IpAddr;

mod blocked;
mod doubt;
mod failed;
mod healthy;
mod missing;
mod pairs;
mod reach;
mod scan;
mod unclassified;
mod unexpected;
mod verdict;

use verdict::{
    ACK_OR_DATA, DATA, Letters, SYNACK, answers_late, end_of, facts, is_group_address, judge,
};

use healthy::Healthy;

/// A single unanswered SYN or UDP request this close to the end of the capture is
/// inconclusive: the first retransmission comes after the initial RTO, 1 s on
/// Linux (RFC 6298) and up to 3 s on Windows (`InitialRto`).
pub const TAIL_WINDOW: Duration = Duration::from_secs(3);

/// Entra Connect's default synchronization interval (30 minutes), in seconds.
pub const SYNC_CYCLE_SECS: f64 = 1800.0;

/// Most tail candidates held at once.
const TAIL_CAP: usize = 65_536;

/// How long after a UDP request's record ends a reply in a later record of
/// the same flow still counts as its (late) answer. The tracker closes a DNS
/// record after 10 s of silence (Zeek's `dns_session_timeout`) and any other
/// UDP record after 60 s, so a reply later than that lands in a record of its
/// own; two minutes covers both with room for a slow server.
pub const LATE_REPLY_WINDOW: Duration = Duration::from_secs(120);

/// How long an unanswered UDP record waits for a late reply: the reply's own
/// record reaches the classifier only once it is closed in turn (up to the
/// 60 s UDP timeout after its last packet), and records arrive up to that
/// much out of time order.
const PENDING_HOLD: Duration = Duration::from_secs(210);

/// Unanswered UDP records held at once waiting for a late reply; past it the
/// oldest are judged without one.
const PENDING_CAP: usize = 65_536;

/// How long after a TCP connection closed a one-sided record of the same
/// flow without a SYN (a last ACK, a retransmitted FIN, a RST) is taken for
/// its stray tail rather than for a connection that began before the capture.
/// The tracker forgets a closed connection 5 s after the close (Zeek's
/// `tcp_close_delay`); stacks retransmit a FIN for up to a minute or two.
pub const STRAY_WINDOW: Duration = Duration::from_secs(120);

/// How long a closed TCP connection is remembered for its stray packets:
/// [`STRAY_WINDOW`], plus the time a stray record takes to reach the
/// classifier (a one-sided record without a close lasts until the tracker's
/// 5-min inactivity timeout), with some slack.
const CLOSED_HOLD: Duration = Duration::from_secs(120 + 300 + 30);

/// Closed TCP connections remembered at once for their stray packets.
const CLOSED_CAP: usize = 262_144;

/// Distinct ICMP errors (type, code, reporter) kept per host pair.
const MAX_ICMP_KINDS: usize = 8;

/// Ports listed in a healthy finding's filter.
const MAX_FILTER_PORTS: usize = 16;

/// The unit of aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GroupKey {
    src: Role,
    dst: Role,
    proto: Proto,
    port: u16,
    /// Connections to a port an endpoint mapper handed out for their
    /// server, outside every rule's ports: judged by the rules marked `epm`.
    epm: bool,
}

impl GroupKey {
    /// True when rule `r` covers this group: by its ports, or, for a group
    /// of endpoint-mapper ports, by being an `epm` rule of the same roles.
    fn covered_by(&self, r: &Rule) -> bool {
        if self.epm {
            r.epm && r.matches(self.src, self.dst, self.proto, r.ports.lo)
        } else {
            r.matches(self.src, self.dst, self.proto, self.port)
        }
    }
}

/// Why a failure cannot be proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Reason {
    /// Only the originator's side captured, and its ACKs/data prove the handshake.
    OneSided,
    /// The responder sent packets, but neither SYN-ACK nor RST was captured.
    PartialReply,
    /// The only SYN/request came at the very end of the capture.
    Tail,
    /// No SYN seen and packets from one side only.
    Midstream,
    /// UDP requests without a reply in a capture that shows no reply at all.
    NoReplyOneSided,
}

/// What became of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    Working,
    Blocked(How),
    Inconclusive(Reason),
    /// UDP: no reply in the request's record, but one in a later record of
    /// the same flow ([`LATE_REPLY_WINDOW`]).
    Slow,
}

/// The outcome, or "blocked unless it falls at the end of the capture".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judged {
    Now(Outcome),
    Tail(How),
}

/// What the aggregates need from one connection.
#[derive(Clone, Copy, Debug)]
struct Facts {
    ts: Timestamp,
    last_attempt: Timestamp,
    attempts: u64,
    syns: u64,
    syn_span: i64,
    answer_delay: Option<i64>,
    icmp: Option<IcmpError>,
    closed_early: bool,
    midstream: bool,
    requests: u64,
    /// TCP: the originator sent payload bytes.
    sent_data: bool,
    /// TCP: a connection attempt in which neither side sent a byte (what a
    /// port scan's probes are).
    probe: bool,
    /// Counted as failed in the unclassified summary (set when folded there).
    failed: bool,
    /// Through an explicit proxy: its port and the status it answered the
    /// CONNECT with (0 when not captured).
    proxy: Option<(u16, u16)>,
    /// The inputs that showed it ([`crate::track::input_bit`]).
    inputs: u16,
}

/// One distinct ICMP error seen on a host pair.
#[derive(Clone, Copy, Debug)]
struct IcmpSeen {
    v6: bool,
    icmp_type: u8,
    code: u8,
    reporter: IpAddr,
    conns: u64,
}

/// An ICMP error kind: (ICMPv6?, type, code, reporter).
type IcmpKind = (bool, u8, u8, IpAddr);

/// Aggregate of one host pair within one outcome.
#[derive(Clone, Debug)]
struct PairStats {
    conns: u64,
    attempts: u64,
    first: Timestamp,
    last: Timestamp,
    syns: u64,
    answer_delay: Option<(i64, i64)>,
    syn_span: i64,
    closed_early: u64,
    midstream: u64,
    requests: u64,
    /// Connections whose originator sent payload bytes.
    sent_data: u64,
    /// Connections that were data-less attempts ([`Facts::probe`]).
    probes: u64,
    /// Connections counted as failed in the unclassified summary.
    failed: u64,
    /// (proxy port, CONNECT status, connections), for flows through a proxy.
    proxied: Vec<(u16, u16, u64)>,
    icmp: Vec<IcmpSeen>,
    icmp_other: u64,
}

impl PairStats {
    fn new(f: &Facts) -> Self {
        let mut p = PairStats {
            conns: 0,
            attempts: 0,
            first: f.ts,
            last: f.last_attempt,
            syns: 0,
            answer_delay: None,
            syn_span: 0,
            closed_early: 0,
            midstream: 0,
            requests: 0,
            sent_data: 0,
            probes: 0,
            failed: 0,
            proxied: Vec::new(),
            icmp: Vec::new(),
            icmp_other: 0,
        };
        p.add(f);
        p
    }

    fn add(&mut self, f: &Facts) {
        self.conns += 1;
        self.attempts = self.attempts.saturating_add(f.attempts);
        self.first = self.first.min(f.ts);
        self.last = self.last.max(f.last_attempt);
        self.syns = self.syns.saturating_add(f.syns);
        self.syn_span = self.syn_span.max(f.syn_span);
        self.closed_early += u64::from(f.closed_early);
        self.midstream += u64::from(f.midstream);
        self.requests = self.requests.saturating_add(f.requests);
        self.sent_data += u64::from(f.sent_data);
        self.probes += u64::from(f.probe);
        self.failed += u64::from(f.failed);
        if let Some((port, status)) = f.proxy {
            add_proxied(&mut self.proxied, port, status, 1);
        }
        if let Some(d) = f.answer_delay {
            self.answer_delay = Some(match self.answer_delay {
                Some((lo, hi)) => (lo.min(d), hi.max(d)),
                None => (d, d),
            });
        }
        if let Some(e) = f.icmp {
            let same = |s: &&mut IcmpSeen| {
                (s.v6, s.icmp_type, s.code, s.reporter) == (e.v6, e.icmp_type, e.code, e.reporter)
            };
            if let Some(s) = self.icmp.iter_mut().find(same) {
                s.conns += 1;
            } else if self.icmp.len() < MAX_ICMP_KINDS {
                self.icmp.push(IcmpSeen {
                    v6: e.v6,
                    icmp_type: e.icmp_type,
                    code: e.code,
                    reporter: e.reporter,
                    conns: 1,
                });
            } else {
                self.icmp_other += 1;
            }
        }
    }

    fn merge(&mut self, o: &PairStats) {
        self.conns += o.conns;
        self.attempts = self.attempts.saturating_add(o.attempts);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.syns = self.syns.saturating_add(o.syns);
        self.closed_early += o.closed_early;
        self.midstream += o.midstream;
        self.requests = self.requests.saturating_add(o.requests);
        self.sent_data += o.sent_data;
        self.probes += o.probes;
        self.failed += o.failed;
        for &(port, status, n) in &o.proxied {
            add_proxied(&mut self.proxied, port, status, n);
        }
        for e in &o.icmp {
            let same = |s: &&mut IcmpSeen| {
                (s.v6, s.icmp_type, s.code, s.reporter) == (e.v6, e.icmp_type, e.code, e.reporter)
            };
            if let Some(s) = self.icmp.iter_mut().find(same) {
                s.conns += e.conns;
            } else if self.icmp.len() < MAX_ICMP_KINDS {
                self.icmp.push(*e);
            } else {
                self.icmp_other += e.conns;
            }
        }
        self.icmp_other += o.icmp_other;
        self.syn_span = self.syn_span.max(o.syn_span);
        self.answer_delay = match (self.answer_delay, o.answer_delay) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, y) => x.or(y),
        };
    }
}

/// What a bucket keeps per host pair: everything a group's evidence needs
/// ([`PairStats`]), or what the unclassified summary and the scan finding
/// need ([`SlimPair`], a quarter of the size: a flood's millions of pairs
/// from unknown hosts are kept in it). What every finding lists of a pair
/// is its [`PairAgg::slim`] part.
trait PairAgg: Clone {
    /// The pair of one connection.
    fn new(f: &Facts) -> Self;
    /// One more connection of the pair.
    fn add(&mut self, f: &Facts);
    /// Adds another bucket's record of the same pair.
    fn merge(&mut self, o: &Self);
    /// Counts and times: what host lists, scans and filters read.
    fn slim(&self) -> SlimPair;
    /// The ICMP errors the pair's connections drew (none kept by [`SlimPair`]).
    fn icmp(&self) -> &[IcmpSeen];
}

impl PairAgg for PairStats {
    fn new(f: &Facts) -> Self {
        PairStats::new(f)
    }
    fn add(&mut self, f: &Facts) {
        PairStats::add(self, f)
    }
    fn merge(&mut self, o: &Self) {
        PairStats::merge(self, o)
    }
    fn slim(&self) -> SlimPair {
        SlimPair {
            conns: self.conns,
            probes: self.probes,
            failed: self.failed,
            attempts: self.attempts,
            first: self.first,
            last: self.last,
        }
    }
    fn icmp(&self) -> &[IcmpSeen] {
        &self.icmp
    }
}

/// A host pair of the unclassified summary: its counts and times only.
#[derive(Clone, Copy, Debug)]
struct SlimPair {
    conns: u64,
    probes: u64,
    failed: u64,
    attempts: u64,
    first: Timestamp,
    last: Timestamp,
}

impl PairAgg for SlimPair {
    fn new(f: &Facts) -> Self {
        SlimPair {
            conns: 1,
            probes: u64::from(f.probe),
            failed: u64::from(f.failed),
            attempts: f.attempts,
            first: f.ts,
            last: f.last_attempt,
        }
    }
    fn add(&mut self, f: &Facts) {
        self.merge(&SlimPair::new(f));
    }
    fn merge(&mut self, o: &SlimPair) {
        self.conns += o.conns;
        self.probes += o.probes;
        self.failed += o.failed;
        self.attempts = self.attempts.saturating_add(o.attempts);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
    fn slim(&self) -> SlimPair {
        *self
    }
    fn icmp(&self) -> &[IcmpSeen] {
        &[]
    }
}

/// Host pairs of one outcome within a group (or of one unclassified port).
#[derive(Clone, Debug)]
struct Bucket<P = PairStats> {
    conns: u64,
    pairs: PairMap<P>,
    /// The inputs that showed its connections ([`crate::track::input_bit`]).
    inputs: u16,
}

impl<P> Default for Bucket<P> {
    fn default() -> Self {
        Bucket {
            conns: 0,
            pairs: PairMap::default(),
            inputs: 0,
        }
    }
}

impl<P: PairAgg> Bucket<P> {
    fn add(&mut self, src: IpAddr, dst: IpAddr, f: &Facts) {
        self.conns += 1;
        self.inputs |= f.inputs;
        match self.pairs.get_mut(&(src, dst)) {
            Some(p) => p.add(f),
            None => {
                self.pairs.insert((src, dst), P::new(f));
            }
        }
    }
}

impl<P: PairAgg> Bucket<P> {
    /// Adds every host pair of `o`.
    fn absorb(&mut self, o: &Bucket<P>) {
        self.conns += o.conns;
        self.inputs |= o.inputs;
        for (k, p) in &o.pairs {
            match self.pairs.get_mut(&k) {
                Some(acc) => acc.merge(p),
                None => {
                    self.pairs.insert(k, p.clone());
                }
            }
        }
    }

    /// Adds every host pair of `o`, taking them rather than copying (a
    /// flood's pairs are most of the memory).
    fn absorb_owned(&mut self, o: Bucket<P>) {
        self.conns += o.conns;
        self.inputs |= o.inputs;
        for (k, p) in o.pairs.into_pairs() {
            match self.pairs.get_mut(&k) {
                Some(acc) => acc.merge(&p),
                None => {
                    self.pairs.insert(k, p);
                }
            }
        }
    }
}

impl<P> Bucket<P> {
    /// Pairs sorted by (src, dst), for deterministic output.
    fn sorted(&self) -> Vec<(IpAddr, IpAddr, &P)> {
        let mut v: Vec<_> = self.pairs.iter().map(|((s, d), p)| (s, d, p)).collect();
        // Map keys are unique, so an unstable sort gives the same order.
        v.sort_unstable_by_key(|&(s, d, _)| (s, d));
        v
    }
}

impl<P> Bucket<P> {
    /// The `n` host pairs first in (src, dst) order, in that order (all of
    /// them when `n` is 0): what a filter shows, without sorting a flood's
    /// millions of pairs to keep fifty.
    fn first_pairs(&self, n: usize) -> Vec<(IpAddr, IpAddr, &P)> {
        if n == 0 || self.pairs.len() <= n {
            return self.sorted();
        }
        let mut v = smallest(
            self.pairs.iter().map(|((s, d), p)| (s, d, p)),
            n,
            |&(s, d, _)| (s, d),
        );
        v.sort_unstable_by_key(|&(s, d, _)| (s, d));
        v
    }

    fn dsts(&self) -> BTreeSet<IpAddr> {
        self.pairs.keys().map(|(_, d)| d).collect()
    }

    fn srcs(&self) -> BTreeSet<IpAddr> {
        self.pairs.keys().map(|(s, _)| s).collect()
    }
}

/// The `n` items of `items` smallest by `key` (keys unique), in no
/// particular order, holding only `n` at a time.
fn smallest<T, K: Ord>(items: impl Iterator<Item = T>, n: usize, key: impl Fn(&T) -> K) -> Vec<T> {
    struct ByKey<K, T>(K, T);
    impl<K: Ord, T> PartialEq for ByKey<K, T> {
        fn eq(&self, o: &Self) -> bool {
            self.0 == o.0
        }
    }
    impl<K: Ord, T> Eq for ByKey<K, T> {}
    impl<K: Ord, T> PartialOrd for ByKey<K, T> {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl<K: Ord, T> Ord for ByKey<K, T> {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.cmp(&o.0)
        }
    }
    // A max-heap of the n smallest so far: its top is the one to replace.
    let mut heap: BinaryHeap<ByKey<K, T>> = BinaryHeap::with_capacity(n + 1);
    for t in items {
        let k = key(&t);
        if heap.len() < n {
            heap.push(ByKey(k, t));
        } else if heap.peek().is_some_and(|top| k < top.0) {
            heap.pop();
            heap.push(ByKey(k, t));
        }
    }
    heap.into_iter().map(|ByKey(_, t)| t).collect()
}

/// A connection waiting for the capture's end time.
#[derive(Clone, Copy, Debug)]
struct TailEntry {
    ts: Timestamp,
    seq: u64,
    key: GroupKey,
    src: IpAddr,
    dst: IpAddr,
    how: How,
    facts: Facts,
}

impl PartialEq for TailEntry {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}
impl Eq for TailEntry {}
impl PartialOrd for TailEntry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TailEntry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

/// Traffic between a known role and unknown hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct UnclKey {
    role: Role,
    /// True when the known host is the originator.
    outbound: bool,
    proto: Proto,
    port: u16,
}

#[derive(Clone, Debug, Default)]
struct Uncl {
    failed: u64,
    bucket: Bucket<SlimPair>,
}

/// Where a connection's facts are folded: a role-pair group, or the
/// summary of traffic with hosts of no known role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dest {
    Group(GroupKey),
    Uncl(UnclKey),
}

/// An unanswered UDP record waiting for a late reply in a later record.
#[derive(Clone, Copy, Debug)]
struct Pending {
    dest: Dest,
    /// Originator and responder of the request's record.
    src: IpAddr,
    dst: IpAddr,
    /// The responder's (address, port): a later record whose first packet
    /// comes from it carries the reply.
    server: (IpAddr, u16),
    /// The verdict without a reply.
    judged: Judged,
    facts: Facts,
    /// The request's last packet.
    end: Timestamp,
}

/// A working TCP connection, remembered for the stray packets that may
/// follow its close.
#[derive(Clone, Copy, Debug)]
struct Closed {
    dest: Dest,
    end: Timestamp,
}

/// Capture-wide counters for the one-sided and filtered heuristics.
#[derive(Clone, Copy, Debug, Default)]
struct CaptureStats {
    tcp: u64,
    /// TCP connections with >= 2 packets whose originator sent more than SYNs.
    tcp_multi: u64,
    /// Of those, with packets from one side only.
    tcp_one_sided: u64,
    /// TCP connections with a SYN-ACK.
    tcp_synack: u64,
    /// TCP connections with a pure ACK or data from either side.
    tcp_ack_or_data: u64,
    /// TCP connections whose sequence numbers say data flowed, with no data packet captured.
    tcp_bytes_no_data: u64,
    /// TCP records with packets from both ends.
    tcp_both: u64,
    /// UDP records with packets from both ends.
    udp_both: u64,
}

fn role_bit(r: Role) -> u8 {
    let i = Role::ALL.iter().position(|&x| x == r).unwrap_or(0);
    1u8 << i
}

/// Counts `n` connections through a proxy on `port` answered `status`
/// (distinct (port, status) kinds kept at most: [`MAX_ICMP_KINDS`]).
fn add_proxied(v: &mut Vec<(u16, u16, u64)>, port: u16, status: u16, n: u64) {
    if let Some(e) = v.iter_mut().find(|e| (e.0, e.1) == (port, status)) {
        e.2 += n;
    } else if v.len() < MAX_ICMP_KINDS {
        v.push((port, status, n));
    }
}

/// What a proxy's CONNECT status means, for the evidence of a refused flow.
fn proxy_meaning(status: u16) -> &'static str {
    match status {
        407 => {
            "proxy authentication required: the sync service runs under an account that cannot answer the proxy's challenge; let the catalogue's names through without authentication, or set the proxy for the .NET runtime in machine.config"
        }
        403 => {
            "forbidden by the proxy's policy: allow the name (and the catalogue's other names) on the proxy"
        }
        502..=504 => {
            "the proxy could not reach the destination itself: its own outbound path is blocked or the name does not resolve there"
        }
        _ => "the proxy refused to open the tunnel",
    }
}

/// A flow through an explicit proxy, for [`Classifier::connection_via_proxy`].
#[derive(Clone, Copy, Debug)]
struct Via {
    /// The role of the host the CONNECT asked for.
    target: Role,
    /// The port it asked for.
    port: u16,
    /// The proxy's answer, when captured.
    status: Option<u16>,
}

/// Distinct ports one source must probe without data to be taken for a
/// port scanner. Entra Connect, a DC or a member asks a dozen ports of a
/// DC at most (53, 88, 135, 389, 445, 464, 636, 3268, 3269, a few RPC
/// ports); a scan of the top 100 ports (`nmap -F`) is well past it.
pub const SCAN_PORTS: usize = 50;

/// Sources whose probes are counted at once (a flood from random sources
/// fills this and is then not looked at further: each such source probes
/// one port).
const MAX_PROBERS: usize = 65_536;

/// Open ports listed per scanner.
const OPEN_LISTED: usize = 32;

/// What one source's data-less connection attempts show.
#[derive(Clone, Debug, Default)]
struct Prober {
    /// Distinct destination ports probed (at most [`SCAN_PORTS`]; past it
    /// only `more_ports` grows, for the text).
    ports: BTreeSet<u16>,
    /// Probes to ports beyond the first [`SCAN_PORTS`] distinct ones.
    more_ports: u64,
    /// Lowest and highest port probed.
    lo: u16,
    hi: u16,
    /// Probes answered by a SYN-ACK, by RST, by an ICMP error, or not at all.
    open: u64,
    closed: u64,
    icmp: u64,
    silent: u64,
    /// Ports that answered with a SYN-ACK (at most [`OPEN_LISTED`]).
    open_ports: BTreeSet<u16>,
    /// Distinct targets (at most [`OPEN_LISTED`]), and their count beyond that.
    targets: BTreeSet<IpAddr>,
    more_targets: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// The roles of the source and of its targets, as far as known.
    role: Option<Role>,
    target_roles: u8,
    /// The inputs that showed its probes ([`crate::track::input_bit`]).
    inputs: u16,
}

impl Prober {
    fn add(&mut self, c: &Connection, role: Option<Role>, target: Option<Role>) {
        self.inputs |= c.inputs;
        let port = c.resp_p;
        if self.ports.is_empty() && self.more_ports == 0 {
            (self.lo, self.hi) = (port, port);
        }
        self.lo = self.lo.min(port);
        self.hi = self.hi.max(port);
        if !self.ports.contains(&port) {
            if self.ports.len() < SCAN_PORTS {
                self.ports.insert(port);
            } else {
                self.more_ports += 1;
            }
        }
        match c.handshake {
            Handshake::Established | Handshake::ClosedEarly | Handshake::Answered => {
                self.open += 1;
                if self.open_ports.len() < OPEN_LISTED {
                    self.open_ports.insert(port);
                }
            }
            Handshake::Rejected => self.closed += 1,
            Handshake::IcmpUnreachable => self.icmp += 1,
            _ => self.silent += 1,
        }
        if !self.targets.contains(&c.resp_h) {
            if self.targets.len() < OPEN_LISTED {
                self.targets.insert(c.resp_h);
            } else {
                self.more_targets += 1;
            }
        }
        self.first = Some(self.first.map_or(c.ts, |f| f.min(c.ts)));
        let end = end_of(c);
        self.last = Some(self.last.map_or(end, |l| l.max(end)));
        self.role = role;
        if let Some(r) = target {
            self.target_roles |= role_bit(r);
        }
    }

    fn is_scan(&self) -> bool {
        self.ports.len() >= SCAN_PORTS
    }

    fn probes(&self) -> u64 {
        self.open + self.closed + self.icmp + self.silent
    }
}

/// Connections whose memory [`Classifier::connections`] fetches together:
/// enough for their cache misses to overlap, few enough that the lines are
/// still in cache when each is classified.
const PREFETCH_GROUP: usize = 8;

/// Classifies connections against a catalogue for one deployment.
pub struct Classifier<'a> {
    catalogue: &'a Catalogue,
    /// The deployment; owned only once [`Classifier::add_host_roles`] extends it.
    inventory: std::borrow::Cow<'a, Inventory>,
    /// Lookup of `inventory`'s entries, rebuilt whenever they change.
    roles: RoleTable,
    groups: HashMap<GroupKey, BTreeMap<Outcome, Bucket>>,
    uncl: HashMap<UnclKey, Uncl>,
    tail: BinaryHeap<Reverse<TailEntry>>,
    tail_seq: u64,
    max_seen: Option<Timestamp>,
    classified: u64,
    unclassified: u64,
    ignored: u64,
    other: u64,
    roles_seen: u8,
    roles_sent: u8,
    /// Hosts of known role that sent at least one packet.
    senders: HashSet<IpAddr>,
    cap: CaptureStats,
    /// Unanswered UDP records waiting for a late reply.
    pending: Recent<Pending>,
    /// Working TCP connections that may still see stray packets.
    closed: Recent<Closed>,
    /// Stray records after a close, per group of the connection they trail.
    strays: HashMap<Dest, u64>,
    /// The time the capture covers ([`crate::time::Coverage`]); the span when not given.
    covered: Option<Duration>,
    /// Responder ports of TCP/UDP records, any roles (at most [`PORTS_KEPT`]).
    ports: BTreeSet<u16>,
    /// Groups merged at the end because their rule covers a port range:
    /// per merged group (keyed by its lowest port) and outcome, the ports
    /// whose connections it holds.
    merged_ports: HashMap<(GroupKey, Outcome), BTreeSet<u16>>,
    /// Data-less TCP connection attempts per source, to recognise a scan.
    probers: HashMap<IpAddr, Prober>,
    /// (server, port) an endpoint mapper in the capture handed out, with
    /// the sentence that says so.
    endpoints: HashMap<(IpAddr, u16), String>,
    /// Host pairs a finding lists at most ([`Classifier::set_max_hosts`]).
    max_hosts: usize,
    /// The names of the inputs read together ([`Classifier::set_inputs`]).
    input_names: Vec<String>,
    /// The flood or scan warnings, made at the end before the unclassified
    /// findings take their buckets ([`Classifier::flood_lines`]).
    flood: Vec<String>,
    /// Protocol failures from the payload ([`Classifier::set_failures`]).
    failures: Vec<crate::learn::failure::Failure>,
    /// Endpoints resolved ([`Classifier::set_resolutions`]).
    resolutions: Vec<crate::learn::resolve::Resolution>,
}

/// Host pairs a finding lists by default: enough for the pattern, few
/// enough that a flood's report stays small (the total is always given).
pub const DEFAULT_MAX_HOSTS: usize = 20;

/// Keeps the `max` host pairs of `f` with the most attempts when it has
/// more (`0`: no limit), and says so; sets `hosts_total` either way.
fn cap_hosts(f: &mut Finding, max: usize) {
    // A finding made from a bucket lists its busiest pairs already
    // ([`host_pairs`]) and knows its total.
    let total = (f.hosts.len() as u64).max(f.hosts_total);
    f.hosts_total = total;
    if max == 0 || total <= max as u64 {
        return;
    }
    if f.hosts.len() > max {
        // The busiest pairs, then listed in address order as uncapped ones are.
        f.hosts.sort_by_key(|h| (Reverse(h.attempts), h.src, h.dst));
        f.hosts.truncate(max);
        f.hosts.sort_by_key(|h| (h.src, h.dst));
    }
    f.evidence.push(format!(
        "{total} host pairs in all: the {max} with the most attempts are listed (`flowaudit flows` \
         has every connection)"
    ));
}

/// Names the inputs that showed `f` (in `f.inputs`, and in a line of
/// evidence saying which did not), when more than one input was read:
/// with sensors at both ends of a firewall, a SYN only the near one saw is
/// where the packets stop.
fn name_inputs(f: &mut Finding, names: &[String]) {
    if names.len() < 2 || f.input_mask == 0 {
        return;
    }
    let (mut seen, mut unseen) = (Vec::new(), Vec::new());
    for (i, n) in names.iter().enumerate() {
        if f.input_mask & crate::track::input_bit(i) != 0 {
            seen.push(n.clone());
        } else {
            unseen.push(n.clone());
        }
    }
    let line = match (seen.len(), unseen.is_empty()) {
        (2, true) => "seen in both inputs".to_string(),
        (n, true) => format!("seen in all {n} inputs"),
        (1, false) => format!("seen only in {}; not in {}", seen[0], unseen.join(", ")),
        _ => format!("seen in {}; not in {}", seen.join(", "), unseen.join(", ")),
    };
    f.evidence.push(line);
    f.inputs = seen;
}

/// Responder ports remembered to tell a capture of one service from a
/// capture of a host.
const PORTS_KEPT: usize = 8;

/// The roles of a connection's two ends, from [`Classifier::ends`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ends {
    /// The originator's role, its address taken as written.
    orig: Option<Role>,
    /// The responder's role, its address taken as written.
    resp: Option<Role>,
    /// The originator is in the inventory as [`Inventory::role_of`] sees it
    /// (an IPv4-mapped address looked up as IPv4).
    orig_listed: bool,
    /// The responder is in the inventory as [`Inventory::role_of`] sees it.
    resp_listed: bool,
}

impl Ends {
    /// Exactly one end has a role in the inventory (as [`Inventory::role_of`]
    /// answers): the other may still get one from a learned name.
    pub fn one_end_listed(self) -> bool {
        self.orig_listed != self.resp_listed
    }
}

/// The rules a group matches.
#[derive(Clone, Debug, Default)]
struct Selected<'r> {
    /// The enabled rule that names the group (see `rank`).
    enabled: Option<&'r Rule>,
    /// The first rule of a disabled feature, when no enabled rule matches.
    disabled: Option<&'r Rule>,
    /// The other enabled, non-tolerated rules the same flow serves.
    also: Vec<&'r Rule>,
}

fn rank(r: &Rule) -> u8 {
    match (r.kind, r.when) {
        (Kind::Required, When::Optional) => 1,
        (Kind::Required, When::Fallback) => 2,
        (Kind::Required, _) => 0,
        (Kind::Tolerated, _) => 3,
    }
}

/// `rule t1-ldap (table 1, LDAP)`, or for a rule of another page
/// `rule pta-agent-https (HTTPS; https://... section "Step 1: ...")`.
fn rule_ref(r: &Rule) -> String {
    match (&r.table, &r.page, &r.section) {
        (Some(t), _, _) => format!("rule {} (table {}, {})", r.id, t, r.protocol),
        (None, Some(p), Some(s)) => {
            format!("rule {} ({}; {p} section \"{s}\")", r.id, r.protocol)
        }
        _ => format!("rule {} ({})", r.id, r.protocol),
    }
}

fn feature_list(fs: &[Feature]) -> String {
    let names: Vec<&str> = fs.iter().map(|f| f.name()).collect();
    names.join(" or ")
}

/// `only with feature adfs-gmsa` / `only with features a or b`.
fn only_with(r: &Rule) -> String {
    let n = if r.features.len() == 1 {
        "feature"
    } else {
        "features"
    };
    format!(
        "allowed by rule {} only with {n} {}, which the inventory does not enable",
        r.id,
        feature_list(&r.features)
    )
}

/// The host pairs a finding lists: all of them, or (`max` > 0) the `max`
/// with the most attempts, as [`cap_hosts`] would keep them, without
/// listing a flood's millions first; the finding's `hosts_total` is
/// `b.pairs.len()` either way.
fn host_pairs<P: PairAgg>(b: &Bucket<P>, max: usize) -> Vec<HostPair> {
    let pairs = b.pairs.iter().map(|((s, d), p)| (s, d, p.slim()));
    let mut v: Vec<(IpAddr, IpAddr, SlimPair)> = if max == 0 {
        pairs.collect()
    } else {
        smallest(pairs, max, |&(s, d, p)| (Reverse(p.attempts), s, d))
    };
    v.sort_unstable_by_key(|&(s, d, _)| (s, d));
    v.into_iter()
        .map(|(src, dst, p)| HostPair {
            src,
            dst,
            attempts: p.attempts,
            first_ts: p.first,
            last_ts: p.last,
            src_name: None,
            dst_name: None,
        })
        .collect()
}

/// "works to A, fails to B", from the working and failing host pairs of one port.
fn works_fails(working: &Bucket, failing: &[&Bucket]) -> Option<String> {
    let wd = working.dsts();
    let ws = working.srcs();
    let mut fd = BTreeSet::new();
    let mut fs = BTreeSet::new();
    for b in failing {
        fd.extend(b.dsts());
        fs.extend(b.srcs());
    }
    if wd.is_empty() || fd.is_empty() {
        return None;
    }
    let v = |s: &BTreeSet<IpAddr>| s.iter().copied().collect::<Vec<_>>();
    let only_fd: BTreeSet<IpAddr> = fd.difference(&wd).copied().collect();
    let only_fs: BTreeSet<IpAddr> = fs.difference(&ws).copied().collect();
    if !only_fd.is_empty() {
        Some(format!(
            "works to {}, fails to {}",
            fmt_hosts(&v(&wd)),
            fmt_hosts(&v(&only_fd))
        ))
    } else if !only_fs.is_empty() {
        Some(format!(
            "works from {}, fails from {}",
            fmt_hosts(&v(&ws)),
            fmt_hosts(&v(&only_fs))
        ))
    } else {
        Some(format!(
            "some connections to {} work and others fail: intermittent, or one bad member of a cluster or load-balanced path",
            fmt_hosts(&v(&fd))
        ))
    }
}

fn filter_pairs<P: PairAgg>(b: &Bucket<P>, with_icmp: bool) -> Vec<FilterPair> {
    // The filter shows the first MAX_FILTER_PAIRS in this order.
    b.first_pairs(MAX_FILTER_PAIRS)
        .into_iter()
        .map(|(src, dst, p)| {
            let mut icmp: Vec<(bool, u8, IpAddr)> = Vec::new();
            if with_icmp {
                for e in p.icmp() {
                    let k = (e.v6, e.icmp_type, e.reporter);
                    if !icmp.contains(&k) {
                        icmp.push(k);
                    }
                }
                icmp.sort();
            }
            FilterPair { src, dst, icmp }
        })
        .collect()
}

/// Severity of a doubt (inconclusive) or a slow service: a warning when an
/// enabled required rule (not optional, not a fallback) needs the flow.
fn doubt_severity(sel: &Selected<'_>) -> Severity {
    let required = sel.enabled.is_some_and(|r| {
        r.kind == Kind::Required && !matches!(r.when, When::Optional | When::Fallback)
    });
    if required {
        Severity::Warning
    } else {
        Severity::Info
    }
}

/// `2.0 ms`, or `between 1.0 ms and 3.5 ms` when the range's ends read differently.
fn range_text(range: Option<(i64, i64)>, fmt: fn(i64) -> String) -> String {
    match range {
        Some((lo, hi)) if fmt(lo) != fmt(hi) => format!("between {} and {}", fmt(lo), fmt(hi)),
        Some((lo, _)) => fmt(lo),
        None => "?".to_string(),
    }
}

/// Host pairs' statistics merged per destination.
fn per_destination(pairs: &[(IpAddr, IpAddr, &PairStats)]) -> BTreeMap<IpAddr, PairStats> {
    let mut per_dst: BTreeMap<IpAddr, PairStats> = BTreeMap::new();
    for &(_, d, p) in pairs {
        match per_dst.get_mut(&d) {
            Some(acc) => acc.merge(p),
            None => {
                per_dst.insert(d, p.clone());
            }
        }
    }
    per_dst
}

fn filter_note(pairs: usize) -> Option<String> {
    (pairs > MAX_FILTER_PAIRS)
        .then(|| format!("the filter shows the first {MAX_FILTER_PAIRS} of {pairs} host pairs"))
}

impl<'a> Classifier<'a> {
    /// A classifier for this catalogue and deployment.
    pub fn new(catalogue: &'a Catalogue, inventory: &'a Inventory) -> Self {
        Classifier {
            catalogue,
            inventory: std::borrow::Cow::Borrowed(inventory),
            roles: inventory.role_table(),
            groups: HashMap::new(),
            uncl: HashMap::new(),
            tail: BinaryHeap::new(),
            tail_seq: 0,
            max_seen: None,
            classified: 0,
            unclassified: 0,
            ignored: 0,
            other: 0,
            roles_seen: 0,
            roles_sent: 0,
            senders: HashSet::new(),
            cap: CaptureStats::default(),
            pending: Recent::new(PENDING_CAP),
            closed: Recent::new(CLOSED_CAP),
            strays: HashMap::new(),
            covered: None,
            ports: BTreeSet::new(),
            merged_ports: HashMap::new(),
            probers: HashMap::new(),
            endpoints: HashMap::new(),
            max_hosts: DEFAULT_MAX_HOSTS,
            input_names: Vec::new(),
            flood: Vec::new(),
            failures: Vec::new(),
            resolutions: Vec::new(),
        }
    }

    /// Names the inputs read together, in the order their connections
    /// number them ([`crate::track::input_bit`]): each finding then says
    /// which of them showed it. With fewer than two, findings name none.
    pub fn set_inputs(&mut self, names: Vec<String>) {
        self.input_names = names;
    }

    /// Host pairs a finding lists at most, the busiest first (0: all of
    /// them); the finding still counts them all (`hosts_total`).
    pub fn set_max_hosts(&mut self, max: usize) {
        self.max_hosts = max;
    }

    /// Tells the classifier which TCP ports endpoint mappers in the capture
    /// handed out for which servers, each with the sentence that says so:
    /// connections to them belong to the dynamic RPC rules (`epm`) even
    /// outside those rules' ports.
    pub fn set_endpoints(&mut self, endpoints: impl IntoIterator<Item = (IpAddr, u16, String)>) {
        for (server, port, line) in endpoints {
            self.endpoints.insert((server.to_canonical(), port), line);
        }
    }

    /// Tells the classifier how much of the capture's span it actually
    /// covers ([`crate::time::Coverage`]): absences are judged on that.
    pub fn set_coverage(&mut self, covered: Duration) {
        self.covered = Some(covered);
    }

    /// Gives roles to single hosts the inventory leaves without one (e.g. a
    /// cloud endpoint known by its learned name). Hosts that already have a
    /// role keep it: the inventory always wins. Affects only connections
    /// classified afterwards, so callers hold back the connections whose
    /// unknown end these hosts may be.
    pub fn add_host_roles(&mut self, hosts: &[(IpAddr, Role)]) {
        let new: Vec<crate::inventory::RoleEntry> = hosts
            .iter()
            .filter(|(a, _)| self.role_of(*a).is_none())
            .map(|&(a, role)| crate::inventory::RoleEntry {
                net: ipnet::IpNet::from(a),
                role,
                source: crate::inventory::RoleSource::Catalogue,
                line: 0,
            })
            .collect();
        if !new.is_empty() {
            // Host entries are the most specific there are: they go first.
            let inv = self.inventory.to_mut();
            inv.entries.splice(0..0, new);
            self.roles = inv.role_table();
        }
    }

    /// The role of an address: the most specific inventory entry containing it
    /// (entries are sorted most specific first). The address is taken as
    /// written: an IPv4-mapped IPv6 address matches IPv6 entries only.
    fn role_of(&self, a: IpAddr) -> Option<Role> {
        self.roles.role_of(a)
    }

    /// Both ends' roles under the current inventory, looked up once so a
    /// caller can decide on them (see [`Ends::one_end_listed`]) and then hand
    /// them to [`Classifier::connection_with`].
    pub fn ends(&self, c: &Connection) -> Ends {
        let listed = |a: IpAddr, as_written: Option<Role>| {
            let canonical = a.to_canonical();
            if canonical == a {
                as_written.is_some()
            } else {
                self.roles.role_of(canonical).is_some()
            }
        };
        let orig = self.role_of(c.orig_h);
        let resp = self.role_of(c.resp_h);
        Ends {
            orig,
            resp,
            orig_listed: listed(c.orig_h, orig),
            resp_listed: listed(c.resp_h, resp),
        }
    }

    /// Folds one finished connection in (any order; aggregated at once).
    pub fn connection(&mut self, c: &Connection) {
        let ends = self.ends(c);
        self.connection_with(c, ends);
    }

    /// Reads, changing nothing, the memory that [`Classifier::connection`]
    /// will read behind pointers for `conns` (their SYN times; the history
    /// letters are held inline), in one short loop.
    ///
    /// By the time the tracker hands a connection over, those heap blocks
    /// have usually left the cache, and classifying one connection at a time
    /// waits for each in turn. Here the reads are independent, so the
    /// processor has them in flight together, and the classification that
    /// follows finds them in cache. (Looking the aggregate slots up here as
    /// well was measured: it only moved their cache misses here.)
    pub fn prefetch<'c>(&self, conns: impl IntoIterator<Item = &'c Connection>) {
        let mut sum = 0u64;
        for c in conns {
            sum = sum.wrapping_add(c.syn_times.last().map_or(0, |t| t.0.unsigned_abs()));
        }
        std::hint::black_box(sum);
    }

    /// [`Classifier::connection`] for each of `conns` in order, fetching the
    /// memory of a few ahead together (see [`Classifier::prefetch`]).
    pub fn connections(&mut self, conns: &[Connection]) {
        for group in conns.chunks(PREFETCH_GROUP) {
            self.prefetch(group);
            for c in group {
                self.connection(c);
            }
        }
    }

    /// [`Classifier::connection`] with the roles [`Classifier::ends`] gave
    /// for `c`, with no inventory change in between.
    pub fn connection_with(&mut self, c: &Connection, ends: Ends) {
        self.routed(c, ends, None);
    }

    /// A connection to an explicit proxy that asked it, with `CONNECT`, for
    /// a host of role `target` on `port` (a Microsoft endpoint by its
    /// name): judged as a flow to that role and port, blocked
    /// (`proxy-refused`) when the proxy answered with a status other than
    /// 2xx, working through the tunnel otherwise.
    pub fn connection_via_proxy(
        &mut self,
        c: &Connection,
        target: Role,
        port: u16,
        status: Option<u16>,
    ) {
        let ends = self.ends(c);
        self.routed(
            c,
            ends,
            Some(Via {
                target,
                port,
                status,
            }),
        );
    }

    /// [`Classifier::connection_with`], for a flow through a proxy when `via` is given.
    fn routed(&mut self, c: &Connection, ends: Ends, via: Option<Via>) {
        let end = end_of(c);
        self.max_seen = Some(self.max_seen.map_or(end, |m| m.max(end)));
        self.evict();
        let (ro, rr) = (ends.orig, ends.resp);
        for (role, host, pkts) in [(ro, c.orig_h, c.orig_pkts), (rr, c.resp_h, c.resp_pkts)] {
            if let Some(r) = role {
                self.roles_seen |= role_bit(r);
                if pkts > 0 {
                    self.roles_sent |= role_bit(r);
                    self.senders.insert(host);
                }
            }
        }
        let proto = match c.proto {
            Transport::Tcp => Proto::Tcp,
            Transport::Udp => Proto::Udp,
            _ => {
                self.other += 1;
                return;
            }
        };
        // Datagrams to a broadcast or multicast address expect no reply
        // from it (replies, if any, come from the hosts that answer): there
        // is no handshake to judge.
        if proto == Proto::Udp && c.resp_pkts == 0 && is_group_address(c.resp_h) {
            self.other += 1;
            return;
        }
        if self.ports.len() < PORTS_KEPT {
            self.ports.insert(c.resp_p);
        }
        if c.orig_pkts > 0 && c.resp_pkts > 0 {
            match proto {
                Proto::Tcp => self.cap.tcp_both += 1,
                Proto::Udp => self.cap.udp_both += 1,
            }
        }
        // UDP outcomes do not depend on the history.
        let letters = if proto == Proto::Tcp {
            let h = Letters::of(&c.history);
            self.capture_stats(c, h);
            h
        } else {
            Letters::default()
        };
        let via = via.filter(|_| proto == Proto::Tcp && ro.is_some());
        let dest = match (ro, rr) {
            (Some(src), _) if let Some(v) = via => {
                self.classified += 1;
                Dest::Group(GroupKey {
                    src,
                    dst: v.target,
                    proto,
                    port: v.port,
                    epm: false,
                })
            }
            (Some(src), Some(dst)) => {
                self.classified += 1;
                Dest::Group(GroupKey {
                    src,
                    dst,
                    proto,
                    port: c.resp_p,
                    epm: false,
                })
            }
            (Some(role), None) | (None, Some(role)) => {
                self.unclassified += 1;
                Dest::Uncl(UnclKey {
                    role,
                    outbound: ro.is_some(),
                    proto,
                    port: c.resp_p,
                })
            }
            (None, None) => {
                self.ignored += 1;
                return;
            }
        };
        let id = FlowId::of(c, proto);
        let mut judged = judge(c, proto, letters);
        let mut f = facts(c, proto);
        if let Some(v) = via {
            f.proxy = Some((c.resp_p, v.status.unwrap_or(0)));
            if v.status.is_some_and(|s| !(200..300).contains(&s)) {
                judged = Judged::Now(Outcome::Blocked(How::ProxyRefused));
            }
        }
        match proto {
            Proto::Udp => {
                if let Some(p) = self.pending.take(&id) {
                    if answers_late(&p, c) {
                        self.answered_late(p, c);
                        return;
                    }
                    self.settle(p);
                }
                if matches!(
                    judged,
                    Judged::Tail(How::NoReply) | Judged::Now(Outcome::Blocked(How::NoReply))
                ) {
                    let p = Pending {
                        dest,
                        src: c.orig_h,
                        dst: c.resp_h,
                        server: (c.resp_h, c.resp_p),
                        judged,
                        facts: f,
                        end,
                    };
                    if let Some(old) = self.pending.insert(id, end, p) {
                        self.settle(old);
                    }
                    return;
                }
            }
            Proto::Tcp => {
                if f.probe
                    && (self.probers.len() < MAX_PROBERS || self.probers.contains_key(&c.orig_h))
                {
                    self.probers.entry(c.orig_h).or_default().add(c, ro, rr);
                }
                if c.syn_attempts == 0
                    && judged == Judged::Now(Outcome::Inconclusive(Reason::Midstream))
                    && let Some(prev) = self.closed.get(&id)
                    && c.ts >= prev.end
                    && c.ts.0.saturating_sub(prev.end.0) <= STRAY_WINDOW.0
                {
                    *self.strays.entry(prev.dest).or_default() += 1;
                    return;
                }
                if judged == Judged::Now(Outcome::Working) {
                    self.closed.insert(id, end, Closed { dest, end });
                }
            }
        }
        self.fold(dest, judged, c.orig_h, c.resp_h, &f, c.ts);
    }

    /// Folds one connection's facts into its group (or the unclassified
    /// summary) with its verdict; a tail candidate waits for the capture's end.
    fn fold(
        &mut self,
        dest: Dest,
        judged: Judged,
        src: IpAddr,
        dst: IpAddr,
        f: &Facts,
        ts: Timestamp,
    ) {
        match dest {
            Dest::Group(key) => match judged {
                Judged::Now(o) => self.add(key, o, src, dst, f),
                Judged::Tail(how) => {
                    self.tail_seq += 1;
                    self.tail.push(Reverse(TailEntry {
                        ts,
                        seq: self.tail_seq,
                        key,
                        src,
                        dst,
                        how,
                        facts: *f,
                    }));
                }
            },
            Dest::Uncl(key) => {
                // Unanswered at the very end still counts as failed here: no tail bookkeeping
                // for hosts outside the inventory.
                let failed = matches!(judged, Judged::Now(Outcome::Blocked(_)) | Judged::Tail(_));
                let u = self.uncl.entry(key).or_default();
                u.failed += u64::from(failed);
                u.bucket.add(src, dst, &Facts { failed, ..*f });
            }
        }
    }

    /// An unanswered UDP record that no late reply followed: judged as it was.
    fn settle(&mut self, p: Pending) {
        self.fold(p.dest, p.judged, p.src, p.dst, &p.facts, p.facts.ts);
    }

    /// An unanswered UDP record whose reply came in `reply`, a later record:
    /// slow, not blocked. The reply's record is folded into it, not counted again.
    fn answered_late(&mut self, p: Pending, reply: &Connection) {
        let mut f = p.facts;
        f.answer_delay = Some(reply.ts.0.saturating_sub(p.end.0).max(0));
        f.inputs |= reply.inputs;
        self.fold(p.dest, Judged::Now(Outcome::Slow), p.src, p.dst, &f, f.ts);
    }

    /// (groups, host pairs over all groups and outcomes, tail candidates held), for memory tests.
    #[cfg(test)]
    pub(crate) fn footprint(&self) -> (usize, usize, usize) {
        let pairs = self
            .groups
            .values()
            .flat_map(|g| g.values())
            .map(|b| b.pairs.len())
            .sum();
        (self.groups.len(), pairs, self.tail.len())
    }

    fn capture_stats(&mut self, c: &Connection, h: Letters) {
        let s = &mut self.cap;
        s.tcp += 1;
        if c.orig_pkts.saturating_add(c.resp_pkts) >= 2 && h.not_only_syns {
            s.tcp_multi += 1;
            if c.orig_pkts == 0 || c.resp_pkts == 0 {
                s.tcp_one_sided += 1;
            }
        }
        s.tcp_synack += u64::from(h.any(SYNACK));
        let ack_or_data = h.any(ACK_OR_DATA);
        s.tcp_ack_or_data += u64::from(ack_or_data);
        s.tcp_bytes_no_data +=
            u64::from(!h.any(DATA) && c.orig_bytes.saturating_add(c.resp_bytes) > 0);
    }

    fn add(&mut self, key: GroupKey, o: Outcome, src: IpAddr, dst: IpAddr, f: &Facts) {
        self.groups
            .entry(key)
            .or_default()
            .entry(o)
            .or_default()
            .add(src, dst, f);
    }

    /// Moves the host pairs of TCP groups that no enabled rule covers, whose
    /// server an endpoint mapper handed that port out for, into a group of
    /// their own that the `epm` rules judge (a dynamic RPC range moved off
    /// 49152-65535 is no "unexpected" traffic).
    fn adopt_endpoint_ports(&mut self) {
        if self.endpoints.is_empty() {
            return;
        }
        let feats = &self.inventory.features;
        let keys: Vec<GroupKey> =
            self.groups
                .keys()
                .copied()
                .filter(|k| k.proto == Proto::Tcp && !k.epm)
                .filter(|k| {
                    let sel = self.select(*k);
                    sel.enabled.is_none()
                        && self.catalogue.rules.iter().any(|r| {
                            r.enabled_by(feats) && GroupKey { epm: true, ..*k }.covered_by(r)
                        })
                })
                .collect();
        for k in keys {
            let Some(g) = self.groups.get_mut(&k) else {
                continue;
            };
            let mut moved: BTreeMap<Outcome, Bucket> = BTreeMap::new();
            for (&o, b) in g.iter_mut() {
                let handed_out: Vec<(IpAddr, IpAddr)> = b
                    .pairs
                    .keys()
                    .filter(|&(_, d)| self.endpoints.contains_key(&(d.to_canonical(), k.port)))
                    .collect();
                for pair in handed_out {
                    if let Some(p) = b.pairs.remove(&pair) {
                        b.conns = b.conns.saturating_sub(p.conns);
                        let into = moved.entry(o).or_default();
                        into.conns += p.conns;
                        into.pairs.insert(pair, p);
                    }
                }
            }
            g.retain(|_, b| !b.pairs.is_empty());
            if g.is_empty() {
                self.groups.remove(&k);
            }
            if !moved.is_empty() {
                let into = self.groups.entry(GroupKey { epm: true, ..k }).or_default();
                for (o, b) in moved {
                    into.entry(o).or_default().absorb(&b);
                }
            }
        }
    }

    /// For a rule that covers endpoint-mapper ports (`epm`), the sentences
    /// saying which mapper handed out the ports of `ports` outside the
    /// rule's own range, for the servers of `b` (at most five).
    fn endpoint_lines(&self, r: Option<&Rule>, ports: &[u16], b: &Bucket) -> Vec<String> {
        let Some(r) = r.filter(|r| r.epm) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for d in b.dsts() {
            for &p in ports.iter().filter(|&&p| !r.ports.contains(p)) {
                if let Some(line) = self.endpoints.get(&(d.to_canonical(), p))
                    && !out.contains(line)
                {
                    out.push(line.clone());
                }
            }
        }
        out.truncate(5);
        out
    }

    /// Merges the groups of one role pair and transport whose rule covers
    /// a port range (dynamic RPC 49152-65535, 3268-3269): one finding per
    /// rule and outcome, not one per port the endpoint mapper handed out.
    /// The merged group keeps the lowest port as its key.
    fn merge_ranges(&mut self) {
        let mut by_rule: BTreeMap<(Role, Role, Proto, usize), Vec<GroupKey>> = BTreeMap::new();
        for &k in self.groups.keys() {
            let sel = self.select(k);
            let Some(r) = sel.enabled.or(sel.disabled) else {
                continue;
            };
            if r.ports.lo == r.ports.hi {
                continue;
            }
            let idx = self.rule_index(r);
            by_rule
                .entry((k.src, k.dst, k.proto, idx))
                .or_default()
                .push(k);
        }
        for mut keys in by_rule.into_values() {
            if keys.len() < 2 {
                continue;
            }
            keys.sort();
            let rep = keys[0];
            let mut merged: BTreeMap<Outcome, Bucket> = BTreeMap::new();
            let mut strays = 0;
            for k in &keys {
                if let Some(g) = self.groups.remove(k) {
                    for (o, b) in g {
                        merged.entry(o).or_default().absorb(&b);
                        self.merged_ports
                            .entry((rep, o))
                            .or_default()
                            .insert(k.port);
                    }
                }
                strays += self.strays.remove(&Dest::Group(*k)).unwrap_or(0);
            }
            if strays > 0 {
                self.strays.insert(Dest::Group(rep), strays);
            }
            self.groups.insert(rep, merged);
        }
    }

    /// The ports of a group's connections with outcome `o`: the group's
    /// own, or those merged into it ([`Classifier::merge_ranges`]), lowest
    /// first, at most [`MAX_FILTER_PORTS`].
    fn ports_of(&self, k: GroupKey, o: Outcome) -> Vec<u16> {
        match self.merged_ports.get(&(k, o)) {
            Some(ports) => ports.iter().copied().take(MAX_FILTER_PORTS).collect(),
            None => vec![k.port],
        }
    }

    /// `on tcp/49671, 49688 and 49700 (3 ports of the rule's 49152-65535)`,
    /// when the connections with outcome `o` are on several ports.
    fn ports_line(&self, k: GroupKey, o: Outcome, r: Option<&Rule>) -> Option<String> {
        let list: Vec<u16> = self.merged_ports.get(&(k, o))?.iter().copied().collect();
        if list.len() < 2 {
            return None;
        }
        let range = match r {
            Some(r) if list.iter().all(|&p| r.ports.contains(p)) => {
                format!(" of the rule's {}", r.ports)
            }
            Some(r) => format!(
                ", some handed out by an endpoint mapper outside the rule's {}",
                r.ports
            ),
            None => String::new(),
        };
        Some(format!(
            "on {}/{} ({} ports{range})",
            k.proto.name(),
            port_list(&list),
            list.len()
        ))
    }

    /// Folds tail candidates that can no longer be at the end of the
    /// capture, unanswered UDP records too old for a late reply to follow,
    /// and forgets closed connections too old for stray packets.
    fn evict(&mut self) {
        let Some(max) = self.max_seen else { return };
        if self.pending.len() > 0 {
            let mut due = Vec::new();
            let cutoff = Timestamp(max.0.saturating_sub(PENDING_HOLD.0));
            self.pending.expire(cutoff, &mut |p| due.push(p));
            for p in due {
                self.settle(p);
            }
        }
        self.closed
            .expire(Timestamp(max.0.saturating_sub(CLOSED_HOLD.0)), &mut |_| {});
        while let Some(Reverse(top)) = self.tail.peek() {
            let old = max.0.saturating_sub(top.ts.0) >= TAIL_WINDOW.0;
            if !old && self.tail.len() <= TAIL_CAP {
                break;
            }
            if let Some(Reverse(t)) = self.tail.pop() {
                self.add(t.key, Outcome::Blocked(t.how), t.src, t.dst, &t.facts);
            }
        }
    }

    fn select(&self, k: GroupKey) -> Selected<'a> {
        let feats = &self.inventory.features;
        let cat: &'a Catalogue = self.catalogue;
        let matching = cat.rules.iter().filter(move |r| k.covered_by(r));
        let enabled = matching
            .clone()
            .filter(|r| r.enabled_by(feats))
            .min_by_key(|r| rank(r));
        let also = matching
            .clone()
            .filter(|r| r.enabled_by(feats) && r.kind == Kind::Required)
            .filter(|r| enabled.is_none_or(|e| !std::ptr::eq(*r, e)))
            .collect();
        Selected {
            enabled,
            disabled: matching.clone().find(|r| !r.enabled_by(feats)),
            also,
        }
    }

    fn role_has_hosts(&self, r: Role) -> bool {
        r == Role::Azure || self.inventory.entries.iter().any(|e| e.role == r)
    }

    /// Produces the findings; `span` is (first, last) packet time of the capture(s).
    pub fn finish(mut self, span: Option<(Timestamp, Timestamp)>) -> Audit {
        let span_end = span.map(|s| s.1);
        for p in self.pending.drain() {
            self.settle(p);
        }
        while let Some(Reverse(t)) = self.tail.pop() {
            let late = span_end.is_some_and(|e| e.0.saturating_sub(t.ts.0) < TAIL_WINDOW.0);
            let o = if late {
                Outcome::Inconclusive(Reason::Tail)
            } else {
                Outcome::Blocked(t.how)
            };
            self.add(t.key, o, t.src, t.dst, &t.facts);
        }
        let span_secs = span.map_or(0.0, |(a, b)| b.since(a).as_secs_f64());
        let covered_secs = self
            .covered
            .map_or(span_secs, |d| d.as_secs_f64())
            .min(span_secs);
        let one_sided =
            self.cap.tcp_multi >= 3 && self.cap.tcp_one_sided * 5 > self.cap.tcp_multi * 4;
        let udp_one_sided = self.udp_one_sided();

        let scans = self.pull_scans();
        self.adopt_endpoint_ports();
        self.merge_ranges();
        let mut keys: Vec<GroupKey> = self.groups.keys().copied().collect();
        keys.sort();
        let mut findings = Vec::new();
        // (rule index, src, dst, proto) -> healthy accumulation.
        let mut healthy: BTreeMap<(usize, Role, Role, Proto), Healthy> = BTreeMap::new();
        for &k in &keys {
            let Some(g) = self.groups.get(&k) else {
                continue;
            };
            let sel = self.select(k);
            let working = g.get(&Outcome::Working);
            let failing: Vec<&Bucket> = g
                .iter()
                .filter(|(o, _)| matches!(o, Outcome::Blocked(_)))
                .map(|(_, b)| b)
                .collect();
            let strays = self.strays.get(&Dest::Group(k)).copied().unwrap_or(0);
            for (&o, b) in g {
                match o {
                    Outcome::Working => match sel.enabled {
                        Some(r) => {
                            // The flow is healthy for every enabled rule it serves.
                            for r in std::iter::once(r).chain(sel.also.iter().copied()) {
                                let idx = self.rule_index(r);
                                let h = healthy.entry((idx, k.src, k.dst, k.proto)).or_default();
                                h.add(&self.ports_of(k, o), b);
                                for line in self.endpoint_lines(Some(r), &self.ports_of(k, o), b) {
                                    if !h.notes.contains(&line) {
                                        h.notes.push(line);
                                    }
                                }
                                h.strays += strays;
                                if let Some(s) = works_fails(b, &failing) {
                                    h.notes.push(format!(
                                        "{}/{}: {s} (see the blocked finding)",
                                        k.proto.name(),
                                        port_list(&self.ports_of(k, o))
                                    ));
                                }
                            }
                        }
                        None => {
                            let mut f = self.unexpected(k, b, sel.clone(), &failing);
                            if let Some(note) = stray_note(strays) {
                                f.evidence.push(note);
                            }
                            findings.push(f);
                        }
                    },
                    // No reply anywhere in a capture that may show one
                    // direction only proves nothing.
                    Outcome::Blocked(How::NoReply) if one_sided || udp_one_sided => findings.push(
                        self.inconclusive(k, o, Reason::NoReplyOneSided, b, sel.clone(), span_end),
                    ),
                    Outcome::Blocked(how) => {
                        findings.push(self.blocked(k, how, b, working, sel.clone(), one_sided))
                    }
                    Outcome::Inconclusive(r) => {
                        findings.push(self.inconclusive(k, o, r, b, sel.clone(), span_end))
                    }
                    Outcome::Slow => findings.push(self.slow(k, b, sel.clone())),
                }
            }
        }
        for ((idx, src, dst, proto), h) in healthy {
            if let Some(r) = self.catalogue.rules.get(idx) {
                findings.push(h.finding(r, (src, dst, proto), self.max_hosts));
            }
        }
        findings.extend(scans);
        self.failed(&mut findings, span_end);
        self.missing(&mut findings, span_secs, covered_secs);
        // Before the unclassified findings take their buckets apart.
        self.flood = self.flood_lines();
        self.unclassified_findings(&mut findings);

        findings.sort_by(|a, b| {
            (
                Reverse(a.severity),
                a.kind.rank(),
                a.src_role,
                a.dst_role,
                a.transport,
                a.port,
                a.how,
                &a.rule,
            )
                .cmp(&(
                    Reverse(b.severity),
                    b.kind.rank(),
                    b.src_role,
                    b.dst_role,
                    b.transport,
                    b.port,
                    b.how,
                    &b.rule,
                ))
        });

        for f in &mut findings {
            cap_hosts(f, self.max_hosts);
            name_inputs(f, &self.input_names);
        }
        let mut summary = Summary {
            classified: self.classified,
            unclassified: self.unclassified,
            ignored: self.ignored,
            other_transports: self.other,
            span_seconds: span_secs,
            covered_seconds: covered_secs,
            roles_seen: Role::ALL
                .into_iter()
                .filter(|&r| self.roles_seen & role_bit(r) != 0)
                .collect(),
            capture_warnings: self.capture_warnings(
                span,
                (span_secs, covered_secs),
                one_sided,
                udp_one_sided,
            ),
            ..Summary::default()
        };
        summary.count(&findings);
        if self.inventory.features_assumed {
            let names: Vec<&str> = self.inventory.features.iter().map(|f| f.name()).collect();
            summary
                .assumptions
                .push(format!("features assumed: {}", names.join(", ")));
        }
        Audit {
            features: self.inventory.features.clone(),
            findings,
            summary,
        }
    }

    /// No record of the capture has packets from both ends, and no host
    /// that UDP requests went unanswered by sent anything at all: a capture
    /// of one direction only (a capture filter, one side of a SPAN) looks
    /// like this, and so does a host whose every packet is dropped; either
    /// way the missing UDP replies prove nothing.
    fn udp_one_sided(&self) -> bool {
        if self.cap.udp_both > 0 || self.cap.tcp_both > 0 {
            return false;
        }
        let mut unanswered = self
            .groups
            .iter()
            .filter(|(k, _)| k.proto == Proto::Udp)
            .filter_map(|(_, g)| g.get(&Outcome::Blocked(How::NoReply)))
            .flat_map(|b| b.pairs.keys().map(|(_, d)| d))
            .peekable();
        unanswered.peek().is_some() && unanswered.all(|d| !self.senders.contains(&d))
    }

    /// `secs` is (span, covered) in seconds.
    fn capture_warnings(
        &self,
        span: Option<(Timestamp, Timestamp)>,
        secs: (f64, f64),
        one_sided: bool,
        udp_one_sided: bool,
    ) -> Vec<String> {
        let (span_secs, covered_secs) = secs;
        let mut w = Vec::new();
        let s = &self.cap;
        if span.is_none() {
            w.push("the capture holds no packets".to_string());
            return w;
        }
        if one_sided {
            w.push(format!(
                "{} of {} TCP connections with at least 2 packets have packets from one side only: \
                 the capture looks one-sided (one direction of a SPAN or tap, or asymmetric routing), \
                 so a missing reply may not be a block",
                s.tcp_one_sided, s.tcp_multi
            ));
        }
        if udp_one_sided {
            w.push(
                "no packet of the capture comes from a responder (no UDP reply, no TCP packet from a \
                 server, nothing from the hosts asked): it may hold one direction only (a capture \
                 filter, one side of a SPAN or tap), or everything the host sent was dropped; UDP \
                 requests without a reply are inconclusive, not blocked"
                    .to_string(),
            );
        }
        if s.tcp >= 3 && s.tcp_ack_or_data == 0 && (s.tcp_synack > 0 || s.tcp_bytes_no_data > 0) {
            w.push(format!(
                "none of the {} TCP connections shows a pure ACK or a data packet, though {} got a SYN-ACK: \
                 the capture looks filtered to SYN/FIN/RST packets, so only handshakes can be judged",
                s.tcp, s.tcp_synack
            ));
        }
        w.extend(self.flood.iter().cloned());
        if span_secs < SYNC_CYCLE_SECS {
            w.push(format!(
                "the capture spans {}, shorter than one 30-min sync cycle: flows expected every sync cycle may be absent by chance",
                fmt_span(span_secs)
            ));
        } else if covered_secs < SYNC_CYCLE_SECS {
            w.push(format!(
                "the capture spans {} but covers only {} of traffic (silences of more than 2 min \
                 left out), less than one 30-min sync cycle: flows expected every sync cycle may \
                 be absent by chance",
                fmt_span(span_secs),
                fmt_span(covered_secs)
            ));
        }
        w
    }

    /// True when some group matching `r` has working connections.
    fn rule_works(&self, r: &Rule) -> bool {
        self.groups
            .iter()
            .any(|(k, g)| k.covered_by(r) && g.contains_key(&Outcome::Working))
    }

    /// Where `r` stands in the catalogue (for ordering findings by rule).
    fn rule_index(&self, r: &Rule) -> usize {
        self.catalogue
            .rules
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .unwrap_or(0)
    }

    fn rule_by_id(&self, id: &str) -> Option<&'a Rule> {
        let cat: &'a Catalogue = self.catalogue;
        cat.rules.iter().find(|r| r.id == id)
    }

    /// Severity and the sentence explaining it, for a failure matching `sel`.
    fn failure_severity(&self, k: GroupKey, sel: Selected<'a>) -> (Severity, String) {
        let enabled_feats = |r: &Rule| -> String {
            if r.features.is_empty() {
                "every deployment".to_string()
            } else {
                let on: Vec<Feature> = r
                    .features
                    .iter()
                    .copied()
                    .filter(|f| self.inventory.features.contains(f))
                    .collect();
                feature_list(&on)
            }
        };
        match (sel.enabled, sel.disabled) {
            (Some(r), _) if r.kind == Kind::Required => match r.when {
                When::Optional => {
                    let mut s = format!("{} is optional: recommended, not required", rule_ref(r));
                    let fb = self.catalogue.rules.iter().find(|x| {
                        x.fallback_for.as_deref() == Some(r.id.as_str())
                            && x.enabled_by(&self.inventory.features)
                            && self.rule_works(x)
                    });
                    if let Some(x) = fb {
                        s.push_str(&format!("; its fallback rule {} works", x.id));
                    }
                    (Severity::Warning, s)
                }
                When::Fallback => {
                    let primary = r.fallback_for.as_deref().and_then(|id| self.rule_by_id(id));
                    match primary {
                        Some(p) if self.rule_works(p) => (
                            Severity::Warning,
                            format!(
                                "{} is the fallback for rule {}, which works",
                                rule_ref(r),
                                p.id
                            ),
                        ),
                        Some(p) => (
                            Severity::Error,
                            format!(
                                "{} is the fallback for rule {}, which shows no working connection either",
                                rule_ref(r),
                                p.id
                            ),
                        ),
                        None => (
                            Severity::Error,
                            format!("needed by {} for {}", rule_ref(r), enabled_feats(r)),
                        ),
                    }
                }
                _ => (
                    Severity::Error,
                    format!("needed by {} for {}", rule_ref(r), enabled_feats(r)),
                ),
            },
            (Some(r), _) => (
                Severity::Warning,
                format!(
                    "{} tolerates this flow, but no enabled feature requires it",
                    rule_ref(r)
                ),
            ),
            (None, Some(r)) => (
                Severity::Warning,
                format!("{}: the firewall may be doing its job", only_with(r)),
            ),
            (None, None) => (
                Severity::Info,
                format!(
                    "no rule of the catalogue needs {}/{} from {} to {}: the firewall may be doing its job",
                    k.proto.name(),
                    k.port,
                    k.src,
                    k.dst
                ),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn base(
        &self,
        kind: FindingKind,
        severity: Severity,
        k: GroupKey,
        sel: Selected<'a>,
        how: Option<How>,
        b: &Bucket,
        evidence: Vec<String>,
        wireshark_filter: Option<String>,
    ) -> Finding {
        let r = sel.enabled.or(sel.disabled);
        let mut evidence = evidence;
        if !sel.also.is_empty() {
            let also: Vec<String> = sel
                .also
                .iter()
                .map(|r| {
                    let feats: Vec<&str> = r.features.iter().map(|f| f.name()).collect();
                    let table = r
                        .table
                        .as_deref()
                        .map(|t| format!(", table {t}"))
                        .unwrap_or_default();
                    if feats.is_empty() {
                        format!("{}{table}", r.id)
                    } else {
                        format!("{}{table}, for {}", r.id, feats.join("/"))
                    }
                })
                .collect();
            evidence.push(format!("the same flow also serves {}", also.join("; ")));
        }
        Finding {
            kind,
            severity,
            src_role: Some(k.src),
            dst_role: Some(k.dst),
            transport: k.proto,
            port: k.port,
            ports: r.map(|r| r.ports.to_string()),
            rule: r.map(|r| r.id.clone()),
            table: r.and_then(|r| r.table.clone()),
            page: r.and_then(|r| r.page.clone()),
            section: r.and_then(|r| r.section.clone()),
            also_rules: sel.also.iter().map(|r| r.id.clone()).collect(),
            how,
            hosts: host_pairs(b, self.max_hosts),
            hosts_total: b.pairs.len() as u64,
            count: b.conns,
            evidence,
            wireshark_filter,
            inputs: Vec::new(),
            input_mask: b.inputs,
        }
    }
}

/// Evidence lines one finding gives per destination (or per kind of ICMP error).
const MAX_LINES: usize = 10;

/// Keeps at most [`MAX_LINES`] of the lines from `from` on, saying how many
/// more `what` were left out (the host pairs and the filter still hold them all).
fn cap_lines(ev: &mut Vec<String>, from: usize, what: &str) {
    let n = ev.len().saturating_sub(from);
    if n > MAX_LINES {
        ev.truncate(from + MAX_LINES);
        ev.push(format!("and {} more {what} like these", n - MAX_LINES));
    }
}

/// `49670, 49671 and 49700`, or the first ten and how many more.
fn port_list(ports: &[u16]) -> String {
    const SHOWN: usize = 10;
    let mut v: Vec<String> = ports.iter().take(SHOWN).map(u16::to_string).collect();
    if ports.len() > SHOWN {
        v.push(format!("{} more", ports.len() - SHOWN));
    }
    fmt_list(&v)
}

/// `3 records of stray packets ...`, when there were any.
fn stray_note(strays: u64) -> Option<String> {
    (strays > 0).then(|| {
        format!(
            "{} after a connection of the same address/port pair had closed (a last ACK or a \
             retransmitted FIN): the tail of a connection counted here, not connections of their own",
            plural(strays, "record holds only stray packets", "records hold only stray packets")
        )
    })
}
