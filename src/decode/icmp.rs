//! ICMPv4/ICMPv6 headers and the packet an error message quotes.

use super::ip::{self, proto};
use super::link::be16;
use super::{IcmpInfo, Quoted, Transport};
use std::net::{IpAddr, Ipv4Addr};

/// True for the error types that quote the offending packet:
/// v4 destination unreachable, source quench, redirect, time exceeded,
/// parameter problem; v6 destination unreachable, packet too big, time
/// exceeded, parameter problem.
fn is_error(v6: bool, icmp_type: u8) -> bool {
    if v6 {
        matches!(icmp_type, 1..=4)
    } else {
        matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
    }
}

/// Parses the ICMP header (type, code, checksum, 4 bytes that depend on the type)
/// and, for errors, the quote that follows it. `None` when even type and code are missing.
///
/// Not etherparse's Icmpv4Slice/Icmpv6Slice: they need all 8 header bytes and
/// refuse an ICMPv4 timestamp message that is not exactly 20 bytes long.
pub(crate) fn parse(v6: bool, d: &[u8]) -> Option<IcmpInfo> {
    let icmp_type = *d.first()?;
    let code = *d.get(1)?;
    let quoted = if is_error(v6, icmp_type) {
        d.get(8..).and_then(|q| quoted(v6, q))
    } else {
        None
    };
    Some(IcmpInfo {
        v6,
        icmp_type,
        code,
        quoted,
    })
}

/// Maps a protocol number to the transport Zeek would name.
pub(crate) fn transport_of(p: u8) -> Transport {
    match p {
        proto::TCP => Transport::Tcp,
        proto::UDP => Transport::Udp,
        proto::ICMP | proto::ICMPV6 => Transport::Icmp,
        n => Transport::Other(n),
    }
}

/// Parses the quoted IP header and the first bytes of its transport header:
/// `None` if the IP header is cut short, ports 0 when the transport header is.
/// The quote's version comes from its own first nibble (a v4 error can quote
/// only v4, but the nibble is what the bytes say).
fn quoted(_outer_v6: bool, q: &[u8]) -> Option<Quoted> {
    let (src, dst, p, rest): (IpAddr, IpAddr, u8, &[u8]) = match q.first()? >> 4 {
        4 => {
            // Not etherparse's Ipv4HeaderSlice: it needs the options too, while
            // Zeek names the quoted addresses from the first 20 bytes alone.
            let ihl = usize::from(q.first()? & 0x0f) * 4;
            let h = q.get(..20)?;
            if ihl < 20 {
                return None;
            }
            let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
            let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
            // A quoted non-first fragment has no transport header.
            let frag_off = be16(h, 6).unwrap_or(0) & 0x1fff;
            let rest = if frag_off == 0 {
                q.get(ihl..).unwrap_or_default()
            } else {
                &[]
            };
            (src.into(), dst.into(), h[9], rest)
        }
        6 => {
            let h = ip::v6_header(q).ok()?;
            let (src, dst, next) = (h.source_addr(), h.destination_addr(), h.next_header().0);
            // The quote is usually cut short: walk what is there; an incomplete walk gives ports 0.
            match ip::walk_v6_ext(next, q, h.slice().len()) {
                Ok(e) if e.frag.is_none_or(|f| f.offset == 0) => (
                    src.into(),
                    dst.into(),
                    e.proto,
                    q.get(e.off..).unwrap_or_default(),
                ),
                Ok(e) => (src.into(), dst.into(), e.proto, &[][..]),
                Err(_) => (src.into(), dst.into(), next, &[][..]),
            }
        }
        _ => return None,
    };
    let transport = transport_of(p);
    // Ports from the first 4 bytes, as Zeek does; etherparse's TCP/UDP slices need the whole header.
    let (sport, dport) = match transport {
        Transport::Tcp | Transport::Udp => match (be16(rest, 0), be16(rest, 2)) {
            (Some(s), Some(d)) => (s, d),
            _ => (0, 0),
        },
        Transport::Icmp => match (rest.first(), rest.get(1)) {
            (Some(t), Some(c)) => (u16::from(*t), u16::from(*c)),
            _ => (0, 0),
        },
        Transport::Other(_) => (0, 0),
    };
    Some(Quoted {
        transport,
        src,
        dst,
        sport,
        dport,
    })
}
