//! Unclassified findings: traffic between a known role and hosts of no known role.

use super::*;

impl<'a> Classifier<'a> {
    pub(super) fn unclassified_findings(&self, out: &mut Vec<Finding>) {
        let mut keys: Vec<&UnclKey> = self.uncl.keys().collect();
        keys.sort();
        for k in keys {
            let Some(u) = self.uncl.get(k) else { continue };
            let b = &u.bucket;
            let unknown: BTreeSet<IpAddr> = b
                .pairs
                .keys()
                .map(|&(s, d)| if k.outbound { d } else { s })
                .collect();
            let hosts = plural(unknown.len() as u64, "unknown host", "unknown hosts");
            let on = format!("{}/{}", k.proto.name(), k.port);
            let mut ev = vec![if k.outbound {
                format!("{} -> {hosts} on {on}", k.role)
            } else {
                format!("{hosts} -> {} on {on}", k.role)
            }];
            ev.push(format!(
                "{}, {} of them failed",
                plural(b.conns, "connection", "connections"),
                u.failed
            ));
            if let Some(n) = filter_note(b.pairs.len()) {
                ev.push(n);
            }
            out.push(Finding {
                kind: FindingKind::Unclassified,
                severity: Severity::Info,
                src_role: k.outbound.then_some(k.role),
                dst_role: (!k.outbound).then_some(k.role),
                transport: k.proto,
                port: k.port,
                ports: None,
                rule: None,
                table: None,
                also_rules: Vec::new(),
                how: None,
                hosts: host_pairs(b),
                count: b.conns,
                evidence: ev,
                wireshark_filter: filter::build(
                    k.proto,
                    &[k.port],
                    &filter_pairs(b, false),
                    Shape::Both,
                ),
            });
        }
    }
}
