//! The connections a follower holds while it watches them (TLS handshakes
//! in [`super::handshake`], proxy tunnels in [`super::tunnel`]): keyed client
//! to server, found from a segment going either way, and passed over with a
//! compare of ports for nearly every other segment.

use std::collections::HashMap;
use std::net::IpAddr;

/// (client, client port, server, server port), canonical addresses: the
/// key of a connection a follower holds.
pub type ConnKey = (IpAddr, u16, IpAddr, u16);

/// The key of the connection from `client` to `server`.
pub fn conn_key(client: (IpAddr, u16), server: (IpAddr, u16)) -> ConnKey {
    (
        client.0.to_canonical(),
        client.1,
        server.0.to_canonical(),
        server.1,
    )
}

/// The connections a follower holds (TLS handshakes, proxy tunnels), keyed
/// client to server, with their servers' ports (nearly always one or two)
/// so that a segment on any other port is passed over with a compare
/// instead of a lookup ([`Held::may_hold`]).
#[derive(Clone, Debug)]
pub struct Held<V> {
    open: HashMap<ConnKey, V>,
    ports: Vec<u16>,
}

impl<V> Default for Held<V> {
    fn default() -> Self {
        Held {
            open: HashMap::new(),
            ports: Vec::new(),
        }
    }
}

/// Distinct server ports remembered; past them every port may match.
const MAX_PORTS: usize = 16;

impl<V> Held<V> {
    /// True when a segment between these ports may be of a held connection.
    #[inline]
    pub fn may_hold(&self, sport: u16, dport: u16) -> bool {
        !self.open.is_empty()
            && (self.ports.len() > MAX_PORTS
                || self.ports.iter().any(|&p| p == sport || p == dport))
    }

    /// The held connection a segment from `src` to `dst` belongs to, and
    /// whether it came from the client.
    pub fn find(&self, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Option<(ConnKey, bool)> {
        let fwd = conn_key(src, dst);
        if self.open.contains_key(&fwd) {
            return Some((fwd, true));
        }
        let back = conn_key(dst, src);
        self.open.contains_key(&back).then_some((back, false))
    }

    /// Holds `v` for `key` (replacing what was held), remembering its port.
    pub fn insert(&mut self, key: ConnKey, v: V) {
        if !self.ports.contains(&key.3) && self.ports.len() <= MAX_PORTS {
            self.ports.push(key.3);
        }
        self.open.insert(key, v);
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// True when `key` is held.
    pub fn contains(&self, key: &ConnKey) -> bool {
        self.open.contains_key(key)
    }

    /// What is held for `key`.
    pub fn get_mut(&mut self, key: &ConnKey) -> Option<&mut V> {
        self.open.get_mut(key)
    }

    /// Stops holding `key`.
    pub fn remove(&mut self, key: &ConnKey) -> Option<V> {
        self.open.remove(key)
    }

    /// Keeps only what `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&ConnKey, &mut V) -> bool) {
        self.open.retain(keep);
    }
}
