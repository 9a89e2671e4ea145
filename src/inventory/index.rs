//! A longest-prefix-match index for large inventories.
//!
//! [`Inventory::role_of`] scans the entries, which is the cheapest thing for
//! the few dozen prefixes of a typical inventory. An inventory that lists
//! hundreds of user subnets would make that scan the hot spot of the audit, so
//! this index keeps one hash map per prefix length present (masked address ->
//! entry) and probes them longest first: as many lookups as there are distinct
//! prefix lengths (usually three to five), whatever the number of entries.

use super::{Inventory, RoleEntry};
use foldhash::fast::FixedState;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Masked address -> index into the entries, for one prefix length.
type Level<K> = (u8, HashMap<K, usize, FixedState>);

/// An index over an inventory's entries that answers [`RoleIndex::role_of`]
/// exactly as [`Inventory::role_of`] does, in time independent of the entry count.
#[derive(Clone, Debug)]
pub struct RoleIndex<'a> {
    /// The indexed entries.
    entries: &'a [RoleEntry],
    /// IPv4 levels, longest prefix first.
    v4: Vec<Level<u32>>,
    /// IPv6 levels, longest prefix first.
    v6: Vec<Level<u128>>,
}

/// `bits` with all but the first `len` bits cleared.
fn mask4(bits: u32, len: u8) -> u32 {
    bits & u32::MAX
        .checked_shl(32u32.saturating_sub(len.into()))
        .unwrap_or(0)
}

/// `bits` with all but the first `len` bits cleared.
fn mask6(bits: u128, len: u8) -> u128 {
    bits & u128::MAX
        .checked_shl(128u32.saturating_sub(len.into()))
        .unwrap_or(0)
}

/// Adds `key` at prefix length `len`, keeping the first entry for a prefix
/// (entries are in precedence order).
fn insert<K: std::hash::Hash + Eq>(levels: &mut Vec<Level<K>>, len: u8, key: K, i: usize) {
    let at = match levels.iter().position(|(l, _)| *l == len) {
        Some(at) => at,
        None => {
            levels.push((len, HashMap::with_hasher(FixedState::default())));
            levels.len() - 1
        }
    };
    if let Some((_, map)) = levels.get_mut(at) {
        map.entry(key).or_insert(i);
    }
}

impl<'a> RoleIndex<'a> {
    /// Indexes `entries` (in the order of [`Inventory::entries`]).
    pub fn new(entries: &'a [RoleEntry]) -> RoleIndex<'a> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let len = e.net.prefix_len();
            match e.net {
                IpNet::V4(n) => insert(&mut v4, len, mask4(n.addr().to_bits(), len), i),
                IpNet::V6(n) => insert(&mut v6, len, mask6(n.addr().to_bits(), len), i),
            }
        }
        v4.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        v6.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        RoleIndex { entries, v4, v6 }
    }

    /// The role of an address: the most specific prefix that contains it
    /// (IPv4-mapped IPv6 addresses are looked up as IPv4).
    pub fn role_of(&self, ip: IpAddr) -> Option<&'a RoleEntry> {
        let i = match ip.to_canonical() {
            IpAddr::V4(a) => {
                let bits = a.to_bits();
                self.v4
                    .iter()
                    .find_map(|(len, m)| m.get(&mask4(bits, *len)))
            }
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                self.v6
                    .iter()
                    .find_map(|(len, m)| m.get(&mask6(bits, *len)))
            }
        }?;
        self.entries.get(*i)
    }
}

impl Inventory {
    /// A hash index of the entries, for inventories of hundreds of prefixes.
    pub fn index(&self) -> RoleIndex<'_> {
        RoleIndex::new(&self.entries)
    }
}
