//! Connection keys: which packets belong to the same connection.
//!
//! Like Zeek's default `fivetuple` key, a key is the transport plus the two
//! endpoints in a canonical order, so both directions of a flow find the same
//! entry. VLAN ids are not part of the key (Zeek's `vlan_fivetuple` key is
//! opt-in). ICMP uses Zeek's pseudo ports: the source "port" is the ICMP type,
//! the destination "port" the counterpart type for request/reply pairs (echo,
//! timestamp, router/neighbor discovery, ...) or the code for one-way messages,
//! whose keys keep their direction instead of being put in canonical order.

use crate::decode::{Packet, Transport};
use std::net::IpAddr;

/// An address as 16 bytes (IPv4 as an IPv4-mapped IPv6 address), cheap to hash and compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Addr(pub [u8; 16]);

impl Addr {
    /// Maps an [`IpAddr`] to its 16-byte form.
    pub(crate) fn from_ip(ip: IpAddr) -> Self {
        // Built as one 128-bit value and stored at once: byte-wise stores
        // followed by word loads (hashing, comparing) stall the CPU, and this
        // runs twice for every packet.
        let v = match ip {
            IpAddr::V4(v4) => 0xffff_u128 << 32 | u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        Addr(v.to_be_bytes())
    }

    /// The address as a number, ordered as the bytes are.
    fn value(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

/// One side of a connection: address and port (ICMP: pseudo port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EndpointId {
    /// Address.
    pub addr: Addr,
    /// Port, ICMP type or counterpart, 0 for other transports.
    pub port: u16,
}

/// The identity of a connection, independent of packet direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnKey {
    /// Side 0: the smaller endpoint (or the sender, for one-way ICMP).
    pub a: EndpointId,
    /// Side 1: the larger endpoint (or the receiver, for one-way ICMP).
    pub b: EndpointId,
    /// Transport protocol.
    pub proto: Transport,
}

/// A transport's number for hashing: its IP protocol number, offset by 256
/// for transports flowaudit does not analyse so that they never meet the others.
pub(crate) fn proto_code(t: Transport) -> u16 {
    match t {
        Transport::Tcp => 6,
        Transport::Udp => 17,
        Transport::Icmp => 1,
        Transport::Other(n) => 256 + u16::from(n),
    }
}

impl std::hash::Hash for ConnKey {
    /// Five words, where the derived impl would write each field (the
    /// addresses as length-prefixed byte slices).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let a = u128::from_ne_bytes(self.a.addr.0);
        let b = u128::from_ne_bytes(self.b.addr.0);
        let proto = u64::from(proto_code(self.proto));
        h.write_u64(a as u64);
        h.write_u64((a >> 64) as u64);
        h.write_u64(b as u64);
        h.write_u64((b >> 64) as u64);
        h.write_u64(u64::from(self.a.port) | u64::from(self.b.port) << 16 | proto << 32);
    }
}

impl ConnKey {
    /// Builds the key from a source and destination endpoint; `one_way` keys keep their order.
    pub(crate) fn new(proto: Transport, src: EndpointId, dst: EndpointId, one_way: bool) -> Self {
        // The same order as `src <= dst`, on numbers rather than byte arrays.
        if one_way || (src.addr.value(), src.port) <= (dst.addr.value(), dst.port) {
            ConnKey {
                a: src,
                b: dst,
                proto,
            }
        } else {
            ConnKey {
                a: dst,
                b: src,
                proto,
            }
        }
    }

    /// Which side (0 = `a`, 1 = `b`) sent a packet from `src`.
    pub(crate) fn side_of(&self, src: &EndpointId) -> usize {
        usize::from(*src != self.a)
    }
}

/// Zeek's pseudo destination port for ICMP: the counterpart type for
/// request/reply messages, otherwise the code (and the flow is one-way).
/// Returns `(port, one_way)`.
pub(crate) fn icmp_counterpart(v6: bool, icmp_type: u8, code: u8) -> (u16, bool) {
    let counterpart = if v6 {
        match icmp_type {
            128 => Some(129), // echo request / reply
            129 => Some(128),
            133 => Some(134), // router solicitation / advertisement
            134 => Some(133),
            135 => Some(136), // neighbor solicitation / advertisement
            136 => Some(135),
            130 => Some(131), // MLD query / report
            131 => Some(130),
            139 => Some(140), // node information query / response
            140 => Some(139),
            144 => Some(145), // home agent address discovery request / reply
            145 => Some(144),
            _ => None,
        }
    } else {
        match icmp_type {
            8 => Some(0), // echo / echo reply
            0 => Some(8),
            13 => Some(14), // timestamp / reply
            14 => Some(13),
            15 => Some(16), // information request / reply
            16 => Some(15),
            10 => Some(9), // router solicitation / advertisement
            9 => Some(10),
            17 => Some(18), // address mask request / reply
            18 => Some(17),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (c, false),
        None => (u16::from(code), true),
    }
}

/// The key of a packet and the endpoint that sent it.
pub(crate) fn packet_key(p: &Packet<'_>) -> (ConnKey, EndpointId) {
    let src_addr = Addr::from_ip(p.src);
    let dst_addr = Addr::from_ip(p.dst);
    let (sport, dport, one_way) = match p.transport {
        Transport::Tcp | Transport::Udp => (p.sport, p.dport, false),
        Transport::Icmp => {
            let (v6, t, c) = match p.icmp {
                Some(i) => (i.v6, i.icmp_type, i.code),
                // The decoder puts type and code in the ports.
                None => (p.src.is_ipv6(), p.sport as u8, p.dport as u8),
            };
            let (cp, one_way) = icmp_counterpart(v6, t, c);
            (u16::from(t), cp, one_way)
        }
        Transport::Other(_) => (0, 0, false),
    };
    let src = EndpointId {
        addr: src_addr,
        port: sport,
    };
    let dst = EndpointId {
        addr: dst_addr,
        port: dport,
    };
    (ConnKey::new(p.transport, src, dst, one_way), src)
}

/// Likely server ports for TCP: Zeek's `likely_server_ports`, which each
/// protocol script in `base/protocols` and `base/frameworks/tunnels` fills with
/// its `ports` constant (`redef likely_server_ports += { ports }`). Verified in
/// the Zeek scripts: SSL (443, 465, 563, 585, 614, 636, 989, 990, 992, 993, 995,
/// 5223), IRC (6666-6669), LDAP (389, 3268), Kerberos (88), DCE-RPC (135).
/// From the other base scripts: FTP 21, 2811; SSH 22; SMTP 25, 587; DNS 53;
/// HTTP 80, 81, 631, 1080, 3128, 8000, 8080, 8888; POP3 110; SMB 139, 445;
/// IMAP 143; Modbus 502; MQTT 1883; RDP 3389; XMPP 5222, 5269; PostgreSQL 5432;
/// Redis 6379; DNP3 20000.
pub(crate) fn likely_tcp_server_port(port: u16) -> bool {
    matches!(
        port,
        21 | 22
            | 25
            | 53
            | 80
            | 81
            | 88
            | 110
            | 135
            | 139
            | 143
            | 389
            | 443
            | 445
            | 465
            | 502
            | 563
            | 585
            | 587
            | 614
            | 631
            | 636
            | 989
            | 990
            | 992
            | 993
            | 995
            | 1080
            | 1883
            | 2811
            | 3128
            | 3268
            | 3389
            | 5222
            | 5223
            | 5269
            | 5432
            | 6379
            | 6666..=6669 | 8000 | 8080 | 8888 | 20000
    )
}

/// Likely server ports for UDP, from the same Zeek scripts: DNS 53, 137, 5353,
/// 5355; DHCP 67 (Zeek adds the server port only); Kerberos 88; NTP 123; SNMP 161,
/// 162; LDAP 389; DTLS 443; syslog 514; RADIUS 1812; SIP 5060; DNP3 20000; and the
/// tunnels framework's Teredo 3544, AYIYA 5072, GTPv1 2123 and 2152, VXLAN 4789,
/// Geneve 6081.
pub(crate) fn likely_udp_server_port(port: u16) -> bool {
    matches!(
        port,
        53 | 67
            | 88
            | 123
            | 137
            | 161
            | 162
            | 389
            | 443
            | 514
            | 1812
            | 2123
            | 2152
            | 3544
            | 4789
            | 5060
            | 5072
            | 5353
            | 5355
            | 6081
            | 20000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> EndpointId {
        EndpointId {
            addr: Addr::from_ip(IpAddr::from([10, 0, 0, last])),
            port,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        let k1 = ConnKey::new(Transport::Tcp, ep(1, 40000), ep(2, 443), false);
        let k2 = ConnKey::new(Transport::Tcp, ep(2, 443), ep(1, 40000), false);
        assert_eq!(k1, k2);
        assert_ne!(k1.side_of(&ep(1, 40000)), k1.side_of(&ep(2, 443)));
    }

    #[test]
    fn addresses_are_ipv4_mapped_and_ordered_as_bytes() {
        let v4 = Addr::from_ip(IpAddr::from([192, 0, 2, 7]));
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(v4, Addr::from_ip(mapped));
        assert_eq!(
            v4.0,
            std::net::Ipv4Addr::new(192, 0, 2, 7)
                .to_ipv6_mapped()
                .octets()
        );
        let addrs: Vec<Addr> = [
            "::1",
            "10.0.0.1",
            "10.0.0.2",
            "fd00::1",
            "2001:db8::ff",
            "255.1.1.1",
        ]
        .iter()
        .map(|a| Addr::from_ip(a.parse().unwrap_or_else(|_| unreachable!())))
        .collect();
        for a in &addrs {
            for b in &addrs {
                assert_eq!(a.value().cmp(&b.value()), a.0.cmp(&b.0));
            }
        }
    }

    #[test]
    fn one_way_icmp_keys_keep_direction() {
        let k1 = ConnKey::new(Transport::Icmp, ep(1, 3), ep(2, 3), true);
        let k2 = ConnKey::new(Transport::Icmp, ep(2, 3), ep(1, 3), true);
        assert_ne!(k1, k2);
    }

    #[test]
    fn echo_request_and_reply_are_counterparts() {
        // RFC 792: echo 8, echo reply 0; RFC 4443: 128 / 129.
        assert_eq!(icmp_counterpart(false, 8, 0), (0, false));
        assert_eq!(icmp_counterpart(false, 0, 0), (8, false));
        assert_eq!(icmp_counterpart(true, 128, 0), (129, false));
        // Destination unreachable, port unreachable: one-way, code as port.
        assert_eq!(icmp_counterpart(false, 3, 3), (3, true));
    }
}
