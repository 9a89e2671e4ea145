//! Protocol failures the payload shows: Kerberos errors that break a
//! deployment, failed lookups of the names the catalogue watches, and
//! failed TLS handshakes to its endpoints ([`super::handshake`]).
//!
//! The learner only records what it saw, per (kind, client, server,
//! detail), counted; which role pair and rule a failure breaks, and how bad
//! it is, is the classifier's to say. Memory is bounded: at most
//! [`MAX_FAILURES`] distinct failures and [`MAX_PENDING`] unanswered queries
//! are kept; a capture full of them keeps the first.

use crate::catalogue::{NameWatch, Proto};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// Distinct failures kept at most.
pub const MAX_FAILURES: usize = 4096;
/// Queries of watched names waiting for their response, at most.
pub const MAX_PENDING: usize = 1 << 16;
/// A query with no response this long after it was sent is unanswered
/// (Windows' resolver gives up on a server after 1 s and retries for about 10).
pub const DNS_TIMEOUT: i64 = 5_000_000_000;
/// A failed lookup is only a step of the locator when the same client
/// found a related name this close to it (the site's record first, then
/// the domain's; see [`NameWatch::related`]).
pub const LOOKUP_FALLBACK: i64 = 60_000_000_000;

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// `KRB_AP_ERR_SKEW`: the client's clock is too far from the KDC's.
    KerberosSkew,
    /// `KDC_ERR_C_PRINCIPAL_UNKNOWN` or `KDC_ERR_S_PRINCIPAL_UNKNOWN`.
    KerberosPrincipalUnknown,
    /// `KRB_ERR_RESPONSE_TOO_BIG`: the KDC told the client to use TCP.
    KerberosTooBig,
    /// A KDC's UDP reply came in IP fragments and the client sent the same
    /// request again: the fragments did not reach it.
    KerberosFragmentsLost,
    /// A lookup answered NXDOMAIN.
    DnsNxdomain,
    /// A lookup answered SERVFAIL or REFUSED.
    DnsServfail,
    /// A lookup with no response at all.
    DnsNoAnswer,
    /// A ClientHello to a catalogue endpoint offering nothing newer than TLS 1.1.
    TlsLegacyVersion,
    /// A fatal TLS alert in clear text during the handshake.
    TlsAlert,
    /// A TLS 1.2 server certificate for a catalogue endpoint from an issuer
    /// that is not the Microsoft cloud's.
    TlsIntercepted,
    /// The connection reset (or closed) from the server side after the
    /// ClientHello, before any ServerHello.
    TlsResetAfterHello,
    /// A catalogue endpoint resolved for a client that then sent nothing to
    /// any address it was given (made by the classifier from a
    /// [`super::resolve::Resolution`] and the audit's connections).
    ResolvedNeverReached,
    /// A catalogue endpoint resolved for a client that reached it only long
    /// after, its attempts in between failing (made by the classifier too).
    ReachedAfterRetry,
    /// An explicit proxy closed tunnels to catalogue endpoints after the
    /// same idle time, shorter than the deployment needs.
    ProxyIdleCut,
}

/// Whose clock a Kerberos skew is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The client's, as its request gave it (the error's `ctime`).
    Client,
    /// The capture's: the KDC did not echo the client's time.
    Capture,
}

/// One failure, with how often and when it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub kind: FailureKind,
    /// The host whose request failed.
    pub client: IpAddr,
    /// The server that answered (or did not).
    pub server: IpAddr,
    /// The transport of the request.
    pub proto: Proto,
    /// The server's port.
    pub port: u16,
    /// Kerberos: the error's name and principal (`KDC_ERR_C_PRINCIPAL_UNKNOWN
    /// MSOL_1a2b@CORP.EXAMPLE`); DNS: the name looked up and its type
    /// (`_ldap._tcp.dc._msdcs.corp.example SRV`); TLS: the server name and
    /// what happened (`login.microsoftonline.com: offered at most TLS 1.1`).
    pub detail: String,
    /// DNS: the name looked up alone; TLS: the ClientHello's server name.
    pub name: Option<String>,
    /// Times seen (errors, or queries without a response).
    pub count: u64,
    /// First seen.
    pub first: Timestamp,
    /// Last seen.
    pub last: Timestamp,
    /// Kerberos skew: the KDC's clock minus the other clock, in
    /// nanoseconds, the largest in magnitude seen.
    pub skew: Option<(i64, Clock)>,
    /// For a name resolved and not (or late) reached: the addresses the
    /// answers gave; else empty.
    pub addrs: Vec<IpAddr>,
    /// The failure broke something the client was doing; false when it got
    /// through in the end, or only idle connections were cut: the finding
    /// is then a warning at most.
    pub disrupted: bool,
}

/// The key a failure is counted under.
type Key = (FailureKind, IpAddr, IpAddr, Proto, u16, String);

/// A query of a watched name waiting for its response.
#[derive(Clone, Debug)]
struct Pending {
    name: String,
    qtype: u16,
    entry: usize,
    ts: Timestamp,
}

/// Failures seen so far, and the lookups still waiting.
#[derive(Clone, Debug, Default)]
pub struct Failures {
    seen: HashMap<Key, Failure>,
    /// (client, client port, server, id) -> the query.
    pending: HashMap<(IpAddr, u16, IpAddr, u16), Pending>,
    /// (client, watched entry) -> first and last successful answer.
    found: HashMap<(IpAddr, usize), (Timestamp, Timestamp)>,
    /// Failed lookups' entries, for the fallback check at the end.
    entry_of: HashMap<Key, usize>,
    /// The latest packet time seen, to expire queries at the end.
    now: Timestamp,
}

impl Failures {
    /// Counts one failure (kept only while fewer than [`MAX_FAILURES`] are).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        kind: FailureKind,
        (client, server): (IpAddr, IpAddr),
        (proto, port): (Proto, u16),
        detail: String,
        name: Option<String>,
        ts: Timestamp,
        skew: Option<(i64, Clock)>,
    ) -> Option<&mut Failure> {
        let (client, server) = (client.to_canonical(), server.to_canonical());
        let key = (kind, client, server, proto, port, detail);
        if !self.seen.contains_key(&key) && self.seen.len() >= MAX_FAILURES {
            return None;
        }
        let f = self.seen.entry(key.clone()).or_insert_with(|| Failure {
            kind,
            client,
            server,
            proto,
            port,
            detail: key.5.clone(),
            name,
            count: 0,
            first: ts,
            last: ts,
            skew: None,
            addrs: Vec::new(),
            disrupted: true,
        });
        f.count += 1;
        f.first = f.first.min(ts);
        f.last = f.last.max(ts);
        if let Some((s, clock)) = skew
            && f.skew
                .is_none_or(|(old, _)| s.unsigned_abs() > old.unsigned_abs())
        {
            f.skew = Some((s, clock));
        }
        Some(f)
    }

    /// A UDP query for a watched name (`entry`, see
    /// [`crate::catalogue::NameWatch::entry`]) from `client`.
    pub fn query(
        &mut self,
        key: (IpAddr, u16, IpAddr, u16),
        q: (String, u16, usize),
        ts: Timestamp,
    ) {
        self.now = self.now.max(ts);
        if self.pending.len() >= MAX_PENDING {
            self.expire(ts);
        }
        if self.pending.len() < MAX_PENDING {
            let (name, qtype, entry) = q;
            let key = (key.0.to_canonical(), key.1, key.2.to_canonical(), key.3);
            self.pending.entry(key).or_insert(Pending {
                name,
                qtype,
                entry,
                ts,
            });
        }
    }

    /// A response to `client` from `server` for a watched name: settles its
    /// query, and counts a failure for an error code.
    pub fn response(
        &mut self,
        (client, client_port, server, id): (IpAddr, u16, IpAddr, u16),
        (name, qtype, entry): (String, u16, usize),
        (rcode, answers): (u8, u16),
        proto: Proto,
        ts: Timestamp,
    ) {
        self.now = self.now.max(ts);
        let (client, server) = (client.to_canonical(), server.to_canonical());
        if proto == Proto::Udp {
            self.pending.remove(&(client, client_port, server, id));
        }
        let kind = match rcode {
            0 if answers == 0 => return,
            0 => {
                let e = self.found.entry((client, entry)).or_insert((ts, ts));
                e.0 = e.0.min(ts);
                e.1 = e.1.max(ts);
                return;
            }
            3 => FailureKind::DnsNxdomain,
            2 | 5 => FailureKind::DnsServfail,
            _ => return,
        };
        self.failed_lookup(kind, (client, server), proto, (name, qtype, entry), ts);
    }

    /// Counts a failed lookup and remembers its entry.
    fn failed_lookup(
        &mut self,
        kind: FailureKind,
        ends: (IpAddr, IpAddr),
        proto: Proto,
        (name, qtype, entry): (String, u16, usize),
        ts: Timestamp,
    ) {
        let detail = format!("{name} {}", super::dns::type_name(qtype));
        let key = (kind, ends.0, ends.1, proto, 53, detail.clone());
        if self
            .record(kind, ends, (proto, 53), detail, Some(name), ts, None)
            .is_some()
        {
            self.entry_of.insert(key, entry);
        }
    }

    /// Queries older than [`DNS_TIMEOUT`] at `now` become `DnsNoAnswer` failures.
    fn expire(&mut self, now: Timestamp) {
        let old: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now.0.saturating_sub(p.ts.0) >= DNS_TIMEOUT)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            if let Some(p) = self.pending.remove(&k) {
                let q = (p.name, p.qtype, p.entry);
                self.failed_lookup(FailureKind::DnsNoAnswer, (k.0, k.2), Proto::Udp, q, p.ts);
            }
        }
    }

    /// A packet time from outside DNS (the capture's end): queries older
    /// than [`DNS_TIMEOUT`] at the end are unanswered.
    pub fn saw_time(&mut self, ts: Timestamp) {
        self.now = self.now.max(ts);
    }

    /// Every failure, in a fixed order: queries still waiting at the end
    /// count as unanswered when the capture went on for [`DNS_TIMEOUT`]
    /// after them, and failed lookups the client recovered from by a
    /// related name (within [`LOOKUP_FALLBACK`]) are left out.
    pub fn finish(mut self, watch: &NameWatch) -> Vec<Failure> {
        self.expire(self.now);
        let found = &self.found;
        let entry_of = &self.entry_of;
        let recovered = |f: &Failure, entry: usize| {
            found.iter().any(|(&(client, e), &(a, b))| {
                client == f.client
                    && watch.related(entry, e)
                    && a.0 <= f.last.0.saturating_add(LOOKUP_FALLBACK)
                    && b.0 >= f.first.0.saturating_sub(LOOKUP_FALLBACK)
            })
        };
        let mut v: Vec<Failure> = self
            .seen
            .into_iter()
            .filter(|(k, f)| entry_of.get(k).is_none_or(|&e| !recovered(f, e)))
            .map(|(_, f)| f)
            .collect();
        v.sort_by(|a, b| {
            (a.kind, a.client, a.server, a.proto, a.port, &a.detail)
                .cmp(&(b.kind, b.client, b.server, b.proto, b.port, &b.detail))
        });
        v
    }
}
