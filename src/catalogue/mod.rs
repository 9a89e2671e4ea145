//! The port-and-protocol catalogue: which flows each pair of roles needs, for
//! which deployment features, and how often they should appear.
//!
//! The catalogue is data (`rules/hybrid-identity.toml`), compiled into the
//! binary as the default; `--rules FILE` replaces it. Every rule says where it
//! comes from (a table of Microsoft's "Hybrid identity required ports and
//! protocols" page, or a documented fact of Windows networks).

use crate::config::ConfigError;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A role a host plays in a hybrid-identity deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The Entra Connect (Azure AD Connect) sync server.
    Sync,
    /// An on-premises domain controller.
    Dc,
    /// Microsoft cloud endpoints (Entra ID, Service Bus, CRL/OCSP, ...).
    Azure,
    /// An AD FS federation server.
    Adfs,
    /// A Web Application Proxy.
    Wap,
    /// Users' devices: clients of the WAP, and the domain-joined desktops
    /// that sign in with Seamless SSO.
    Users,
    /// A server running a Microsoft Entra on-premises agent other than the
    /// sync server: a pass-through authentication agent, the Entra Cloud
    /// Sync provisioning agent, a private network (application proxy)
    /// connector. Which agents run is said by the features.
    Agent,
    /// A load balancer in front of the AD FS farm or the WAPs, probing them.
    Lb,
}

impl Role {
    /// Every role, in the order reports list them.
    pub const ALL: [Role; 8] = [
        Role::Sync,
        Role::Dc,
        Role::Azure,
        Role::Adfs,
        Role::Wap,
        Role::Users,
        Role::Agent,
        Role::Lb,
    ];

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sync => "sync",
            Role::Dc => "dc",
            Role::Azure => "azure",
            Role::Adfs => "adfs",
            Role::Wap => "wap",
            Role::Users => "users",
            Role::Agent => "agent",
            Role::Lb => "lb",
        }
    }

    /// The role with this name.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A deployment feature that makes some flows necessary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// Password hash synchronization.
    PasswordHashSync,
    /// Pass-through Authentication agents.
    PassThroughAuth,
    /// Seamless single sign-on.
    SeamlessSso,
    /// Password writeback.
    PasswordWriteback,
    /// LDAP over TLS to the domain controllers.
    Ldaps,
    /// AD FS federation (with WAP).
    Adfs,
    /// AD FS installed with a group managed service account by the Connect wizard.
    AdfsGmsa,
    /// AD FS certificate authentication (port 49443 on the WAP).
    AdfsCertAuth,
    /// Entra Connect Health agents.
    HealthAgent,
    /// Microsoft Entra Cloud Sync (the provisioning agent).
    CloudSync,
    /// Microsoft Entra private network connectors (application proxy).
    PrivateNetworkConnector,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 11] = [
        Feature::PasswordHashSync,
        Feature::PassThroughAuth,
        Feature::SeamlessSso,
        Feature::PasswordWriteback,
        Feature::Ldaps,
        Feature::Adfs,
        Feature::AdfsGmsa,
        Feature::AdfsCertAuth,
        Feature::HealthAgent,
        Feature::CloudSync,
        Feature::PrivateNetworkConnector,
    ];

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Feature::PasswordHashSync => "password-hash-sync",
            Feature::PassThroughAuth => "pass-through-auth",
            Feature::SeamlessSso => "seamless-sso",
            Feature::PasswordWriteback => "password-writeback",
            Feature::Ldaps => "ldaps",
            Feature::Adfs => "adfs",
            Feature::AdfsGmsa => "adfs-gmsa",
            Feature::AdfsCertAuth => "adfs-cert-auth",
            Feature::HealthAgent => "health-agent",
            Feature::CloudSync => "cloud-sync",
            Feature::PrivateNetworkConnector => "private-network-connector",
        }
    }

    /// The feature with this name.
    pub fn from_name(s: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == s)
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a required flow is expected to show up in a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// In every synchronization cycle (every 30 minutes by default).
    EverySyncCycle,
    /// When something triggers it (a sign-in, a password change, a CRL expiry).
    OnDemand,
    /// Only while installing or reconfiguring.
    SetupOnly,
    /// Recommended but not required.
    Optional,
    /// Used only when a preferred flow fails.
    Fallback,
}

/// A transport protocol a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// An inclusive port range (a single port has `lo == hi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// True when `port` is in the range.
    pub fn contains(self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl fmt::Display for PortRange {
    /// `443` or `49152-65535`, as the rules file writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether traffic matching a rule is needed, or merely allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Listed by Microsoft as required for the rule's features: missing is reported.
    Required,
    /// A documented, normal flow of these networks: never missing, never unexpected.
    Tolerated,
}

/// One catalogue rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable identifier, e.g. `t1-ldap`.
    pub id: String,
    /// The table of the main page ([`MAIN_PAGE`], "1" ... "7b"), or `None`
    /// for rules from another page and for documented facts.
    pub table: Option<String>,
    /// The Microsoft page the rule comes from when it is not the main page
    /// (the PTA quick start, Cloud Sync's prerequisites, ...).
    pub page: Option<String>,
    /// The section of `page` the rule follows (a heading of that page).
    pub section: Option<String>,
    /// Roles that open the connection.
    pub src: Vec<Role>,
    /// Roles that accept it.
    pub dst: Vec<Role>,
    /// Transports the rule covers.
    pub transports: Vec<Proto>,
    /// Destination ports.
    pub ports: PortRange,
    /// Protocol name (DNS, Kerberos, LDAP, ...).
    pub protocol: String,
    /// What the flow is for, in plain words.
    pub description: String,
    /// Features that need the flow; empty means every deployment needs it.
    pub features: Vec<Feature>,
    /// When the flow is expected to appear.
    pub when: When,
    /// Required or merely tolerated.
    pub kind: Kind,
    /// Another rule this one stands in for when that one fails (e.g. 443 for 5671).
    pub fallback_for: Option<String>,
    /// Further references (a URL, a KB article): where a documented fact
    /// comes from, or what backs a detail of a table row.
    pub source: Option<String>,
    /// Notes that explain what an absence means (e.g. "Windows uses Kerberos
    /// over TCP first; no UDP 88 is normal"), said on `missing` findings.
    pub notes: Vec<String>,
    /// What a blocked flow of this rule breaks, said on `blocked` findings.
    pub on_block: Vec<String>,
    /// What it means when the server resets the connection right after the
    /// handshake without sending a byte (e.g. LDAPS: the DC has no usable
    /// certificate), said on a `reset-after-handshake` finding.
    pub on_reset: Option<String>,
    /// The rule also covers the TCP ports an endpoint mapper in the capture
    /// hands out for the server, outside `ports` (dynamic RPC moved to
    /// another range: "if the dynamic port has been changed, you need to
    /// open that port").
    pub epm: bool,
    /// A host that answers this flow, or that the sync server tries on it,
    /// shows the destination role (the ports that identify a DC).
    pub identifies: bool,
    /// The flow belongs to a part not every deployment has (agent servers
    /// beside the sync server, a load balancer): it is judged missing only
    /// when the deployment has hosts of its source role.
    pub if_deployed: bool,
    /// 1-based line of the rule in its file, for error messages.
    pub line: usize,
}

impl Rule {
    /// The page the rule comes from: its `page`, or the main page for a
    /// table of it; `None` for documented facts.
    pub fn cited_page(&self) -> Option<&str> {
        match (&self.page, &self.table) {
            (Some(p), _) => Some(p),
            (None, Some(_)) => Some(MAIN_PAGE),
            (None, None) => None,
        }
    }

    /// The section of that page: `Table 6a` for a table of the main page,
    /// else the rule's `section`.
    pub fn cited_section(&self) -> Option<String> {
        match (&self.section, &self.table) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(t)) => Some(format!("Table {t}")),
            (None, None) => None,
        }
    }

    /// True when the rule covers this flow (roles, transport, destination port).
    pub fn matches(&self, src: Role, dst: Role, proto: Proto, port: u16) -> bool {
        self.src.contains(&src)
            && self.dst.contains(&dst)
            && self.transports.contains(&proto)
            && self.ports.contains(port)
    }

    /// True when an inventory with these features needs (or allows) the rule.
    pub fn enabled_by(&self, features: &[Feature]) -> bool {
        self.features.is_empty() || self.features.iter().any(|f| features.contains(f))
    }
}

/// A hostname pattern for the Microsoft cloud, for name-based role matching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostPattern {
    /// `login.microsoftonline.com` or `*.servicebus.windows.net` (a `*.` prefix matches any subdomain).
    pub pattern: String,
    /// Rule ids the name serves (e.g. CRL hosts serve the port 80 rules).
    pub serves: Vec<String>,
    /// The Microsoft page that lists it.
    pub source: String,
    /// Only hosts of this role talk to the name (the sync engine's admin
    /// and provisioning web services): talking to it is evidence of the role.
    pub only_from: Option<Role>,
    /// Features a host of the deployment runs when it talks to the name
    /// (`*.msappproxy.net`: the pass-through authentication agent).
    pub implies: Vec<Feature>,
}

/// A published address range of the Microsoft cloud, the default `azure` role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloudRange {
    /// The range.
    pub net: IpNet,
    /// What it is and where it is published.
    pub source: String,
}

/// A loaded catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Catalogue {
    /// The files it was loaded from (`<embedded>` for the built-in copy).
    pub origin: Vec<String>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Address ranges that are `azure` unless the inventory says otherwise.
    pub azure_ranges: Vec<CloudRange>,
    /// Hostname patterns of the Microsoft cloud.
    pub hostnames: Vec<HostPattern>,
    /// Names that Microsoft 365 client apps (Outlook, Teams, Office) talk to:
    /// a host that does is someone's workstation, not a server of the
    /// deployment (`serves` empty, no `only_from`).
    pub client_hostnames: Vec<HostPattern>,
    /// DNS names the deployment looks up (the DC locator's SRV records):
    /// a lookup of one that fails is a finding.
    pub lookups: Vec<Lookup>,
    /// The certificate issuers of the Microsoft cloud's endpoints: a TLS 1.2
    /// server certificate for a catalogue hostname issued by anyone else
    /// was put there by a TLS-inspecting middlebox.
    pub tls_issuers: Vec<TlsIssuer>,
}

/// An organization that issues the certificates of the Microsoft cloud's
/// endpoints (`[[tls_issuer]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsIssuer {
    /// The issuer's organization (`O=`) as certificates spell it, compared
    /// without regard to ASCII case.
    pub organization: String,
    /// Where Microsoft publishes it.
    pub source: String,
}

/// A DNS name the deployment resolves to find its servers (`[[lookup]]`):
/// an answer of NXDOMAIN or SERVFAIL, or none, for it breaks the rules it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lookup {
    /// `_ldap._tcp.dc._msdcs.*`: a name, `*.x` (any name below `x`) or
    /// `x.*` (`x` in any domain: the locator's records under each domain name).
    pub pattern: String,
    /// Rule ids whose servers the lookup finds.
    pub serves: Vec<String>,
    /// What the name is for, said on a finding ("the DC locator's record of
    /// the domain controllers of a domain").
    pub meaning: String,
    /// The Microsoft page that documents the record.
    pub source: String,
}

impl Lookup {
    /// True when `name` is covered (case-insensitive, a trailing dot ignored).
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        match self.pattern.strip_suffix(".*") {
            Some(prefix) => {
                name.len() > prefix.len() + 1
                    && name
                        .get(..prefix.len())
                        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
                    && name.as_bytes().get(prefix.len()) == Some(&b'.')
            }
            None => load::name_matches(&self.pattern, name),
        }
    }
}

/// Microsoft's "Hybrid identity required ports and protocols" page, whose
/// tables a rule's `table` names.
pub const MAIN_PAGE: &str =
    "https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-ports";

/// The built-in rules file, compiled into the binary.
pub const EMBEDDED_RULES: &str = include_str!("../../rules/hybrid-identity.toml");

/// Result of loading rules.
pub type Result<T> = std::result::Result<T, ConfigError>;

pub mod load;

#[cfg(test)]
mod tests;

/// What a DNS name the catalogue watches is ([`Catalogue::watched`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched<'a> {
    /// A `[[lookup]]`: a DC locator record.
    Lookup(&'a Lookup),
    /// A `[[hostname]]`: a Microsoft endpoint.
    Endpoint(&'a HostPattern),
}

impl<'a> Watched<'a> {
    /// The rules whose servers the name finds.
    pub fn serves(self) -> &'a [String] {
        match self {
            Watched::Lookup(l) => &l.serves,
            Watched::Endpoint(h) => &h.serves,
        }
    }

    /// The pattern that covers the name.
    pub fn pattern(self) -> &'a str {
        match self {
            Watched::Lookup(l) => &l.pattern,
            Watched::Endpoint(h) => &h.pattern,
        }
    }
}

/// The DNS names whose lookups matter, owned so the learner can take them
/// to its thread: the catalogue's lookups, then its hostnames.
#[derive(Clone, Debug, Default)]
pub struct NameWatch {
    /// `Catalogue::lookups`.
    lookups: Vec<Lookup>,
    /// `Catalogue::hostnames`.
    hostnames: Vec<HostPattern>,
    /// `Catalogue::tls_issuers`' organizations.
    issuers: Vec<String>,
}

impl NameWatch {
    /// The entry that covers `name`: an index into the lookups, then the
    /// hostnames; the most specific lookup wins, then the most specific hostname.
    pub fn entry(&self, name: &str) -> Option<usize> {
        entry_of(&self.lookups, &self.hostnames, name)
    }

    /// True when a client that found entry `b` has done what a lookup of
    /// entry `a` was for: the same entry, or two locator records that serve
    /// a rule in common (the DC locator asks for the site's DCs, then the
    /// domain's). A Microsoft endpoint is only its own: another endpoint
    /// resolving does not reach this one.
    pub fn related(&self, a: usize, b: usize) -> bool {
        a == b
            || match (self.lookups.get(a), self.lookups.get(b)) {
                (Some(x), Some(y)) => x.serves.iter().any(|s| y.serves.contains(s)),
                _ => false,
            }
    }

    /// True when entry `i` is a Microsoft endpoint (a hostname, not a
    /// locator record): its TLS is the catalogue's to judge.
    pub fn is_endpoint(&self, i: usize) -> bool {
        i >= self.lookups.len() && i < self.lookups.len() + self.hostnames.len()
    }

    /// The entry of `name` when it is a Microsoft endpoint's (see
    /// [`NameWatch::is_endpoint`]).
    pub fn endpoint(&self, name: &str) -> Option<usize> {
        self.entry(name).filter(|&e| self.is_endpoint(e))
    }

    /// Whether a certificate issued by `organization` is one of the
    /// Microsoft cloud's: `None` when the catalogue lists no issuers (so
    /// nothing can be judged).
    pub fn trusts_issuer(&self, organization: &[u8]) -> Option<bool> {
        if self.issuers.is_empty() {
            return None;
        }
        Some(
            self.issuers
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(organization)),
        )
    }
}

/// [`NameWatch::entry`] over borrowed lists.
fn entry_of(lookups: &[Lookup], hostnames: &[HostPattern], name: &str) -> Option<usize> {
    // A longer pattern is more specific; an exact one beats a wildcard of its length.
    let specific = |p: &str| (!p.contains('*'), p.len());
    let lookup = lookups
        .iter()
        .enumerate()
        .filter(|(_, l)| l.matches(name))
        .max_by_key(|(_, l)| specific(&l.pattern));
    if let Some((i, _)) = lookup {
        return Some(i);
    }
    hostnames
        .iter()
        .enumerate()
        .filter(|(_, h)| h.matches(name))
        .max_by_key(|(_, h)| specific(&h.pattern))
        .map(|(i, _)| lookups.len() + i)
}

impl Catalogue {
    /// The names whose lookups the learner watches.
    pub fn name_watch(&self) -> NameWatch {
        NameWatch {
            lookups: self.lookups.clone(),
            hostnames: self.hostnames.clone(),
            issuers: self
                .tls_issuers
                .iter()
                .map(|t| t.organization.clone())
                .collect(),
        }
    }

    /// What `name` is to the catalogue, if it watches it (see [`NameWatch::entry`]).
    pub fn watched(&self, name: &str) -> Option<Watched<'_>> {
        let i = entry_of(&self.lookups, &self.hostnames, name)?;
        match self.lookups.get(i) {
            Some(l) => Some(Watched::Lookup(l)),
            None => self
                .hostnames
                .get(i - self.lookups.len())
                .map(Watched::Endpoint),
        }
    }
}
