//! UDP (and the flow semantics shared with ICMP and other transports).
//!
//! Zeek's `UDPSessionAdapter`: each direction is active once it sent a packet;
//! its size is the sum of the datagrams' payload lengths; the history records
//! `D` once for the originator's first datagram and `d` for the responder's.

use super::key::likely_udp_server_port;
use std::net::IpAddr;

/// History mask bits Zeek's UDP analyzer uses (`HIST_ORIG_DATA_PKT`, `HIST_RESP_DATA_PKT`).
pub(crate) const HIST_ORIG_DATA: u32 = 0x1;
/// See [`HIST_ORIG_DATA`].
pub(crate) const HIST_RESP_DATA: u32 = 0x2;

/// Per-direction payload sums; `None` until the direction sent something.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlowSizes {
    /// By key side.
    pub len: [Option<u64>; 2],
}

impl FlowSizes {
    /// Adds a datagram of `len` payload bytes from key side `side`.
    pub(crate) fn add(&mut self, side: usize, len: u32) {
        if let Some(slot) = self.len.get_mut(side) {
            *slot = Some(slot.unwrap_or(0).saturating_add(u64::from(len)));
        }
    }
}

/// Zeek's `UDPAnalyzer::WantConnection`: flip when the source port is a likely
/// server port and the destination port is not (and the destination is not the
/// IPv4 broadcast address, as `IPBasedAnalyzer::NewConn` checks).
pub(crate) fn flip_new(sport: u16, dport: u16, dst: IpAddr) -> bool {
    likely_udp_server_port(sport) && !likely_udp_server_port(dport) && !is_broadcast(dst)
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// Zeek's `conn_state()` for UDP.
pub(crate) fn conn_state(orig_active: bool, resp_active: bool) -> &'static str {
    match (orig_active, resp_active) {
        (true, true) => "SF",
        (true, false) => "S0",
        (false, true) => "SHR",
        (false, false) => "OTH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_reply_first_is_flipped_but_not_client_to_client() {
        let dst = IpAddr::from([10, 0, 0, 1]);
        assert!(flip_new(53, 33000, dst));
        assert!(!flip_new(33000, 53, dst));
        // Both plausible servers (mDNS between responders): keep the order.
        assert!(!flip_new(53, 5353, dst));
        assert!(!flip_new(67, 40000, IpAddr::from([255, 255, 255, 255])));
    }

    #[test]
    fn udp_states() {
        assert_eq!(conn_state(true, true), "SF");
        assert_eq!(conn_state(true, false), "S0");
        assert_eq!(conn_state(false, true), "SHR");
    }
}
