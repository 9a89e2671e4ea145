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
    /// Zeek's NTP analyzer on this connection ([`Ntp`]).
    pub ntp: Ntp,
}

/// The state of Zeek's NTP analyzer that changes a connection's record: it
/// is attached when a UDP connection starts with responder port 123, and
/// flips the roles (once per direction of delivery, binpac's two flows) on a
/// server-mode message from the originator or a client-mode one from the
/// responder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ntp(u8);

impl Ntp {
    const ATTACHED: u8 = 1;
    /// Flipped on a message delivered as the originator's (binpac's upflow).
    const FLIPPED_UP: u8 = 1 << 1;
    /// Flipped on a message delivered as the responder's (the downflow).
    const FLIPPED_DOWN: u8 = 1 << 2;

    /// The analyzer for a connection whose responder port is `resp_port` when it starts.
    pub(crate) fn for_port(resp_port: u16) -> Ntp {
        // Zeek's `NTP::ports`.
        Ntp(if resp_port == crate::decode::ntp::PORT {
            Self::ATTACHED
        } else {
            0
        })
    }

    /// Whether a datagram carrying an NTP message of `mode` (0: none Zeek
    /// parses), delivered from the originator when `is_orig`, makes Zeek flip
    /// the roles; records the flip.
    pub(crate) fn flips(&mut self, is_orig: bool, mode: u8) -> bool {
        if self.0 & Self::ATTACHED == 0 {
            return false;
        }
        let flow = if is_orig {
            Self::FLIPPED_UP
        } else {
            Self::FLIPPED_DOWN
        };
        if self.0 & flow != 0 {
            return false;
        }
        let flip = match mode {
            SERVER => is_orig,
            CLIENT => !is_orig,
            _ => false,
        };
        if flip {
            self.0 |= flow;
        }
        flip
    }
}

/// NTP client mode.
const CLIENT: u8 = 3;
/// NTP server mode.
const SERVER: u8 = 4;

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
    fn ntp_flips_on_a_server_message_from_the_originator_once_per_flow() {
        let mut n = Ntp::for_port(123);
        assert!(!n.flips(true, CLIENT), "a client asking: no flip");
        assert!(!n.flips(false, SERVER), "a server answering: no flip");
        assert!(!n.flips(true, 0), "no message Zeek parses");
        assert!(n.flips(true, SERVER));
        assert!(!n.flips(true, SERVER), "the upflow flipped already");
        assert!(n.flips(false, CLIENT), "the downflow has its own flag");
        assert!(!Ntp::for_port(5353).flips(true, SERVER), "not attached");
    }

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
