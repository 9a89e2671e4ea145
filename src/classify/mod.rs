//! Classifying connections against the catalogue, per pair of roles: what is
//! blocked, what is missing, what is unexpected, what is healthy.
//!
//! Connections arrive one at a time as the tracker finishes them and are folded
//! into per-group aggregates at once, so memory follows the number of distinct
//! (role pair, transport, port) groups and host pairs, not the capture's size.

use crate::catalogue::{Proto, Role};
use crate::time::Timestamp;
use serde::Serialize;
use std::net::IpAddr;

mod engine;
mod evidence;
mod filter;
#[cfg(test)]
mod tests;

pub use engine::{Classifier, SYNC_CYCLE_SECS, TAIL_WINDOW};

/// What kind of finding this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Attempts that failed: rejected, unanswered, or refused by ICMP.
    Blocked,
    /// A required flow with no attempt at all in the capture.
    Missing,
    /// Answered or established traffic between known roles that no enabled rule allows.
    Unexpected,
    /// A rule seen working.
    Healthy,
    /// A failure the capture cannot prove (one-sided capture, end of capture, midstream).
    Inconclusive,
    /// Traffic between a known role and hosts of no known role.
    Unclassified,
}

impl FindingKind {
    /// The name used in reports and JSON (`blocked`, `missing`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Blocked => "blocked",
            FindingKind::Missing => "missing",
            FindingKind::Unexpected => "unexpected",
            FindingKind::Healthy => "healthy",
            FindingKind::Inconclusive => "inconclusive",
            FindingKind::Unclassified => "unclassified",
        }
    }

    /// Position in reports: blocked, missing, unexpected, inconclusive, unclassified, healthy.
    pub fn rank(self) -> u8 {
        match self {
            FindingKind::Blocked => 0,
            FindingKind::Missing => 1,
            FindingKind::Unexpected => 2,
            FindingKind::Inconclusive => 3,
            FindingKind::Unclassified => 4,
            FindingKind::Healthy => 5,
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
}

impl How {
    /// The name used in reports and JSON (`rst`, `no-synack`, `icmp`, `no-reply`).
    pub fn name(self) -> &'static str {
        match self {
            How::Rst => "rst",
            How::NoSynack => "no-synack",
            How::Icmp => "icmp",
            How::NoReply => "no-reply",
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
    /// The matched rule's table ("1" ... "7b").
    pub table: Option<String>,
    /// For `blocked`: how the attempts failed.
    pub how: Option<How>,
    /// The host pairs involved (empty for `missing`).
    pub hosts: Vec<HostPair>,
    /// Connections behind the finding.
    pub count: u64,
    /// What the capture shows, in words an engineer can take to the firewall team.
    pub evidence: Vec<String>,
    /// A Wireshark display filter that shows exactly the packets concerned.
    pub wireshark_filter: Option<String>,
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
    /// judged on the TCP/UDP connection they quote).
    pub other_transports: u64,
    /// Findings per kind (`blocked`, `missing`, ...).
    pub findings: std::collections::BTreeMap<String, u64>,
    /// Findings per severity (`error`, `warning`, `info`).
    pub severities: std::collections::BTreeMap<String, u64>,
    /// Time from the first to the last packet of the capture(s), in seconds.
    pub span_seconds: f64,
    /// Roles with at least one host seen in the capture.
    pub roles_seen: Vec<Role>,
    /// Warnings about the capture as a whole (one-sided, filtered, too short to judge).
    pub capture_warnings: Vec<String>,
    /// Assumptions the audit made (e.g. features assumed because the inventory omitted them).
    pub assumptions: Vec<String>,
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
