//! The healthy finding of a rule: its working connections over the rule's ports.

use super::*;

/// Working connections of one rule and role pair, over its ports.
#[derive(Default)]
pub(super) struct Healthy {
    pub(super) ports: BTreeSet<u16>,
    pub(super) bucket: Bucket,
    pub(super) notes: Vec<String>,
    /// Records of stray packets after a close, folded into these connections.
    pub(super) strays: u64,
}

impl Healthy {
    pub(super) fn add(&mut self, ports: &[u16], b: &Bucket) {
        self.ports.extend(ports.iter().copied());
        self.bucket.absorb(b);
    }

    pub(super) fn finding(
        self,
        r: &Rule,
        (src, dst, proto): (Role, Role, Proto),
        max_hosts: usize,
    ) -> Finding {
        let b = &self.bucket;
        let verb = if proto == Proto::Tcp {
            "established"
        } else {
            "answered"
        };
        let ports: Vec<u16> = self.ports.iter().copied().collect();
        let port_txt: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        let mut ev = vec![format!(
            "{}: {} {verb} between {} on {}/{}",
            rule_ref(r),
            plural(b.conns, "connection", "connections"),
            plural(b.pairs.len() as u64, "host pair", "host pairs"),
            proto.name(),
            fmt_list(&port_txt)
        )];
        let closed: u64 = b.pairs.values().map(|p| p.closed_early).sum();
        if closed > 0 {
            ev.push(format!(
                "{} got a SYN-ACK but closed before the handshake completed (the port is open)",
                plural(closed, "connection", "connections")
            ));
        }
        let mid: u64 = b.pairs.values().map(|p| p.midstream).sum();
        if mid > 0 {
            ev.push(format!(
                "{mid} of them began before the capture (no SYN seen)"
            ));
        }
        ev.extend(self.notes);
        ev.extend(stray_note(self.strays));
        if let Some(n) = filter_note(b.pairs.len()) {
            ev.push(n);
        }
        let fports: Vec<u16> = ports.iter().copied().take(MAX_FILTER_PORTS).collect();
        Finding {
            kind: FindingKind::Healthy,
            severity: Severity::Info,
            src_role: Some(src),
            dst_role: Some(dst),
            transport: proto,
            port: ports.first().copied().unwrap_or(r.ports.lo),
            ports: Some(r.ports.to_string()),
            rule: Some(r.id.clone()),
            table: r.table.clone(),
            page: r.page.clone(),
            section: r.section.clone(),
            also_rules: Vec::new(),
            how: None,
            hosts: host_pairs(b, max_hosts),
            hosts_total: b.pairs.len() as u64,
            count: b.conns,
            evidence: ev,
            wireshark_filter: filter::build(proto, &fports, &filter_pairs(b, false), Shape::Both),
            inputs: Vec::new(),
            input_mask: b.inputs,
        }
    }
}
