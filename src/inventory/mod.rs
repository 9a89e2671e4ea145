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
