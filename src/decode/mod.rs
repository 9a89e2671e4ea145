//! Decoding frames into transport-layer packets.
//!
//! One [`Record`](crate::read::Record) gives zero or more [`Packet`]s: zero when
//! it is not decodable (counted per layer in [`DecodeStats`]) or is an IP
//! fragment still waiting for the rest, several when it carries a tunnel (the
//! outer UDP/GRE packet and the inner one are both tracked, as Zeek does).

use crate::time::Timestamp;
use std::net::IpAddr;

/// Transport protocol of a packet, as Zeek's `proto` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// ICMPv4 (1) or ICMPv6 (58).
    Icmp,
    /// Any other IP protocol (Zeek: `unknown_transport`); the number is kept.
    Other(u8),
}

/// TCP flag bits as they appear in the header's flags byte.
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
}

/// The TCP header fields connection tracking needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// Flag bits, see [`tcp_flags`].
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful only with ACK).
    pub ack: u32,
    /// Advertised receive window (unscaled).
    pub window: u16,
}

/// The transport header an ICMP error quotes: the packet that provoked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Transport of the quoted packet.
    pub transport: Transport,
    /// Source address of the quoted packet (the original sender).
    pub src: IpAddr,
    /// Destination address of the quoted packet.
    pub dst: IpAddr,
    /// Source port of the quoted packet (0 when not TCP/UDP or not captured).
    pub sport: u16,
    /// Destination port of the quoted packet (0 when not TCP/UDP or not captured).
    pub dport: u16,
}

/// ICMP header fields, and for error messages the header they quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpInfo {
    /// True for ICMPv6.
    pub v6: bool,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// For destination unreachable, time exceeded, packet too big, parameter
    /// problem: the quoted packet's header; `None` for informational messages or
    /// when the quote is cut short.
    pub quoted: Option<Quoted>,
}

/// One transport-layer packet, ready for connection tracking.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture time (of the last fragment, for reassembled datagrams).
    pub ts: Timestamp,
    /// 1-based packet number in its file (of the last fragment when reassembled).
    pub number: u64,
    /// Transport protocol.
    pub transport: Transport,
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// Source port (TCP/UDP), ICMP type for ICMP, 0 otherwise.
    pub sport: u16,
    /// Destination port (TCP/UDP), ICMP code for ICMP, 0 otherwise.
    pub dport: u16,
    /// IP datagram length from the IP header (header + payload), as Zeek's `ip_bytes` counts.
    pub ip_len: u32,
    /// Transport payload length according to the headers (not limited by snaplen).
    pub payload_len: u32,
    /// The captured transport payload bytes (may be shorter than `payload_len`).
    pub payload: &'a [u8],
    /// TCP header fields, for TCP.
    pub tcp: Option<TcpInfo>,
    /// ICMP header fields, for ICMP.
    pub icmp: Option<IcmpInfo>,
    /// Outer 802.1Q VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Inner VLAN id of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// How many tunnel layers enclose this packet (0 for the outermost IP packet).
    pub tunnel_depth: u8,
}
