//! Link-layer framing around IP datagrams, and tunnels that wrap a datagram or
//! an Ethernet frame inside another IP datagram.
//!
//! Ethernet MAC addresses are derived from the IP addresses (`02:00` followed
//! by the last four address bytes), so each host keeps one MAC and frames
//! stay deterministic.

use super::packet::{Ip, proto, source_of, udp};
use crate::read::LinkType;
use std::net::{IpAddr, SocketAddr};

/// EtherType values used by the framers.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// 802.1Q VLAN tag (customer tag, inner tag of QinQ).
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88A8;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Cisco FabricPath.
    pub const FABRICPATH: u16 = 0x8903;
    /// Cisco VN-Tag.
    pub const VNTAG: u16 = 0x8926;
    /// IEEE 802.1ah I-TAG (Provider Backbone Bridging).
    pub const PBB: u16 = 0x88E7;
    /// Transparent Ethernet bridging (Ethernet inside GRE or Geneve).
    pub const TEB: u16 = 0x6558;
}

/// Well-known UDP ports of the UDP tunnels.
pub mod port {
    /// Teredo (RFC 4380).
    pub const TEREDO: u16 = 3544;
    /// VXLAN (RFC 7348).
    pub const VXLAN: u16 = 4789;
    /// GTP-U (3GPP TS 29.281).
    pub const GTP_U: u16 = 2152;
    /// Geneve (RFC 8926).
    pub const GENEVE: u16 = 6081;
}

/// The EtherType for an IP datagram, from its version nibble (IPv4 unless it says 6).
pub fn ip_ethertype(ip: &[u8]) -> u16 {
    if ip.first().is_some_and(|b| b >> 4 == 6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    }
}

/// True when `ip` is an IPv6 datagram.
fn is_v6(ip: &[u8]) -> bool {
    ip.first().is_some_and(|b| b >> 4 == 6)
}

/// The destination address of an IP datagram, if readable.
fn dest_of(d: &[u8]) -> Option<IpAddr> {
    match d.first()? >> 4 {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(d.get(16..20)?).ok()?)),
        6 => Some(IpAddr::from(<[u8; 16]>::try_from(d.get(24..40)?).ok()?)),
        _ => None,
    }
}

/// The synthetic MAC of a host: `02:00` (locally administered) then the address's last 4 bytes.
pub fn mac_of(addr: IpAddr) -> [u8; 6] {
    let tail: [u8; 4] = match addr {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    [0x02, 0x00, tail[0], tail[1], tail[2], tail[3]]
}

/// MACs (destination, source) for a datagram, zeros when its addresses are unreadable.
fn macs(ip: &[u8]) -> ([u8; 6], [u8; 6]) {
    let m = |a: Option<IpAddr>| a.map_or([0; 6], mac_of);
    (m(dest_of(ip)), m(source_of(ip)))
}

/// Appends an Ethernet II header: addresses, VLAN tags (outer first) and EtherType.
fn put_eth(buf: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], vlans: &[u16], ethertype: u16) {
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&src);
    for (i, v) in vlans.iter().enumerate() {
        let tpid = if i == 0 && vlans.len() > 1 {
            ethertype::QINQ
        } else {
            ethertype::VLAN
        };
        buf.extend_from_slice(&tpid.to_be_bytes());
        buf.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    buf.extend_from_slice(&ethertype.to_be_bytes());
}

/// An Ethernet II frame: addresses, VLAN tags (outer first), EtherType and payload.
///
/// One tag is 802.1Q (`0x8100`); with two or more, the outermost uses the
/// 802.1ad EtherType `0x88a8` and the rest `0x8100`, as QinQ switches send them.
/// Only the low 12 bits of each tag (the VLAN id) are used; priority stays 0.
pub fn ethernet_frame(
    dst: [u8; 6],
    src: [u8; 6],
    vlans: &[u16],
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    put_eth(&mut f, dst, src, vlans, ethertype);
    f.extend_from_slice(payload);
    f
}

/// An IP datagram in Ethernet, optionally VLAN-tagged (one tag: 802.1Q, two: QinQ).
pub fn ethernet(ip: &[u8], vlans: &[u16]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * vlans.len() + ip.len());
    put_eth_ip(&mut f, ip, vlans);
    f.extend_from_slice(ip);
    f
}

/// Appends the Ethernet header for `ip`, with MACs derived from its addresses.
fn put_eth_ip(buf: &mut Vec<u8>, ip: &[u8], vlans: &[u16]) {
    let (d, s) = macs(ip);
    put_eth(buf, d, s, vlans, ip_ethertype(ip));
}

/// Appends MPLS label stack entries: top first, bottom-of-stack bit on the last, TTL 64.
fn put_labels(buf: &mut Vec<u8>, labels: &[u32]) {
    for (i, l) in labels.iter().enumerate() {
        let bos = u32::from(i + 1 == labels.len());
        buf.extend_from_slice(&(((l & 0x000f_ffff) << 12) | (bos << 8) | 64).to_be_bytes());
    }
}

/// An MPLS label stack (top label first, bottom-of-stack bit on the last, TTL 64) followed by `ip`.
pub fn mpls(labels: &[u32], ip: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 * labels.len() + ip.len());
    put_labels(&mut b, labels);
    b.extend_from_slice(ip);
    b
}

/// The PPP protocol number for an IP datagram.
fn ppp_protocol(ip: &[u8]) -> u16 {
    if is_v6(ip) { 0x0057 } else { 0x0021 }
}

/// Appends a PPPoE session header and PPP protocol field for `ip`.
fn put_pppoe(buf: &mut Vec<u8>, session_id: u16, ip: &[u8]) {
    buf.extend_from_slice(&[0x11, 0x00]);
    buf.extend_from_slice(&session_id.to_be_bytes());
    // The PPPoE length covers the PPP protocol field and the datagram.
    buf.extend_from_slice(&((ip.len() + 2).min(0xffff) as u16).to_be_bytes());
    buf.extend_from_slice(&ppp_protocol(ip).to_be_bytes());
}

/// A PPPoE session header (RFC 2516) and PPP protocol field followed by `ip`.
pub fn pppoe_session(session_id: u16, ip: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + ip.len());
    put_pppoe(&mut b, session_id, ip);
    b.extend_from_slice(ip);
    b
}

/// Appends the 16-byte FabricPath outer header: switch MACs, `0x8903`, FTag 1 and TTL 32.
fn put_fabricpath(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0xfa, 0x02]);
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0xfa, 0x01]);
    buf.extend_from_slice(&ethertype::FABRICPATH.to_be_bytes());
    buf.extend_from_slice(&[0x00, 0x60]);
}

/// A Cisco FabricPath frame: a 16-byte outer header (switch MACs, `0x8903`, FTag/TTL) before `inner_frame`.
pub fn fabricpath(inner_frame: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + inner_frame.len());
    put_fabricpath(&mut b);
    b.extend_from_slice(inner_frame);
    b
}

/// Appends an Ethernet header with a VN-Tag (direction 0, destination VIF 1, source VIF 2) for `ip`.
fn put_vntag(buf: &mut Vec<u8>, ip: &[u8]) {
    let (d, s) = macs(ip);
    put_eth(buf, d, s, &[], ethertype::VNTAG);
    buf.extend_from_slice(&[0x00, 0x01, 0x00, 0x02]);
    buf.extend_from_slice(&ip_ethertype(ip).to_be_bytes());
}

/// An IP datagram behind a Cisco VN-Tag (`0x8926`, 4 tag bytes, then the IP EtherType).
pub fn ethernet_vntag(ip: &[u8]) -> Vec<u8> {
    frame_with(ip, |b| put_vntag(b, ip))
}

/// Appends an 802.1ah frame's headers for `ip`: backbone MACs, a B-TAG
/// (`0x88A8`, backbone VLAN `b_vid`), the I-TAG (`0x88E7`, service id
/// `0x012345`), then the customer's MACs and the IP EtherType.
fn put_pbb(buf: &mut Vec<u8>, b_vid: u16, ip: &[u8]) {
    let (d, s) = macs(ip);
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0xbb, 0x02]);
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0xbb, 0x01]);
    buf.extend_from_slice(&ethertype::QINQ.to_be_bytes());
    buf.extend_from_slice(&(b_vid & 0x0fff).to_be_bytes());
    buf.extend_from_slice(&ethertype::PBB.to_be_bytes());
    buf.extend_from_slice(&[0x00, 0x01, 0x23, 0x45]);
    buf.extend_from_slice(&d);
    buf.extend_from_slice(&s);
    buf.extend_from_slice(&ip_ethertype(ip).to_be_bytes());
}

/// Appends a Linux cooked v1 header (incoming, ARPHRD_ETHER, source MAC) for `ip`.
fn put_sll(buf: &mut Vec<u8>, ip: &[u8]) {
    let (_, s) = macs(ip);
    buf.extend_from_slice(&[0, 0, 0, 1, 0, 6]);
    buf.extend_from_slice(&s);
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&ip_ethertype(ip).to_be_bytes());
}

/// A Linux cooked capture v1 frame (16-byte header: incoming, ARPHRD_ETHER, source MAC).
pub fn sll(ip: &[u8]) -> Vec<u8> {
    frame_with(ip, |b| put_sll(b, ip))
}

/// Appends a Linux cooked v2 header (EtherType, ifindex 1, ARPHRD_ETHER, incoming, source MAC) for `ip`.
fn put_sll2(buf: &mut Vec<u8>, ip: &[u8]) {
    let (_, s) = macs(ip);
    buf.extend_from_slice(&ip_ethertype(ip).to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6]);
    buf.extend_from_slice(&s);
    buf.extend_from_slice(&[0, 0]);
}

/// A Linux cooked capture v2 frame (20-byte header: EtherType, ifindex 1, ARPHRD_ETHER, incoming, source MAC).
pub fn sll2(ip: &[u8]) -> Vec<u8> {
    frame_with(ip, |b| put_sll2(b, ip))
}

/// The BSD address family for a datagram: AF_INET 2, or 24 for IPv6 (NetBSD/OpenBSD).
fn bsd_family(ip: &[u8]) -> u32 {
    if is_v6(ip) { 24 } else { 2 }
}

/// Appends a 4-byte address family in the chosen byte order.
fn put_family(buf: &mut Vec<u8>, family: u32, big_endian: bool) {
    buf.extend_from_slice(&if big_endian {
        family.to_be_bytes()
    } else {
        family.to_le_bytes()
    });
}

/// A BSD loopback (`LINKTYPE_NULL`) frame with an explicit address family, in the capturing host's byte order.
pub fn null_with_family(family: u32, big_endian: bool, ip: &[u8]) -> Vec<u8> {
    frame_with(ip, |b| put_family(b, family, big_endian))
}

/// A BSD loopback (`LINKTYPE_NULL`) frame: AF_INET 2, or 24 for IPv6 (NetBSD/OpenBSD; FreeBSD uses 28, macOS 30).
pub fn null(ip: &[u8], big_endian: bool) -> Vec<u8> {
    null_with_family(bsd_family(ip), big_endian, ip)
}

/// An OpenBSD loopback (`LINKTYPE_LOOP`) frame: the address family in network byte order (2 or 24).
pub fn loopback(ip: &[u8]) -> Vec<u8> {
    null(ip, true)
}

/// Appends a PPP header for `ip`, after `ff 03` when `hdlc`.
fn put_ppp(buf: &mut Vec<u8>, ip: &[u8], hdlc: bool) {
    if hdlc {
        buf.extend_from_slice(&[0xff, 0x03]);
    }
    buf.extend_from_slice(&ppp_protocol(ip).to_be_bytes());
}

/// A `LINKTYPE_PPP` frame: protocol 0x0021/0x0057, after `ff 03` when `hdlc` (RFC 1662 framing).
pub fn ppp(ip: &[u8], hdlc: bool) -> Vec<u8> {
    frame_with(ip, |b| put_ppp(b, ip, hdlc))
}

/// How an [`Link::Ieee80211`] frame is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wifi {
    /// A radiotap header (8 bytes, no fields) in front: link type 127, else 105.
    pub radiotap: bool,
    /// A QoS data frame (QoS control after the addresses), else plain data.
    pub qos: bool,
    /// The To DS (1) and From DS (2) bits; both (3) add the fourth address.
    pub ds: u8,
}

/// Appends an 802.11 data frame's headers for `ip`: radiotap if asked, the
/// MAC header for the DS bits and QoS, then LLC/SNAP and the EtherType.
fn put_wifi(buf: &mut Vec<u8>, w: Wifi, ip: &[u8]) {
    if w.radiotap {
        buf.extend_from_slice(&[0, 0, 8, 0, 0, 0, 0, 0]);
    }
    let (d, s) = macs(ip);
    buf.push(if w.qos { 0x88 } else { 0x08 });
    buf.push(w.ds & 0x03);
    buf.extend_from_slice(&[0, 0]); // duration
    buf.extend_from_slice(&d);
    buf.extend_from_slice(&s);
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // BSSID
    buf.extend_from_slice(&[0, 0]); // sequence control
    if w.ds & 0x03 == 0x03 {
        buf.extend_from_slice(&s);
    }
    if w.qos {
        buf.extend_from_slice(&[0, 0]);
    }
    buf.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0]);
    buf.extend_from_slice(&ip_ethertype(ip).to_be_bytes());
}

/// A new frame: the header `put` appends, then `ip`.
fn frame_with(ip: &[u8], put: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + ip.len());
    put(&mut b);
    b.extend_from_slice(ip);
    b
}

/// How a [`Trace`](super::Trace) frames each IP datagram; also names the capture's link type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet, with VLAN ids (outer first; empty for untagged).
    Ethernet(Vec<u16>),
    /// Ethernet with an MPLS label stack (top first).
    Mpls(Vec<u32>),
    /// Ethernet carrying a PPPoE session with this id.
    Pppoe(u16),
    /// Cisco FabricPath around an Ethernet frame.
    FabricPath,
    /// Ethernet with a Cisco VN-Tag.
    VnTag,
    /// IEEE 802.1ah (MAC-in-MAC) on this backbone VLAN, one service.
    Pbb(u16),
    /// Linux cooked capture v1.
    Sll,
    /// Linux cooked capture v2.
    Sll2,
    /// BSD loopback; `true` writes the address family big-endian.
    Null(bool),
    /// OpenBSD loopback.
    Loop,
    /// `LINKTYPE_RAW` (101): the bare datagram.
    Raw,
    /// `LINKTYPE_IPV4` (228): the bare datagram.
    Ipv4,
    /// `LINKTYPE_IPV6` (229): the bare datagram.
    Ipv6,
    /// PPP; `true` adds the HDLC address and control bytes.
    Ppp(bool),
    /// An IEEE 802.11 data frame (link type 105, or 127 with radiotap).
    Ieee80211(Wifi),
}

impl Link {
    /// Untagged Ethernet, the common case.
    pub fn ethernet() -> Link {
        Link::Ethernet(Vec::new())
    }

    /// The `LINKTYPE_*` value a capture of these frames declares.
    pub fn link_type(&self) -> LinkType {
        match self {
            Link::Ethernet(_)
            | Link::Mpls(_)
            | Link::Pppoe(_)
            | Link::FabricPath
            | Link::VnTag
            | Link::Pbb(_) => LinkType::ETHERNET,
            Link::Sll => LinkType::LINUX_SLL,
            Link::Sll2 => LinkType::LINUX_SLL2,
            Link::Null(_) => LinkType::NULL,
            Link::Loop => LinkType::LOOP,
            Link::Raw => LinkType::RAW,
            Link::Ipv4 => LinkType::IPV4,
            Link::Ipv6 => LinkType::IPV6,
            Link::Ppp(_) => LinkType::PPP,
            Link::Ieee80211(w) if w.radiotap => LinkType::IEEE802_11_RADIOTAP,
            Link::Ieee80211(_) => LinkType::IEEE802_11,
        }
    }

    /// Appends one framed IP datagram to `buf` (no allocation when `buf` has room), for generators.
    pub fn write_frame(&self, buf: &mut Vec<u8>, ip: &[u8]) {
        match self {
            Link::Ethernet(v) => put_eth_ip(buf, ip, v),
            Link::Mpls(labels) => {
                let (d, s) = macs(ip);
                put_eth(buf, d, s, &[], ethertype::MPLS);
                put_labels(buf, labels);
            }
            Link::Pppoe(id) => {
                let (d, s) = macs(ip);
                put_eth(buf, d, s, &[], ethertype::PPPOE_SESSION);
                put_pppoe(buf, *id, ip);
            }
            Link::FabricPath => {
                put_fabricpath(buf);
                put_eth_ip(buf, ip, &[]);
            }
            Link::VnTag => put_vntag(buf, ip),
            Link::Pbb(vid) => put_pbb(buf, *vid, ip),
            Link::Sll => put_sll(buf, ip),
            Link::Sll2 => put_sll2(buf, ip),
            Link::Null(big) => put_family(buf, bsd_family(ip), *big),
            Link::Loop => put_family(buf, bsd_family(ip), true),
            Link::Raw | Link::Ipv4 | Link::Ipv6 => {}
            Link::Ppp(hdlc) => put_ppp(buf, ip, *hdlc),
            Link::Ieee80211(w) => put_wifi(buf, *w, ip),
        }
        buf.extend_from_slice(ip);
    }

    /// Frames one IP datagram.
    pub fn frame(&self, ip: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(40 + ip.len());
        self.write_frame(&mut b, ip);
        b
    }
}

/// A GRE (version 0, no options) datagram from `src` to `dst` carrying `inner` as `protocol`
/// (an EtherType: [`ethertype::IPV4`], [`ethertype::IPV6`], or [`ethertype::TEB`] for an Ethernet frame).
pub fn gre(src: IpAddr, dst: IpAddr, protocol: u16, inner: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + inner.len());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&protocol.to_be_bytes());
    p.extend_from_slice(inner);
    Ip::default().datagram(src, dst, proto::GRE, &p)
}

/// GRE in UDP (RFC 8086): a GRE header (version 0, no options) carrying
/// `inner` as `protocol`, over UDP (use port 4754 on one side).
pub fn gre_udp(src: SocketAddr, dst: SocketAddr, protocol: u16, inner: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + inner.len());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&protocol.to_be_bytes());
    p.extend_from_slice(inner);
    udp(src, dst, &p)
}

/// An AYIYA packet over UDP (use port 5072 on one side): a 16-byte identity
/// (nibble 4), a 20-byte SHA-1 signature (5 words, hash 2), shared-secret
/// authentication and the forward operation (`0x11`), next header 4 or 41,
/// a zero epoch, then the IP datagram `inner`.
pub fn ayiya(src: SocketAddr, dst: SocketAddr, inner: &[u8]) -> Vec<u8> {
    let next = if is_v6(inner) {
        proto::IPV6
    } else {
        proto::IPV4
    };
    let mut p = Vec::with_capacity(8 + 16 + 20 + inner.len());
    p.extend_from_slice(&[0x41, 0x52, 0x11, next, 0, 0, 0, 0]);
    p.extend_from_slice(&[0xa5; 16]);
    p.extend_from_slice(&[0x5a; 20]);
    p.extend_from_slice(inner);
    udp(src, dst, &p)
}

/// An IP-in-IP datagram: protocol 4 for an IPv4 `inner`, 41 for IPv6 (6in4, 4in6, ...).
pub fn ip_in_ip(src: IpAddr, dst: IpAddr, inner: &[u8]) -> Vec<u8> {
    let p = if is_v6(inner) {
        proto::IPV6
    } else {
        proto::IPV4
    };
    Ip::default().datagram(src, dst, p, inner)
}

/// A Teredo packet: the IPv6 datagram `inner6` as the payload of a UDP datagram (use port 3544 on one side).
pub fn teredo(src: SocketAddr, dst: SocketAddr, inner6: &[u8]) -> Vec<u8> {
    udp(src, dst, inner6)
}

/// A VXLAN packet (RFC 7348: flags 0x08, 24-bit `vni`) carrying `inner_frame` over UDP.
pub fn vxlan(src: SocketAddr, dst: SocketAddr, vni: u32, inner_frame: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + inner_frame.len());
    p.extend_from_slice(&[0x08, 0, 0, 0]);
    p.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
    p.extend_from_slice(inner_frame);
    udp(src, dst, &p)
}

/// A GTPv1-U G-PDU (flags 0x30, type 0xff, tunnel id `teid`) carrying the IP datagram `inner` over UDP.
pub fn gtp_u(src: SocketAddr, dst: SocketAddr, teid: u32, inner: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + inner.len());
    p.extend_from_slice(&[0x30, 0xff]);
    p.extend_from_slice(&(inner.len().min(0xffff) as u16).to_be_bytes());
    p.extend_from_slice(&teid.to_be_bytes());
    p.extend_from_slice(inner);
    udp(src, dst, &p)
}

/// A Geneve packet (RFC 8926: version 0, no options, protocol 0x6558, 24-bit `vni`) carrying `inner_frame`.
pub fn geneve(src: SocketAddr, dst: SocketAddr, vni: u32, inner_frame: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + inner_frame.len());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ethertype::TEB.to_be_bytes());
    p.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
    p.extend_from_slice(inner_frame);
    udp(src, dst, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::packet::tcp;
    use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice, UdpHeader, VlanSlice};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn syn4() -> Vec<u8> {
        tcp(
            sa("10.0.0.1:50000"),
            sa("10.0.0.2:445"),
            0x02,
            1,
            0,
            1000,
            &[],
        )
    }

    fn syn6() -> Vec<u8> {
        tcp(
            sa("[2001:db8::1]:50000"),
            sa("[2001:db8::2]:445"),
            0x02,
            1,
            0,
            1000,
            &[],
        )
    }

    /// The TCP destination port etherparse finds in a parsed packet.
    fn tcp_dport(p: &SlicedPacket<'_>) -> u16 {
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => t.destination_port(),
            _ => panic!("no tcp"),
        }
    }

    #[test]
    fn ethernet_untagged_vlan_and_qinq() {
        let ip = syn4();
        let f = ethernet(&ip, &[]);
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(LinkSlice::Ethernet2(e)) = &p.link else {
            panic!()
        };
        assert_eq!(e.source(), [2, 0, 10, 0, 0, 1]);
        assert_eq!(e.destination(), [2, 0, 10, 0, 0, 2]);
        assert_eq!(tcp_dport(&p), 445);

        let f = ethernet(&syn6(), &[42]);
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(VlanSlice::SingleVlan(v)) = p.vlan() else {
            panic!("no vlan")
        };
        assert_eq!(v.vlan_identifier().value(), 42);
        assert!(matches!(p.net, Some(NetSlice::Ipv6(_))));
        assert_eq!(tcp_dport(&p), 445);

        let f = ethernet(&ip, &[100, 200]);
        assert_eq!(&f[12..14], &[0x88, 0xa8]);
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(VlanSlice::DoubleVlan(d)) = p.vlan() else {
            panic!("no qinq")
        };
        assert_eq!(d.outer.vlan_identifier().value(), 100);
        assert_eq!(d.inner.vlan_identifier().value(), 200);
        assert_eq!(tcp_dport(&p), 445);
    }

    #[test]
    fn mpls_and_pppoe_and_vntag_and_fabricpath_layouts() {
        let ip = syn4();
        // MPLS: two labels, only the second has the bottom-of-stack bit (RFC 3032 layout).
        let f = Link::Mpls(vec![16, 1000]).frame(&ip);
        assert_eq!(&f[12..14], &[0x88, 0x47]);
        let e0 = u32::from_be_bytes(f[14..18].try_into().unwrap());
        let e1 = u32::from_be_bytes(f[18..22].try_into().unwrap());
        assert_eq!((e0 >> 12, (e0 >> 8) & 1, e0 & 0xff), (16, 0, 64));
        assert_eq!((e1 >> 12, (e1 >> 8) & 1), (1000, 1));
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&f[22..]).unwrap()), 445);

        // PPPoE session: ver/type 0x11, code 0, session id, length = PPP protocol + datagram.
        let f = Link::Pppoe(0x1234).frame(&ip);
        assert_eq!(&f[12..14], &[0x88, 0x64]);
        assert_eq!(&f[14..18], &[0x11, 0x00, 0x12, 0x34]);
        assert_eq!(
            usize::from(u16::from_be_bytes([f[18], f[19]])),
            ip.len() + 2
        );
        assert_eq!(&f[20..22], &[0x00, 0x21]);
        assert_eq!(&f[22..], &ip[..]);

        // VN-Tag: 0x8926, 4 tag bytes, then the real EtherType.
        let f = Link::VnTag.frame(&syn6());
        assert_eq!(&f[12..14], &[0x89, 0x26]);
        assert_eq!(&f[18..20], &[0x86, 0xdd]);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&f[20..]).unwrap()), 445);

        // FabricPath: 16-byte outer header, then a complete Ethernet frame (what Zeek skips).
        let f = Link::FabricPath.frame(&ip);
        assert_eq!(&f[12..14], &[0x89, 0x03]);
        let p = SlicedPacket::from_ethernet(&f[16..]).unwrap();
        assert_eq!(tcp_dport(&p), 445);
    }

    #[test]
    fn cooked_loopback_ppp_and_raw_headers() {
        let ip = syn4();
        let f = sll(&ip);
        let p = SlicedPacket::from_linux_sll(&f).unwrap();
        assert_eq!(tcp_dport(&p), 445);

        // SLL2 (tcpdump's linktype doc): protocol first, then reserved, ifindex, ARPHRD, pkttype, halen, addr.
        let f = sll2(&syn6());
        assert_eq!(f.len(), 20 + syn6().len());
        assert_eq!(&f[0..2], &[0x86, 0xdd]);
        assert_eq!(u16::from_be_bytes([f[8], f[9]]), 1);
        assert_eq!(f[11], 6);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&f[20..]).unwrap()), 445);

        assert_eq!(&null(&ip, false)[..4], &2u32.to_le_bytes());
        assert_eq!(&null(&syn6(), true)[..4], &24u32.to_be_bytes());
        assert_eq!(&loopback(&ip)[..4], &[0, 0, 0, 2]);
        assert_eq!(&ppp(&syn6(), true)[..4], &[0xff, 0x03, 0x00, 0x57]);
        assert_eq!(&ppp(&ip, false)[..2], &[0x00, 0x21]);
        assert_eq!(Link::Raw.frame(&ip), ip);
        for (l, n) in [
            (Link::ethernet(), 1),
            (Link::Sll, 113),
            (Link::Sll2, 276),
            (Link::Null(false), 0),
            (Link::Loop, 108),
            (Link::Raw, 101),
            (Link::Ipv4, 228),
            (Link::Ipv6, 229),
            (Link::Ppp(false), 9),
            (Link::FabricPath, 1),
        ] {
            assert_eq!(l.link_type().0, n, "{l:?}");
        }
    }

    #[test]
    fn tunnels_parse_as_outer_then_inner() {
        let inner = syn4();
        let outer_a: IpAddr = "192.0.2.1".parse().unwrap();
        let outer_b: IpAddr = "192.0.2.2".parse().unwrap();

        let g = gre(outer_a, outer_b, ethertype::IPV4, &inner);
        let p = SlicedPacket::from_ip(&g).unwrap();
        let Some(NetSlice::Ipv4(v4)) = &p.net else {
            panic!()
        };
        assert_eq!(v4.header().protocol().0, 47);
        let gp = v4.payload().payload;
        assert_eq!(&gp[..4], &[0, 0, 0x08, 0x00]);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&gp[4..]).unwrap()), 445);

        let eth = ethernet(&syn6(), &[]);
        let g = gre(outer_a, outer_b, ethertype::TEB, &eth);
        let gp = &g[20..];
        assert_eq!(&gp[2..4], &[0x65, 0x58]);
        assert_eq!(
            tcp_dport(&SlicedPacket::from_ethernet(&gp[4..]).unwrap()),
            445
        );

        let t = ip_in_ip(outer_a, outer_b, &inner);
        assert_eq!(t[9], 4);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&t[20..]).unwrap()), 445);
        let t = ip_in_ip(outer_a, outer_b, &syn6());
        assert_eq!(t[9], 41);

        let udp_payload = |d: &[u8]| -> (UdpHeader, Vec<u8>) {
            let p = SlicedPacket::from_ip(d).unwrap();
            let Some(TransportSlice::Udp(u)) = p.transport else {
                panic!("no udp")
            };
            (u.to_header(), u.payload().to_vec())
        };

        let t = teredo(sa("192.0.2.1:3544"), sa("192.0.2.2:50000"), &syn6());
        let (h, pl) = udp_payload(&t);
        assert_eq!(h.source_port, port::TEREDO);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&pl).unwrap()), 445);

        let v = vxlan(sa("192.0.2.1:40000"), sa("192.0.2.2:4789"), 0xabcdef, &eth);
        let (h, pl) = udp_payload(&v);
        assert_eq!(h.destination_port, port::VXLAN);
        assert_eq!(&pl[..8], &[0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
        assert_eq!(
            tcp_dport(&SlicedPacket::from_ethernet(&pl[8..]).unwrap()),
            445
        );

        let g = gtp_u(
            sa("192.0.2.1:2152"),
            sa("192.0.2.2:2152"),
            0xdeadbeef,
            &inner,
        );
        let (_, pl) = udp_payload(&g);
        assert_eq!(&pl[..2], &[0x30, 0xff]);
        assert_eq!(usize::from(u16::from_be_bytes([pl[2], pl[3]])), inner.len());
        assert_eq!(&pl[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(tcp_dport(&SlicedPacket::from_ip(&pl[8..]).unwrap()), 445);

        let g = geneve(sa("192.0.2.1:40000"), sa("192.0.2.2:6081"), 7, &eth);
        let (_, pl) = udp_payload(&g);
        assert_eq!(&pl[..8], &[0, 0, 0x65, 0x58, 0, 0, 7, 0]);
        assert_eq!(
            tcp_dport(&SlicedPacket::from_ethernet(&pl[8..]).unwrap()),
            445
        );
    }

    #[test]
    fn garbage_datagrams_frame_without_panicking() {
        for junk in [&[][..], &[0x45][..], &[0x60, 1, 2][..], &[0xff; 3][..]] {
            for l in [
                Link::ethernet(),
                Link::Sll,
                Link::Sll2,
                Link::VnTag,
                Link::Pppoe(1),
                Link::Mpls(vec![]),
            ] {
                let f = l.frame(junk);
                assert!(f.ends_with(junk));
            }
        }
    }
}
