//! What the two change-request formats (`firewall-csv`, `firewall-ps1`)
//! share: which findings are rules to open, which only say "investigate",
//! and how a finding's host pairs become rows of CIDRs.
//!
//! A rule to open is a `blocked` finding of severity `error`. The
//! classifier gives a blocked finding that severity exactly when an enabled
//! feature requires its rule (or it is a fallback whose primary shows no
//! working connection either) and the capture proves the block: an
//! optional, tolerated or disabled-feature rule, or a fallback whose primary
//! works, gives a warning, and a one-sided capture caps unanswered SYNs and
//! UDP requests at warning (the replies may just not have been captured).
//! A change request asks for nothing the capture does not prove is needed
//! and refused.
//!
//! What else needs attention but is no rule to open is listed as
//! "investigate", never as an opening: findings of severity `error` that
//! are not blocked (a required flow missing from a long enough capture),
//! inconclusive findings of severity `warning` (a required rule whose
//! failure the capture cannot prove), and openings whose finding lists
//! fewer host pairs than it has (`--max-hosts` given).

use super::*;
use crate::catalogue::Proto;
use crate::classify::{HostPair, How};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The smallest set of CIDRs that covers exactly `hosts`: their host
/// networks (/32, /128) merged into aligned blocks, so no address that was
/// not given is covered (10.0.0.5 and 10.0.0.6 stay two /32s: a /30 would
/// open 10.0.0.4 and 10.0.0.7 too). IPv4 first, then IPv6, each ascending.
pub fn aggregate(hosts: impl IntoIterator<Item = IpAddr>) -> Vec<IpNet> {
    let nets: Vec<IpNet> = hosts.into_iter().map(IpNet::from).collect();
    IpNet::aggregate(&nets)
}

/// One row of a change request: sources and destination CIDRs of one
/// finding such that every source of `src` was seen with every destination
/// of `dst` (a complete bipartite block of its host pairs), so the row
/// opens nothing between hosts that were not seen together.
pub(super) struct Block<'a> {
    /// The sources, `None` for a finding without host pairs (missing).
    pub src: Option<IpNet>,
    /// The destinations, `None` likewise.
    pub dst: Option<IpNet>,
    /// The host pairs the row covers.
    pub pairs: Vec<&'a HostPair>,
}

impl Block<'_> {
    /// Attempts over the row's host pairs.
    pub fn attempts(&self) -> u64 {
        self.pairs.iter().map(|h| h.attempts).sum()
    }

    /// The first attempt of any of the row's pairs.
    pub fn first(&self) -> Option<Timestamp> {
        self.pairs.iter().map(|h| h.first_ts).min()
    }

    /// The last attempt of any of the row's pairs.
    pub fn last(&self) -> Option<Timestamp> {
        self.pairs.iter().map(|h| h.last_ts).max()
    }

    /// The names learned for the row's sources (`true`) or destinations,
    /// each once, in address order.
    pub fn names(&self, sources: bool) -> Vec<&str> {
        let mut by_addr: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
        for h in &self.pairs {
            let (addr, name) = if sources {
                (h.src, &h.src_name)
            } else {
                (h.dst, &h.dst_name)
            };
            if let Some(n) = name {
                by_addr.entry(addr).or_default().insert(n.as_str());
            }
        }
        let mut out: Vec<&str> = Vec::new();
        for n in by_addr.into_values().flatten() {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// The listed host pairs of `f` by destination, each destination's in
/// source order.
pub(super) fn by_destination(f: &Finding) -> BTreeMap<IpAddr, Vec<&HostPair>> {
    let mut out: BTreeMap<IpAddr, Vec<&HostPair>> = BTreeMap::new();
    for h in &f.hosts {
        out.entry(h.dst).or_default().push(h);
    }
    for pairs in out.values_mut() {
        pairs.sort_by_key(|h| h.src);
    }
    out
}

/// The rows of `f`: destinations seen from the same set of sources form a
/// group; each group's sources and destinations are aggregated into CIDRs
/// and every source CIDR is paired with every destination CIDR. Ordered by
/// destination, then source. One row without addresses when `f` lists no
/// host pair.
pub(super) fn blocks(f: &Finding) -> Vec<Block<'_>> {
    if f.hosts.is_empty() {
        return vec![Block {
            src: None,
            dst: None,
            pairs: Vec::new(),
        }];
    }
    let mut groups: BTreeMap<BTreeSet<IpAddr>, Vec<IpAddr>> = BTreeMap::new();
    for (dst, pairs) in by_destination(f) {
        let sources: BTreeSet<IpAddr> = pairs.iter().map(|h| h.src).collect();
        groups.entry(sources).or_default().push(dst);
    }
    let mut out = Vec::new();
    for (sources, dsts) in groups {
        let srcs = aggregate(sources);
        for dst in aggregate(dsts) {
            for &src in &srcs {
                let pairs = f
                    .hosts
                    .iter()
                    .filter(|h| src.contains(&h.src) && dst.contains(&h.dst))
                    .collect();
                out.push(Block {
                    src: Some(src),
                    dst: Some(dst),
                    pairs,
                });
            }
        }
    }
    out.sort_by_key(|b| (b.dst, b.src));
    out
}

/// A finding to open a rule for.
pub(super) struct Opening<'a> {
    /// The blocked finding (severity error).
    pub finding: &'a Finding,
    /// Its rows.
    pub blocks: Vec<Block<'a>>,
}

/// Why something is listed to investigate rather than opened.
pub(super) enum Reason {
    /// The finding is no proven block: missing, or inconclusive.
    NotProven,
    /// An opening's finding lists only some of its host pairs; this many are left out.
    Unlisted(u64),
}

/// Something the change request names without opening it.
pub(super) struct Investigation<'a> {
    /// The finding concerned.
    pub finding: &'a Finding,
    /// Its rows (for [`Reason::Unlisted`], none: the pairs are not known).
    pub blocks: Vec<Block<'a>>,
    /// Why it is here.
    pub reason: Reason,
}

/// The change request of an audit: what to open, what to investigate.
pub(super) struct Selection<'a> {
    /// The rules to open, in report order.
    pub open: Vec<Opening<'a>>,
    /// What to investigate, in report order, host pairs left unlisted last.
    pub investigate: Vec<Investigation<'a>>,
}

/// Is `f` a rule to open: blocked, and an error (required, and proven)?
pub(super) fn is_opening(f: &Finding) -> bool {
    f.kind == FindingKind::Blocked && f.severity == Severity::Error
}

/// Does `f` need a look without being a rule to open: a non-blocked error,
/// or an inconclusive finding that a required rule matched (warning)?
fn needs_investigation(f: &Finding) -> bool {
    !is_opening(f)
        && (f.severity == Severity::Error
            || (f.kind == FindingKind::Inconclusive && f.severity >= Severity::Warning))
}

/// Splits `audit` into openings and investigations (module docs).
pub(super) fn select(audit: &Audit) -> Selection<'_> {
    let open: Vec<Opening<'_>> = audit
        .findings
        .iter()
        .filter(|f| is_opening(f))
        .map(|f| Opening {
            finding: f,
            blocks: blocks(f),
        })
        .collect();
    let mut investigate: Vec<Investigation<'_>> = audit
        .findings
        .iter()
        .filter(|f| needs_investigation(f))
        .map(|f| Investigation {
            finding: f,
            blocks: blocks(f),
            reason: Reason::NotProven,
        })
        .collect();
    investigate.extend(open.iter().filter_map(|o| {
        let listed = o.finding.hosts.len() as u64;
        (o.finding.hosts_total > listed).then(|| Investigation {
            finding: o.finding,
            blocks: Vec::new(),
            reason: Reason::Unlisted(o.finding.hosts_total - listed),
        })
    }));
    Selection { open, investigate }
}

/// The port or range to open: the rule's range (`49152-65535`) when the
/// finding's port lies in it, else the port.
pub(super) fn port_or_range(f: &Finding) -> String {
    let range = f.ports.as_deref().and_then(|spec| {
        let (lo, hi) = spec.split_once('-')?;
        let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        (lo..=hi).contains(&f.port).then(|| format!("{lo}-{hi}"))
    });
    range.unwrap_or_else(|| f.port.to_string())
}

/// Where a block of this kind is enforced: `network` (something in the
/// path drops or rejects), `host` (the destination itself answered with a
/// RST), `proxy` (the explicit proxy's allow-list), `inspection` (the port
/// is open; a TLS or IPS device, or the service, resets the connection).
pub(super) fn enforced_at(how: How) -> &'static str {
    match how {
        How::NoSynack | How::Icmp | How::NoReply => "network",
        How::Rst => "host",
        How::ProxyRefused | How::ProxyIdleCut => "proxy",
        How::ResetAfterHandshake | How::TlsIntercepted | How::TlsResetAfterHello => "inspection",
        How::KerberosTcpBlocked | How::KerberosFragmentsLost | How::ReachedAfterRetry => "network",
        How::ResolvedNeverReached => "host",
        How::KerberosClockSkew
        | How::KerberosPrincipalUnknown
        | How::DnsNxdomain
        | How::DnsServfail
        | How::DnsNoAnswer
        | How::TlsLegacyVersion
        | How::TlsAlert => "service",
    }
}

/// What the capture shows, in a few words.
fn how_phrase(how: How) -> &'static str {
    match how {
        How::NoSynack => "SYN never answered",
        How::Icmp => "refused by an ICMP error",
        How::NoReply => "request never answered",
        How::Rst => "SYN answered by a RST from the destination",
        How::ResetAfterHandshake => "reset after the handshake, before any data",
        How::ProxyRefused => "CONNECT refused by the proxy",
        How::KerberosClockSkew => "Kerberos refused: clock skew",
        How::KerberosPrincipalUnknown => "Kerberos refused: unknown principal",
        How::KerberosTcpBlocked => "Kerberos over TCP blocked after the KDC asked for it",
        How::KerberosFragmentsLost => "Kerberos reply lost as IP fragments",
        How::DnsNxdomain => "lookup answered NXDOMAIN",
        How::DnsServfail => "lookup answered SERVFAIL",
        How::DnsNoAnswer => "lookup never answered",
        How::TlsLegacyVersion => "TLS 1.2 not offered",
        How::TlsAlert => "TLS handshake refused by an alert",
        How::TlsIntercepted => "TLS intercepted: certificate not from a Microsoft issuer",
        How::TlsResetAfterHello => "reset after the TLS ClientHello",
        How::ResolvedNeverReached => "resolved, then never reached",
        How::ReachedAfterRetry => "reached only after failed attempts",
        How::ProxyIdleCut => "tunnels cut by the proxy when idle",
    }
}

/// Why a row is there: `SYN never answered; needed by t1-smb (table 1)`,
/// or for an investigation what kind of finding it is and its first
/// evidence line.
pub(super) fn why(f: &Finding, reason: Option<&Reason>) -> String {
    match reason {
        None => {
            let phrase = f.how.map_or("blocked", how_phrase);
            // A change request cites the page a rule of another page follows.
            let cited = match (&f.page, &f.section) {
                (Some(p), Some(s)) => format!(" ({p}, section \"{s}\")"),
                _ => String::new(),
            };
            format!("{phrase}; needed by {}{cited}", rule(f))
        }
        Some(Reason::NotProven) => {
            let first = f.evidence.first().map_or("", String::as_str);
            format!("not proven blocked ({}): {first}", what(f))
        }
        Some(Reason::Unlisted(n)) => format!(
            "{} of this finding not listed: rerun with --max-hosts 0",
            crate::report::count(*n, "host pair", "host pairs")
        ),
    }
}

/// The transport as Windows Defender Firewall spells it.
pub(super) fn protocol_word(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    }
}

/// A role's name, or `unknown`.
pub(super) fn role_name(r: Option<Role>) -> &'static str {
    r.map_or("unknown", Role::name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// Every address the nets cover, network and broadcast included (a
    /// CIDR rule opens them too); for small nets only.
    fn covered(nets: &[IpNet]) -> BTreeSet<IpAddr> {
        let mut out = BTreeSet::new();
        for n in nets {
            match n {
                IpNet::V4(n) => {
                    let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                    out.extend((lo..=hi).map(|a| IpAddr::from(std::net::Ipv4Addr::from(a))));
                }
                IpNet::V6(n) => {
                    let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                    out.extend((lo..=hi).map(|a| IpAddr::from(std::net::Ipv6Addr::from(a))));
                }
            }
        }
        out
    }

    #[test]
    fn aggregation_never_widens_and_is_minimal() {
        let cases: [(&[&str], &[&str]); 6] = [
            (&["10.0.0.4", "10.0.0.5"], &["10.0.0.4/31"]),
            // Contiguous but not aligned: a /31 would take in 10.0.0.4 or 10.0.0.7.
            (&["10.0.0.5", "10.0.0.6"], &["10.0.0.5/32", "10.0.0.6/32"]),
            (
                &["10.0.1.8", "10.0.1.9", "10.0.1.10", "10.0.1.11"],
                &["10.0.1.8/30"],
            ),
            (
                &[
                    "10.0.1.11",
                    "10.0.1.8",
                    "10.0.1.13",
                    "10.0.1.9",
                    "10.0.1.10",
                ],
                &["10.0.1.8/30", "10.0.1.13/32"],
            ),
            (
                &["fd00::1:11", "10.0.0.1", "fd00::1:10", "10.0.0.1"],
                &["10.0.0.1/32", "fd00::1:10/127"],
            ),
            (&[], &[]),
        ];
        for (hosts, want) in cases {
            let got = aggregate(ips(hosts));
            assert_eq!(got, nets(want), "{hosts:?}");
            let given: BTreeSet<IpAddr> = ips(hosts).into_iter().collect();
            assert_eq!(covered(&got), given, "{hosts:?}: covers other addresses");
        }
        // Minimal: 7 contiguous addresses from an aligned start need /30, /31, /32.
        let seven: Vec<String> = (0..7).map(|i| format!("10.9.0.{}", 16 + i)).collect();
        let seven: Vec<&str> = seven.iter().map(String::as_str).collect();
        assert_eq!(
            aggregate(ips(&seven)),
            nets(&["10.9.0.16/30", "10.9.0.20/31", "10.9.0.22/32"])
        );
    }

    fn pair(src: &str, dst: &str, attempts: u64) -> HostPair {
        HostPair {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            attempts,
            first_ts: Timestamp(attempts as i64),
            last_ts: Timestamp(attempts as i64 * 10),
            src_name: None,
            dst_name: None,
        }
    }

    fn finding(hosts: Vec<HostPair>) -> Finding {
        Finding {
            kind: FindingKind::Blocked,
            severity: Severity::Error,
            src_role: Some(Role::Sync),
            dst_role: Some(Role::Dc),
            transport: Proto::Tcp,
            port: 49670,
            ports: Some("49152-65535".into()),
            rule: Some("t1-rpc-dynamic".into()),
            table: Some("1".into()),
            page: None,
            section: None,
            also_rules: vec![],
            how: Some(How::Rst),
            hosts_total: hosts.len() as u64,
            hosts,
            count: 1,
            evidence: vec![],
            wireshark_filter: None,
            inputs: Vec::new(),
            input_mask: 0,
        }
    }

    #[test]
    fn rows_cover_exactly_the_pairs_seen() {
        // Two DCs refuse the same two sources; a third DC refuses only one of them.
        let f = finding(vec![
            pair("10.0.1.10", "10.0.0.4", 1),
            pair("10.0.1.11", "10.0.0.4", 2),
            pair("10.0.1.10", "10.0.0.5", 3),
            pair("10.0.1.11", "10.0.0.5", 4),
            pair("10.0.1.10", "10.0.0.6", 5),
        ]);
        let rows: Vec<(String, String, u64)> = blocks(&f)
            .iter()
            .map(|b| {
                (
                    b.src.unwrap().to_string(),
                    b.dst.unwrap().to_string(),
                    b.attempts(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("10.0.1.10/31".into(), "10.0.0.4/31".into(), 10),
                ("10.0.1.10/32".into(), "10.0.0.6/32".into(), 5),
            ]
        );
        // Every (src, dst) the rows open was seen, and every pair seen is opened once.
        let mut seen: Vec<(IpAddr, IpAddr)> = f.hosts.iter().map(|h| (h.src, h.dst)).collect();
        let mut opened: Vec<(IpAddr, IpAddr)> = blocks(&f)
            .iter()
            .flat_map(|b| {
                let d = covered(&[b.dst.unwrap()]);
                covered(&[b.src.unwrap()])
                    .into_iter()
                    .flat_map(move |s| d.clone().into_iter().map(move |d| (s, d)))
            })
            .collect();
        seen.sort();
        opened.sort();
        assert_eq!(opened, seen);
    }

    #[test]
    fn ports_take_the_rules_range_only_when_it_holds_the_port() {
        let mut f = finding(vec![pair("10.0.1.10", "10.0.0.4", 1)]);
        assert_eq!(port_or_range(&f), "49152-65535");
        f.port = 3268;
        f.ports = Some("3268".into());
        assert_eq!(port_or_range(&f), "3268");
        // An endpoint-mapper port judged by a dynamic rule outside its range.
        f.port = 5000;
        f.ports = Some("49152-65535".into());
        assert_eq!(port_or_range(&f), "5000");
    }

    #[test]
    fn only_proven_required_blocks_are_openings() {
        let mut audit = Audit {
            features: vec![],
            findings: vec![],
            summary: Default::default(),
        };
        let base = finding(vec![pair("10.0.1.10", "10.0.0.4", 1)]);
        let with = |kind, severity| Finding {
            kind,
            severity,
            ..base.clone()
        };
        audit.findings = vec![
            with(FindingKind::Blocked, Severity::Error),
            with(FindingKind::Blocked, Severity::Warning),
            with(FindingKind::Missing, Severity::Error),
            with(FindingKind::Missing, Severity::Warning),
            with(FindingKind::Inconclusive, Severity::Warning),
            with(FindingKind::Inconclusive, Severity::Info),
            with(FindingKind::Unexpected, Severity::Warning),
            with(FindingKind::Healthy, Severity::Info),
        ];
        let s = select(&audit);
        assert_eq!(s.open.len(), 1);
        assert!(std::ptr::eq(s.open[0].finding, &audit.findings[0]));
        let kinds: Vec<(FindingKind, Severity)> = s
            .investigate
            .iter()
            .map(|i| (i.finding.kind, i.finding.severity))
            .collect();
        assert_eq!(
            kinds,
            [
                (FindingKind::Missing, Severity::Error),
                (FindingKind::Inconclusive, Severity::Warning)
            ]
        );
        // A capped opening is named with the number of pairs left out.
        audit.findings[0].hosts_total = 7;
        let s = select(&audit);
        assert!(matches!(
            s.investigate.last().map(|i| &i.reason),
            Some(Reason::Unlisted(6))
        ));
    }
}
