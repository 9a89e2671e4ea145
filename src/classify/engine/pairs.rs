//! The host pairs of a bucket, keyed compactly.
//!
//! A flood or a scan from millions of hosts is millions of host pairs, and a
//! `(IpAddr, IpAddr)` key is 34 bytes (40 with its value's alignment) where
//! an IPv4 pair fits in 8: IPv4 pairs are kept by a `u64` of both addresses,
//! every other pair (IPv6, or one address of each family) by its addresses.
//! The map holds exactly what a map of `(IpAddr, IpAddr)` would; its order of
//! iteration is as arbitrary, so every reader sorts what it shows.

use foldhash::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// A host pair: source, destination.
pub(super) type Pair = (IpAddr, IpAddr);

/// Host pairs to `P`.
#[derive(Clone, Debug)]
pub(super) struct PairMap<P> {
    /// Pairs of two IPv4 addresses, by [`v4_key`].
    v4: HashMap<u64, P>,
    /// Every other pair.
    other: HashMap<Pair, P>,
}

impl<P> Default for PairMap<P> {
    fn default() -> Self {
        PairMap {
            v4: HashMap::default(),
            other: HashMap::default(),
        }
    }
}

/// The compact key of a pair of two IPv4 addresses.
fn v4_key(pair: &Pair) -> Option<u64> {
    match pair {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Some(u64::from(s.to_bits()) << 32 | u64::from(d.to_bits()))
        }
        _ => None,
    }
}

/// The pair of a compact key.
fn v4_pair(k: u64) -> Pair {
    (
        IpAddr::V4(Ipv4Addr::from_bits((k >> 32) as u32)),
        IpAddr::V4(Ipv4Addr::from_bits(k as u32)),
    )
}

impl<P> PairMap<P> {
    /// Pairs held.
    pub(super) fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    /// Whether it holds no pair.
    pub(super) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.other.is_empty()
    }

    /// The value of `pair`.
    pub(super) fn get_mut(&mut self, pair: &Pair) -> Option<&mut P> {
        match v4_key(pair) {
            Some(k) => self.v4.get_mut(&k),
            None => self.other.get_mut(pair),
        }
    }

    /// Whether `pair` is held.
    pub(super) fn contains_key(&self, pair: &Pair) -> bool {
        match v4_key(pair) {
            Some(k) => self.v4.contains_key(&k),
            None => self.other.contains_key(pair),
        }
    }

    /// Sets the value of `pair`.
    pub(super) fn insert(&mut self, pair: Pair, p: P) {
        match v4_key(&pair) {
            Some(k) => self.v4.insert(k, p),
            None => self.other.insert(pair, p),
        };
    }

    /// Takes `pair` out.
    pub(super) fn remove(&mut self, pair: &Pair) -> Option<P> {
        match v4_key(pair) {
            Some(k) => self.v4.remove(&k),
            None => self.other.remove(pair),
        }
    }

    /// Room for `v4` more IPv4 pairs and `other` more of the others, so that
    /// filling it never holds two sizes of table at once.
    pub(super) fn reserve(&mut self, v4: usize, other: usize) {
        self.v4.reserve(v4);
        self.other.reserve(other);
    }

    /// (IPv4 pairs, other pairs) held: for [`PairMap::reserve`].
    pub(super) fn lens(&self) -> (usize, usize) {
        (self.v4.len(), self.other.len())
    }

    /// Every pair and its value, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Pair, &P)> {
        self.v4
            .iter()
            .map(|(&k, p)| (v4_pair(k), p))
            .chain(self.other.iter().map(|(&k, p)| (k, p)))
    }

    /// Every pair, in no particular order.
    pub(super) fn keys(&self) -> impl Iterator<Item = Pair> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in no particular order.
    pub(super) fn values(&self) -> impl Iterator<Item = &P> {
        self.v4.values().chain(self.other.values())
    }

    /// Keeps the pairs `keep` accepts.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Pair, &mut P) -> bool) {
        self.v4.retain(|&k, p| keep(&v4_pair(k), p));
        self.other.retain(|k, p| keep(k, p));
    }

    /// Every pair and its value, taken.
    pub(super) fn into_pairs(self) -> impl Iterator<Item = (Pair, P)> {
        self.v4
            .into_iter()
            .map(|(k, p)| (v4_pair(k), p))
            .chain(self.other)
    }
}

impl<'a, P> IntoIterator for &'a PairMap<P> {
    type Item = (Pair, &'a P);
    type IntoIter = Box<dyn Iterator<Item = (Pair, &'a P)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// Pairs of every family combination come back as they went in, and
    /// an IPv4 pair is not the same as its IPv4-mapped IPv6 form.
    #[test]
    fn pairs_of_every_family_round_trip() {
        let v4a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v4b = IpAddr::V4(Ipv4Addr::new(192, 168, 255, 254));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        let pairs = [
            (v4a, v4b),
            (v4b, v4a),
            (v4a, v6),
            (v6, v4b),
            (mapped, v4b),
            (v6, v6),
        ];
        let mut m = PairMap::default();
        for (i, p) in pairs.iter().enumerate() {
            m.insert(*p, i);
        }
        assert_eq!(m.len(), pairs.len());
        let mut got: Vec<(Pair, usize)> = m.iter().map(|(k, &v)| (k, v)).collect();
        got.sort_by_key(|&(_, v)| v);
        let want: Vec<(Pair, usize)> = pairs.iter().copied().zip(0..).collect();
        assert_eq!(got, want);
        assert_eq!(m.remove(&(mapped, v4b)), Some(4));
        assert!(m.contains_key(&(v4a, v4b)));
        assert!(!m.contains_key(&(mapped, v4b)));
        m.retain(|&(s, _), _| s != v4a);
        assert_eq!(m.len(), 3);
        let mut taken: Vec<usize> = m.into_pairs().map(|(_, v)| v).collect();
        taken.sort_unstable();
        assert_eq!(taken, vec![1, 3, 5]);
    }
}
