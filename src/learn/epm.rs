//! DCE-RPC endpoint mapper (TCP 135) responses: the ports handed out.
//!
//! An `ept_map` or `ept_lookup` response carries protocol towers (DCE 1.1
//! RPC, appendix L; [MS-RPCE] 2.2.1.2): each tower is a list of floors, each
//! floor a little-endian left-hand side (length, protocol id, ...) and
//! right-hand side (length, data). The TCP floor is protocol 0x07 with a
//! big-endian port, the IPv4 floor protocol 0x09 with the address. Rather than
//! decode the NDR around the towers (which differs between `ept_map` and the
//! annotated entries of `ept_lookup`), the response body is scanned for a TCP
//! floor followed by an IPv4 floor, the order every tower of
//! `ncacn_ip_tcp` has: a bounded, total walk that finds every tower.

use super::wire::{be16, le16};
use std::net::Ipv4Addr;

/// One endpoint a response hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// TCP port of the tower's TCP floor.
    pub port: u16,
    /// Address of the tower's IPv4 floor (0.0.0.0 means "the server itself").
    pub addr: Option<Ipv4Addr>,
}

/// DCE-RPC connection-oriented PDU type of a response (C706 12.6.4.10).
const PTYPE_RESPONSE: u8 = 2;
/// Header bytes before the stub of a response PDU: the 16-byte common
/// header, alloc_hint (4), p_cont_id (2), cancel_count (1), reserved (1).
const RESPONSE_HEADER: usize = 24;
/// Endpoints read at most per PDU.
const MAX_ENDPOINTS: usize = 64;

/// Calls `f` for every TCP endpoint in a DCE-RPC response PDU that starts
/// `p`; returns false when `p` is not a version 5 response with
/// little-endian data representation.
pub fn endpoints(p: &[u8], f: &mut dyn FnMut(Endpoint)) -> bool {
    // rpc_vers 5, minor 0/1, ptype response, drep little-endian integers.
    if p.first() != Some(&5) || p.get(2) != Some(&PTYPE_RESPONSE) {
        return false;
    }
    if p.get(4).is_none_or(|d| d & 0x10 == 0) {
        return false;
    }
    let frag_len = usize::from(le16(p, 8).unwrap_or(0));
    let pdu = p.get(..frag_len).unwrap_or(p);
    let Some(stub) = pdu.get(RESPONSE_HEADER..) else {
        return false;
    };
    let mut n = 0;
    let mut i = 0;
    // TCP floor: lhs_len 1, proto 0x07, rhs_len 2, port (big-endian): 7 bytes.
    while i + 7 <= stub.len() && n < MAX_ENDPOINTS {
        if stub.get(i..i + 5) == Some(&[1, 0, 7, 2, 0][..])
            && let Some(port) = be16(stub, i + 5)
        {
            // IPv4 floor: lhs_len 1, proto 0x09, rhs_len 4, address.
            let addr = match stub.get(i + 7..i + 12) {
                Some([1, 0, 9, 4, 0]) => stub
                    .get(i + 12..i + 16)
                    .and_then(|a| <[u8; 4]>::try_from(a).ok())
                    .map(Ipv4Addr::from),
                _ => None,
            };
            if port != 0 {
                f(Endpoint { port, addr });
                n += 1;
            }
            i += 7;
            continue;
        }
        i += 1;
    }
    true
}
