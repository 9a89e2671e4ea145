//! Unclassified findings: traffic between a known role and hosts of no known role.

use super::*;

/// Ports given a finding of their own per (role, direction, transport);
/// the rest share one (a flood or a scan to random ports would otherwise
/// make a finding per port).
const PORTS_LISTED: usize = 20;

/// One (role, direction, transport) side of the unclassified traffic, its
/// ports with their counts.
type Side<'k> = Vec<(&'k UnclKey, &'k Uncl)>;

impl<'a> Classifier<'a> {
    pub(super) fn unclassified_findings(&self, out: &mut Vec<Finding>) {
        // Per (role, direction, transport): the busiest ports first.
        let mut by_side: BTreeMap<(Role, bool, Proto), Side> = BTreeMap::new();
        for (k, u) in &self.uncl {
            by_side
                .entry((k.role, k.outbound, k.proto))
                .or_default()
                .push((k, u));
        }
        for (_, mut keys) in by_side {
            keys.sort_by_key(|(k, u)| (Reverse(u.bucket.conns), k.port));
            // All of them when they fit; else the busiest but one, and one
            // finding for the rest.
            let keep = if keys.len() <= PORTS_LISTED {
                keys.len()
            } else {
                PORTS_LISTED - 1
            };
            let rest = keys.split_off(keep);
            keys.sort_by_key(|(k, _)| **k);
            for (k, u) in keys {
                out.push(self.unclassified_finding(k, &[k.port], u.failed, &u.bucket));
            }
            if let Some(&(first, _)) = rest.first() {
                let mut ports: Vec<u16> = rest.iter().map(|(k, _)| k.port).collect();
                ports.sort_unstable();
                let mut all = Bucket::default();
                let mut failed = 0;
                for (_, u) in &rest {
                    all.absorb(&u.bucket);
                    failed += u.failed;
                }
                let key = UnclKey {
                    port: ports[0],
                    ..*first
                };
                out.push(self.unclassified_finding(&key, &ports, failed, &all));
            }
        }
    }

    /// One unclassified finding for `ports` (one, or the many a flood or a
    /// scan spreads over).
    fn unclassified_finding(&self, k: &UnclKey, ports: &[u16], failed: u64, b: &Bucket) -> Finding {
        let unknown: BTreeSet<IpAddr> = b
            .pairs
            .keys()
            .map(|&(s, d)| if k.outbound { d } else { s })
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
            also_rules: Vec::new(),
            how: None,
            hosts: host_pairs(b),
            hosts_total: 0,
            count: b.conns,
            evidence: ev,
            wireshark_filter: filter::build(k.proto, &listed, &filter_pairs(b, false), Shape::Both),
        }
    }
}
