//! Tunnel headers Zeek decapsulates: GRE (with ERSPAN II/III and PPTP's
//! enhanced GRE, and over UDP), VXLAN, Geneve, GTP-U, Teredo and AYIYA. Each parser returns the
//! encapsulated frame or packet, or `None`/an error when the bytes do not form
//! that tunnel (then the outer packet stands alone, as in Zeek). etherparse has
//! none of these headers; the IPv6 header inside Teredo is read with its slice.

use super::ip::{proto, v6_header};
use super::link::{Net, be16, ethertype, ppp_proto};

/// What a tunnel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inner<'a> {
    /// An IP packet.
    Net(Net<'a>),
    /// A whole Ethernet frame.
    Ether(&'a [u8]),
    /// An IEEE 802.11 frame (Aruba's GRE).
    Wifi(&'a [u8]),
}

/// UDP ports that select a tunnel parser (either port matches).
pub(crate) mod port {
    /// Teredo (RFC 4380).
    pub const TEREDO: u16 = 3544;
    /// VXLAN (RFC 7348).
    pub const VXLAN: u16 = 4789;
    /// Geneve (RFC 8926).
    pub const GENEVE: u16 = 6081;
    /// GTP-U (3GPP TS 29.281).
    pub const GTP_U: u16 = 2152;
    /// GRE in UDP (RFC 8086).
    pub const GRE: u16 = 4754;
    /// AYIYA ("anything in anything", SixXS).
    pub const AYIYA: u16 = 5072;
}

/// GRE header length from the flags, as Zeek counts it: checksum+reserved,
/// key, sequence and (enhanced GRE) acknowledgment words; routing is refused.
fn gre_header_len(flags: u16) -> usize {
    let mut len = 4;
    for bit in [0x8000, 0x2000, 0x1000, 0x0080] {
        if flags & bit != 0 {
            len += 4;
        }
    }
    len
}

/// Decapsulates GRE (IP protocol 47) the way Zeek's GRE analyzer does.
///
/// Version 0 carries IPv4 (0x0800), IPv6 (0x86dd), Ethernet (0x6558), ERSPAN
/// type II (0x88be, 8-byte header then Ethernet) or type III (0x22eb, 12 bytes
/// plus an 8-byte optional subheader when its O flag is set, then Ethernet),
/// or, in Aruba's protocol types ([`is_aruba`]), an 802.11 frame.
/// Version 1 (PPTP) carries PPP (0x880b) whose protocol must be IP; unlike Zeek,
/// which assumes `ff 03` before the protocol, the HDLC bytes are optional here
/// and a compressed 1-byte protocol is accepted, as PPTP peers negotiate both.
pub(crate) fn gre(d: &[u8]) -> Result<Inner<'_>, &'static str> {
    let flags = be16(d, 0).ok_or("gre: truncated header")?;
    let ptype = be16(d, 2).ok_or("gre: truncated header")?;
    let version = flags & 0x0007;
    if flags & 0x4000 != 0 {
        return Err("gre: routing present");
    }
    if flags & 0x0078 != 0 {
        return Err("gre: unknown flags");
    }
    let body = d
        .get(gre_header_len(flags)..)
        .ok_or("gre: truncated header")?;
    match (version, ptype) {
        (0, ethertype::IPV4) => Ok(Inner::Net(Net::V4(body))),
        (0, ethertype::IPV6) => Ok(Inner::Net(Net::V6(body))),
        (0, ethertype::TEB) => Ok(Inner::Ether(body)),
        (0, 0x88be) => Ok(Inner::Ether(body.get(8..).ok_or("gre: truncated ERSPAN")?)),
        (0, 0x22eb) => {
            let hdr = body.get(..12).ok_or("gre: truncated ERSPAN")?;
            let skip = if hdr[11] & 1 == 1 { 20 } else { 12 };
            Ok(Inner::Ether(
                body.get(skip..).ok_or("gre: truncated ERSPAN")?,
            ))
        }
        (0, p) if is_aruba(p) => {
            if body.is_empty() {
                return Err("gre: truncated header");
            }
            Ok(Inner::Wifi(body))
        }
        (0, _) => Err("gre: unsupported protocol type"),
        (1, 0x880b) => {
            let ppp = if body.starts_with(&[0xff, 0x03]) {
                body.get(2..).unwrap_or_default()
            } else {
                body
            };
            ppp_proto(ppp)
                .map(Inner::Net)
                .map_err(|_| "gre: PPP not IP")
        }
        (1, _) => Err("gre: enhanced GRE not carrying PPP"),
        _ => Err("gre: unknown version"),
    }
}

/// Protocol types of Aruba access points' GRE to their controller, which
/// carry 802.11 frames: Zeek's test, bit for bit (0x82x0 and 0x83x0 masks,
/// the second up to 0x8370, and 0x9000).
fn is_aruba(p: u16) -> bool {
    (p & 0x8200 == 0x8200 && p & 0x0F == 0)
        || (p & 0x8300 == 0x8300 && p & 0x0F == 0 && p <= 0x8370)
        || p == 0x9000
}

/// VXLAN: 8-byte header (flags, reserved, 24-bit VNI, reserved), then Ethernet.
fn vxlan(d: &[u8]) -> Option<Inner<'_>> {
    let body = d.get(8..)?;
    (body.len() >= 14).then_some(Inner::Ether(body))
}

/// Geneve: version 0, option length in 4-byte words, protocol type, VNI.
fn geneve(d: &[u8]) -> Option<Inner<'_>> {
    let b0 = *d.first()?;
    if b0 >> 6 != 0 {
        return None;
    }
    let opt_len = usize::from(b0 & 0x3f) * 4;
    let ptype = be16(d, 2)?;
    let body = d.get(8 + opt_len..)?;
    match ptype {
        ethertype::TEB => Some(Inner::Ether(body)),
        ethertype::IPV4 => Some(Inner::Net(Net::V4(body))),
        ethertype::IPV6 => Some(Inner::Net(Net::V6(body))),
        _ => None,
    }
}

/// GTP-U version 1 G-PDU (message type 255) with its optional sequence,
/// N-PDU and extension headers, then an IP packet.
fn gtpu(d: &[u8]) -> Option<Inner<'_>> {
    let flags = *d.first()?;
    // Version 1 and protocol type GTP (not GTP').
    if flags >> 5 != 1 || flags & 0x10 == 0 || *d.get(1)? != 0xff {
        return None;
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        // Sequence number (2), N-PDU number (1), next extension header type (1).
        let mut next = *d.get(off + 3)?;
        off += 4;
        if flags & 0x04 != 0 {
            // Each extension: length in 4-byte units, content, next type in its last byte.
            for _ in 0..16 {
                if next == 0 {
                    break;
                }
                let units = usize::from(*d.get(off)?);
                if units == 0 {
                    return None;
                }
                off += units * 4;
                next = *d.get(off - 1)?;
            }
            if next != 0 {
                return None;
            }
        }
    }
    let body = d.get(off..)?;
    match body.first()? >> 4 {
        4 => Some(Inner::Net(Net::V4(body))),
        6 => Some(Inner::Net(Net::V6(body))),
        _ => None,
    }
}

/// Strips Teredo authentication and origin indication headers (RFC 4380
/// 5.1.1/5.1.2, in Zeek's order rules) and returns the IPv6 packet, which must
/// fill the rest of the datagram exactly (or be a bubble), as Zeek requires
/// before it decapsulates.
fn teredo(mut d: &[u8]) -> Option<Inner<'_>> {
    let (mut origin, mut auth) = (false, false);
    loop {
        let tag = be16(d, 0)?;
        if tag == 0 {
            if origin {
                return None;
            }
            origin = true;
            d = d.get(8..)?;
        } else if tag == 1 {
            if origin || auth {
                return None;
            }
            auth = true;
            let id_len = usize::from(*d.get(2)?);
            let au_len = usize::from(*d.get(3)?);
            // Client id, authenticator, 8-byte nonce, confirmation byte.
            d = d.get(4 + id_len + au_len + 9..)?;
        } else if tag >> 12 == 6 {
            let hdr = v6_header(d).ok()?;
            let plen = usize::from(hdr.payload_length());
            let bubble = hdr.next_header().0 == proto::NONE && plen == 0;
            if d.len() != hdr.slice().len() + plen && !bubble {
                return None;
            }
            return Some(Inner::Net(Net::V6(d)));
        } else {
            return None;
        }
    }
}

/// Teredo detection for UDP on other ports (relays use random ones).
///
/// Zeek runs its detection (an IPv6 bubble to or from a Teredo 2001:0::/32
/// address, or an authentication/origin indication header before IPv6) once
/// per UDP connection and then keeps decapsulating every packet of that
/// connection. The decoder is stateless, so it accepts instead any packet that
/// Zeek's detection would accept plus any whole IPv6 packet (length field
/// matching the datagram) to or from a Teredo address: in `Teredo.pcap` the
/// relay's data packets are exactly those, and Zeek logs their inner TCP.
fn teredo_detect(d: &[u8]) -> bool {
    let Some(&b0) = d.first() else { return false };
    let b1 = d.get(1).copied().unwrap_or(0xff);
    if d.len() < 40 || (b0 >> 4 != 6 && (b0 != 0 || (b1 != 0 && b1 != 1))) {
        return false;
    }
    if b0 >> 4 == 6 {
        let Ok(h) = v6_header(d) else { return false };
        let teredo_prefix = |a: [u8; 16]| a[..4] == [0x20, 0x01, 0x00, 0x00];
        let whole = usize::from(h.payload_length()) + h.slice().len() == d.len();
        return whole && (teredo_prefix(h.source()) || teredo_prefix(h.destination()));
    }
    let mut rest = d;
    let mut val = u16::from(b1);
    if val == 1 {
        let id_len = usize::from(d.get(2).copied().unwrap_or(0));
        let au_len = usize::from(d.get(3).copied().unwrap_or(0));
        let Some(r) = d.get(13 + id_len + au_len..) else {
            return false;
        };
        if r.len() < 40 {
            return false;
        }
        rest = r;
        val = be16(r, 0).unwrap_or(0xffff);
    }
    val == 0
        && rest
            .get(8..)
            .is_some_and(|r| r.len() >= 40 && r.first().is_some_and(|b| b >> 4 == 6))
}

/// AYIYA as Zeek's analyzer reads it: an 8-byte header whose first two
/// nibbles give the identity length (2^n bytes, kept in a byte) and the signature length
/// (n × 4 bytes) that follow it; only the "forward" operation (1) carries a
/// packet, of the IP protocol the next-header byte names (4 or 41).
fn ayiya(d: &[u8]) -> Option<Inner<'_>> {
    let (b0, b1, b2, next) = (*d.first()?, *d.get(1)?, *d.get(2)?, *d.get(3)?);
    // Zeek keeps the identity length in a byte, so nibbles of 8 and more
    // give 0 there: do the same, or the two would read different packets.
    let identity = usize::from((1u16 << (b0 >> 4)) as u8);
    let header = 8 + identity + usize::from(b1 >> 4) * 4;
    let body = d.get(header..)?;
    if b2 & 0x0f != 1 || body.is_empty() {
        return None;
    }
    match next {
        proto::IPIP => Some(Inner::Net(Net::V4(body))),
        proto::IPV6 => Some(Inner::Net(Net::V6(body))),
        _ => None,
    }
}

/// Zeek's AYIYA detection for UDP on other ports: a SHA-1 signature of 20
/// bytes (`0x52`) and a forwarded packet with shared-secret authentication
/// (`0x11`). Zeek decides once per connection; stateless, this asks it of
/// every packet, which AYIYA's data packets all answer alike.
fn ayiya_detect(d: &[u8]) -> bool {
    d.len() >= 3 && d[1] == 0x52 && d[2] == 0x11
}

/// Picks the tunnel a UDP payload carries from its ports (and, for Teredo, Zeek's detection heuristic).
pub(crate) fn udp(sport: u16, dport: u16, payload: &[u8]) -> Option<Inner<'_>> {
    let either = |p: u16| sport == p || dport == p;
    if either(port::VXLAN) {
        vxlan(payload)
    } else if either(port::GENEVE) {
        geneve(payload)
    } else if either(port::GTP_U) {
        gtpu(payload)
    } else if either(port::GRE) {
        gre(payload).ok()
    } else if either(port::AYIYA) || ayiya_detect(payload) {
        ayiya(payload)
    } else if either(port::TEREDO) || teredo_detect(payload) {
        teredo(payload)
    } else {
        None
    }
}
