//! Names resolved and then never reached, or reached only after a long
//! retry: a catalogue endpoint's name the learner saw resolved for a host
//! of the deployment ([`crate::learn::resolve`]), held against every
//! connection of the audit. The two become protocol failures that
//! [`Classifier::failed`] ties to the rule the name serves.

use super::*;
use crate::learn::failure::{Failure, FailureKind};
use crate::learn::resolve::Resolution;

/// How long the capture must go on after the answer before "never
/// reached" is said: a client connects within a second of its answer, and
/// even a slow one has retried a refused SYN by then.
pub const NEVER_REACHED_GRACE: Duration = Duration(30_000_000_000);
/// The delay from the answer to the first connection that worked beyond
/// which, with failed attempts in between, the name was "reached after a
/// long retry": Windows gives up a connection after 21 s (three SYNs), so
/// this is at least one connection lost.
pub const LONG_RETRY: Duration = Duration(20_000_000_000);

/// What the audit saw from a client to one address it was given.
#[derive(Clone, Copy, Debug)]
struct Contact {
    addr: IpAddr,
    proto: Proto,
    port: u16,
    /// The first connection of this kind.
    first: Timestamp,
    /// It worked (an answer came); else `failed` says whether it failed.
    worked: bool,
    /// How it failed, when the group knows (the unclassified summary
    /// knows only that it did).
    failed: Option<Option<How>>,
}

impl<'a> Classifier<'a> {
    /// The endpoints the learner saw resolved
    /// ([`crate::learn::Learned::resolutions`]), judged at [`Classifier::finish`].
    pub fn set_resolutions(&mut self, resolutions: Vec<Resolution>) {
        self.resolutions = resolutions;
    }

    /// The failures the resolutions show: [`FailureKind::ResolvedNeverReached`]
    /// and [`FailureKind::ReachedAfterRetry`].
    pub(super) fn reach_failures(&self, span_end: Option<Timestamp>) -> Vec<Failure> {
        // Only hosts of the deployment, and answers that gave addresses.
        let judged: Vec<&Resolution> = self
            .resolutions
            .iter()
            .filter(|r| !r.addrs.is_empty() && self.role_of(r.client).is_some())
            .collect();
        if judged.is_empty() {
            return Vec::new();
        }
        let wanted: HashSet<(IpAddr, IpAddr)> = judged
            .iter()
            .flat_map(|r| r.addrs.iter().map(|&a| (r.client, a)))
            .collect();
        let clients: HashSet<IpAddr> = judged.iter().map(|r| r.client).collect();
        // One pass over every host pair of the audit.
        let mut contacts: HashMap<(IpAddr, IpAddr), Vec<Contact>> = HashMap::new();
        let mut public: HashMap<IpAddr, u64> = HashMap::new();
        let mut saw = |s: IpAddr, d: IpAddr, c: Contact| {
            if !clients.contains(&s) {
                return;
            }
            if !crate::inventory::is_internal(d) {
                *public.entry(s).or_default() += 1;
            }
            if wanted.contains(&(s, d)) {
                contacts.entry((s, d)).or_default().push(c);
            }
        };
        for (k, outcomes) in &self.groups {
            for (o, b) in outcomes {
                let (worked, failed) = match o {
                    Outcome::Working | Outcome::Slow => (true, None),
                    Outcome::Blocked(h) => (false, Some(Some(*h))),
                    Outcome::Inconclusive(_) => (false, None),
                };
                for ((s, d), p) in &b.pairs {
                    let c = Contact {
                        addr: d,
                        proto: k.proto,
                        port: k.port,
                        first: p.first,
                        worked,
                        failed,
                    };
                    saw(s, d, c);
                }
            }
        }
        for (k, u) in &self.uncl {
            if !k.outbound {
                continue;
            }
            for ((s, d), p) in &u.bucket.pairs {
                let c = Contact {
                    addr: d,
                    proto: k.proto,
                    port: k.port,
                    first: p.first,
                    worked: p.conns > p.failed,
                    failed: (p.failed > 0).then_some(None),
                };
                saw(s, d, c);
            }
        }
        let mut out = Vec::new();
        for r in judged {
            let seen: Vec<Contact> = r
                .addrs
                .iter()
                .filter_map(|&a| contacts.get(&(r.client, a)))
                .flatten()
                .copied()
                .collect();
            if seen.is_empty() {
                let others = public.get(&r.client).copied().unwrap_or(0);
                if let Some(f) = never_reached(r, others, span_end) {
                    out.push(f);
                }
            } else if let Some(f) = after_retry(r, &seen) {
                out.push(f);
            }
        }
        out
    }
}

/// `a, b and 3 more`.
fn addr_list(addrs: &[IpAddr]) -> String {
    let shown: Vec<String> = addrs.iter().take(4).map(ToString::to_string).collect();
    match addrs.len().saturating_sub(4) {
        0 => crate::classify::evidence::fmt_list(&shown),
        n => format!("{} and {n} more", shown.join(", ")),
    }
}

/// Never reached, when the capture could have shown it: it went on for
/// [`NEVER_REACHED_GRACE`] after the answer, and shows the client's other
/// traffic to the internet (`others` connections), so the sensor is on its
/// way out: a capture on the DNS server sees the lookups and none of it.
fn never_reached(r: &Resolution, others: u64, span_end: Option<Timestamp>) -> Option<Failure> {
    let end = span_end?;
    if r.named || others == 0 || end.0.saturating_sub(r.first.0) < NEVER_REACHED_GRACE.0 {
        return None;
    }
    let detail = format!(
        "{} resolved to {}, and no packet from {} to {} followed in the {} the capture went on \
         (it shows {} from {} to other internet addresses)",
        r.name,
        addr_list(&r.addrs),
        r.client,
        if r.addrs.len() == 1 {
            "it"
        } else {
            "any of them"
        },
        crate::classify::evidence::fmt_secs(end.0.saturating_sub(r.first.0)),
        plural(others, "host pair", "host pairs"),
        r.client,
    );
    Some(Failure {
        kind: FailureKind::ResolvedNeverReached,
        client: r.client,
        server: r.resolver,
        proto: r.proto,
        port: 53,
        detail,
        name: Some(r.name.clone()),
        addrs: r.addrs.clone(),
        count: r.count,
        first: r.first,
        last: r.last,
        skew: None,
        disrupted: true,
    })
}

/// Reached after a long retry: the first connection that worked began
/// [`LONG_RETRY`] or more after the answer, and attempts to the answer's
/// addresses on the same transport and port failed in between (attempts on
/// another port are a fallback, such as Service Bus from 5671 to 443, which
/// the blocked finding and its rule's fallback judge).
fn after_retry(r: &Resolution, seen: &[Contact]) -> Option<Failure> {
    let worked = seen
        .iter()
        .filter(|c| c.worked)
        .min_by_key(|c| (c.first, c.addr))?;
    // A connection from before the answer: the name was reached already.
    if worked.first < r.first || worked.first.0 - r.first.0 < LONG_RETRY.0 {
        return None;
    }
    // Failed attempts since the answer (a second of slack for the order of
    // the answer and the SYN in a capture of two vantage points).
    let slack = 1_000_000_000;
    let mut failed: Vec<&Contact> = seen
        .iter()
        .filter(|c| c.failed.is_some() && c.first < worked.first)
        .filter(|c| (c.proto, c.port) == (worked.proto, worked.port))
        .filter(|c| c.first.0 >= r.first.0 - slack)
        .collect();
    if failed.is_empty() {
        return None;
    }
    failed.sort_by_key(|c| (c.addr, c.first));
    let mut hows: Vec<&str> = failed
        .iter()
        .map(|c| c.failed.flatten().map_or("failed", How::name))
        .collect();
    hows.sort_unstable();
    hows.dedup();
    let mut failed_addrs: Vec<IpAddr> = failed.iter().map(|c| c.addr).collect();
    failed_addrs.dedup();
    let detail = format!(
        "{}: first reached {} after it was resolved, on {} port {}; the attempts before, to {}, failed ({})",
        r.name,
        crate::classify::evidence::fmt_secs(worked.first.0 - r.first.0),
        worked.addr,
        worked.port,
        addr_list(&failed_addrs),
        hows.join(", "),
    );
    Some(Failure {
        kind: FailureKind::ReachedAfterRetry,
        client: r.client,
        server: worked.addr,
        proto: worked.proto,
        port: worked.port,
        detail,
        name: Some(r.name.clone()),
        addrs: r.addrs.clone(),
        count: 1,
        first: r.first,
        last: worked.first,
        skew: None,
        // It got through in the end.
        disrupted: false,
    })
}
