//! Link layers: from a frame of some `LINKTYPE_*` to the IP packet it carries.
//!
//! Ethernet II and 802.1Q/802.1ad tags are read with etherparse's zero-copy
//! header slices; the headers etherparse does not know (SLL2, MPLS, PPPoE,
//! FabricPath, VN-Tag, BSD loopback, PPP) have small parsers here. All lengths
//! are checked with `get`, so no input can panic.

use crate::read::LinkType;
use etherparse::{EtherType, Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// An IP packet found inside a frame, with its version from the link layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net<'a> {
    /// IPv4 header and what follows.
    V4(&'a [u8]),
    /// IPv6 header and what follows.
    V6(&'a [u8]),
}

/// The result of link-layer decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkOut<'a> {
    /// The IP packet.
    pub l3: Net<'a>,
    /// First (outer) 802.1Q/802.1ad VLAN id.
    pub vlan: Option<u16>,
    /// Second (inner, QinQ) VLAN id.
    pub inner_vlan: Option<u16>,
}

/// Why a frame has no IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// The link type is not one flowaudit decodes.
    Unsupported,
    /// The frame is not IP or is malformed; `"layer: reason"`.
    Bad(&'static str),
}

/// EtherType values the decoder follows (etherparse's where it names them).
pub(crate) mod ethertype {
    use super::EtherType;
    /// IPv4.
    pub const IPV4: u16 = EtherType::IPV4.0;
    /// ARP.
    pub const ARP: u16 = EtherType::ARP.0;
    /// IPv6.
    pub const IPV6: u16 = EtherType::IPV6.0;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = EtherType::VLAN_TAGGED_FRAME.0;
    /// 802.1ad service tag (QinQ).
    pub const QINQ: u16 = EtherType::PROVIDER_BRIDGING.0;
    /// Pre-standard QinQ tag.
    pub const QINQ_OLD: u16 = EtherType::VLAN_DOUBLE_TAGGED_FRAME.0;
    /// MPLS unicast.
    pub const MPLS_UC: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLS_MC: u16 = 0x8848;
    /// PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// PPPoE discovery stage.
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    /// Cisco FabricPath.
    pub const FABRICPATH: u16 = 0x8903;
    /// Cisco VN-Tag.
    pub const VNTAG: u16 = 0x8926;
    /// IEEE 802.1ah Provider Backbone Bridging (MAC-in-MAC): the I-TAG.
    pub const PBB: u16 = 0x88E7;
    /// Transparent Ethernet bridging (GRE, Geneve payload type).
    pub const TEB: u16 = 0x6558;
}

/// Reads a big-endian u16 at `off`.
pub(crate) fn be16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian u32 at `off`.
pub(crate) fn be32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// IP by the version nibble of the first byte (RAW link types, MPLS, tunnels).
pub(crate) fn by_version<'a>(
    d: &'a [u8],
    layer_err: &'static str,
) -> Result<Net<'a>, &'static str> {
    match d.first().map(|b| b >> 4) {
        Some(4) => Ok(Net::V4(d)),
        Some(6) => Ok(Net::V6(d)),
        _ => Err(layer_err),
    }
}

/// A link layer without VLAN tags.
fn plain<'a>(r: Result<Net<'a>, &'static str>) -> Result<LinkOut<'a>, LinkError> {
    r.map(|l3| LinkOut {
        l3,
        vlan: None,
        inner_vlan: None,
    })
    .map_err(LinkError::Bad)
}

/// Decodes the link layer of one frame.
pub(crate) fn decode_link(link: LinkType, d: &[u8]) -> Result<LinkOut<'_>, LinkError> {
    match link.0 {
        1 => ethernet(d).map_err(LinkError::Bad),
        101 | 12 | 14 => plain(by_version(d, "raw: not IPv4 or IPv6")),
        228 => plain(match d.first().map(|b| b >> 4) {
            Some(4) => Ok(Net::V4(d)),
            _ => Err("ipv4: not an IPv4 packet"),
        }),
        229 => plain(match d.first().map(|b| b >> 4) {
            Some(6) => Ok(Net::V6(d)),
            _ => Err("ipv6: not an IPv6 packet"),
        }),
        0 => plain(null_loop(d, false)),
        108 => plain(null_loop(d, true)),
        9 => plain(ppp(d)),
        113 => {
            // Not etherparse's LinuxSllHeaderSlice: it rejects packet types and
            // ARPHRD/protocol pairs it does not know, Zeek only reads the protocol.
            // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let proto = be16(d, 14).ok_or(LinkError::Bad("sll: truncated header"))?;
            let rest = d.get(16..).unwrap_or_default();
            ethertype_chain(proto, rest, &mut Vlans::default()).map_err(LinkError::Bad)
        }
        276 => {
            // SLL2: protocol first, then reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes.
            let proto = be16(d, 0).ok_or(LinkError::Bad("sll2: truncated header"))?;
            let rest = d
                .get(20..)
                .ok_or(LinkError::Bad("sll2: truncated header"))?;
            ethertype_chain(proto, rest, &mut Vlans::default()).map_err(LinkError::Bad)
        }
        _ => Err(LinkError::Unsupported),
    }
}

/// BSD loopback: a 4-byte address family, host order for NULL (so either order
/// is accepted: the values do not collide), network order for LOOP.
fn null_loop(d: &[u8], loop_be: bool) -> Result<Net<'_>, &'static str> {
    let af = d.get(..4).ok_or("null: truncated header")?;
    let be = u32::from_be_bytes([af[0], af[1], af[2], af[3]]);
    let le = u32::from_le_bytes([af[0], af[1], af[2], af[3]]);
    let rest = d.get(4..).unwrap_or_default();
    let is = |v: &[u32]| v.contains(&be) || (!loop_be && v.contains(&le));
    // 24, 28, 30: AF_INET6 on NetBSD/OpenBSD, FreeBSD/DragonFly, Darwin.
    if is(&[2]) {
        Ok(Net::V4(rest))
    } else if is(&[24, 28, 30]) {
        Ok(Net::V6(rest))
    } else {
        Err("null: address family not IP")
    }
}

/// PPP (LINKTYPE_PPP): optional `ff 03` HDLC address/control, then the protocol.
fn ppp(d: &[u8]) -> Result<Net<'_>, &'static str> {
    let d = if d.starts_with(&[0xff, 0x03]) {
        d.get(2..).unwrap_or_default()
    } else {
        d
    };
    ppp_proto(d)
}

/// A PPP protocol field and its payload; accepts the 1-byte compressed form (RFC 1661 PFC).
pub(crate) fn ppp_proto(d: &[u8]) -> Result<Net<'_>, &'static str> {
    let first = *d.first().ok_or("ppp: truncated header")?;
    let (proto, rest) = if first & 1 == 1 {
        (u16::from(first), d.get(1..).unwrap_or_default())
    } else {
        (
            be16(d, 0).ok_or("ppp: truncated header")?,
            d.get(2..).unwrap_or_default(),
        )
    };
    match proto {
        0x0021 => Ok(Net::V4(rest)),
        0x0057 => Ok(Net::V6(rest)),
        _ => Err("ppp: not IP"),
    }
}

/// VLAN ids collected on the way through tags.
#[derive(Default)]
pub(crate) struct Vlans {
    /// Outer id.
    outer: Option<u16>,
    /// Inner id.
    inner: Option<u16>,
}

impl Vlans {
    /// Records one tag; only the first two count.
    fn push(&mut self, id: u16) {
        if self.outer.is_none() {
            self.outer = Some(id);
        } else if self.inner.is_none() {
            self.inner = Some(id);
        }
    }
}

/// Ethernet II (with FabricPath and every tag the ethertype chain knows).
pub(crate) fn ethernet(d: &[u8]) -> Result<LinkOut<'_>, &'static str> {
    let mut eth = Ethernet2HeaderSlice::from_slice(d).map_err(|_| "ethernet: truncated header")?;
    let mut rest = d.get(eth.slice().len()..).unwrap_or_default();
    if eth.ether_type().0 == ethertype::FABRICPATH {
        // 16-byte FabricPath header (outer DA, SA, 0x8903, FTag/TTL), then a whole inner Ethernet frame.
        let inner = d.get(16..).ok_or("fabricpath: truncated header")?;
        eth = Ethernet2HeaderSlice::from_slice(inner)
            .map_err(|_| "fabricpath: truncated inner ethernet")?;
        rest = inner.get(eth.slice().len()..).unwrap_or_default();
    }
    let etype = eth.ether_type().0;
    if etype < 0x0600 {
        return Err("ethernet: 802.3 length field, not IP");
    }
    let mut vlans = Vlans::default();
    ethertype_chain(etype, rest, &mut vlans)
}

/// What follows an EtherType outside an Ethernet header (an 802.11 frame's
/// LLC/SNAP header, a tunnel's protocol field), followed to IP.
pub(crate) fn after_ethertype(etype: u16, d: &[u8]) -> Result<LinkOut<'_>, &'static str> {
    ethertype_chain(etype, d, &mut Vlans::default())
}

/// Follows EtherTypes through VLAN tags, MPLS, PPPoE, VN-Tag and 802.1ah
/// PBB to IP.
fn ethertype_chain<'a>(
    mut etype: u16,
    mut d: &'a [u8],
    vlans: &mut Vlans,
) -> Result<LinkOut<'a>, &'static str> {
    // Each step consumes at least 4 bytes, so the loop ends; the bound is a guard against absurd stacks.
    for _ in 0..64 {
        match etype {
            ethertype::IPV4 | ethertype::IPV6 => {
                let l3 = if etype == ethertype::IPV4 {
                    Net::V4(d)
                } else {
                    Net::V6(d)
                };
                return Ok(LinkOut {
                    l3,
                    vlan: vlans.outer,
                    inner_vlan: vlans.inner,
                });
            }
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
                let tag =
                    SingleVlanHeaderSlice::from_slice(d).map_err(|_| "vlan: truncated tag")?;
                vlans.push(tag.vlan_identifier().value());
                etype = tag.ether_type().0;
                d = d.get(tag.slice().len()..).unwrap_or_default();
            }
            ethertype::PBB => {
                // The I-TAG (priority, flags, 24-bit service id), then the
                // customer's frame: destination and source MAC, EtherType.
                // Zeek calls a PBB header with nothing after it truncated.
                if d.len() <= 18 {
                    return Err("pbb: truncated header");
                }
                etype = be16(d, 16).ok_or("pbb: truncated header")?;
                d = d.get(18..).unwrap_or_default();
            }
            ethertype::VNTAG => {
                // 4 bytes of VN-Tag (direction, pointer, destination and source VIF), then the EtherType.
                etype = be16(d, 4).ok_or("vntag: truncated header")?;
                d = d.get(6..).unwrap_or_default();
            }
            ethertype::MPLS_UC | ethertype::MPLS_MC => {
                // Label stack entries: label 20 bits, TC 3, bottom-of-stack 1, TTL 8.
                loop {
                    let entry = d.get(..4).ok_or("mpls: truncated label stack")?;
                    d = d.get(4..).unwrap_or_default();
                    if entry[2] & 1 == 1 {
                        break;
                    }
                }
                let l3 = by_version(d, "mpls: payload not IPv4 or IPv6")?;
                return Ok(LinkOut {
                    l3,
                    vlan: vlans.outer,
                    inner_vlan: vlans.inner,
                });
            }
            ethertype::PPPOE_SESSION => {
                // Version/type, code, session id, length; then the PPP protocol.
                let payload = d.get(6..).ok_or("pppoe: truncated header")?;
                let l3 = ppp_proto(payload).map_err(|_| "pppoe: PPP protocol not IP")?;
                return Ok(LinkOut {
                    l3,
                    vlan: vlans.outer,
                    inner_vlan: vlans.inner,
                });
            }
            ethertype::ARP => return Err("ethernet: ARP"),
            ethertype::PPPOE_DISCOVERY => return Err("ethernet: PPPoE discovery"),
            _ => return Err("ethernet: EtherType not IP"),
        }
    }
    Err("ethernet: too many tags")
}
