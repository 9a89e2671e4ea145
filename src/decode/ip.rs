//! IPv4 and IPv6 headers (zero-copy): addresses, protocol, lengths and
//! fragmentation, walking IPv6 extension headers.

use super::link::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the decoder treats specially.
pub(crate) mod proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// GRE.
    pub const GRE: u8 = 47;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
}

/// Fragmentation fields of a fragment (not set for whole datagrams).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FragInfo {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment's data in the datagram's payload, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// A parsed IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpPacket<'a> {
    /// True for IPv6.
    pub v6: bool,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol (after IPv6 extension headers; for a fragment, the fragment header's next header).
    pub proto: u8,
    /// Datagram length per the header (IPv4 total length, IPv6 40 + payload length).
    pub ip_len: u32,
    /// Header bytes before the transport (or fragment) payload, extension headers included.
    pub hdr_len: u32,
    /// Captured payload after the headers, cut at the length the header states.
    pub payload: &'a [u8],
    /// Payload length per the header (not limited by snaplen).
    pub payload_len: u32,
    /// Set when this is a fragment of a bigger datagram.
    pub frag: Option<FragInfo>,
}

/// Parses an IPv4 header. Options are skipped; the checksum is not verified
/// (captures taken on the sender often have offloaded, wrong checksums).
pub(crate) fn parse_v4(d: &[u8]) -> Result<IpPacket<'_>, &'static str> {
    let b0 = *d.first().ok_or("ipv4: truncated header")?;
    if b0 >> 4 != 4 {
        return Err("ipv4: bad version");
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 {
        return Err("ipv4: bad header length");
    }
    let hdr = d.get(..ihl).ok_or("ipv4: truncated header")?;
    let mut total = usize::from(be16(hdr, 2).unwrap_or(0));
    if total == 0 {
        // TCP segmentation offload leaves 0 here (Zeek uses the captured length too).
        total = d.len();
    }
    if total < ihl {
        return Err("ipv4: total length shorter than header");
    }
    let flags_off = be16(hdr, 6).unwrap_or(0);
    let more = flags_off & 0x2000 != 0;
    let offset = u32::from(flags_off & 0x1fff) * 8;
    let frag = (more || offset != 0).then_some(FragInfo {
        id: u32::from(be16(hdr, 4).unwrap_or(0)),
        offset,
        more,
    });
    let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
    let dst = Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]);
    let end = total.min(d.len());
    Ok(IpPacket {
        v6: false,
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        proto: hdr[9],
        ip_len: total as u32,
        hdr_len: ihl as u32,
        payload: d.get(ihl..end).unwrap_or_default(),
        payload_len: (total - ihl) as u32,
        frag,
    })
}

/// Reads a 16-byte IPv6 address at `off`.
pub(crate) fn v6_addr(d: &[u8], off: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = d.get(off..off.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

/// Where IPv6 extension headers end: the transport protocol and its offset in `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExtEnd {
    /// The protocol after the last extension header walked.
    pub proto: u8,
    /// Offset of that protocol's header in `d`.
    pub off: usize,
    /// Fragment header found (and walking stopped there).
    pub frag: Option<FragInfo>,
}

/// Walks IPv6 extension headers starting with `next` at `d[off..]`. Stops at a
/// fragment header of a real fragment (its payload is not decodable yet), at
/// ESP, and at anything that is not an extension header. An atomic fragment
/// (offset 0, no more fragments; RFC 6946) is walked through.
pub(crate) fn walk_v6_ext(mut next: u8, d: &[u8], mut off: usize) -> Result<ExtEnd, &'static str> {
    // 32 extension headers is far more than any sender uses; the bound stops loops on garbage.
    for _ in 0..32 {
        match next {
            proto::HOPOPT | proto::ROUTING | proto::DSTOPTS => {
                let h = d
                    .get(off..off + 2)
                    .ok_or("ipv6: truncated extension header")?;
                next = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            proto::AH => {
                let h = d
                    .get(off..off + 2)
                    .ok_or("ipv6: truncated extension header")?;
                next = h[0];
                off += (usize::from(h[1]) + 2) * 4;
            }
            proto::FRAGMENT => {
                let h = d
                    .get(off..off + 8)
                    .ok_or("ipv6: truncated fragment header")?;
                let fo = be16(h, 2).unwrap_or(0);
                let info = FragInfo {
                    id: be32(h, 4).unwrap_or(0),
                    offset: u32::from(fo & 0xfff8),
                    more: fo & 1 == 1,
                };
                next = h[0];
                off += 8;
                if info.offset != 0 || info.more {
                    return Ok(ExtEnd {
                        proto: next,
                        off,
                        frag: Some(info),
                    });
                }
            }
            _ => {
                return Ok(ExtEnd {
                    proto: next,
                    off,
                    frag: None,
                });
            }
        }
    }
    Err("ipv6: too many extension headers")
}

/// Parses an IPv6 header and its extension headers.
pub(crate) fn parse_v6(d: &[u8]) -> Result<IpPacket<'_>, &'static str> {
    let hdr = d.get(..40).ok_or("ipv6: truncated header")?;
    if hdr[0] >> 4 != 6 {
        return Err("ipv6: bad version");
    }
    let mut plen = usize::from(be16(hdr, 4).unwrap_or(0));
    if plen == 0 && d.len() > 40 {
        // Jumbogram or segmentation offload: trust the captured length.
        plen = d.len() - 40;
    }
    let total = 40 + plen;
    let end = total.min(d.len());
    let bounded = d.get(..end).unwrap_or_default();
    let ext = walk_v6_ext(hdr[6], bounded, 40)?;
    if ext.off > total {
        return Err("ipv6: extension headers longer than payload");
    }
    let src = v6_addr(hdr, 8).ok_or("ipv6: truncated header")?;
    let dst = v6_addr(hdr, 24).ok_or("ipv6: truncated header")?;
    Ok(IpPacket {
        v6: true,
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        proto: ext.proto,
        ip_len: total as u32,
        hdr_len: ext.off as u32,
        payload: bounded.get(ext.off..).unwrap_or_default(),
        payload_len: (total - ext.off) as u32,
        frag: ext.frag,
    })
}
