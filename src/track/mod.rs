//! Connection tracking: [`Packet`](crate::decode::Packet)s into [`Connection`]s with
//! Zeek's `conn.log` semantics (`conn_state`, `history`, counters), plus
//! flowaudit's own handshake verdict.
//!
//! Only connections that are still open are held in memory; a connection that
//! times out, is replaced by port reuse, or is still open at the end of the trace
//! is handed to the caller's sink and forgotten.

use crate::decode::Transport;
use crate::time::{Duration, Timestamp};
use serde::Serialize;
use std::net::IpAddr;

/// flowaudit's verdict on how a connection's handshake went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handshake {
    /// TCP: SYN, SYN-ACK and ACK (or data) seen.
    Established,
    /// TCP: the SYN was answered by RST.
    Rejected,
    /// TCP: SYN (and retransmissions) never answered; UDP: no reply.
    Unanswered,
    /// An ICMP error (unreachable, prohibited, time exceeded) came back.
    IcmpUnreachable,
    /// TCP: the capture starts after the handshake.
    Midstream,
    /// TCP: SYN-ACK seen, then closed or reset before the originator completed the handshake.
    ClosedEarly,
    /// UDP: the responder replied.
    Answered,
    /// Not TCP or UDP: no handshake to judge.
    None,
}

/// The ICMP error attributed to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    /// ICMP type (3 unreachable, 11 time exceeded, ... ; ICMPv6: 1, 2, 3, 4).
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// ICMP code (e.g. 13: communication administratively prohibited).
    pub code: u8,
    /// True for ICMPv6.
    pub v6: bool,
    /// Address of the router or host that sent the ICMP error.
    pub reporter: IpAddr,
    /// When the (first) ICMP error arrived.
    pub ts: Timestamp,
    /// How many ICMP errors quoted this connection.
    pub count: u32,
}

/// One connection, with the fields of Zeek's conn.log and flowaudit's own.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// Time of the first packet.
    pub ts: Timestamp,
    /// Deterministic unique id (`C` + base62), stable across runs and thread counts.
    pub uid: String,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port (ICMP: code).
    pub resp_p: u16,
    /// Transport protocol.
    pub proto: Transport,
    /// Time from first to last packet.
    pub duration: Duration,
    /// Originator payload bytes (TCP: from sequence numbers, as Zeek).
    pub orig_bytes: u64,
    /// Responder payload bytes.
    pub resp_bytes: u64,
    /// Zeek conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH).
    pub conn_state: &'static str,
    /// Bytes missed in content gaps (TCP).
    pub missed_bytes: u64,
    /// Zeek history letters (uppercase originator, lowercase responder).
    pub history: String,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// IP bytes from the originator.
    pub orig_ip_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// flowaudit's handshake verdict.
    pub handshake: Handshake,
    /// TCP: SYNs sent by the originator (1 + retransmissions), 0 when no SYN was seen.
    pub syn_attempts: u32,
    /// Times of those SYNs (at most the first 16 kept).
    pub syn_times: Vec<Timestamp>,
    /// The ICMP error quoting this connection, if any.
    pub icmp: Option<IcmpError>,
    /// Outer VLAN id of the first packet.
    pub vlan: Option<u16>,
    /// Inner VLAN id of the first packet (QinQ).
    pub inner_vlan: Option<u16>,
    /// Tunnel layers around this connection (0: not tunnelled).
    pub tunnel_depth: u8,
}
