//! `flowaudit roles` output: a table for people, JSON for tools (the TOML
//! starter inventory is [`super::Inference::to_toml`]).

use super::{Inference, InferredFeature, InferredHost};
use crate::learn::{Announcement, Learned, LearnedName, ProxyTarget};
use crate::report::escape;
use serde::Serialize;
use std::io::{self, Write};
use std::net::IpAddr;

/// Names learned for one address.
#[derive(Clone, Debug, Serialize)]
pub struct AddrNames<'a> {
    /// The address.
    pub addr: IpAddr,
    /// Its names, first learned first.
    pub names: &'a [LearnedName],
}

/// The JSON document of `flowaudit roles --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct RolesReport<'a> {
    /// Hosts with inferred roles (all confidences).
    pub hosts: &'a [InferredHost],
    /// Microsoft cloud addresses the capture talks to, azure by the catalogue's ranges.
    pub by_range: &'a [InferredHost],
    /// Why hosts that look like part of a domain got no role.
    pub short_of: &'a [String],
    /// Inferred features.
    pub features: &'a [InferredFeature],
    /// Every name learned, per address.
    pub names: Vec<AddrNames<'a>>,
    /// TCP ports handed out by endpoint mappers.
    pub rpc_endpoints: Vec<Announcement>,
    /// Connections through explicit proxies and the host each asked for.
    pub proxied: Vec<&'a ProxyTarget>,
}

impl<'a> RolesReport<'a> {
    /// Collects the report from an inference and what was learned.
    pub fn new(inf: &'a Inference, learned: &'a Learned) -> RolesReport<'a> {
        let names = learned
            .names
            .addrs()
            .into_iter()
            .map(|addr| AddrNames {
                addr,
                names: learned.names.names(addr),
            })
            .collect();
        let mut proxied: Vec<&ProxyTarget> = learned.proxied.values().collect();
        proxied.sort_by_key(|p| (p.ts, p.client, p.client_port));
        RolesReport {
            hosts: &inf.hosts,
            by_range: &inf.by_range,
            short_of: &inf.short_of,
            features: &inf.features,
            names,
            rpc_endpoints: learned.epm.all(),
            proxied,
        }
    }
}

/// Writes the roles as text: one block per host, then features, names, RPC
/// endpoints and proxied connections. Capture text is escaped for terminals.
pub fn write_roles_table(w: &mut dyn Write, inf: &Inference, learned: &Learned) -> io::Result<()> {
    if inf.hosts.is_empty() {
        writeln!(w, "No role inferred for any on-premises host.")?;
    }
    for h in &inf.hosts {
        let name = h
            .name
            .as_deref()
            .map(|n| format!(" ({})", escape::terminal(n)))
            .unwrap_or_default();
        writeln!(
            w,
            "{:<6} {}{name}  [{}]",
            h.role.name(),
            h.addr,
            h.confidence.name()
        )?;
        for e in &h.evidence {
            writeln!(w, "         - {}", escape::terminal(e))?;
        }
    }
    if !inf.by_range.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "Microsoft cloud addresses (azure by the catalogue's ranges, no inference needed):"
        )?;
        for h in &inf.by_range {
            let name = h
                .name
                .as_deref()
                .map(|n| format!(" ({})", escape::terminal(n)))
                .unwrap_or_default();
            let why = h.evidence.first().map(String::as_str).unwrap_or_default();
            writeln!(w, "  {}{name}: {}", h.addr, escape::terminal(why))?;
        }
    }
    if !inf.short_of.is_empty() {
        writeln!(w)?;
        writeln!(w, "Not enough for a role:")?;
        for e in &inf.short_of {
            writeln!(w, "  - {}", escape::terminal(e))?;
        }
    }
    if inf
        .hosts
        .iter()
        .all(|h| h.confidence < super::Confidence::Medium)
    {
        writeln!(w)?;
        writeln!(
            w,
            "Without a domain controller or a sync server of medium or high confidence, an audit \
             without --inventory judges no flow: write an inventory (`flowaudit roles --format toml` \
             gives a starter to edit)."
        )?;
    }
    if !inf.features.is_empty() {
        writeln!(w)?;
        writeln!(w, "Features:")?;
        for f in &inf.features {
            writeln!(w, "  {}: {}", f.feature, escape::terminal(&f.evidence))?;
        }
    }
    let addrs = learned.names.addrs();
    if !addrs.is_empty() {
        writeln!(w)?;
        writeln!(w, "Names learned:")?;
        for a in addrs {
            let names: Vec<String> = learned
                .names
                .names(a)
                .iter()
                .map(|n| format!("{} ({})", escape::terminal(&n.name), n.source.name()))
                .collect();
            writeln!(w, "  {a}: {}", names.join(", "))?;
        }
    }
    let eps = learned.epm.all();
    if !eps.is_empty() {
        writeln!(w)?;
        writeln!(w, "Ports handed out by endpoint mappers:")?;
        for e in eps {
            let addr = e.addr.map(|a| format!(" for {a}")).unwrap_or_default();
            writeln!(w, "  tcp/{} by {}{addr} at {}", e.port, e.mapper, e.ts)?;
        }
    }
    let report = RolesReport::new(inf, learned);
    if !report.proxied.is_empty() {
        writeln!(w)?;
        writeln!(w, "Proxied connections (CONNECT):")?;
        for p in report.proxied {
            writeln!(
                w,
                "  {}:{} -> proxy {}:{} CONNECT {}:{}",
                p.client,
                p.client_port,
                p.proxy,
                p.proxy_port,
                escape::terminal(&p.host),
                p.port
            )?;
        }
    }
    Ok(())
}

/// The names `learned` holds for a connection's ends and its proxy target,
/// for [`crate::report::write_flows`].
pub fn conn_names<'a>(
    learned: &'a Learned,
    c: &crate::track::Connection,
) -> crate::report::ConnNames<'a> {
    crate::report::ConnNames {
        orig: learned.names.name(c.orig_h),
        resp: learned.names.name(c.resp_h),
        proxy_connect: learned
            .proxy_target(c.orig_h, c.orig_p, c.resp_h, c.resp_p)
            .map(|p| format!("{}:{}", p.host, p.port)),
    }
}
