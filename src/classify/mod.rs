//! Classifying connections against the catalogue, per pair of roles: what is
//! blocked, what fails, what is missing, what is unexpected, what is healthy.
//!
//! Connections arrive one at a time as the tracker finishes them and are folded
//! into per-group aggregates at once, so memory follows the number of distinct
//! (role pair, transport, port) groups and host pairs, not the capture's size.
//!
//! Use: [`Classifier::new`], then [`Classifier::connection`] for every finished
//! connection (any order), then [`Classifier::finish`] with the capture's span.
//!
//! # Roles and groups
//!
//! Each end's role is the most specific inventory entry containing its address
//! (the inventory also holds the catalogue's `azure` ranges). TCP/UDP
//! connections with a role on both ends are classified per group (src role,
//! dst role, transport, responder port); with one known end they are
//! summarised as `unclassified` per (known role, direction, transport, port);
//! with none they are only counted (`summary.ignored`).
//!
//! # Decisions (where the issue is silent)
//!
//! Outcome of one TCP/UDP connection, from the tracker's handshake verdict:
//! - TCP `established`, `closed-early` (a SYN-ACK proves the path and the
//!   listener) -> working; `rejected` -> blocked `rst`; `icmp-unreachable` ->
//!   blocked `icmp`; `established`, but the responder reset it without
//!   sending a byte before the originator closed (after the client's first
//!   data, or within 10 s) -> blocked `reset-after-handshake` (LDAPS on a DC
//!   without a certificate; a firewall filtering TLS server names), with the
//!   rule's `on_reset` note.
//! - TCP `midstream` -> working when "alive" (packets both ways, the
//!   originator sent an ACK or data and the responder a SYN-ACK, ACK or data),
//!   else inconclusive ("began before the capture").
//! - TCP `unanswered`: alive -> working (the SYN-ACK was lost from the capture);
//!   no responder packet but the originator ACKed or sent data after its SYN ->
//!   inconclusive, one-sided capture; responder packets without SYN-ACK/RST ->
//!   inconclusive, partial capture; a single SYN less than [`TAIL_WINDOW`] before
//!   the end of the capture -> inconclusive (a retransmission could not follow
//!   yet); otherwise blocked `no-synack`.
//! - UDP `answered` -> working; `icmp-unreachable` -> blocked `icmp`;
//!   `unanswered` -> blocked `no-reply`, except a single request less than
//!   [`TAIL_WINDOW`] before the end of the capture -> inconclusive, and a
//!   request whose reply came in a later record of the same flow (first
//!   packet from the responder, within [`LATE_REPLY_WINDOW`]) -> slow; the
//!   reply's record is folded into it. Unanswered UDP records wait for such a
//!   reply (at most 65 536 of them, for 210 s of capture time).
//! - TCP records without a SYN, from one side only, less than
//!   [`STRAY_WINDOW`] after a working connection of the same flow ended, are
//!   its stray tail (a last ACK, a retransmitted FIN after the tracker forgot
//!   the connection): counted on the healthy finding, not as connections.
//!   Working TCP connections are remembered for that (at most 262 144, for
//!   450 s of capture time: the window plus the 5-min inactivity timeout
//!   after which such a record reaches the classifier).
//! - UDP `no-reply` -> inconclusive when the capture looks one-sided: by the
//!   TCP heuristic below, or when no record of the capture has packets from
//!   both ends and none of the hosts whose replies are missing sent
//!   anything at all (a capture of one direction only looks like that).
//! - Scans: a source whose TCP connection attempts without a byte of data
//!   (either way) reach [`SCAN_PORTS`] distinct ports is a scanner; at the
//!   end its data-less host pairs are taken out of every group and of the
//!   unclassified summary, and it gets one `scan` finding (warning) with the
//!   ports and hosts probed and what answered.
//! - UDP without a reply to a multicast, broadcast or `.255` address is
//!   counted with the other transports: no reply is expected of it.
//! - Through an explicit proxy ([`Classifier::connection_via_proxy`]: the
//!   audit routes a connection there when its CONNECT named a catalogue
//!   hostname): judged as a flow to that role and port; a CONNECT answered
//!   with a status other than 2xx -> blocked `proxy-refused`.
//! - Protocol failures the learner saw in the payload
//!   ([`Classifier::set_failures`]) -> `failed`, per how, role pair, port and
//!   rule, for clients with a role: a Kerberos error (or a reply lost as IP
//!   fragments, `kerberos-fragments-lost`) on the rule of its flow
//!   (tcp/udp 88); `KRB_ERR_RESPONSE_TOO_BIG` only when the client's TCP 88
//!   connections to that KDC were blocked (`kerberos-tcp-blocked`); a failed
//!   lookup on the first rule the name serves that the client's role follows
//!   (enabled rules first). Severity as for blocked, against that rule.
//! - Endpoints the learner saw resolved ([`Classifier::set_resolutions`]),
//!   held against every host pair at the end: no packet from the client to
//!   any address of the answer, while the capture shows its other internet
//!   traffic and went on 30 s -> `failed` `resolved-never-reached`; the first
//!   working connection 20 s or more after the answer, failed attempts in
//!   between -> `failed` `reached-after-retry` (a warning at most: it got
//!   through). Both on the first rule the name serves, as a failed lookup.
//!   A proxy's idle cuts (`proxy-idle-cut`) go to the azure role its tunnels
//!   carry, a warning at most unless a request was cut in flight.
//! - ICMP and other transports are counted (`summary.other_transports`) and
//!   otherwise skipped; their hosts still count as "seen" and "sending".
//!
//! Host pair `attempts`: TCP, the SYNs sent (1 for a midstream connection); UDP,
//! connections (evidence also counts the requests). `first_ts` is the first
//! connection's start, `last_ts` the last attempt (last SYN; UDP: connection start).
//!
//! Endpoint-mapper ports: a TCP group no enabled rule covers, whose server an
//! endpoint mapper in the capture handed that port out for
//! ([`Classifier::set_endpoints`]), is judged by the rules marked `epm`
//! (dynamic RPC) whatever their range, with the mapper's answer as evidence.
//!
//! Rule choice for a group (src role, dst role, transport, port): among the
//! matching rules enabled by the inventory's features, a required rule beats
//! an optional one, which beats a fallback, which beats a tolerated one; ties
//! go to file order. Failing that, the first matching rule of a disabled
//! feature is named in the evidence.
//!
//! Severity:
//! - blocked: error for an enabled required rule; warning when that rule is
//!   `optional`, or a `fallback` whose primary rule works, or when only a
//!   tolerated or disabled-feature rule matches; info when no rule matches.
//!   When the capture looks one-sided, `no-synack`/`no-reply` are capped at
//!   warning (the replies may not be in the capture).
//! - inconclusive, slow: warning when an enabled required (not optional/fallback)
//!   rule matches, else info.
//! - unexpected: warning. healthy, unclassified: info.
//! - missing (required rules of enabled features with no connection at all,
//!   any outcome, between the rule's roles on any of its transports and ports): info
//!   when the inventory has no host for the rule's source or destination roles
//!   (`azure` always has the catalogue's ranges), or when the capture holds no
//!   packet sent by any host of the source roles, or when connections on the
//!   rule's ports link its roles with hosts of no known role (they may be the
//!   hosts the inventory leaves out), or when every TCP/UDP
//!   record of the capture is on one port that is not the rule's (a capture
//!   filtered to one service); otherwise by `when`: every-sync-cycle -> error
//!   if the capture covers at least [`SYNC_CYCLE_SECS`] (its span less
//!   silences of more than 2 min, [`crate::time::Coverage`]), else warning; on-demand -> warning over a full sync cycle, else info;
//!   setup-only, optional -> info; fallback -> info, and no finding at all when
//!   the primary rule works (then the fallback is not needed).
//!
//! Memory: aggregates per group and host pair, except unanswered single-SYN (or
//! single-request) connections seen within [`TAIL_WINDOW`] of the latest packet
//! time so far, which wait until it is known whether they fall at the end of
//! the capture; at most 65 536 of them are held, older ones are folded into
//! `blocked` early.
//!
//! Findings per group: working connections make one `healthy` finding per
//! (matched rule, role pair, transport), merging the rule's ports (`port` is the
//! lowest port seen), or one `unexpected` finding per group when no enabled rule
//! allows them; failures make one `blocked` finding per group and `how`;
//! unprovable failures one `inconclusive` finding per group and reason.
//!
//! # Evidence sentences (examples)
//!
//! - `works to 10.0.0.4, fails to 10.0.0.5` (also `works from A, fails from B`,
//!   or `some connections to A work and others fail: ...`); on the healthy
//!   finding: `tcp/3268: works to 10.0.0.4, fails to 10.0.0.5 (see the blocked finding)`.
//! - rst: `RST from 10.0.0.5 0.4 ms after each of 2 SYNs: port closed or host firewall`
//!   (`after the SYN` for one; `between 0.3 ms and 1.5 ms` when delays differ;
//!   the delay is the RST's time minus the last SYN's).
//! - no-synack: `3 SYNs to 10.0.0.5 over 9.0 s, no SYN-ACK: a firewall dropping
//!   silently, or the host is down`; when the host sent other packets in the
//!   capture: `... a firewall dropping silently (10.0.0.5 is up: the capture holds
//!   other packets from it)`; several connections: `5 SYNs in 2 connections to
//!   10.0.0.5 (retransmitted for up to 9.0 s), no SYN-ACK: ...`, or `3
//!   connections to 10.0.0.5, one SYN each and no retransmission, no SYN-ACK: ...`.
//! - no-reply: `2 requests in 1 connection to 10.0.0.5, no reply and no ICMP
//!   error: a firewall dropping silently, or the host is down`.
//! - icmp: `ICMP 3/13 (communication administratively prohibited) from 10.0.1.1
//!   for 1 connection to 10.0.0.5: a firewall in the path`; `ICMP 3/3 (port
//!   unreachable) from the destination itself (10.0.0.5) for ...: nothing listens
//!   on the port`; `ICMPv6 1/1 ...`; `ICMP 11/0 (TTL exceeded in transit) ...:
//!   routing loop or TTL too low`.
//! - severity reasons: `needed by rule t1-gc (table 1, LDAP GC) for
//!   password-hash-sync`; `allowed by rule t1-winrm only with feature adfs-gmsa,
//!   which the inventory does not enable: the firewall may be doing its job`;
//!   `no rule of the catalogue needs tcp/8080 from sync to dc: the firewall may
//!   be doing its job`; `rule fact-ntp (W32Time) tolerates this flow, but no
//!   enabled feature requires it`.
//! - inconclusive: `10.0.1.10 -> 10.0.0.5: 1 connection sent ACKs or data after
//!   the SYN, but no packet from 10.0.0.5 was captured: the handshake completed
//!   and the capture shows one direction only`; `the only SYN from 10.0.1.10 to
//!   10.0.0.5 came 1.2 s before the capture ended, before a retransmission could
//!   follow`; `10.0.1.10 -> 10.0.0.5: 1 connection began before the capture (no
//!   SYN seen) and show packets from one side only`.
//! - missing: `no connection from sync to dc on tcp/3268 in the capture`, `rule
//!   t1-gc (table 1, LDAP GC): <description>; needed by password-hash-sync;
//!   expected every sync cycle`, the rule's notes, then the reason for the
//!   severity: `the capture spans 45 min, at least one 30-min sync cycle, and
//!   holds traffic from sync hosts: this flow should have appeared` / `the
//!   capture spans 12 min, shorter than one 30-min sync cycle` / `the capture
//!   holds no traffic from any sync host: it cannot judge this flow` / `no dc
//!   hosts in the inventory`.
//! - unexpected: `1 connection established between 1 host pair`, then `allowed by
//!   rule t1-winrm only with feature adfs-gmsa, which the inventory does not
//!   enable` / `the catalogue has no rule for traffic from dc to users` / `no rule
//!   of the catalogue allows tcp/8080 from sync to dc`.
//! - unclassified: `sync -> 3 unknown hosts on tcp/443`, `4 connections, 1 of them failed`.
//!
//! # Capture warnings
//!
//! - one-sided: of the TCP connections with at least 2 packets whose originator
//!   sent more than SYNs (unanswered retransmissions are explained by a block),
//!   more than 80 % (and at least 3) have packets from one side only.
//! - one-sided UDP: see the UDP `no-reply` rule above.
//! - filtered: at least 3 TCP connections, none with a pure ACK or data letter
//!   (`A a D d`) in its history, though some got a SYN-ACK or carried bytes by
//!   their sequence numbers: a SYN/FIN/RST-only capture filter.
//! - short: the capture spans less than one 30-minute sync cycle; empty: no packets.
//!
//! # Wireshark filters
//!
//! One alternative per host pair (at most 50, evidence says when more were left
//! out), joined with `||`: `ip.src==A && ip.dst==B && tcp.dstport==P` for
//! unanswered attempts and ICMP-refused ones (plus `icmp.type==3 && ip.src==R &&
//! ip.dst==A && tcp.dstport==P` for the ICMP errors; ICMPv6: `icmpv6.type==1`,
//! `ipv6.*`); `ip.addr==A && ip.addr==B && tcp.port==P` (both directions) for
//! rejected, inconclusive, unexpected, healthy and unclassified findings.

use crate::catalogue::{Proto, Role};
use crate::time::Timestamp;
use serde::Serialize;
use std::net::IpAddr;

mod engine;
mod evidence;
mod filter;
mod recent;
#[cfg(test)]
mod tests;

pub use engine::{
    Classifier, DEFAULT_MAX_HOSTS, Ends, LATE_REPLY_WINDOW, SCAN_PORTS, STRAY_WINDOW,
    SYNC_CYCLE_SECS, TAIL_WINDOW,
};

/// What kind of finding this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Attempts that failed: rejected, unanswered, or refused by ICMP.
    Blocked,
    /// The path is open, the protocol fails: a Kerberos error that breaks
    /// the deployment, a lookup of a name it needs that fails.
    Failed,
    /// A required flow with no attempt at all in the capture.
    Missing,
    /// Answered or established traffic between known roles that no enabled rule allows.
    Unexpected,
    /// A rule seen working.
    Healthy,
    /// A failure the capture cannot prove (one-sided capture, end of capture, midstream).
    Inconclusive,
    /// One source probing many ports without sending data: a port scan, one
    /// finding for all its probes (which are left out of the others).
    Scan,
    /// Requests answered, but only after the tracker had closed their record
    /// (UDP replies tens of seconds late): the path works, the service is slow.
    Slow,
    /// Traffic between a known role and hosts of no known role.
    Unclassified,
}

impl FindingKind {
    /// The name used in reports and JSON (`blocked`, `missing`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Blocked => "blocked",
            FindingKind::Failed => "failed",
            FindingKind::Missing => "missing",
            FindingKind::Unexpected => "unexpected",
            FindingKind::Healthy => "healthy",
            FindingKind::Inconclusive => "inconclusive",
            FindingKind::Slow => "slow",
            FindingKind::Scan => "scan",
            FindingKind::Unclassified => "unclassified",
        }
    }

    /// Position in reports: blocked, failed, missing, unexpected, scan, slow, inconclusive, unclassified, healthy.
    pub fn rank(self) -> u8 {
        match self {
            FindingKind::Blocked => 0,
            FindingKind::Failed => 1,
            FindingKind::Missing => 2,
            FindingKind::Unexpected => 3,
            FindingKind::Scan => 4,
            FindingKind::Slow => 5,
            FindingKind::Inconclusive => 6,
            FindingKind::Unclassified => 7,
            FindingKind::Healthy => 8,
        }
    }
}

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Probably wrong, or wrong if the assumption behind it holds.
    Warning,
    /// Breaks a feature the deployment uses.
    Error,
}

impl Severity {
    /// The name used in reports and JSON (`error`, `warning`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// How a blocked attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// TCP SYN answered by RST.
    Rst,
    /// TCP SYN (and retransmissions) never answered.
    NoSynack,
    /// An ICMP error came back.
    Icmp,
    /// UDP request never answered.
    NoReply,
    /// TCP handshake completed, then the responder reset the connection
    /// without sending a byte (LDAPS without a certificate, SNI filtering).
    ResetAfterHandshake,
    /// An explicit proxy answered `CONNECT` with a refusal (403, 407, ...).
    ProxyRefused,
    /// `failed`: the KDC refused a ticket because the client's clock is too
    /// far from its own (`KRB_AP_ERR_SKEW`).
    KerberosClockSkew,
    /// `failed`: the KDC knows no such client or service principal
    /// (`KDC_ERR_C_PRINCIPAL_UNKNOWN`, `KDC_ERR_S_PRINCIPAL_UNKNOWN`).
    KerberosPrincipalUnknown,
    /// `failed`: the KDC told the client to retry over TCP
    /// (`KRB_ERR_RESPONSE_TOO_BIG`), and TCP 88 to it failed: UDP 88 works,
    /// TCP 88 is blocked.
    KerberosTcpBlocked,
    /// `failed`: a KDC's UDP reply came in IP fragments and the client sent
    /// the same request again: the fragments never reached it.
    KerberosFragmentsLost,
    /// `failed`: a lookup of a name the deployment needs answered NXDOMAIN.
    DnsNxdomain,
    /// `failed`: a lookup of a name the deployment needs answered SERVFAIL or REFUSED.
    DnsServfail,
    /// `failed`: a lookup of a name the deployment needs got no response.
    DnsNoAnswer,
    /// `failed`: a ClientHello to a catalogue endpoint offered nothing newer
    /// than TLS 1.1 (Entra Connect 2.x and the cloud need TLS 1.2).
    TlsLegacyVersion,
    /// `failed`: a fatal TLS alert in clear text during the handshake to a
    /// catalogue endpoint (`protocol_version`, `handshake_failure`,
    /// `unknown_ca`...).
    TlsAlert,
    /// `failed`: a TLS 1.2 server certificate for a catalogue endpoint
    /// issued by none of the catalogue's `[[tls_issuer]]`s: TLS interception.
    TlsIntercepted,
    /// `failed`: the server side reset (or closed) the connection right
    /// after a ClientHello naming a catalogue endpoint, before any
    /// ServerHello: blocking by server name.
    TlsResetAfterHello,
    /// `failed`: a catalogue endpoint resolved for the host, which then sent
    /// no packet to any address it was given, while the capture shows its
    /// other internet traffic.
    ResolvedNeverReached,
    /// `failed`: a catalogue endpoint reached only 20 s or more after it was
    /// resolved, attempts to its addresses failing in between.
    ReachedAfterRetry,
    /// `failed`: an explicit proxy closed tunnels to catalogue endpoints
    /// after the same idle time, shorter than the 5 minutes a sync export
    /// or an agent's relay may stay quiet.
    ProxyIdleCut,
}

impl How {
    /// The name used in reports and JSON (`rst`, `no-synack`, `icmp`, `no-reply`, `reset-after-handshake`, ...).
    pub fn name(self) -> &'static str {
        match self {
            How::Rst => "rst",
            How::NoSynack => "no-synack",
            How::Icmp => "icmp",
            How::NoReply => "no-reply",
            How::ResetAfterHandshake => "reset-after-handshake",
            How::ProxyRefused => "proxy-refused",
            How::KerberosClockSkew => "kerberos-clock-skew",
            How::KerberosPrincipalUnknown => "kerberos-principal-unknown",
            How::KerberosTcpBlocked => "kerberos-tcp-blocked",
            How::KerberosFragmentsLost => "kerberos-fragments-lost",
            How::DnsNxdomain => "dns-nxdomain",
            How::DnsServfail => "dns-servfail",
            How::DnsNoAnswer => "dns-no-answer",
            How::TlsLegacyVersion => "tls-legacy-version",
            How::TlsAlert => "tls-alert",
            How::TlsIntercepted => "tls-intercepted",
            How::TlsResetAfterHello => "tls-reset-after-hello",
            How::ResolvedNeverReached => "resolved-never-reached",
            How::ReachedAfterRetry => "reached-after-retry",
            How::ProxyIdleCut => "proxy-idle-cut",
        }
    }
}

/// One host pair within a finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostPair {
    /// Originating host.
    pub src: IpAddr,
    /// Destination host.
    pub dst: IpAddr,
    /// Connection attempts (TCP: SYNs; UDP: connections).
    pub attempts: u64,
    /// First attempt.
    pub first_ts: Timestamp,
    /// Last attempt.
    pub last_ts: Timestamp,
    /// A name learned from the capture for `src` (DNS, SNI, HTTP Host), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_name: Option<String>,
    /// A name learned from the capture for `dst`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_name: Option<String>,
}

/// One finding of the audit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// Role of the originators.
    pub src_role: Option<Role>,
    /// Role of the responders.
    pub dst_role: Option<Role>,
    /// `tcp` or `udp`.
    pub transport: Proto,
    /// Observed destination port; for `missing`, the rule's first port.
    pub port: u16,
    /// The matched rule's port specification (e.g. `49152-65535`), if a rule matched.
    pub ports: Option<String>,
    /// The matched rule's id.
    pub rule: Option<String>,
    /// The matched rule's table of the main page ("1" ... "7b"); `None` for a
    /// rule of another page.
    pub table: Option<String>,
    /// The matched rule's page when it is not the main page (the PTA quick
    /// start, Cloud Sync's prerequisites, ...); omitted from JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The section of `page` the matched rule follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Other enabled rules the same flow serves (e.g. `t6a-https` beside
    /// `t2-https`: one port 443 connection to Entra ID serves both).
    pub also_rules: Vec<String>,
    /// For `blocked` and `failed`: how the attempts failed.
    pub how: Option<How>,
    /// The host pairs involved (empty for `missing`): all of them, or the
    /// [`Classifier::set_max_hosts`] with the most attempts when there are more.
    pub hosts: Vec<HostPair>,
    /// Host pairs in all, listed or not.
    pub hosts_total: u64,
    /// Connections behind the finding.
    pub count: u64,
    /// What the capture shows, in words an engineer can take to the firewall team.
    pub evidence: Vec<String>,
    /// A Wireshark display filter that shows exactly the packets concerned.
    pub wireshark_filter: Option<String>,
    /// The inputs that showed it, when several were read together (empty
    /// for one input, and for `missing`: no input showed it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// The same as bits ([`crate::track::input_bit`]), filled by the
    /// classifier; `inputs` names them.
    #[serde(skip)]
    pub input_mask: u16,
}

/// Counts over the whole audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Connections classified (both ends with a role).
    pub classified: u64,
    /// Connections with exactly one end of known role.
    pub unclassified: u64,
    /// Connections with no end of known role (counted, otherwise ignored).
    pub ignored: u64,
    /// ICMP and other non-TCP/UDP connections (not classified; ICMP errors are
    /// judged on the TCP/UDP connection they quote), and unanswered UDP to
    /// broadcast and multicast addresses (no reply is expected of them).
    pub other_transports: u64,
    /// Findings per kind (`blocked`, `missing`, ...).
    pub findings: std::collections::BTreeMap<String, u64>,
    /// Findings per severity (`error`, `warning`, `info`).
    pub severities: std::collections::BTreeMap<String, u64>,
    /// Time from the first to the last packet of the capture(s), in seconds.
    pub span_seconds: f64,
    /// Of that span, the time the capture covers: silences longer than 2
    /// minutes left out ([`crate::time::Coverage`]). Absences are judged on it.
    pub covered_seconds: f64,
    /// Roles with at least one host seen in the capture.
    pub roles_seen: Vec<Role>,
    /// Warnings about the capture as a whole (one-sided, filtered, too short to judge).
    pub capture_warnings: Vec<String>,
    /// Assumptions the audit made (e.g. features assumed because the inventory omitted them).
    pub assumptions: Vec<String>,
}

impl Summary {
    /// Sets the per-kind and per-severity counts from `findings`.
    pub fn count(&mut self, findings: &[Finding]) {
        self.findings.clear();
        self.severities.clear();
        for f in findings {
            *self.findings.entry(f.kind.name().to_string()).or_default() += 1;
            *self
                .severities
                .entry(f.severity.name().to_string())
                .or_default() += 1;
        }
    }
}

impl Audit {
    /// Keeps only the findings `keep` accepts, with the summary's counts to match.
    pub fn retain_findings(&mut self, keep: impl FnMut(&Finding) -> bool) {
        self.findings.retain(keep);
        self.summary.count(&self.findings);
    }
}

/// The result of an audit: findings, most severe first, and the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Audit {
    /// Enabled features (from the inventory, or assumed).
    pub features: Vec<crate::catalogue::Feature>,
    /// The findings, ordered by severity (errors first), then role pair, transport, port.
    pub findings: Vec<Finding>,
    /// Counts and capture-level warnings.
    pub summary: Summary,
}
