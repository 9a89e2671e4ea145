//! IPv4 and IPv6 headers (zero-copy, etherparse's header slices): addresses,
//! protocol, lengths and fragmentation, walking IPv6 extension headers.
//!
//! Only the header slices are used, never etherparse's whole-packet parsers:
//! those reject what Zeek keeps (a zero IPv4 total length from segmentation
//! offload, a datagram cut by the snaplen), so lengths are worked out here.

use etherparse::err::{ipv4, ipv6};
use etherparse::{IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice};
use std::net::IpAddr;

/// IP protocol numbers the decoder treats specially (values from etherparse).
pub(crate) mod proto {
    use super::IpNumber;
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = IpNumber::IPV6_HEADER_HOP_BY_HOP.0;
    /// ICMPv4.
    pub const ICMP: u8 = IpNumber::ICMP.0;
    /// IPv4 in IP.
    pub const IPIP: u8 = IpNumber::IPV4.0;
    /// TCP.
    pub const TCP: u8 = IpNumber::TCP.0;
    /// UDP.
    pub const UDP: u8 = IpNumber::UDP.0;
    /// IPv6 in IP.
    pub const IPV6: u8 = IpNumber::IPV6.0;
    /// IPv6 routing header.
    pub const ROUTING: u8 = IpNumber::IPV6_ROUTE_HEADER.0;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = IpNumber::IPV6_FRAGMENTATION_HEADER.0;
    /// GRE.
    pub const GRE: u8 = IpNumber::GRE.0;
    /// Authentication header.
    pub const AH: u8 = IpNumber::AUTHENTICATION_HEADER.0;
    /// ICMPv6.
    pub const ICMPV6: u8 = IpNumber::IPV6_ICMP.0;
    /// IPv6 "no next header".
    pub const NONE: u8 = IpNumber::IPV6_NO_NEXT_HEADER.0;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = IpNumber::IPV6_DESTINATION_OPTIONS.0;
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
    /// The frames a reassembled datagram came in; 0 for one frame's.
    pub fragments: u16,
}

/// Parses an IPv4 header. Options are skipped; the checksum is not verified
/// (captures taken on the sender often have offloaded, wrong checksums).
pub(crate) fn parse_v4(d: &[u8]) -> Result<IpPacket<'_>, &'static str> {
    let hdr = Ipv4HeaderSlice::from_slice(d).map_err(|e| v4_error(d, &e))?;
    let ihl = hdr.slice().len();
    let mut total = usize::from(hdr.total_len());
    if total == 0 {
        // TCP segmentation offload leaves 0 here (Zeek uses the captured length too).
        total = d.len();
    }
    if total < ihl {
        return Err("ipv4: total length shorter than header");
    }
    let frag = hdr.is_fragmenting_payload().then(|| FragInfo {
        id: u32::from(hdr.identification()),
        offset: u32::from(hdr.fragments_offset().value()) * 8,
        more: hdr.more_fragments(),
    });
    let end = total.min(d.len());
    Ok(IpPacket {
        v6: false,
        src: IpAddr::V4(hdr.source_addr()),
        dst: IpAddr::V4(hdr.destination_addr()),
        proto: hdr.protocol().0,
        ip_len: total as u32,
        hdr_len: ihl as u32,
        payload: d.get(ihl..end).unwrap_or_default(),
        payload_len: (total - ihl) as u32,
        frag,
        fragments: 0,
    })
}

/// Names an IPv4 header error. etherparse checks the 20-byte minimum before
/// version and IHL; a short slice with a wrong version or IHL is still named
/// for those, from its first byte.
fn v4_error(d: &[u8], e: &ipv4::HeaderSliceError) -> &'static str {
    use ipv4::{HeaderError, HeaderSliceError};
    match e {
        HeaderSliceError::Content(HeaderError::UnexpectedVersion { .. }) => "ipv4: bad version",
        HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { .. }) => {
            "ipv4: bad header length"
        }
        HeaderSliceError::Len(_) => match d.first() {
            Some(b) if b >> 4 != 4 => "ipv4: bad version",
            Some(b) if b & 0x0f < 5 => "ipv4: bad header length",
            _ => "ipv4: truncated header",
        },
    }
}

/// Parses an IPv6 header (only its fixed 40 bytes; extension headers are walked separately).
pub(crate) fn v6_header(d: &[u8]) -> Result<Ipv6HeaderSlice<'_>, &'static str> {
    Ipv6HeaderSlice::from_slice(d).map_err(|e| match e {
        ipv6::HeaderSliceError::Len(_) => "ipv6: truncated header",
        ipv6::HeaderSliceError::Content(_) => "ipv6: bad version",
    })
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
///
/// Not etherparse's `Ipv6ExtensionsSlice`: it walks on past the fragment header
/// of a real fragment (into payload bytes), refuses hop-by-hop options after the
/// first header and an AH of length 0, and drops a header the snaplen cut short,
/// where the decoder still takes its next-header field.
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
                    .get(off..)
                    .and_then(|h| Ipv6FragmentHeaderSlice::from_slice(h).ok())
                    .ok_or("ipv6: truncated fragment header")?;
                let info = FragInfo {
                    id: h.identification(),
                    offset: u32::from(h.fragment_offset().value()) * 8,
                    more: h.more_fragments(),
                };
                next = h.next_header().0;
                off += h.slice().len();
                if h.is_fragmenting_payload() {
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
    let hdr = v6_header(d)?;
    let mut plen = usize::from(hdr.payload_length());
    if plen == 0 && d.len() > 40 {
        // Jumbogram or segmentation offload: trust the captured length.
        plen = d.len() - 40;
    }
    let total = 40 + plen;
    let end = total.min(d.len());
    let bounded = d.get(..end).unwrap_or_default();
    let ext = walk_v6_ext(hdr.next_header().0, bounded, 40)?;
    if ext.off > total {
        return Err("ipv6: extension headers longer than payload");
    }
    Ok(IpPacket {
        v6: true,
        src: IpAddr::V6(hdr.source_addr()),
        dst: IpAddr::V6(hdr.destination_addr()),
        proto: ext.proto,
        ip_len: total as u32,
        hdr_len: ext.off as u32,
        payload: bounded.get(ext.off..).unwrap_or_default(),
        payload_len: (total - ext.off) as u32,
        frag: ext.frag,
        fragments: 0,
    })
}
