//! The inventory: a short description of the deployment (which hosts play which
//! role, which features are enabled), read from a TOML file:
//!
//! ```toml
//! features = ["password-hash-sync", "seamless-sso", "adfs"]
//! [roles]
//! sync  = ["10.0.1.10", "fd00::1:10"]
//! dc    = ["10.0.0.4", "10.0.0.5"]
//! adfs  = ["10.0.2.20/31"]
//! azure = ["52.168.10.20"]   # added to the built-in Microsoft ranges
//! ```
//!
//! Behaviours chosen for odd input (and why):
//! - A bare address is a /32 (IPv4) or /128 (IPv6) prefix.
//! - A CIDR with host bits set (`10.0.2.21/31`) is accepted and truncated to its
//!   network (`10.0.2.20/31`), with a warning: the intent is unambiguous and
//!   refusing it would be unfriendly.
//! - An IPv4-mapped IPv6 address (`::ffff:10.0.0.4`, or a prefix of /96 or longer
//!   inside `::ffff:0:0/96`) is stored as the IPv4 host or prefix it stands for,
//!   because RFC 4291 defines it as that IPv4 address; lookups do the same.
//!   Other IPv6 forms (IPv4-compatible `::a00:4`, NAT64) are plain IPv6.
//! - The same prefix twice in one role is harmless: kept once, with a warning.
//! - The same prefix in two roles is an error naming both locations; a host in
//!   two roles at different prefix lengths is fine (the most specific wins).
//! - `features` omitted: `password-hash-sync`, plus `adfs` when any `adfs` or
//!   `wap` host is listed, and `features_assumed` is set. `features = []` means
//!   "no optional features" and is taken as written (not assumed).
//! - A feature named twice is kept once, with a warning.
//! - Mistakes are reported in file order: the first one in the file wins.
//! - The catalogue's Microsoft ranges ([`Inventory::with_cloud_ranges`]) lose to
//!   an inventory entry of the same prefix and otherwise follow the most
//!   specific prefix like any entry.

use crate::catalogue::{Feature, Role};
use ipnet::IpNet;
use serde::Serialize;

/// Where a host's role assignment comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleSource {
    /// Listed in the inventory file.
    Inventory,
    /// A published Microsoft cloud range from the catalogue.
    Catalogue,
}

/// One address or prefix with its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleEntry {
    /// The address (as a /32 or /128) or prefix.
    pub net: IpNet,
    /// The role of every host in it.
    pub role: Role,
    /// Where the assignment comes from.
    pub source: RoleSource,
    /// 1-based line in the inventory file (0 for catalogue ranges).
    pub line: usize,
}

/// A loaded inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The file it was read from.
    pub path: String,
    /// Enabled features.
    pub features: Vec<Feature>,
    /// True when `features` was omitted and flowaudit assumed them.
    pub features_assumed: bool,
    /// Role assignments, most specific prefix first.
    pub entries: Vec<RoleEntry>,
}

mod index;
mod load;

/// The `path` of an inventory inferred from the capture rather than read.
pub const INFERRED_PATH: &str = "<inferred from the capture>";

pub use index::{RoleIndex, RoleTable};
#[cfg(test)]
mod tests;

use crate::catalogue::CloudRange;
use crate::config::ConfigError;
use std::net::IpAddr;
use std::path::Path;

// ConfigError is large but built at most once per file; see load.rs.
#[allow(clippy::result_large_err)]
impl Inventory {
    /// True for an inventory inferred from the capture ([`INFERRED_PATH`]).
    pub fn is_inferred(&self) -> bool {
        self.path == INFERRED_PATH
    }

    /// Reads and parses an inventory file; I/O errors name the file.
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        Inventory::load_with_warnings(path).map(|(inv, _)| inv)
    }

    /// Like [`Inventory::load`], also returning located warnings (host bits
    /// set in a CIDR, an entry or feature listed twice).
    pub fn load_with_warnings(path: &Path) -> Result<(Inventory, Vec<ConfigError>), ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: name.clone(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot read the inventory: {e}"),
            valid: Vec::new(),
        })?;
        load::parse(&name, &text)
    }

    /// Parses inventory text; `path` names it in error messages.
    pub fn parse(path: &str, text: &str) -> Result<Inventory, ConfigError> {
        load::parse(path, text).map(|(inv, _)| inv)
    }

    /// Like [`Inventory::parse`], also returning located warnings.
    pub fn parse_with_warnings(
        path: &str,
        text: &str,
    ) -> Result<(Inventory, Vec<ConfigError>), ConfigError> {
        load::parse(path, text)
    }

    /// Adds the catalogue's published Microsoft ranges as `azure`
    /// ([`RoleSource::Catalogue`]). An inventory entry with the same prefix wins
    /// (silently: listing a cloud range yourself is not a mistake); otherwise
    /// the most specific prefix wins as usual, so an inventory host inside a
    /// cloud range keeps its role, while a broad inventory prefix such as
    /// `users = ["0.0.0.0/0"]` ("WAP clients come from anywhere") does not
    /// swallow the narrower Microsoft ranges.
    pub fn with_cloud_ranges(mut self, ranges: &[CloudRange]) -> Inventory {
        for r in ranges {
            let net = load::canonical_net(r.net);
            if self.entries.iter().any(|e| e.net == net) {
                continue;
            }
            self.entries.push(RoleEntry {
                net,
                role: Role::Azure,
                source: RoleSource::Catalogue,
                line: 0,
            });
        }
        sort_entries(&mut self.entries);
        self
    }

    /// The role of an address: the most specific prefix that contains it.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:10.0.0.4`) is looked up as the
    /// IPv4 address it stands for. The scan is linear over `entries`, which
    /// are kept most specific first so the first hit is the answer: a few
    /// dozen prefix comparisons, no allocation, cheaper than hashing for the
    /// inventories this tool sees. To ask once per connection, build a
    /// [`RoleIndex`] or a [`RoleTable`] once instead.
    pub fn role_of(&self, ip: IpAddr) -> Option<&RoleEntry> {
        let ip = ip.to_canonical();
        self.entries.iter().find(|e| e.net.contains(&ip))
    }

    /// Entries of one role.
    pub fn entries_of(&self, role: Role) -> impl Iterator<Item = &RoleEntry> {
        self.entries.iter().filter(move |e| e.role == role)
    }

    /// An inventory with no hosts and the given features (for tests and for inference later).
    pub fn empty(features: Vec<Feature>) -> Inventory {
        Inventory {
            path: "<empty>".to_string(),
            features,
            features_assumed: false,
            entries: Vec::new(),
        }
    }
}

/// Most specific prefix first; stable, so equal lengths keep file order.
fn sort_entries(entries: &mut [RoleEntry]) {
    entries.sort_by_key(|e| std::cmp::Reverse(e.net.prefix_len()));
}

/// RFC 1918, CGNAT, loopback, link-local, ULA: addresses that are not "the internet".
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            a.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}
