//! Learning from the capture itself: which name each address answers to, and
//! which dynamic RPC ports endpoint mappers handed out.
//!
//! A [`Learner`] sees every decoded packet with its payload, in capture order,
//! before tracking (see [`crate::pipeline::run_observed`]). It reads:
//! - DNS responses over UDP and TCP port 53 (A, AAAA, CNAME chains): the
//!   address gets the name asked for (the head of the CNAME chain) and the
//!   record's owner name;
//! - TLS ClientHello server names (SNI) and HTTP `Host` headers: the name of
//!   the server the client connects to; handshakes to the catalogue's
//!   endpoints are followed until encryption starts, for how they fail
//!   ([`handshake`]);
//! - HTTP `CONNECT host:port` through an explicit proxy: the connection to the
//!   proxy is attributed to that host ([`ProxyTarget`]), the proxy itself is
//!   not renamed; a tunnel to a catalogue endpoint is followed until it
//!   closes, for a proxy that cuts idle tunnels ([`tunnel`]);
//! - DNS answers for the catalogue's endpoints, per client ([`resolve`]);
//! - UDP Kerberos requests sent again after their reply came in IP
//!   fragments ([`retry`]);
//! - DCE-RPC endpoint mapper responses from TCP 135: the TCP ports (and IPv4
//!   addresses) of every tower ([`EpmTable`]).
//!
//! Zeek's dns.log, ssl.log and http.log teach the same through the same
//! rules ([`crate::logs::read_name_log`] calls [`Learner::learn_dns_answers`],
//! [`Learner::learn_sni`] and [`Learner::learn_http_request`]), so this module
//! stays the one owner of what a name is and where it is kept.
//!
//! Parsers are bounded and total: arbitrary bytes yield nothing, never a panic.
//! Only valid host names are kept (see [`wire::normalise_name`]); reports must
//! still escape them. Memory is capped: at most [`MAX_NAMES_PER_ADDR`] names per
//! address and [`MAX_ADDRS`] addresses; allocation happens only when something
//! new is learned.

pub mod dns;
pub mod epm;
pub mod failure;
pub mod handshake;
pub mod held;
pub mod http;
pub mod kerberos;
pub mod resolve;
pub mod retry;
pub mod tls;
pub mod tunnel;
pub mod wire;

#[cfg(test)]
mod tests;

use crate::catalogue::Proto;
use crate::decode::{Packet, Transport};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// Names kept at most per address (the first ones learned).
pub const MAX_NAMES_PER_ADDR: usize = 8;
/// Addresses (and proxied connections, and endpoint-mapper servers) kept at most.
pub const MAX_ADDRS: usize = 1 << 18;

/// Where a name was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameSource {
    /// A DNS answer (A/AAAA, possibly at the end of a CNAME chain).
    Dns,
    /// A TLS ClientHello's server name.
    Sni,
    /// An HTTP request's Host header.
    HttpHost,
}

impl NameSource {
    /// The name used in reports (`dns`, `sni`, `http-host`).
    pub fn name(self) -> &'static str {
        match self {
            NameSource::Dns => "dns",
            NameSource::Sni => "sni",
            NameSource::HttpHost => "http-host",
        }
    }
}

/// One name learned for an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LearnedName {
    /// The host name, lower-case, no trailing dot.
    pub name: String,
    /// How it was learned.
    pub source: NameSource,
    /// When it was first learned (packet time).
    pub ts: Timestamp,
}

/// Names per address, in the order they were learned.
#[derive(Clone, Debug, Default)]
pub struct NameTable {
    /// Address (canonical form) -> names.
    by_addr: HashMap<IpAddr, Vec<LearnedName>>,
}

impl NameTable {
    /// Records `name` for `addr` unless already known (no allocation then).
    ///
    /// The names of an address are kept in the order of their `ts`, the
    /// first [`MAX_NAMES_PER_ADDR`] of them: packets come in time order, so
    /// for them that is the order they are seen, but a name read from a log
    /// (a Zeek dns.log read before the ssl.log) may be older than one
    /// already known, and goes before it, so the names of an audit of logs
    /// read in any order are those of the capture's.
    pub fn learn(&mut self, addr: IpAddr, name: &[u8], source: NameSource, ts: Timestamp) {
        let addr = addr.to_canonical();
        if addr.is_unspecified() {
            return;
        }
        let bare = name.strip_suffix(b".").unwrap_or(name);
        if let Some(names) = self.by_addr.get_mut(&addr) {
            if let Some(i) = names
                .iter()
                .position(|n| n.name.as_bytes().eq_ignore_ascii_case(bare))
            {
                // Known: only an earlier sighting changes it (when and how).
                if names.get(i).is_some_and(|n| ts < n.ts) {
                    let mut n = names.remove(i);
                    n.source = source;
                    n.ts = ts;
                    let at = names.partition_point(|m| m.ts <= ts);
                    names.insert(at, n);
                }
                return;
            }
            if names.len() >= MAX_NAMES_PER_ADDR && names.last().is_none_or(|l| l.ts <= ts) {
                return;
            }
        } else if self.by_addr.len() >= MAX_ADDRS {
            return;
        }
        let Some(name) = wire::normalise_name(name) else {
            return;
        };
        let names = self.by_addr.entry(addr).or_default();
        let at = names.partition_point(|m| m.ts <= ts);
        names.insert(at, LearnedName { name, source, ts });
        names.truncate(MAX_NAMES_PER_ADDR);
    }

    /// Every name learned for `addr`, first learned first.
    pub fn names(&self, addr: IpAddr) -> &[LearnedName] {
        self.by_addr
            .get(&addr.to_canonical())
            .map_or(&[], Vec::as_slice)
    }

    /// The name to print next to `addr`: the first learned.
    pub fn name(&self, addr: IpAddr) -> Option<&str> {
        self.names(addr).first().map(|n| n.name.as_str())
    }

    /// Every address with names, sorted.
    pub fn addrs(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.by_addr.keys().copied().collect();
        v.sort();
        v
    }

    /// Number of addresses with names.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// True when nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

/// A port an endpoint mapper handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The endpoint mapper that answered (the response's source address).
    pub mapper: IpAddr,
    /// The address in the tower's IPv4 floor, when not 0.0.0.0.
    pub addr: Option<IpAddr>,
    /// The TCP port handed out.
    pub port: u16,
    /// When (response packet time).
    pub ts: Timestamp,
}

/// Ports handed out by endpoint mappers, per server address.
#[derive(Clone, Debug, Default)]
pub struct EpmTable {
    /// (server address, port) -> first announcement.
    by_endpoint: HashMap<(IpAddr, u16), Announcement>,
}

impl EpmTable {
    /// The first announcement of `port` on `server`, if any.
    pub fn announced(&self, server: IpAddr, port: u16) -> Option<&Announcement> {
        self.by_endpoint.get(&(server.to_canonical(), port))
    }

    /// Every announcement, by server then port.
    pub fn all(&self) -> Vec<Announcement> {
        let mut v: Vec<Announcement> = self.by_endpoint.values().copied().collect();
        v.sort_by_key(|a| (a.addr.unwrap_or(a.mapper), a.port, a.mapper));
        v
    }

    fn record(&mut self, a: Announcement) {
        let server = a.addr.unwrap_or(a.mapper).to_canonical();
        if self.by_endpoint.len() < MAX_ADDRS {
            self.by_endpoint.entry((server, a.port)).or_insert(a);
        }
    }
}

/// A connection through an explicit proxy and the host it asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyTarget {
    /// Client address.
    pub client: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Proxy address.
    pub proxy: IpAddr,
    /// Proxy port.
    pub proxy_port: u16,
    /// The host of `CONNECT host:port`.
    pub host: String,
    /// The port of `CONNECT host:port`.
    pub port: u16,
    /// When the request was seen.
    pub ts: Timestamp,
    /// The status code of the proxy's answer (`200` tunnel open, `403`
    /// refused by policy, `407` authentication required), when captured.
    pub status: Option<u16>,
}

/// Everything learned from one run.
#[derive(Clone, Debug, Default)]
pub struct Learned {
    /// Names per address.
    pub names: NameTable,
    /// Dynamic RPC ports handed out.
    pub epm: EpmTable,
    /// Connections through explicit proxies, keyed by (client, client port, proxy, proxy port).
    pub proxied: HashMap<(IpAddr, u16, IpAddr, u16), ProxyTarget>,
    /// Servers seen answering HTTP requests for `/adfs/` paths (address -> first time).
    pub adfs_paths: HashMap<IpAddr, Timestamp>,
    /// Kerberos errors and failed lookups of watched names, in a fixed order.
    pub failures: Vec<failure::Failure>,
    /// The catalogue's endpoints resolved per client, by client then name.
    pub resolutions: Vec<resolve::Resolution>,
}

impl Learned {
    /// The CONNECT target of a connection, if it went through an explicit proxy.
    pub fn proxy_target(
        &self,
        client: IpAddr,
        client_port: u16,
        proxy: IpAddr,
        proxy_port: u16,
    ) -> Option<&ProxyTarget> {
        self.proxied.get(&(
            client.to_canonical(),
            client_port,
            proxy.to_canonical(),
            proxy_port,
        ))
    }
}

/// Feeds packets to the parsers and collects what they learn.
#[derive(Debug, Default)]
pub struct Learner {
    /// What was learned so far.
    pub learned: Learned,
    /// Reused buffers for one DNS response's records.
    scratch: DnsScratch,
    /// The names whose failed lookups are failures.
    watch: crate::catalogue::NameWatch,
    /// Failures so far.
    failures: failure::Failures,
    /// TLS handshakes to watched endpoints in progress.
    handshakes: handshake::Handshakes,
    /// Endpoints resolved so far.
    resolutions: resolve::Resolutions,
    /// Proxy tunnels to watched endpoints, followed until they close.
    tunnels: tunnel::Tunnels,
    /// Kerberos requests over UDP and their fragmented replies.
    retries: retry::KdcRetries,
}

/// The records of the DNS response being read, kept between responses so that
/// reading one allocates only when it is bigger than every one before.
#[derive(Default)]
struct DnsScratch {
    /// CNAME links (alias -> target).
    cnames: Vec<(dns::Name, dns::Name)>,
    /// Address records (owner, address).
    addrs: Vec<(dns::Name, IpAddr)>,
    /// The CNAME chain from one owner back to the name asked for.
    chain: Vec<dns::Name>,
}

impl std::fmt::Debug for DnsScratch {
    /// Empty between packets, so there is nothing worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsScratch").finish_non_exhaustive()
    }
}

impl Learner {
    /// A learner with nothing learned, watching no names.
    pub fn new() -> Learner {
        Learner::default()
    }

    /// A learner that also records failed lookups of the names `watch` covers.
    pub fn watching(watch: crate::catalogue::NameWatch) -> Learner {
        Learner {
            watch,
            ..Learner::default()
        }
    }

    /// Reads one decoded packet.
    ///
    /// Nearly every packet carries nothing to learn from; the checks that say
    /// so (a payload, the protocol, the server port, the first payload byte)
    /// are inline here, and only the rest pay for a call to the parsers.
    #[inline]
    pub fn observe(&mut self, p: &Packet<'_>) {
        if p.transport == Transport::Tcp {
            if self.handshakes.may_follow(p.sport, p.dport) {
                self.follow(p);
            }
            if self.tunnels.may_follow(p.sport, p.dport) {
                self.follow_tunnel(p);
            }
        }
        let Some(&first) = p.payload.first() else {
            return;
        };
        let worth = match p.transport {
            Transport::Udp => p.sport == 53 || p.dport == 53 || p.sport == 88 || p.dport == 88,
            Transport::Tcp => {
                p.sport == 53
                    || p.sport == 135
                    || p.sport == 88
                    || first == 22
                    || first.is_ascii_uppercase()
            }
            _ => false,
        };
        if worth {
            self.parse(p);
        }
    }

    /// Runs the parser [`Learner::observe`] picked for a packet with payload.
    #[inline(never)]
    fn parse(&mut self, p: &Packet<'_>) {
        match p.transport {
            Transport::Udp if p.sport == 53 => {
                self.dns(p.payload, p.ts);
                self.dns_outcome(p, p.payload, Proto::Udp);
            }
            Transport::Udp if p.dport == 53 => self.dns_query(p),
            Transport::Udp if p.sport == 88 => {
                if p.fragments > 1 {
                    let ends = (p.dst, p.src);
                    self.retries
                        .fragmented_reply(ends, p.fragments, p.payload_len, p.ts);
                }
                self.kerberos(p, p.payload, Proto::Udp)
            }
            Transport::Udp if p.dport == 88 => {
                self.retries
                    .request((p.src, p.dst), p.payload, p.ts, &mut self.failures)
            }
            Transport::Tcp if p.sport == 88 => {
                if let Some(m) = kerberos::tcp_record(p.payload) {
                    self.kerberos(p, m, Proto::Tcp);
                }
            }
            Transport::Tcp if p.sport == 53 => {
                if let Some(m) = dns::tcp_message(p.payload) {
                    self.dns(m, p.ts);
                    self.dns_outcome(p, m, Proto::Tcp);
                }
            }
            Transport::Tcp if p.sport == 135 => {
                let l = &mut self.learned;
                epm::endpoints(p.payload, &mut |e| {
                    l.epm.record(Announcement {
                        mapper: p.src.to_canonical(),
                        addr: e.addr.filter(|a| !a.is_unspecified()).map(IpAddr::V4),
                        port: e.port,
                        ts: p.ts,
                    })
                });
            }
            Transport::Tcp => match p.payload.first() {
                Some(22) => {
                    if let Some(hello) = tls::client_hello(p.payload)
                        && let Some(sni) = hello.sni
                    {
                        self.learn_sni((p.src, p.sport, p.dst, p.dport), sni, p.ts);
                        self.watch_hello(p, &hello, sni);
                    }
                }
                Some(b'A'..=b'Z') => self.http(p),
                _ => {}
            },
            _ => {}
        }
    }

    /// A segment of a connection whose TLS handshake may be followed.
    #[inline(never)]
    fn follow(&mut self, p: &Packet<'_>) {
        let s = handshake::Segment::of(p);
        self.handshakes.segment(&s, &self.watch, &mut self.failures);
    }

    /// A segment that may be of a followed proxy tunnel.
    #[inline(never)]
    fn follow_tunnel(&mut self, p: &Packet<'_>) {
        let flags = p.tcp.map_or(0, |t| t.flags);
        let ends = ((p.src, p.sport), (p.dst, p.dport));
        self.tunnels.segment(ends, flags, p.payload_len, p.ts);
    }

    /// A ClientHello naming a catalogue endpoint: its handshake is followed.
    fn watch_hello(&mut self, p: &Packet<'_>, hello: &tls::ClientHello<'_>, sni: &[u8]) {
        let Some(name) = wire::normalise_name(sni) else {
            return;
        };
        if self.watch.endpoint(&name).is_none() {
            return;
        }
        let s = handshake::Segment::of(p);
        self.handshakes
            .client_hello(&s, hello, name, &mut self.failures);
    }

    /// Returns what was learned.
    pub fn finish(self) -> Learned {
        let mut learned = self.learned;
        let mut failures = self.failures;
        self.tunnels.finish(&mut failures);
        learned.failures = failures.finish(&self.watch);
        let mut resolutions = self.resolutions;
        // A client that asked its proxy for the endpoint left the
        // connecting to the proxy.
        for t in learned.proxied.values() {
            resolutions.named(t.client, t.host.as_bytes());
        }
        learned.resolutions = resolutions.finish();
        learned
    }

    /// The time of the capture's last packet: queries sent [`failure::DNS_TIMEOUT`]
    /// before it and never answered are unanswered (the learner itself only
    /// sees the DNS packets' times).
    pub fn capture_ended(&mut self, ts: Timestamp) {
        self.failures.saw_time(ts);
    }

    /// The watched entry and name of a DNS message's question, if watched.
    fn watched_question(&self, msg: &[u8]) -> Option<(dns::Question, String, usize)> {
        let q = dns::question(msg)?;
        let name = wire::normalise_name(q.name.as_bytes())?;
        let entry = self.watch.entry(&name)?;
        Some((q, name, entry))
    }

    /// A UDP query to port 53 for a watched name: it waits for its response.
    fn dns_query(&mut self, p: &Packet<'_>) {
        if let Some((q, name, entry)) = self.watched_question(p.payload)
            && !q.response
        {
            let key = (p.src, p.sport, p.dst, q.id);
            self.failures.query(key, (name, q.qtype, entry), p.ts);
        }
    }

    /// A DNS response for a watched name: its query is answered, and an
    /// error code is a failure.
    fn dns_outcome(&mut self, p: &Packet<'_>, msg: &[u8], proto: Proto) {
        let Some((q, name, entry)) = self.watched_question(msg) else {
            return;
        };
        if !q.response {
            return;
        }
        if q.rcode == 0 && self.watch.is_endpoint(entry) {
            // The addresses the message gave, which `dns` read just before.
            let addrs = self.scratch.addrs.iter().map(|(_, a)| *a);
            self.resolutions
                .answered((p.dst, p.src), proto, &name, addrs, p.ts);
        }
        // Over TCP only the error counts: the TCP tracker judges the rest.
        let port = if proto == Proto::Udp { p.dport } else { 0 };
        let key = (p.dst, port, p.src, q.id);
        self.failures.response(
            key,
            (name, q.qtype, entry),
            (q.rcode, q.answers),
            proto,
            p.ts,
        );
    }

    /// A KRB-ERROR from a KDC: the errors that break a deployment are failures
    /// (the normal ones, such as `KDC_ERR_PREAUTH_REQUIRED`, are not).
    fn kerberos(&mut self, p: &Packet<'_>, msg: &[u8], proto: Proto) {
        use kerberos::code;
        let Some(e) = kerberos::krb_error(msg) else {
            return;
        };
        let name = code::name(e.code).unwrap_or("");
        let (kind, detail, skew) = match e.code {
            code::AP_ERR_SKEW => {
                let skew = match (e.stime, e.ctime) {
                    (Some(s), Some(c)) => Some((s.0.saturating_sub(c.0), failure::Clock::Client)),
                    (Some(s), None) => Some((s.0.saturating_sub(p.ts.0), failure::Clock::Capture)),
                    _ => None,
                };
                (failure::FailureKind::KerberosSkew, name.to_string(), skew)
            }
            code::C_PRINCIPAL_UNKNOWN => {
                let who = e.cname.map(|c| c.display(e.crealm)).unwrap_or_default();
                (
                    failure::FailureKind::KerberosPrincipalUnknown,
                    format!("{name} {who}"),
                    None,
                )
            }
            code::S_PRINCIPAL_UNKNOWN => {
                let what = e.sname.map(|s| s.display(e.realm)).unwrap_or_default();
                (
                    failure::FailureKind::KerberosPrincipalUnknown,
                    format!("{name} {what}"),
                    None,
                )
            }
            code::ERR_RESPONSE_TOO_BIG => {
                (failure::FailureKind::KerberosTooBig, name.to_string(), None)
            }
            _ => return,
        };
        let detail = detail.trim_end().to_string();
        self.failures.record(
            kind,
            (p.dst, p.src),
            (proto, p.sport),
            detail,
            None,
            p.ts,
            skew,
        );
    }

    fn http(&mut self, p: &Packet<'_>) {
        let Some(req) = http::request(p.payload) else {
            // The proxy's answer to a CONNECT on this connection.
            let key = (p.dst.to_canonical(), p.dport, p.src.to_canonical(), p.sport);
            if let Some(t) = self.learned.proxied.get_mut(&key)
                && t.status.is_none()
            {
                t.status = http::status(p.payload);
            }
            return;
        };
        self.learn_http_request((p.src, p.sport, p.dst, p.dport), &req, None, p.ts);
        // A tunnel to a catalogue endpoint is followed until it closes.
        if let Some((host, _)) = req.connect_target()
            && self.watch.endpoint(&host).is_some()
        {
            self.tunnels
                .connect((p.src, p.sport), (p.dst, p.dport), host, p.ts);
        }
    }

    /// The server name a TLS client sent on the connection `(client, client
    /// port, server, server port)`: the server's name, unless the connection
    /// is a CONNECT tunnel through a proxy (the name is then the origin's,
    /// not the proxy's). For a packet's ClientHello and a Zeek ssl.log's
    /// `server_name` alike.
    pub fn learn_sni(&mut self, conn: (IpAddr, u16, IpAddr, u16), name: &[u8], ts: Timestamp) {
        let (client, client_port, server, server_port) = conn;
        let key = (
            client.to_canonical(),
            client_port,
            server.to_canonical(),
            server_port,
        );
        if !self.learned.proxied.contains_key(&key) {
            self.learned.names.learn(server, name, NameSource::Sni, ts);
        }
        // The client named the endpoint: it reached it, wherever the name led.
        let bare = name.strip_suffix(b".").unwrap_or(name);
        self.resolutions.named(client, bare);
    }

    /// One HTTP request on the connection `(client, client port, server,
    /// server port)`, from a packet or a Zeek http.log row: `CONNECT
    /// host:port` or an absolute-form target (`GET http://host/...`) makes
    /// it a connection through a proxy to that host ([`ProxyTarget`], with
    /// the proxy's `status` when known); otherwise the Host header names the
    /// server, and an `/adfs/` path marks it as answering AD FS requests.
    pub fn learn_http_request(
        &mut self,
        conn: (IpAddr, u16, IpAddr, u16),
        req: &http::Request<'_>,
        status: Option<u16>,
        ts: Timestamp,
    ) {
        let (client, client_port, server, server_port) = conn;
        // An absolute-form target (`GET http://host/...`) goes to a proxy: the
        // Host header names the origin, so it is a proxied connection too.
        let absolute = req
            .target
            .get(..7)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"http://"));
        let target = req.connect_target().or_else(|| {
            absolute
                .then(|| req.host.and_then(wire::normalise_name))
                .flatten()
                .map(|h| (h, 80))
        });
        if let Some((host, port)) = target {
            self.learn_proxy_target(ProxyTarget {
                client,
                client_port,
                proxy: server,
                proxy_port: server_port,
                host,
                port,
                ts,
                status,
            });
            return;
        }
        let l = &mut self.learned;
        if let Some(host) = req.host {
            l.names.learn(server, host, NameSource::HttpHost, ts);
        }
        if req.is_adfs_path() && l.adfs_paths.len() < MAX_ADDRS {
            l.adfs_paths.entry(server.to_canonical()).or_insert(ts);
        }
    }

    /// A connection through an explicit proxy and the host it asked for,
    /// learned directly (the first one of a connection is kept).
    pub fn learn_proxy_target(&mut self, t: ProxyTarget) {
        let client = t.client.to_canonical();
        let proxy = t.proxy.to_canonical();
        let key = (client, t.client_port, proxy, t.proxy_port);
        let l = &mut self.learned;
        if l.proxied.len() < MAX_ADDRS && !l.proxied.contains_key(&key) {
            l.proxied.insert(key, ProxyTarget { client, proxy, ..t });
        }
    }

    /// A name learned outside the packets (a row of a Zeek log), under the
    /// packets' rules: only host names, at most [`MAX_NAMES_PER_ADDR`] per
    /// address and [`MAX_ADDRS`] addresses ([`NameTable::learn`]).
    pub fn learn_name(&mut self, addr: IpAddr, name: &[u8], source: NameSource, ts: Timestamp) {
        self.learned.names.learn(addr, name, source, ts);
    }

    /// One DNS answer as a Zeek dns.log row has it: the name asked for and
    /// the answers in order, addresses and the names of CNAME (and other)
    /// records. A packet's response gives each address the CNAME chain from
    /// the name asked for to the address record's owner; a row has no
    /// owners, so each address gets the name asked for, then every name
    /// among the answers, in order: the same chain when there is one.
    /// `ends` (client, resolver) and the transport, when the row gives
    /// them: an answer for a catalogue endpoint is then its resolution.
    pub fn learn_dns_answers(
        &mut self,
        ends: Option<((IpAddr, IpAddr), Proto)>,
        query: &[u8],
        answers: &[&[u8]],
        ts: Timestamp,
    ) {
        let addrs = answers
            .iter()
            .filter_map(|a| std::str::from_utf8(a).ok()?.parse::<IpAddr>().ok());
        if let Some((ends, proto)) = ends
            && let Some(name) = wire::normalise_name(query)
            && self.watch.endpoint(&name).is_some()
        {
            self.resolutions
                .answered(ends, proto, &name, addrs.clone(), ts);
        }
        for ip in addrs {
            let names = answers
                .iter()
                .filter(|a| std::str::from_utf8(a).is_ok_and(|a| a.parse::<IpAddr>().is_err()));
            for n in std::iter::once(&query).chain(names) {
                self.learned.names.learn(ip, n, NameSource::Dns, ts);
            }
        }
    }

    fn dns(&mut self, msg: &[u8], ts: Timestamp) {
        // CNAME links of this message (alias -> target), to walk back to the name asked for.
        let DnsScratch {
            cnames,
            addrs,
            chain,
        } = &mut self.scratch;
        cnames.clear();
        addrs.clear();
        dns::answers(msg, &mut |a| match a.data {
            dns::Data::Cname(t) => cnames.push((a.owner, t)),
            dns::Data::Addr(ip) => addrs.push((a.owner, ip)),
        });
        for (owner, ip) in addrs.iter() {
            // The chain from the owner up to the name asked for; learned head
            // first, so the name printed is the one the client used.
            chain.clear();
            chain.push(*owner);
            for _ in 0..cnames.len() {
                let Some(cur) = chain.last() else { break };
                let Some((alias, _)) = cnames.iter().find(|(_, t)| t == cur) else {
                    break;
                };
                if chain.contains(alias) {
                    break;
                }
                chain.push(*alias);
            }
            for n in chain.iter().rev() {
                self.learned
                    .names
                    .learn(*ip, n.as_bytes(), NameSource::Dns, ts);
            }
        }
    }
}
