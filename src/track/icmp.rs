//! ICMP errors attributed to the connection they quote.
//!
//! Zeek logs an ICMP error only as its own ICMP "connection" (type and code
//! as ports); flowaudit additionally finds the TCP or UDP connection whose
//! packet the error quotes and records the error on it, so an unreachable
//! port shows up on the connection attempt itself.

use super::IcmpError;
use super::key::{Addr, ConnKey, EndpointId};
use crate::decode::{Packet, Quoted, Transport};

/// The key of the connection a quoted header belongs to, if it can be told.
pub(crate) fn quoted_key(q: &Quoted) -> Option<ConnKey> {
    let (sport, dport) = match q.transport {
        Transport::Tcp | Transport::Udp => (q.sport, q.dport),
        Transport::Other(_) => (0, 0),
        // The quote of an ICMP message carries no type in `Quoted`.
        Transport::Icmp => return None,
    };
    let src = EndpointId {
        addr: Addr::from_ip(q.src),
        port: sport,
    };
    let dst = EndpointId {
        addr: Addr::from_ip(q.dst),
        port: dport,
    };
    Some(ConnKey::new(q.transport, src, dst, false))
}

/// Records the ICMP error packet `p` on a connection's error slot.
pub(crate) fn record(slot: &mut Option<Box<IcmpError>>, p: &Packet<'_>) {
    match slot {
        Some(e) => e.count = e.count.saturating_add(1),
        None => {
            if let Some(i) = p.icmp {
                *slot = Some(Box::new(IcmpError {
                    icmp_type: i.icmp_type,
                    code: i.code,
                    v6: i.v6,
                    reporter: p.src,
                    ts: p.ts,
                    count: 1,
                }));
            }
        }
    }
}
