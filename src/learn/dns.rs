//! DNS responses: the A, AAAA and CNAME records of the answer section.
//!
//! Hand-written rather than a crate (`simple-dns`, `hickory-proto`): only the
//! answer records of successful responses are needed, names are decoded into a
//! fixed stack buffer (no allocation per record), and compression pointers are
//! bounded by a jump counter. Wire format: RFC 1035 section 4.

use super::wire::be16;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name on the wire (RFC 1035: 255 octets), as dotted text.
const NAME_MAX: usize = 255;
/// Compression pointers followed at most per name (a loop ends here).
const MAX_JUMPS: usize = 16;
/// Questions and answers read at most per message.
const MAX_RECORDS: usize = 64;

/// A decoded domain name in dotted form, lower-cased, on the stack.
#[derive(Clone, Copy)]
pub struct Name {
    /// Dotted name bytes; only `..len` is meaningful.
    buf: [u8; NAME_MAX],
    /// Used length of `buf`.
    len: usize,
}

impl Name {
    /// The name as bytes (no trailing dot; empty for the root).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// What one answer record says.
// A name is 264 bytes on the stack for the length of one callback; boxing it
// would allocate per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, PartialEq)]
pub enum Data {
    /// A or AAAA: the owner name has this address.
    Addr(IpAddr),
    /// CNAME: the owner name is an alias of this name.
    Cname(Name),
}

/// One answer record: owner name and data.
#[derive(Clone, Copy)]
pub struct Answer {
    /// The record's owner name.
    pub owner: Name,
    /// The record's data.
    pub data: Data,
}

/// Reads a (possibly compressed) name at `at`; returns it and the offset just
/// after the name in the original position.
fn read_name(msg: &[u8], mut at: usize) -> Option<(Name, usize)> {
    let mut name = Name {
        buf: [0; NAME_MAX],
        len: 0,
    };
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Some((name, end.unwrap_or(at + 1)));
                }
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                let need = usize::from(len) + usize::from(name.len > 0);
                if name.len + need > NAME_MAX {
                    return None;
                }
                if name.len > 0 {
                    *name.buf.get_mut(name.len)? = b'.';
                    name.len += 1;
                }
                for &c in label {
                    *name.buf.get_mut(name.len)? = c.to_ascii_lowercase();
                    name.len += 1;
                }
                at += 1 + usize::from(len);
            }
            0xc0 => {
                let ptr = usize::from(be16(msg, at)? & 0x3fff);
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                at = ptr;
            }
            _ => return None,
        }
    }
}

/// Calls `f` for every A, AAAA and CNAME record in the answer section of a
/// successful (RCODE 0) response; returns false when `msg` is not a readable
/// response. Records after the first malformed one are skipped.
pub fn answers(msg: &[u8], f: &mut dyn FnMut(&Answer)) -> bool {
    let (Some(flags), Some(qd), Some(an)) = (be16(msg, 2), be16(msg, 4), be16(msg, 6)) else {
        return false;
    };
    // QR = response, opcode 0 (query), rcode 0.
    if flags & 0x8000 == 0 || flags & 0x7800 != 0 || flags & 0x000f != 0 {
        return false;
    }
    let mut at = 12;
    for _ in 0..usize::from(qd).min(MAX_RECORDS) {
        let Some((_, next)) = read_name(msg, at) else {
            return false;
        };
        at = next + 4;
    }
    for _ in 0..usize::from(an).min(MAX_RECORDS) {
        let Some((owner, next)) = read_name(msg, at) else {
            return true;
        };
        let (Some(rtype), Some(class), Some(rdlen)) =
            (be16(msg, next), be16(msg, next + 2), be16(msg, next + 8))
        else {
            return true;
        };
        let rdata_at = next + 10;
        let Some(rdata) = msg.get(rdata_at..rdata_at + usize::from(rdlen)) else {
            return true;
        };
        at = rdata_at + usize::from(rdlen);
        if class & 0x7fff != 1 {
            continue;
        }
        let data = match (rtype, rdata.len()) {
            (1, 4) => {
                let mut a = [0u8; 4];
                a.copy_from_slice(rdata);
                Data::Addr(IpAddr::V4(Ipv4Addr::from(a)))
            }
            (28, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                Data::Addr(IpAddr::V6(Ipv6Addr::from(a)))
            }
            (5, _) => match read_name(msg, rdata_at) {
                Some((target, _)) => Data::Cname(target),
                None => continue,
            },
            _ => continue,
        };
        f(&Answer { owner, data });
    }
    true
}

/// For a TCP segment from port 53: the DNS message after the 2-byte length
/// prefix (RFC 1035 4.2.2), cut to what the segment holds.
pub fn tcp_message(payload: &[u8]) -> Option<&[u8]> {
    let len = usize::from(be16(payload, 0)?);
    let body = payload.get(2..)?;
    Some(body.get(..len).unwrap_or(body))
}

/// The header and first question of a DNS message.
#[derive(Clone, Copy)]
pub struct Question {
    /// The message id that pairs a response with its query.
    pub id: u16,
    /// QR: a response.
    pub response: bool,
    /// RCODE (0 no error, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).
    pub rcode: u8,
    /// ANCOUNT: answer records.
    pub answers: u16,
    /// QNAME, lower-cased.
    pub name: Name,
    /// QTYPE (1 A, 28 AAAA, 33 SRV).
    pub qtype: u16,
}

/// The header and first question of a standard query (opcode 0) or its
/// response; `None` for other opcodes, no question, or bytes that do not parse.
pub fn question(msg: &[u8]) -> Option<Question> {
    let (id, flags, qd, an) = (be16(msg, 0)?, be16(msg, 2)?, be16(msg, 4)?, be16(msg, 6)?);
    if flags & 0x7800 != 0 || qd == 0 {
        return None;
    }
    let (name, next) = read_name(msg, 12)?;
    Some(Question {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0x000f) as u8,
        answers: an,
        name,
        qtype: be16(msg, next)?,
    })
}

/// The record type's name in reports (`A`, `AAAA`, `SRV`), or its number.
pub fn type_name(qtype: u16) -> String {
    match qtype {
        1 => "A".into(),
        5 => "CNAME".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        n => format!("TYPE{n}"),
    }
}
