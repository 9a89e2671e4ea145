//! Role lookups built once and asked once per connection end.
//!
//! [`Inventory::role_of`] walks the entries through `ipnet`'s generic
//! `contains`, which is fine for a handful of questions but showed up at about
//! 3 % of a whole audit when asked three times per connection. A [`RoleTable`]
//! splits the entries by address family into plain integers (network, mask)
//! once, so a lookup is a few masked compares on `u32`/`u128`; an inventory
//! that lists hundreds of prefixes gets one hash map per prefix length
//! instead, so its cost follows the number of distinct lengths (usually three
//! to five), not the number of entries.

use super::{Inventory, RoleEntry};
use crate::catalogue::Role;
use foldhash::fast::FixedState;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::ops::BitAnd;

/// Prefixes per address family up to which a scan beats hashing.
const SCAN_MAX: usize = 32;

/// A mask with the first `len` bits set (all of them from the width up).
fn mask_of<K: Bits>(len: u8) -> K {
    K::ONES.shl_or_zero(u32::from(K::WIDTH.saturating_sub(len)))
}

/// The integer behind an address of one family.
trait Bits: Copy + Eq + Hash + BitAnd<Output = Self> {
    /// All bits set.
    const ONES: Self;
    /// Width in bits.
    const WIDTH: u8;
    /// `self << n`, or zero when `n` is the whole width.
    fn shl_or_zero(self, n: u32) -> Self;
}

impl Bits for u32 {
    const ONES: u32 = u32::MAX;
    const WIDTH: u8 = 32;
    fn shl_or_zero(self, n: u32) -> u32 {
        self.checked_shl(n).unwrap_or(0)
    }
}

impl Bits for u128 {
    const ONES: u128 = u128::MAX;
    const WIDTH: u8 = 128;
    fn shl_or_zero(self, n: u32) -> u128 {
        self.checked_shl(n).unwrap_or(0)
    }
}

/// The prefixes of one address family.
#[derive(Clone, Debug)]
enum Family<K> {
    /// (network, mask, entry index) in entry order: the first hit is the answer.
    Scan(Vec<(K, K, usize)>),
    /// (mask, masked address -> lowest entry index with that network), one
    /// level per prefix length present.
    Levels(Vec<(K, HashMap<K, usize, FixedState>)>),
}

impl<K: Bits> Family<K> {
    /// Indexes (network, prefix length, entry index) triples given in entry order.
    fn new(nets: Vec<(K, u8, usize)>) -> Family<K> {
        if nets.len() <= SCAN_MAX {
            return Family::Scan(
                nets.into_iter()
                    .map(|(net, len, i)| {
                        let mask = mask_of::<K>(len);
                        (net & mask, mask, i)
                    })
                    .collect(),
            );
        }
        let mut levels: Vec<(K, HashMap<K, usize, FixedState>)> = Vec::new();
        for (net, len, i) in nets {
            let mask = mask_of::<K>(len);
            let at = match levels.iter().position(|(m, _)| *m == mask) {
                Some(at) => at,
                None => {
                    levels.push((mask, HashMap::with_hasher(FixedState::default())));
                    levels.len() - 1
                }
            };
            if let Some((_, map)) = levels.get_mut(at) {
                // Entries come in order: the first one for a network wins.
                map.entry(net & mask).or_insert(i);
            }
        }
        Family::Levels(levels)
    }

    /// The lowest entry index whose prefix contains `a`.
    fn find(&self, a: K) -> Option<usize> {
        match self {
            Family::Scan(v) => v
                .iter()
                .find(|&&(net, mask, _)| a & mask == net)
                .map(|&(_, _, i)| i),
            // Every level is probed: the answer must not depend on the
            // entries being sorted most specific first.
            Family::Levels(levels) => levels
                .iter()
                .filter_map(|(mask, map)| map.get(&(a & *mask)).copied())
                .min(),
        }
    }
}

/// An owned lookup over a list of [`RoleEntry`]s that answers "which is the
/// first entry, in list order, whose prefix contains this address", exactly as
/// `entries.iter().position(|e| e.net.contains(&a))` would, without
/// canonicalising the address: callers decide whether `::ffff:a.b.c.d` is
/// looked up as IPv4 ([`RoleTable::role_of_canonical`]) or as written
/// ([`RoleTable::role_of`]).
#[derive(Clone, Debug)]
pub struct RoleTable {
    /// IPv4 prefixes.
    v4: Family<u32>,
    /// IPv6 prefixes.
    v6: Family<u128>,
    /// The role of every entry, by entry index.
    roles: Vec<Role>,
}

impl RoleTable {
    /// Indexes `entries` in their order.
    pub fn new(entries: &[RoleEntry]) -> RoleTable {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match e.net {
                IpNet::V4(n) => v4.push((n.addr().to_bits(), n.prefix_len(), i)),
                IpNet::V6(n) => v6.push((n.addr().to_bits(), n.prefix_len(), i)),
            }
        }
        RoleTable {
            v4: Family::new(v4),
            v6: Family::new(v6),
            roles: entries.iter().map(|e| e.role).collect(),
        }
    }

    /// The index of the first entry containing `a`, taken as written.
    pub fn entry_of(&self, a: IpAddr) -> Option<usize> {
        match a {
            IpAddr::V4(a) => self.v4.find(a.to_bits()),
            IpAddr::V6(a) => self.v6.find(a.to_bits()),
        }
    }

    /// The role of the first entry containing `a`, taken as written (an
    /// IPv4-mapped IPv6 address is matched against IPv6 prefixes only).
    pub fn role_of(&self, a: IpAddr) -> Option<Role> {
        self.entry_of(a).and_then(|i| self.roles.get(i).copied())
    }

    /// The role [`Inventory::role_of`] gives `a`: an IPv4-mapped IPv6
    /// address is looked up as the IPv4 address it stands for.
    pub fn role_of_canonical(&self, a: IpAddr) -> Option<Role> {
        self.role_of(a.to_canonical())
    }
}

/// An index over an inventory's entries that answers [`RoleIndex::role_of`]
/// exactly as [`Inventory::role_of`] does, in time independent of the entry count.
#[derive(Clone, Debug)]
pub struct RoleIndex<'a> {
    /// The indexed entries.
    entries: &'a [RoleEntry],
    /// The lookup over them.
    table: RoleTable,
}

impl<'a> RoleIndex<'a> {
    /// Indexes `entries` (in the order of [`Inventory::entries`]).
    pub fn new(entries: &'a [RoleEntry]) -> RoleIndex<'a> {
        RoleIndex {
            entries,
            table: RoleTable::new(entries),
        }
    }

    /// The role of an address: the most specific prefix that contains it
    /// (IPv4-mapped IPv6 addresses are looked up as IPv4).
    pub fn role_of(&self, ip: IpAddr) -> Option<&'a RoleEntry> {
        let i = self.table.entry_of(ip.to_canonical())?;
        self.entries.get(i)
    }
}

impl Inventory {
    /// A lookup index of the entries, for many questions against one inventory.
    pub fn index(&self) -> RoleIndex<'_> {
        RoleIndex::new(&self.entries)
    }

    /// An owned lookup of the entries' roles (see [`RoleTable`]).
    pub fn role_table(&self) -> RoleTable {
        RoleTable::new(&self.entries)
    }
}
