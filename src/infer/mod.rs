//! Roles by behaviour: which host is a domain controller, the sync server, AD
//! FS, the WAP, its users, or a Microsoft cloud endpoint, inferred from the
//! connections of a capture and the names learned from it ([`crate::learn`]).
//!
//! Use: an [`Observer`] is fed every finished [`Connection`]
//! ([`Observer::connection`]), then [`Observer::finish`] with what the
//! [`crate::learn::Learner`] learned and the catalogue gives an [`Inference`]:
//! hosts with a role, a [`Confidence`] and evidence sentences, plus the
//! features the traffic implies. [`Inference::inventory`] turns it into an
//! [`Inventory`] for the classifier, [`Inference::to_toml`] into a starter
//! inventory file in exactly the inventory format.
//!
//! # Rules (in this order; a host gets the first role that fits)
//!
//! - `azure` by name: an address whose learned name matches a catalogue
//!   hostname pattern (high); addresses in the catalogue's ranges are azure
//!   already and are not listed.
//! - `dc`: answers Kerberos 88, LDAP 389 and SMB 445 (high); answers Kerberos
//!   or LDAP (389, 636, 3268) and is asked on at least 3 of the DC ports (the
//!   ports of the catalogue's rules marked `identifies`: 53, 88, 135, 389,
//!   445, 464, 636, 3268, 3269 in the built-in one) (medium); answers LDAP or
//!   Kerberos to the inferred sync server (medium, second pass); tried by the
//!   inferred sync server on at least 3 DC ports (dynamic RPC counting as
//!   one), answered or not (medium: a DC the sync server cannot reach, or
//!   reaches only in part, which is what the audit is for); answers Kerberos
//!   or LDAP only (low).
//! - `sync`: an LDAP client (389, 636, 3268) of a dc and an HTTPS client of a
//!   Microsoft endpoint (by catalogue range or name), which every
//!   hybrid-joined Windows client is too; so also: high when it talks to a
//!   name the catalogue marks `only_from = "sync"` (the sync engine's
//!   adminwebservice and provisioningapi endpoints); medium when it imported
//!   at least 256 KiB over LDAP from DCs or asked a dc on the endpoint mapper
//!   and a dynamic RPC port (password hash sync's replication); low
//!   otherwise. One level lower (high to medium, medium to low) when it also
//!   talks to Microsoft 365 client endpoints (`[[client_hostname]]`: Outlook,
//!   Teams, Office), as a user's workstation does.
//! - `wap`: asked on 443 or 49443 by external (non-private) addresses and
//!   itself a 443 client of an internal host (high when a `certauth.` name or
//!   49443 is seen, or `/adfs/` paths go to it), medium otherwise.
//! - `adfs`: the internal 443 server the wap talks to, or a server of
//!   `/adfs/` paths not asked by external clients (high with `/adfs/`, medium
//!   otherwise).
//! - `users`: the external clients of the wap on 443/49443 (as the wap).
//! - aliases: an address DNS gives the same name as an on-premises host of
//!   medium or high confidence gets that host's role (medium).
//!
//! Features: `password-hash-sync` (the Entra Connect default, as the
//! inventory loader assumes), `seamless-sso` when the sync server asks a dc on
//! 3268, `ldaps` on 636 from sync to a dc, `adfs` with an adfs or wap host,
//! `adfs-cert-auth` on 49443 to the wap, `health-agent` when a sync/adfs/wap
//! host asks 5671 of an external host; and any feature a catalogue hostname
//! `implies` when such a host talks to the name (by DNS, SNI, HTTP Host or
//! a proxy CONNECT; the most specific pattern decides): `pass-through-auth`
//! for `*.msappproxy.net`, `health-agent` for the Connect Health names.
//! Never inferred: `adfs-gmsa` (its only flow, WinRM, is also what an
//! unplanned admin session looks like), `password-writeback` (its flows
//! share 443 and names with everything else).
//!
//! Only high and medium hosts go into the inventory; low ones are reported.

mod annotate;
mod output;
#[cfg(test)]
mod tests;

pub use annotate::{annotate, rpc_line};
pub use output::{AddrNames, RolesReport, conn_names, write_roles_table};

use crate::catalogue::{Catalogue, Feature, HostPattern, Role};
use crate::decode::Transport;
use crate::inventory::{Inventory, RoleEntry, RoleSource, is_internal};
use crate::learn::{Learned, NameSource};
use crate::track::{Connection, Handshake};
use foldhash::HashMap;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Ports whose servers and clients the observer remembers besides the
/// domain controller ports the catalogue names ([`Catalogue::dc_ports`]):
/// HTTPS, AD FS certificate authentication, Service Bus, HTTP.
const WATCHED_ALSO: [u16; 4] = [443, 49443, 5671, 80];
/// Hosts remembered at most.
const MAX_HOSTS: usize = 1 << 16;
/// Domain controller ports (dynamic RPC counting as one) on which a sync
/// server must try a host for it to be taken for a domain controller that
/// does not answer.
const DC_TRIED: usize = 3;
/// LDAP payload from DCs that makes a client look like it imports the
/// directory (a sync cycle's import of even a small forest is larger; a
/// workstation's logon and Group Policy lookups are a few KiB).
const SYNC_IMPORT_BYTES: u64 = 256 * 1024;
/// Peers remembered at most per host and port.
const MAX_PEERS: usize = 256;

/// How sure an inference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// One weak sign; reported, not used.
    Low,
    /// Behaviour fits, one piece missing.
    Medium,
    /// Behaviour and names agree.
    High,
}

impl Confidence {
    /// `high`, `medium`, `low`.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// One host with an inferred role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InferredHost {
    /// The address.
    pub addr: IpAddr,
    /// The role inferred.
    pub role: Role,
    /// How sure.
    pub confidence: Confidence,
    /// The first learned name, if any.
    pub name: Option<String>,
    /// Why, in words.
    pub evidence: Vec<String>,
}

/// An inferred feature with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InferredFeature {
    /// The feature.
    pub feature: Feature,
    /// Why.
    pub evidence: String,
}

/// Everything inferred from one capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Inference {
    /// Hosts with roles, by role then address.
    pub hosts: Vec<InferredHost>,
    /// Features the traffic implies.
    pub features: Vec<InferredFeature>,
    /// Addresses the capture talks to in the catalogue's Microsoft ranges:
    /// `azure` without inference (not in `hosts`, not in the inventory this
    /// makes: the ranges are part of every inventory), at most [`MAX_LISTED`].
    pub by_range: Vec<InferredHost>,
    /// What the capture showed that fell short of a role, one sentence per
    /// host (at most [`MAX_LISTED`]): why no domain controller or sync server
    /// was found.
    pub short_of: Vec<String>,
}

/// Hosts listed in [`Inference::by_range`] and [`Inference::short_of`].
pub const MAX_LISTED: usize = 20;

/// What one (server, port) saw.
#[derive(Clone, Debug, Default)]
struct Served {
    /// Index of this server's [`Counts`] in [`Observer::counts`].
    at: usize,
    /// Clients (at most [`MAX_PEERS`]), answered or not.
    clients: BTreeSet<IpAddr>,
}

/// Connections one (server, port) saw. Kept apart from [`Served`], densely,
/// so that counting a repeated connection touches a small, warm array
/// instead of a hash map slot.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Connections answered (TCP handshake completed, UDP answered).
    answered: u64,
    /// Connections attempted.
    attempted: u64,
}

impl Counts {
    fn add(&mut self, c: &Connection) {
        self.attempted += 1;
        self.answered += u64::from(answered(c));
    }
}

/// (client, server, responder port, TCP?) of a connection the observer folded.
type Seen = (IpAddr, IpAddr, u16, bool);

/// A connection's key in [`Observer::seen`]: client, server (IPv4-mapped
/// addresses as IPv4), the server's port, TCP or not.
fn seen_key(c: &Connection) -> Seen {
    (
        c.orig_h.to_canonical(),
        c.resp_h.to_canonical(),
        c.resp_p,
        c.proto == Transport::Tcp,
    )
}

/// [`Observer::seen`]'s value for a connection that adds to no counts.
const NO_COUNTS: u32 = u32::MAX;

/// Per-connection facts folded per host and port.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    /// (server, port) -> what it saw.
    served: HashMap<(IpAddr, u16), Served>,
    /// (client, port) -> servers it asked (at most [`MAX_PEERS`]).
    asked: HashMap<(IpAddr, u16), BTreeSet<IpAddr>>,
    /// (client, server) -> TCP ports in 49152-65535 it connected to (dynamic RPC).
    dynamic: HashMap<(IpAddr, IpAddr), BTreeSet<u16>>,
    /// The counts of every `served` entry, by [`Served::at`].
    counts: Vec<Counts>,
    /// Client -> payload bytes LDAP servers (389, 636, 3268, 3269) sent it:
    /// a sync server imports the directory, a workstation asks a few objects.
    ldap_bytes: HashMap<IpAddr, u64>,
    /// Connections already folded (at most [`MAX_HOSTS`]), with the index of
    /// the counts they add to ([`NO_COUNTS`] for none): hosts repeat, and a
    /// repeat can only add to the counts (see [`Observer::connection`]).
    seen: HashMap<Seen, u32>,
    /// The ports that identify a domain controller, from the catalogue.
    dc_ports: Vec<u16>,
    /// Those and [`WATCHED_ALSO`]: the ports whose servers and clients are remembered.
    watched: Vec<u16>,
}

fn answered(c: &Connection) -> bool {
    match c.handshake {
        Handshake::Established | Handshake::ClosedEarly | Handshake::Answered => true,
        Handshake::Midstream => c.resp_pkts > 0 && c.orig_pkts > 0,
        _ => false,
    }
}

impl Observer {
    /// An empty observer.
    /// An empty observer for this catalogue (the ports that identify a
    /// domain controller are its rules marked `identifies`).
    pub fn new(catalogue: &Catalogue) -> Observer {
        let dc_ports = catalogue.dc_ports();
        let mut watched = dc_ports.clone();
        watched.extend(WATCHED_ALSO);
        Observer {
            dc_ports,
            watched,
            ..Observer::default()
        }
    }

    /// Folds one finished connection (TCP and UDP on watched ports only).
    pub fn connection(&mut self, c: &Connection) {
        let tcp = c.proto == Transport::Tcp;
        let dynamic = tcp && c.resp_p >= 49152;
        let watched =
            matches!(c.proto, Transport::Tcp | Transport::Udp) && self.watched.contains(&c.resp_p);
        if !dynamic && !watched {
            return;
        }
        let seen = seen_key(c);
        let (client, server) = (seen.0, seen.1);
        if tcp
            && matches!(c.resp_p, 389 | 636 | 3268 | 3269)
            && c.resp_bytes > 0
            && (self.ldap_bytes.len() < MAX_HOSTS || self.ldap_bytes.contains_key(&client))
        {
            let n = self.ldap_bytes.entry(client).or_default();
            *n = n.saturating_add(c.resp_bytes);
        }
        if let Some(&at) = self.seen.get(&seen) {
            // The maps and sets below only grow, and a cap once reached stays
            // reached: whatever the first such connection added (or found no
            // room for) is still so. Only the counts move.
            if let Some(n) = self.counts.get_mut(at as usize) {
                n.add(c);
            }
            return;
        }
        let at = self.fold(c, client, server, dynamic, watched);
        // (`at` is below MAX_HOSTS, so it always fits.)
        let at = at.map_or(Ok(NO_COUNTS), u32::try_from);
        if let Ok(at) = at
            && self.seen.len() < MAX_HOSTS
        {
            self.seen.insert(seen, at);
        }
    }

    /// Looks `conns` up as [`Observer::connection`] will, changing nothing:
    /// the lookups of a few connections in a row overlap their cache misses,
    /// so the folding that follows finds the slots in cache (see
    /// [`crate::classify::Classifier::prefetch`]).
    pub fn prefetch<'c>(&self, conns: impl IntoIterator<Item = &'c Connection>) {
        let mut found = 0u32;
        for c in conns {
            found = found.wrapping_add(self.seen.get(&seen_key(c)).copied().unwrap_or(0));
        }
        std::hint::black_box(found);
    }

    /// [`Observer::connection`] for the first connection of its kind: returns
    /// the index of the counts it added to.
    fn fold(
        &mut self,
        c: &Connection,
        client: IpAddr,
        server: IpAddr,
        dynamic: bool,
        watched: bool,
    ) -> Option<usize> {
        if dynamic {
            let key = (client, server);
            if self.dynamic.len() < MAX_HOSTS || self.dynamic.contains_key(&key) {
                let ports = self.dynamic.entry(key).or_default();
                if ports.len() < MAX_PEERS {
                    ports.insert(c.resp_p);
                }
            }
        }
        if !watched {
            return None;
        }
        let mut at = None;
        if self.served.len() < MAX_HOSTS || self.served.contains_key(&(server, c.resp_p)) {
            let next = self.counts.len();
            let s = self.served.entry((server, c.resp_p)).or_insert(Served {
                at: next,
                clients: BTreeSet::new(),
            });
            if s.at == next {
                self.counts.push(Counts::default());
            }
            if let Some(n) = self.counts.get_mut(s.at) {
                n.add(c);
            }
            if s.clients.len() < MAX_PEERS {
                s.clients.insert(client);
            }
            at = Some(s.at);
        }
        if self.asked.len() < MAX_HOSTS || self.asked.contains_key(&(client, c.resp_p)) {
            let a = self.asked.entry((client, c.resp_p)).or_default();
            if a.len() < MAX_PEERS {
                a.insert(server);
            }
        }
        at
    }

    /// What (server, port) saw: attempted and answered connections.
    fn counts(&self, h: IpAddr, port: u16) -> Option<Counts> {
        let s = self.served.get(&(h, port))?;
        self.counts.get(s.at).copied()
    }

    fn answers(&self, h: IpAddr, port: u16) -> bool {
        self.counts(h, port).is_some_and(|n| n.answered > 0)
    }

    fn asked(&self, h: IpAddr, port: u16) -> impl Iterator<Item = IpAddr> + '_ {
        self.asked
            .get(&(h, port))
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }

    /// The names of Microsoft 365 client endpoints (Outlook, Teams, Office)
    /// that `c` asks on 443: what a workstation runs, a server does not.
    fn client_app_names<'s>(
        &'s self,
        learned: &'s Learned,
        catalogue: &'s Catalogue,
        c: IpAddr,
    ) -> impl Iterator<Item = String> + 's {
        self.asked(c, 443)
            .flat_map(|s| learned.names.names(s).iter())
            .filter(|n| {
                catalogue
                    .client_hostnames
                    .iter()
                    .any(|p| p.matches(&n.name))
            })
            .map(|n| n.name.clone())
    }

    /// Infers roles and features.
    pub fn finish(&self, learned: &Learned, catalogue: &Catalogue) -> Inference {
        let mut r = Roles {
            map: BTreeMap::new(),
            learned,
        };
        self.azure_hosts(&mut r, catalogue);
        let mut servers: BTreeSet<IpAddr> = self.served.keys().map(|k| k.0).collect();
        servers.retain(|s| !r.map.contains_key(s));
        let low_dcs = self.dcs(&mut r, &servers);
        self.syncs(&mut r, catalogue);
        let syncs: BTreeSet<IpAddr> = r
            .map
            .values()
            .filter(|h| h.role == Role::Sync)
            .map(|h| h.addr)
            .collect();
        // Domain controllers the sync server tries and cannot reach: asked
        // on several DC ports by it, whether or not anything answered (a
        // blocked DC is the one the user came for).
        for (h, conf, ev) in self.unreachable_dcs(&syncs, &r.map) {
            r.map.remove(&h);
            r.put(h, Role::Dc, conf, ev);
        }
        self.dcs_of_sync(&mut r, low_dcs, &syncs);
        self.waps(&mut r, &servers, catalogue);
        self.adfs_by_path(&mut r);
        self.lbs(&mut r);
        self.agents(&mut r, catalogue);
        self.aliases(&mut r);
        let name_of = |ip: IpAddr| learned.names.name(ip).map(str::to_string);
        let roles = r.map;
        let mut hosts: Vec<InferredHost> = roles.into_values().collect();
        hosts.sort_by_key(|h| (h.role, h.addr));
        let features = self.features(&hosts, learned, catalogue);
        let by_range = self.by_range(catalogue, &name_of);
        let short_of = self.short_of(&hosts);
        Inference {
            hosts,
            features,
            by_range,
            short_of,
        }
    }

    /// `azure` by name: an address whose learned name matches a catalogue
    /// hostname pattern (the catalogue's ranges are azure anyway).
    fn azure_hosts(&self, r: &mut Roles<'_>, catalogue: &Catalogue) {
        for ip in r.learned.names.addrs() {
            if in_ranges(catalogue, ip) {
                continue;
            }
            if let Some((name, p, how)) = name_match(r.learned, catalogue, ip) {
                let ev = format!(
                    "learned name {name} ({how}) matches {} (serves {}; {})",
                    p.pattern,
                    p.serves.join(", "),
                    p.source
                );
                r.put(ip, Role::Azure, Confidence::High, vec![ev]);
            }
        }
    }

    /// Domain controllers by what they answer; returns the servers that
    /// answer Kerberos or LDAP too little, for [`Observer::dcs_of_sync`].
    fn dcs(&self, r: &mut Roles<'_>, servers: &BTreeSet<IpAddr>) -> Vec<IpAddr> {
        let ports = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let mut low_dcs = Vec::new();
        for &h in servers {
            let (ans, asked) = self.dc_ports(h);
            let has = |p| ans.contains(&p);
            let kerb_or_ldap = has(88) || has(389) || has(636) || has(3268);
            let (conf, why) = if has(88) && has(389) && has(445) {
                (
                    Confidence::High,
                    "answers Kerberos 88, LDAP 389 and SMB 445",
                )
            } else if kerb_or_ldap && asked.len() >= 3 {
                (
                    Confidence::Medium,
                    "answers Kerberos or LDAP and is asked on at least 3 domain controller ports",
                )
            } else if kerb_or_ldap {
                low_dcs.push(h);
                continue;
            } else {
                continue;
            };
            let ev = vec![
                why.to_string(),
                format!("answered on {}; asked on {}", ports(&ans), ports(&asked)),
            ];
            r.put(h, Role::Dc, conf, ev);
        }
        low_dcs
    }

    /// Sync servers: LDAP clients of DCs that also talk HTTPS to Microsoft,
    /// with what only a sync server does.
    fn syncs(&self, r: &mut Roles<'_>, catalogue: &Catalogue) {
        let dcs: BTreeSet<IpAddr> = r
            .map
            .values()
            .filter(|h| h.role == Role::Dc)
            .map(|h| h.addr)
            .collect();
        let mut clients: BTreeSet<IpAddr> = self.asked.keys().map(|k| k.0).collect();
        clients.retain(|c| !r.map.contains_key(c));
        for &c in &clients {
            let ldap_dcs: BTreeSet<IpAddr> = [389, 636, 3268]
                .into_iter()
                .flat_map(|p| self.asked(c, p))
                .filter(|s| dcs.contains(s))
                .collect();
            if ldap_dcs.is_empty() {
                continue;
            }
            let mut ms = Vec::new();
            // Names only a sync server talks to (the sync engine's web services).
            let mut sync_names = Vec::new();
            for s in self.asked(c, 443) {
                sync_names.extend(
                    r.learned
                        .names
                        .names(s)
                        .iter()
                        .filter(|n| {
                            catalogue
                                .hostnames
                                .iter()
                                .any(|p| p.only_from == Some(Role::Sync) && p.matches(&n.name))
                        })
                        .map(|n| n.name.clone()),
                );
                if let Some((name, _, _)) = name_match(r.learned, catalogue, s) {
                    ms.push(format!("{s} ({name})"));
                } else if in_ranges(catalogue, s) {
                    ms.push(format!("{s} (Microsoft range)"));
                }
            }
            // Behind an explicit proxy, the Microsoft endpoints are the
            // targets of its CONNECT requests.
            let mut via: Vec<&crate::learn::ProxyTarget> = r
                .learned
                .proxied
                .values()
                .filter(|p| p.client == c.to_canonical())
                .collect();
            via.sort_by_key(|p| (p.ts, p.client_port));
            for p in via {
                if let Some(pat) = catalogue.most_specific_hostname(&p.host) {
                    if pat.only_from == Some(Role::Sync) {
                        sync_names.push(p.host.clone());
                    }
                    let shown = format!("{} (CONNECT through the proxy {})", p.host, p.proxy);
                    if !ms.contains(&shown) {
                        ms.push(shown);
                    }
                }
            }
            if ms.is_empty() {
                continue;
            }
            // Microsoft 365 client apps: what a workstation runs, a server does not.
            let office: BTreeSet<String> = self
                .client_app_names(r.learned, catalogue, c)
                .take(3)
                .collect();
            let imported = self.ldap_bytes.get(&c).copied().unwrap_or(0);
            // Password hash sync replicates from a DC over MS-DRSR: the
            // endpoint mapper, then a dynamic RPC port of the same DC.
            let drs_dc = ldap_dcs.iter().find(|&&d| {
                self.asked(c, 135).any(|x| x == d)
                    && self.dynamic.get(&(c, d)).is_some_and(|p| !p.is_empty())
            });
            let list = |v: Vec<String>| {
                let n = v.len();
                let mut s = v.into_iter().take(5).collect::<Vec<_>>().join(", ");
                if n > 5 {
                    let _ = write!(s, " and {} more", n - 5);
                }
                s
            };
            let mut ev = vec![
                format!(
                    "LDAP client of domain controllers {}",
                    list(ldap_dcs.iter().map(IpAddr::to_string).collect())
                ),
                format!("HTTPS client of Microsoft endpoints {}", list(ms)),
            ];
            sync_names.sort();
            sync_names.dedup();
            let mut conf = if !sync_names.is_empty() {
                ev.push(format!(
                    "talks to {}, which only the sync engine uses",
                    list(sync_names)
                ));
                Confidence::High
            } else if imported >= SYNC_IMPORT_BYTES || drs_dc.is_some() {
                if imported >= SYNC_IMPORT_BYTES {
                    ev.push(format!(
                        "imported {} KiB over LDAP from domain controllers (a directory import; \
                         a workstation asks for a few objects)",
                        imported / 1024
                    ));
                }
                if let Some(d) = drs_dc {
                    ev.push(format!(
                        "asks {d} on the endpoint mapper and a dynamic RPC port (the replication \
                         password hash sync uses)"
                    ));
                }
                Confidence::Medium
            } else {
                ev.push(
                    "nothing only a sync server does (the sync engine's endpoints, a directory \
                     import over LDAP, replication over RPC): any domain-joined Windows client \
                     does LDAP to DCs and HTTPS to login.microsoftonline.com"
                        .to_string(),
                );
                Confidence::Low
            };
            if !office.is_empty() {
                ev.push(format!(
                    "also talks to Microsoft 365 client endpoints ({}), as a user's workstation does",
                    office.into_iter().collect::<Vec<_>>().join(", ")
                ));
                conf = match conf {
                    Confidence::High => Confidence::Medium,
                    _ => Confidence::Low,
                };
            }
            r.put(c, Role::Sync, conf, ev);
        }
    }

    /// Hosts answering Kerberos or LDAP to the sync server are DCs (medium);
    /// the rest of `low_dcs` are low guesses.
    fn dcs_of_sync(&self, r: &mut Roles<'_>, low_dcs: Vec<IpAddr>, syncs: &BTreeSet<IpAddr>) {
        let ports = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let low_dcs: Vec<IpAddr> = low_dcs
            .into_iter()
            .filter(|h| !r.map.contains_key(h))
            .collect();
        for h in low_dcs {
            let of_sync: Vec<String> = [88, 389, 636, 3268]
                .into_iter()
                .filter(|&p| self.answers(h, p))
                .filter(|&p| {
                    self.served
                        .get(&(h, p))
                        .is_some_and(|s| s.clients.iter().any(|c| syncs.contains(c)))
                })
                .map(|p| p.to_string())
                .collect();
            if of_sync.is_empty() {
                let (ans, asked) = self.dc_ports(h);
                let ev = vec![format!(
                    "answers Kerberos or LDAP (answered on {}; asked on {}), too little for a domain controller",
                    ports(&ans),
                    ports(&asked)
                )];
                r.put(h, Role::Dc, Confidence::Low, ev);
                continue;
            }
            let ev = vec![format!(
                "answers the sync server on {} (a sync server talks LDAP and Kerberos to domain controllers only)",
                of_sync.join(", ")
            )];
            r.put(h, Role::Dc, Confidence::Medium, ev);
        }
    }

    /// The WAP (asked by external addresses, itself a client of an internal
    /// HTTPS server), the AD FS servers behind it and its users.
    fn waps(&self, r: &mut Roles<'_>, servers: &BTreeSet<IpAddr>, catalogue: &Catalogue) {
        let sni_certauth = |ip: IpAddr| {
            r.learned
                .names
                .names(ip)
                .iter()
                .find(|n| n.name.starts_with("certauth."))
                .map(|n| n.name.clone())
        };
        let mut waps = Vec::new();
        for &h in servers {
            if r.map.contains_key(&h) || !is_internal(h) {
                continue;
            }
            let external: BTreeSet<IpAddr> = [443, 49443]
                .into_iter()
                .filter_map(|p| self.served.get(&(h, p)))
                .flat_map(|s| s.clients.iter().copied())
                .filter(|c| !is_internal(*c))
                .collect();
            if external.is_empty() {
                continue;
            }
            let backends: Vec<IpAddr> = self
                .asked(h, 443)
                .filter(|s| is_internal(*s) && !is_azure(catalogue, &r.map, *s))
                .collect();
            if backends.is_empty() {
                continue;
            }
            let mut ev = vec![
                format!(
                    "asked on 443/49443 by {} external address{}",
                    external.len(),
                    if external.len() == 1 { "" } else { "es" }
                ),
                format!(
                    "itself an HTTPS client of internal {}",
                    backends
                        .iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ];
            let mut conf = Confidence::Medium;
            if self.served.contains_key(&(h, 49443)) {
                ev.push("asked on 49443 (AD FS certificate authentication)".into());
                conf = Confidence::High;
            }
            if let Some(n) = sni_certauth(h) {
                ev.push(format!(
                    "learned name {n} (certauth.: AD FS certificate authentication)"
                ));
                conf = Confidence::High;
            }
            if r.learned.adfs_paths.contains_key(&h) {
                ev.push("receives HTTP requests for /adfs/ paths".into());
                conf = Confidence::High;
            }
            waps.push((h, conf, ev, backends, external));
        }
        for (h, conf, ev, backends, external) in waps {
            r.put(h, Role::Wap, conf, ev);
            for b in backends {
                let mut ev = vec![format!("HTTPS server of the WAP {h}")];
                let mut bconf = Confidence::Medium;
                if r.learned.adfs_paths.contains_key(&b) {
                    ev.push("receives HTTP requests for /adfs/ paths".into());
                    bconf = Confidence::High;
                }
                r.put(b, Role::Adfs, bconf, ev);
            }
            for u in external {
                let ev = vec![format!("client of the WAP {h} on 443/49443")];
                r.put(u, Role::Users, conf, ev);
            }
        }
    }

    /// AD FS servers by the `/adfs/` paths asked of them.
    fn adfs_by_path(&self, r: &mut Roles<'_>) {
        for (&h, ts) in &r.learned.adfs_paths {
            if !r.map.contains_key(&h) && is_internal(h) {
                let ev = vec![format!(
                    "receives HTTP requests for /adfs/ paths (first at {ts})"
                )];
                r.put(h, Role::Adfs, Confidence::Medium, ev);
            }
        }
    }

    /// Load balancers: internal hosts of no role yet that ask AD FS or WAP
    /// hosts on HTTP 80, as a load balancer's `/adfs/probe` health check
    /// does (the sync server, which does too while configuring federation,
    /// has its role by then). Probing two members of the farm is what a
    /// load balancer does (medium); one, it may be something else (low).
    fn lbs(&self, r: &mut Roles<'_>) {
        let farm: BTreeSet<IpAddr> = r
            .map
            .values()
            .filter(|h| matches!(h.role, Role::Adfs | Role::Wap))
            .map(|h| h.addr)
            .collect();
        let clients: BTreeSet<IpAddr> = self
            .asked
            .keys()
            .filter(|(c, p)| *p == 80 && is_internal(*c) && !r.map.contains_key(c))
            .map(|(c, _)| *c)
            .collect();
        for c in clients {
            let probed: Vec<String> = self
                .asked(c, 80)
                .filter(|s| farm.contains(s) && self.answers(*s, 80))
                .map(|s| s.to_string())
                .collect();
            if probed.is_empty() {
                continue;
            }
            let conf = if probed.len() >= 2 {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let ev = vec![format!(
                "asks the AD FS / WAP host{} {} on HTTP 80 (a load balancer's /adfs/probe health check)",
                if probed.len() == 1 { "" } else { "s" },
                probed.join(", ")
            )];
            r.put(c, Role::Lb, conf, ev);
        }
    }

    /// Agent servers: internal hosts, not the sync server, that talk on 443
    /// to a name only Entra Connect and agent servers talk to: a catalogue
    /// hostname whose rules all start at `sync` or `agent`, one at `agent`
    /// (`*.msappproxy.net`: pass-through authentication agents, Cloud Sync
    /// agents, private network connectors). A low guess of sync (an LDAP
    /// and HTTPS client, as these agents are too) gives way to it.
    fn agents(&self, r: &mut Roles<'_>, catalogue: &Catalogue) {
        let agents_only = |name: &str| {
            catalogue.most_specific_hostname(name).is_some_and(|p| {
                let rules: Vec<&crate::catalogue::Rule> = p
                    .serves
                    .iter()
                    .filter_map(|id| catalogue.rule(id))
                    .collect();
                rules.iter().any(|x| x.src.contains(&Role::Agent))
                    && rules
                        .iter()
                        .all(|x| x.src.iter().all(|s| matches!(s, Role::Sync | Role::Agent)))
            })
        };
        let clients: BTreeSet<IpAddr> = self
            .asked
            .keys()
            .filter(|(c, p)| *p == 443 && is_internal(*c))
            .map(|(c, _)| *c)
            .collect();
        // A low sync guess is an agent server only beside a surer sync server.
        let sure_sync = r
            .map
            .values()
            .any(|h| h.role == Role::Sync && h.confidence >= Confidence::Medium);
        for c in clients {
            if r.map.get(&c).is_some_and(|h| {
                h.role != Role::Sync || h.confidence > Confidence::Low || !sure_sync
            }) {
                continue;
            }
            // Users open the applications a connector publishes on
            // msappproxy.net names too: a host with Microsoft 365 client apps
            // (a workstation's mark) is not taken for an agent server.
            if self
                .client_app_names(r.learned, catalogue, c)
                .next()
                .is_some()
            {
                continue;
            }
            let named = self.asked(c, 443).find_map(|s| {
                r.learned
                    .names
                    .names(s)
                    .iter()
                    .find(|n| agents_only(&n.name))
                    .map(|n| (s, n.name.clone()))
            });
            let Some((s, name)) = named else { continue };
            let was_sync = r.map.remove(&c).is_some();
            let mut ev = vec![format!(
                "talks on 443 to {s} ({name}), a name only Entra Connect and its agents' servers talk to, and is not the sync server"
            )];
            if was_sync {
                ev.push(
                    "a low guess of sync before (an LDAP and HTTPS client, as agent servers are)"
                        .into(),
                );
            }
            r.put(c, Role::Agent, Confidence::Medium, ev);
        }
    }

    /// Another address of a known host: a DNS name (A and AAAA, or two A
    /// records) shared with an on-premises host of medium or high
    /// confidence. Not for azure: cloud names map to many unrelated hosts.
    fn aliases(&self, r: &mut Roles<'_>) {
        let mut aliases = Vec::new();
        for ip in r.learned.names.addrs() {
            if r.map
                .get(&ip)
                .is_some_and(|h| h.confidence >= Confidence::Medium)
            {
                continue;
            }
            let shared = r
                .learned
                .names
                .names(ip)
                .iter()
                .filter(|n| n.source == NameSource::Dns)
                .find_map(|n| {
                    r.map
                        .values()
                        .filter(|h| {
                            h.addr != ip
                                && h.role != Role::Azure
                                && h.confidence >= Confidence::Medium
                        })
                        .find(|h| {
                            r.learned
                                .names
                                .names(h.addr)
                                .iter()
                                .any(|m| m.source == NameSource::Dns && m.name == n.name)
                        })
                        .map(|h| (n.name.clone(), h.addr, h.role))
                });
            if let Some((name, other, role)) = shared {
                aliases.push((
                    ip,
                    role,
                    format!("DNS gives {ip} the name {name} of {other} ({role})"),
                ));
            }
        }
        for (ip, role, ev) in aliases {
            r.map.remove(&ip);
            r.put(ip, role, Confidence::Medium, vec![ev]);
        }
    }

    /// Hosts the sync servers asked on at least [`DC_TRIED`] domain
    /// controller ports (the endpoint mapper's dynamic ports count as one),
    /// that no rule above made a domain controller of medium or high
    /// confidence: medium when it answered none of them (the sync server
    /// cannot reach it: blocked, or down), as the sync server talks to DCs
    /// only on those ports; the low guesses among them are replaced.
    fn unreachable_dcs(
        &self,
        syncs: &BTreeSet<IpAddr>,
        roles: &BTreeMap<IpAddr, InferredHost>,
    ) -> Vec<(IpAddr, Confidence, Vec<String>)> {
        let mut out = Vec::new();
        let mut candidates: BTreeMap<IpAddr, (BTreeSet<u16>, BTreeSet<IpAddr>)> = BTreeMap::new();
        for &s in syncs {
            for &p in &self.dc_ports {
                for h in self.asked(s, p) {
                    let e = candidates.entry(h).or_default();
                    e.0.insert(p);
                    e.1.insert(s);
                }
            }
            for (&(c, h), ports) in &self.dynamic {
                if c == s && !ports.is_empty() {
                    let e = candidates.entry(h).or_default();
                    e.0.insert(49152);
                    e.1.insert(s);
                }
            }
        }
        for (h, (ports, askers)) in candidates {
            if ports.len() < DC_TRIED
                || syncs.contains(&h)
                || roles
                    .get(&h)
                    .is_some_and(|r| r.confidence >= Confidence::Medium)
            {
                continue;
            }
            let answered: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|&p| p != 49152 && self.answers(h, p))
                .collect();
            let list = |v: &[u16]| {
                v.iter()
                    .map(|&p| {
                        if p == 49152 {
                            "dynamic RPC".to_string()
                        } else {
                            p.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let asked: Vec<u16> = ports.iter().copied().collect();
            let who = askers
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let ev = if answered.is_empty() {
                vec![format!(
                    "the sync server {who} tries it on {} and it answered none: a domain controller \
                     the sync server cannot reach (blocked, or down); the sync server talks to \
                     domain controllers only on these ports",
                    list(&asked)
                )]
            } else {
                vec![format!(
                    "the sync server {who} tries it on {} and it answered on {}: a domain controller \
                     partly blocked",
                    list(&asked),
                    list(&answered)
                )]
            };
            out.push((h, Confidence::Medium, ev));
        }
        out
    }

    /// The domain controller ports `h` answered on, and those it was asked on.
    fn dc_ports(&self, h: IpAddr) -> (Vec<u16>, Vec<u16>) {
        let answered = self
            .dc_ports
            .iter()
            .copied()
            .filter(|&p| self.answers(h, p))
            .collect();
        let asked = self
            .dc_ports
            .iter()
            .copied()
            .filter(|&p| self.served.contains_key(&(h, p)))
            .collect();
        (answered, asked)
    }

    /// The servers the capture asks that lie in the catalogue's Microsoft ranges.
    fn by_range(
        &self,
        catalogue: &Catalogue,
        name_of: &dyn Fn(IpAddr) -> Option<String>,
    ) -> Vec<InferredHost> {
        let servers: BTreeSet<IpAddr> = self.served.keys().map(|k| k.0).collect();
        servers
            .into_iter()
            .filter_map(|ip| {
                let r = catalogue
                    .azure_ranges
                    .iter()
                    .find(|r| r.net.contains(&ip))?;
                Some(InferredHost {
                    addr: ip,
                    role: Role::Azure,
                    confidence: Confidence::High,
                    name: name_of(ip),
                    evidence: vec![format!("in the Microsoft range {} ({})", r.net, r.source)],
                })
            })
            .take(MAX_LISTED)
            .collect()
    }

    /// Why hosts that look like part of a domain got no role: servers that
    /// answer on domain controller ports, and LDAP clients of domain
    /// controllers, that fell short of the rules above.
    fn short_of(&self, hosts: &[InferredHost]) -> Vec<String> {
        let known = |ip: IpAddr| hosts.iter().any(|h| h.addr == ip);
        let ports = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let mut out = Vec::new();
        let servers: BTreeSet<IpAddr> = self.served.keys().map(|k| k.0).collect();
        for h in servers.into_iter().filter(|&h| !known(h)) {
            let (answered, asked) = self.dc_ports(h);
            if asked.is_empty() {
                continue;
            }
            let clients: BTreeSet<IpAddr> = asked
                .iter()
                .filter_map(|&p| self.served.get(&(h, p)))
                .flat_map(|s| s.clients.iter().copied())
                .collect();
            let what = if answered.is_empty() {
                format!("was asked on {} but answered none", ports(&asked))
            } else {
                format!(
                    "answered on {} (asked on {})",
                    ports(&answered),
                    ports(&asked)
                )
            };
            out.push(format!(
                "{h} {what}, by {}: a domain controller answers Kerberos 88, LDAP 389 and SMB \
                 445, or Kerberos or LDAP while asked on at least 3 domain controller ports",
                plural_hosts(clients.len())
            ));
        }
        let dcs: BTreeSet<IpAddr> = hosts
            .iter()
            .filter(|h| h.role == Role::Dc && h.confidence >= Confidence::Medium)
            .map(|h| h.addr)
            .collect();
        let clients: BTreeSet<IpAddr> = self.asked.keys().map(|k| k.0).collect();
        for c in clients.into_iter().filter(|&c| !known(c)) {
            let ldap = [389, 636, 3268]
                .into_iter()
                .any(|p| self.asked(c, p).any(|s| dcs.contains(&s)));
            if ldap {
                out.push(format!(
                    "{c} is an LDAP client of a domain controller, but no HTTPS to a Microsoft \
                     endpoint (by the catalogue's ranges or names) was seen from it: not enough for \
                     the sync server (behind an explicit proxy, its Microsoft traffic goes to the proxy)"
                ));
            }
        }
        out.truncate(MAX_LISTED);
        out
    }

    fn features(
        &self,
        hosts: &[InferredHost],
        learned: &Learned,
        catalogue: &Catalogue,
    ) -> Vec<InferredFeature> {
        let of = |r: Role| {
            hosts
                .iter()
                .filter(move |h| h.role == r && h.confidence >= Confidence::Medium)
                .map(|h| h.addr)
        };
        let dcs: BTreeSet<IpAddr> = of(Role::Dc).collect();
        let mut out = Vec::new();
        let mut add = |feature, evidence: String| {
            out.push(InferredFeature { feature, evidence });
        };
        let syncs: Vec<IpAddr> = of(Role::Sync).collect();
        if !syncs.is_empty() {
            add(
                Feature::PasswordHashSync,
                "a sync server is present; password hash sync is the Entra Connect default".into(),
            );
        }
        let sync_to_dc = |port| {
            syncs
                .iter()
                .find(|&&s| self.asked(s, port).any(|d| dcs.contains(&d)))
        };
        if let Some(s) = sync_to_dc(3268) {
            add(
                Feature::SeamlessSso,
                format!(
                    "the sync server {s} asks a domain controller on 3268 (Global Catalog, used by Seamless SSO)"
                ),
            );
        }
        if let Some(s) = sync_to_dc(636) {
            add(
                Feature::Ldaps,
                format!("the sync server {s} asks a domain controller on 636 (LDAPS)"),
            );
        }
        let waps: Vec<IpAddr> = of(Role::Wap).collect();
        if let Some(h) = of(Role::Adfs).chain(waps.iter().copied()).next() {
            add(Feature::Adfs, format!("AD FS or WAP host {h} inferred"));
        }
        if let Some(w) = waps
            .iter()
            .find(|&&w| self.served.contains_key(&(w, 49443)))
        {
            add(
                Feature::AdfsCertAuth,
                format!("the WAP {w} is asked on 49443 (certificate authentication)"),
            );
        }
        let agents: Vec<IpAddr> = syncs
            .iter()
            .copied()
            .chain(of(Role::Adfs))
            .chain(waps.iter().copied())
            .collect();
        if let Some(a) = agents.iter().find_map(|&a| {
            self.asked(a, 5671)
                .find(|d| !is_internal(*d))
                .map(|d| (a, d))
        }) {
            add(
                Feature::HealthAgent,
                format!("{} asks {} on 5671 (Service Bus, Connect Health)", a.0, a.1),
            );
        }
        // Names only one feature's agents talk to (the catalogue's `implies`),
        // by the names learned for the servers an agent host asks, or the
        // targets of its CONNECT requests through an explicit proxy.
        for &a in &agents {
            let mut names: Vec<(String, String)> = [443, 5671, 80]
                .into_iter()
                .flat_map(|p| self.asked(a, p))
                .flat_map(|d| learned.names.names(d).iter())
                .map(|n| (n.name.clone(), format!("{} at {}", n.source.name(), n.ts)))
                .collect();
            let mut proxied: Vec<&crate::learn::ProxyTarget> = learned
                .proxied
                .values()
                .filter(|p| p.client == a.to_canonical())
                .collect();
            proxied.sort_by_key(|p| (p.ts, p.client_port));
            names.extend(proxied.into_iter().map(|p| {
                (
                    p.host.clone(),
                    format!("CONNECT through the proxy {} at {}", p.proxy, p.ts),
                )
            }));
            for (name, how) in names {
                let Some(p) = catalogue.most_specific_hostname(&name) else {
                    continue;
                };
                for &f in &p.implies {
                    if !out.iter().any(|x: &InferredFeature| x.feature == f) {
                        out.push(InferredFeature {
                            feature: f,
                            evidence: format!(
                                "{a} talks to {name} ({how}), which matches {} ({})",
                                p.pattern, p.source
                            ),
                        });
                    }
                }
            }
        }
        out
    }
}

impl Inference {
    /// The hosts of at least `min` confidence.
    pub fn confident(&self, min: Confidence) -> impl Iterator<Item = &InferredHost> {
        self.hosts.iter().filter(move |h| h.confidence >= min)
    }

    /// The inferred features.
    pub fn feature_list(&self) -> Vec<Feature> {
        let mut v: Vec<Feature> = self.features.iter().map(|f| f.feature).collect();
        v.sort();
        v.dedup();
        v
    }

    /// An inventory of the high and medium hosts and the inferred features
    /// (`path` is `<inferred>`); add the catalogue's ranges with
    /// [`Inventory::with_cloud_ranges`] as for a loaded one.
    pub fn inventory(&self) -> Inventory {
        let mut inv = Inventory::empty(self.feature_list());
        inv.path = crate::inventory::INFERRED_PATH.into();
        for h in self.confident(Confidence::Medium) {
            inv.entries.push(RoleEntry {
                net: IpNet::from(h.addr),
                role: h.role,
                source: RoleSource::Inventory,
                line: 0,
            });
        }
        inv
    }

    /// The inferred `azure` hosts (medium confidence or better: a learned name
    /// matching a catalogue hostname) that `inv` leaves without a role.
    pub fn azure_by_name<'s>(
        &'s self,
        inv: &'s Inventory,
    ) -> impl Iterator<Item = &'s InferredHost> {
        self.confident(Confidence::Medium)
            .filter(move |h| h.role == Role::Azure && inv.role_of(h.addr).is_none())
    }

    /// One line per host the inventory gives another role than its traffic
    /// suggests, and per inferred host the inventory leaves out (inference
    /// never overrides the inventory: these are reported, not applied).
    /// Azure hosts by learned name are not among them: the audit classifies
    /// those as azure (see [`Inference::azure_by_name`]) and says so itself.
    pub fn conflicts(&self, inv: &Inventory) -> Vec<String> {
        let mut notes = Vec::new();
        for h in self.confident(Confidence::Medium) {
            let Some(e) = inv.role_of(h.addr) else {
                if h.role == Role::Azure {
                    continue;
                }
                let name = h
                    .name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                notes.push(format!(
                    "not in the inventory: {}{name} looks like {} ({}); add it to the inventory to audit its flows",
                    h.addr,
                    h.role,
                    h.evidence.join("; ")
                ));
                continue;
            };
            {
                if e.source == RoleSource::Inventory && e.role != h.role {
                    notes.push(format!(
                        "the inventory says {} is {}, its traffic looks like {} ({}): the inventory wins",
                        h.addr,
                        e.role,
                        h.role,
                        h.evidence.join("; ")
                    ));
                }
            }
        }
        notes
    }

    /// One assumption line per inferred host and feature, for the top of the audit report.
    pub fn assumptions(&self) -> Vec<String> {
        let mut out = vec![if self.confident(Confidence::Medium).next().is_some() {
            "roles inferred from the capture (no inventory given); check them with `flowaudit roles`"
                .to_string()
        } else if !self.by_range.is_empty() {
            "roles inferred from the capture (no inventory given): no on-premises role found (only \
             Microsoft cloud addresses, by the catalogue's ranges), so no flow could be judged; \
             `flowaudit roles` says what fell short; give --inventory"
                .to_string()
        } else {
            "roles inferred from the capture (no inventory given): none found, so no flow could be \
             judged; `flowaudit roles` says what fell short; give --inventory"
                .to_string()
        }];
        for h in self.confident(Confidence::Medium) {
            let name = h
                .name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            out.push(format!(
                "{}{name} is {} ({} confidence): {}",
                h.addr,
                h.role,
                h.confidence.name(),
                h.evidence.join("; ")
            ));
        }
        for f in &self.features {
            out.push(format!("feature {}: {}", f.feature, f.evidence));
        }
        out
    }

    /// A starter inventory in the inventory file format (parsed by
    /// [`Inventory::parse`]): the inferred features and the high and medium
    /// hosts, with evidence and low-confidence guesses as comments.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Starter inventory inferred by flowaudit from the capture: check every line."
        );
        let _ = writeln!(
            s,
            "# Evidence is in the comments; low-confidence guesses are commented out."
        );
        for f in &self.features {
            let _ = writeln!(s, "# feature {}: {}", f.feature, comment(&f.evidence));
        }
        let feats: Vec<String> = self
            .feature_list()
            .iter()
            .map(|f| format!("\"{}\"", f.name()))
            .collect();
        let _ = writeln!(s, "features = [{}]", feats.join(", "));
        let _ = writeln!(s);
        let _ = writeln!(s, "[roles]");
        for role in Role::ALL {
            let hosts: Vec<&InferredHost> = self.hosts.iter().filter(|h| h.role == role).collect();
            if hosts.is_empty() {
                continue;
            }
            let (sure, low): (Vec<&InferredHost>, Vec<&InferredHost>) = hosts
                .into_iter()
                .partition(|h| h.confidence >= Confidence::Medium);
            for h in sure.iter().chain(low.iter()) {
                let name = h
                    .name
                    .as_deref()
                    .map(|n| format!(" {n}:"))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "# {} {}{name} {} confidence: {}",
                    role,
                    h.addr,
                    h.confidence.name(),
                    comment(&h.evidence.join("; "))
                );
            }
            if !sure.is_empty() {
                let list: Vec<String> = sure.iter().map(|h| format!("\"{}\"", h.addr)).collect();
                let _ = writeln!(s, "{} = [{}]", role, list.join(", "));
            } else {
                let list: Vec<String> = low.iter().map(|h| format!("\"{}\"", h.addr)).collect();
                let _ = writeln!(s, "# {} = [{}]", role, list.join(", "));
            }
        }
        s
    }
}

/// The roles given so far, and what was learned (for the hosts' names).
struct Roles<'a> {
    map: BTreeMap<IpAddr, InferredHost>,
    learned: &'a Learned,
}

impl Roles<'_> {
    /// Gives `addr` a role unless it has one.
    fn put(&mut self, addr: IpAddr, role: Role, confidence: Confidence, evidence: Vec<String>) {
        let name = self.learned.names.name(addr).map(str::to_string);
        self.map.entry(addr).or_insert(InferredHost {
            addr,
            role,
            confidence,
            name,
            evidence,
        });
    }
}

/// `ip` is in one of the catalogue's Microsoft ranges.
fn in_ranges(catalogue: &Catalogue, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    catalogue.azure_ranges.iter().any(|r| r.net.contains(&ip))
}

/// The first learned name of `ip` that a catalogue hostname pattern
/// matches, the pattern, and how the name was learned.
fn name_match<'c>(
    learned: &Learned,
    catalogue: &'c Catalogue,
    ip: IpAddr,
) -> Option<(String, &'c HostPattern, String)> {
    learned.names.names(ip).iter().find_map(|n| {
        let p = catalogue.hostnames.iter().find(|p| p.matches(&n.name))?;
        Some((
            n.name.clone(),
            p,
            format!("{} at {}", n.source.name(), n.ts),
        ))
    })
}

/// `ip` is azure: by the catalogue's ranges or a role given by name.
fn is_azure(catalogue: &Catalogue, roles: &BTreeMap<IpAddr, InferredHost>, ip: IpAddr) -> bool {
    in_ranges(catalogue, ip) || roles.get(&ip).is_some_and(|h| h.role == Role::Azure)
}

/// `1 client`, `3 clients`.
fn plural_hosts(n: usize) -> String {
    if n == 1 {
        "1 client".to_string()
    } else {
        format!("{n} clients")
    }
}

/// Text safe inside a TOML comment: one line, printable ASCII.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
