//! Unclassified findings: traffic between a known role and hosts of no known role.

use super::*;

/// Ports given a finding of their own per (role, direction, transport);
/// the rest share one (a flood or a scan to random ports would otherwise
/// make a finding per port).
const PORTS_LISTED: usize = 20;

impl<'a> Classifier<'a> {
    /// The unclassified findings; the ports merged into one finding give
    /// up their buckets to it (moved, not copied: a flood's are most of the
    /// memory).
    pub(super) fn unclassified_findings(&mut self, out: &mut Vec<Finding>) {
        // Per (role, direction, transport): the busiest ports first.
        let mut by_side: BTreeMap<(Role, bool, Proto), Vec<(UnclKey, u64)>> = BTreeMap::new();
        for (k, u) in &self.uncl {
            by_side
                .entry((k.role, k.outbound, k.proto))
                .or_default()
                .push((*k, u.bucket.conns));
        }
        for (_, mut keys) in by_side {
            keys.sort_by_key(|&(k, conns)| (Reverse(conns), k.port));
            // All of them when they fit; else the busiest but one, and one
            // finding for the rest.
            let keep = if keys.len() <= PORTS_LISTED {
                keys.len()
            } else {
                PORTS_LISTED - 1
            };
            let rest = keys.split_off(keep);
            keys.sort_by_key(|&(k, _)| k);
            for (k, _) in keys {
                if let Some(u) = self.uncl.get(&k) {
                    let pairs = UnclPairs::One(&u.bucket);
                    out.push(self.unclassified_finding(&k, &[k.port], u.failed, &pairs));
                }
            }
            if let Some(&(first, _)) = rest.first() {
                let mut ports: Vec<u16> = rest.iter().map(|(k, _)| k.port).collect();
                ports.sort_unstable();
                // Each port's bucket is folded into what the finding shows
                // of a pair and dropped: a flood's pairs are not copied whole.
                let mut merged = Merged::default();
                let mut failed = 0;
                for (k, _) in &rest {
                    if let Some(u) = self.uncl.get_mut(k) {
                        merged.absorb(std::mem::take(&mut u.bucket));
                        failed += u.failed;
                    }
                }
                let key = UnclKey {
                    port: ports[0],
                    ..first
                };
                out.push(self.unclassified_finding(
                    &key,
                    &ports,
                    failed,
                    &UnclPairs::Merged(merged),
                ));
            }
        }
    }

    /// One unclassified finding for `ports` (one, or the many a flood or a
    /// scan spreads over).
    fn unclassified_finding(
        &self,
        k: &UnclKey,
        ports: &[u16],
        failed: u64,
        b: &UnclPairs<'_>,
    ) -> Finding {
        let unknown: HashSet<IpAddr> = b
            .iter()
            .map(|(s, d, ..)| if k.outbound { d } else { s })
            .collect();
        let hosts = plural(unknown.len() as u64, "unknown host", "unknown hosts");
        let on = match ports {
            [p] => format!("{}/{p}", k.proto.name()),
            _ => format!(
                "{} {} ports from {} to {} (each with fewer connections than the ports listed apart)",
                ports.len(),
                k.proto.name(),
                ports[0],
                ports[ports.len() - 1]
            ),
        };
        let mut ev = vec![if k.outbound {
            format!("{} -> {hosts} on {on}", k.role)
        } else {
            format!("{hosts} -> {} on {on}", k.role)
        }];
        ev.push(format!(
            "{}, {failed} of them failed",
            plural(b.conns(), "connection", "connections"),
        ));
        if let Some(n) = filter_note(b.len()) {
            ev.push(n);
        }
        let listed: Vec<u16> = ports.iter().copied().take(MAX_FILTER_PORTS).collect();
        Finding {
            kind: FindingKind::Unclassified,
            severity: Severity::Info,
            src_role: k.outbound.then_some(k.role),
            dst_role: (!k.outbound).then_some(k.role),
            transport: k.proto,
            port: k.port,
            ports: (ports.len() > 1).then(|| format!("{}-{}", ports[0], ports[ports.len() - 1])),
            rule: None,
            table: None,
            also_rules: Vec::new(),
            how: None,
            hosts: listed_pairs(b.iter(), self.max_hosts),
            hosts_total: b.len() as u64,
            count: b.conns(),
            evidence: ev,
            wireshark_filter: filter::build(k.proto, &listed, &b.filter_pairs(), Shape::Both),
            inputs: Vec::new(),
            input_mask: b.inputs(),
        }
    }
}

/// What an unclassified finding shows of the ports merged into one: per
/// host pair its attempts and times (summed over the ports), nothing else.
#[derive(Debug, Default)]
pub(super) struct Merged {
    conns: u64,
    inputs: u16,
    pairs: HashMap<(IpAddr, IpAddr), (u64, Timestamp, Timestamp)>,
}

impl Merged {
    fn absorb(&mut self, b: Bucket<SlimPair>) {
        self.conns += b.conns;
        self.inputs |= b.inputs;
        for (k, p) in b.pairs {
            let e = self.pairs.entry(k).or_insert((0, p.first, p.last));
            e.0 = e.0.saturating_add(p.attempts);
            e.1 = e.1.min(p.first);
            e.2 = e.2.max(p.last);
        }
    }
}

/// The host pairs of an unclassified finding: one port's bucket, or many
/// ports merged.
pub(super) enum UnclPairs<'b> {
    One(&'b Bucket<SlimPair>),
    Merged(Merged),
}

impl UnclPairs<'_> {
    fn len(&self) -> usize {
        match self {
            UnclPairs::One(b) => b.pairs.len(),
            UnclPairs::Merged(m) => m.pairs.len(),
        }
    }

    fn conns(&self) -> u64 {
        match self {
            UnclPairs::One(b) => b.conns,
            UnclPairs::Merged(m) => m.conns,
        }
    }

    fn inputs(&self) -> u16 {
        match self {
            UnclPairs::One(b) => b.inputs,
            UnclPairs::Merged(m) => m.inputs,
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Listed> + '_> {
        match self {
            UnclPairs::One(b) => Box::new(
                b.pairs
                    .iter()
                    .map(|(&(s, d), p)| (s, d, p.attempts, p.first, p.last)),
            ),
            UnclPairs::Merged(m) => Box::new(
                m.pairs
                    .iter()
                    .map(|(&(s, d), &(attempts, first, last))| (s, d, attempts, first, last)),
            ),
        }
    }

    /// The pairs the filter shows: the first in (src, dst) order, no ICMP.
    fn filter_pairs(&self) -> Vec<FilterPair> {
        let mut v = smallest(self.iter(), MAX_FILTER_PAIRS, |&(s, d, ..)| (s, d));
        v.sort_unstable_by_key(|&(s, d, ..)| (s, d));
        v.into_iter()
            .map(|(src, dst, ..)| FilterPair {
                src,
                dst,
                icmp: Vec::new(),
            })
            .collect()
    }
}

/// Failed attempts from unknown hosts to one role above which the capture is
/// said to hold a flood or a scan: far beyond what clients of a DC or a
/// sync server fail at by themselves, in any capture worth auditing.
const FLOOD_MIN_FAILED: u64 = 10_000;

impl Classifier<'_> {
    /// One sentence per role and transport that unknown hosts flooded or
    /// scanned: how many failed attempts, from how many hosts, to how many
    /// ports of which servers. The findings list only the busiest ports and
    /// host pairs; this says what the whole is.
    pub(super) fn flood_lines(&self) -> Vec<String> {
        let mut sides: BTreeMap<(Role, Proto), (u64, u64, Vec<u16>)> = BTreeMap::new();
        for (k, u) in self.uncl.iter().filter(|(k, _)| !k.outbound) {
            let s = sides.entry((k.role, k.proto)).or_default();
            s.0 += u.failed;
            s.1 += u.bucket.conns;
            s.2.push(k.port);
        }
        let mut out = Vec::new();
        for ((role, proto), (failed, conns, ports)) in sides {
            if failed < FLOOD_MIN_FAILED || failed * 2 < conns {
                continue;
            }
            let mut srcs: HashSet<IpAddr> = HashSet::new();
            let mut servers: BTreeSet<IpAddr> = BTreeSet::new();
            for (k, u) in self.uncl.iter() {
                if k.outbound || k.role != role || k.proto != proto {
                    continue;
                }
                for &(s, d) in u.bucket.pairs.keys() {
                    srcs.insert(s);
                    servers.insert(d);
                }
            }
            let listed: Vec<String> = servers.iter().take(3).map(ToString::to_string).collect();
            let more = servers.len().saturating_sub(listed.len());
            out.push(format!(
                "flood or scan: {} from {} to {} of {role} ({}{}): the findings list the busiest ports and host pairs; `flowaudit flows` has every connection",
                plural(failed, "failed connection attempt", "failed connection attempts"),
                plural(srcs.len() as u64, "unknown host", "unknown hosts"),
                plural(ports.len() as u64, &format!("{} port", proto.name()), &format!("{} ports", proto.name())),
                listed.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() },
            ));
        }
        out
    }
}
