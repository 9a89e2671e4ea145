//! Adds what was learned from the capture to a finished audit: names next to
//! addresses, the catalogue hostname pattern behind an `azure` host, the
//! endpoint mapper behind a dynamic RPC port, and the host a proxied
//! connection asked for.

use super::Observer;
use crate::catalogue::{Catalogue, Role};
use crate::classify::Audit;
use crate::learn::Learned;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Evidence lines added per finding at most (per kind of evidence).
const MAX_LINES: usize = 5;

/// Sets `src_name`/`dst_name` on every host pair and appends evidence to the
/// findings: name-based `azure` matches, endpoint-mapper confirmation of
/// ports in 49152-65535, and CONNECT targets of proxied connections.
pub fn annotate(audit: &mut Audit, learned: &Learned, observer: &Observer, catalogue: &Catalogue) {
    for f in &mut audit.findings {
        let mut extra = Vec::new();
        let mut seen_dst = BTreeSet::new();
        let mut rpc_lines = 0;
        for h in &mut f.hosts {
            h.src_name = learned.names.name(h.src).map(str::to_string);
            h.dst_name = learned.names.name(h.dst).map(str::to_string);
            if !seen_dst.insert(h.dst) {
                continue;
            }
            if f.dst_role == Some(Role::Azure)
                && seen_dst.len() <= MAX_LINES
                && let Some(line) = azure_by_name(h.dst, learned, catalogue)
            {
                extra.push(line);
            }
        }
        // Ports an endpoint mapper hands out: the finding's rule says so
        // (`epm`); without a rule, a port in the range of a rule that does.
        let dynamic = match f.rule.as_deref().and_then(|id| catalogue.rule(id)) {
            Some(r) => r.epm,
            None => catalogue
                .rules
                .iter()
                .any(|r| r.epm && r.ports.contains(f.port)),
        };
        if dynamic {
            for h in &f.hosts {
                let key = (h.src.to_canonical(), h.dst.to_canonical());
                let Some(ports) = observer.dynamic.get(&key) else {
                    continue;
                };
                for &port in ports {
                    if rpc_lines >= MAX_LINES {
                        break;
                    }
                    // Many clients of one server on one port: one line.
                    let line = rpc_line(h.dst, port, learned);
                    if !extra.contains(&line) {
                        rpc_lines += 1;
                        extra.push(line);
                    }
                }
            }
        }
        let mut proxied = 0;
        for h in &f.hosts {
            // A refused flow names the targets the proxy refused, with the
            // status; any other finding those it let through.
            let refused = f.how == Some(crate::classify::How::ProxyRefused);
            let mut targets: Vec<String> = learned
                .proxied
                .values()
                .filter(|p| p.client == h.src.to_canonical() && p.proxy == h.dst.to_canonical())
                .filter(|p| refused == p.status.is_some_and(|s| !(200..300).contains(&s)))
                .map(|p| match (refused, p.status) {
                    (true, Some(s)) => format!("{}:{} (answered {s})", p.host, p.port),
                    _ => format!("{}:{}", p.host, p.port),
                })
                .collect();
            targets.sort_unstable();
            targets.dedup();
            if targets.is_empty() || proxied >= MAX_LINES {
                continue;
            }
            proxied += 1;
            let list: Vec<&str> = targets.iter().take(MAX_LINES).map(String::as_str).collect();
            extra.push(format!(
                "{} -> {} is an explicit proxy: CONNECT {}{}",
                h.src,
                h.dst,
                list.join(", "),
                if targets.len() > MAX_LINES {
                    ", ..."
                } else {
                    ""
                }
            ));
        }
        f.evidence.extend(extra);
    }
}

/// "20.190.128.10 is login.microsoftonline.com (dns at t), which matches ..."
pub fn azure_by_name(ip: IpAddr, learned: &Learned, catalogue: &Catalogue) -> Option<String> {
    learned.names.names(ip).iter().find_map(|n| {
        catalogue
            .hostnames
            .iter()
            .find(|p| p.matches(&n.name))
            .map(|p| {
                format!(
                    "{ip} is {} ({} at {}), which matches {} serving {} ({})",
                    n.name,
                    n.source.name(),
                    n.ts,
                    p.pattern,
                    p.serves.join(", "),
                    p.source
                )
            })
    })
}

/// "port 49670 handed out by the endpoint mapper of 10.0.0.5 at t", or not confirmed.
pub fn rpc_line(server: IpAddr, port: u16, learned: &Learned) -> String {
    match learned.epm.announced(server, port) {
        Some(a) => format!(
            "port {port} handed out by the endpoint mapper of {} at {}",
            a.mapper, a.ts
        ),
        None => format!(
            "port {port} on {server} not confirmed by an endpoint mapper (no endpoint-mapper response in the capture handed it out)"
        ),
    }
}
