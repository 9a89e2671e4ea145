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
                    out.push(self.unclassified_finding(&k, &[k.port], u.failed, &u.bucket));
                }
            }
            if let Some(&(first, _)) = rest.first() {
                let mut ports: Vec<u16> = rest.iter().map(|(k, _)| k.port).collect();
                ports.sort_unstable();
                // Each port's bucket is moved into the merged one, not
                // copied: a flood's pairs are most of the memory.
                let mut merged = Bucket::<SlimPair>::default();
                // Sized once for every pair (an upper bound: a pair may use
                // several ports), so the map never holds two sizes at once.
                let (v4, other) = rest
                    .iter()
                    .filter_map(|(k, _)| self.uncl.get(k))
                    .map(|u| u.bucket.pairs.lens())
                    .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
                merged.pairs.reserve(v4, other);
                let mut failed = 0;
                for (k, _) in &rest {
                    if let Some(u) = self.uncl.get_mut(k) {
                        merged.absorb_owned(std::mem::take(&mut u.bucket));
                        failed += u.failed;
                    }
                }
                let key = UnclKey {
                    port: ports[0],
                    ..first
                };
                out.push(self.unclassified_finding(&key, &ports, failed, &merged));
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
        b: &Bucket<SlimPair>,
    ) -> Finding {
        let unknown: HashSet<IpAddr> = b
            .pairs
            .keys()
            .map(|(s, d)| if k.outbound { d } else { s })
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
            plural(b.conns, "connection", "connections"),
        ));
        if let Some(n) = filter_note(b.pairs.len()) {
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
            page: None,
            section: None,
            also_rules: Vec::new(),
            how: None,
            hosts: host_pairs(b, self.max_hosts),
            hosts_total: b.pairs.len() as u64,
            count: b.conns,
            evidence: ev,
            wireshark_filter: filter::build(k.proto, &listed, &filter_pairs(b, false), Shape::Both),
            inputs: Vec::new(),
            input_mask: b.inputs,
        }
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
                for (s, d) in u.bucket.pairs.keys() {
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
