//! Decoding frames into transport-layer packets.
//!
//! One [`Record`](crate::read::Record) gives zero or more [`Packet`]s: zero when
//! it is not decodable (counted per layer in [`DecodeStats`]) or is an IP
//! fragment still waiting for the rest, several when it carries a tunnel (the
//! outer UDP/GRE packet and the inner one are both tracked, as Zeek does).
//!
//! What is emitted follows Zeek 9.1's packet analysis, so that a tracker gets
//! the same conn.log rows (checked against Zeek's baselines in the tests):
//! - Link types: EN10MB (802.1Q, 802.1ad/QinQ 0x88a8 and 0x9100, MPLS, PPPoE
//!   session, FabricPath, VN-Tag), LINUX_SLL, LINUX_SLL2, RAW (101, 12, 14),
//!   IPV4, IPV6, NULL, LOOP, PPP. Others: `"link: unsupported link type NAME(n)"`.
//! - Lengths come from the IP header (`ip_len`, `payload_len`), the payload
//!   slice from the capture (possibly shorter). A zero IPv4 total length or
//!   IPv6 payload length (segmentation offload) means "the captured length", as in Zeek.
//! - IP protocols other than TCP, UDP and ICMP are packets with
//!   [`Transport::Other`]; IPv6 "no next header" is not decoded. ESP ends the
//!   IPv6 header walk and is `Other(50)`.
//! - Tunnels (at most [`MAX_TUNNEL_DEPTH`] levels): for UDP tunnels (VXLAN
//!   4789, Geneve 6081, GTP-U 2152, Teredo 3544 or detected) the outer UDP
//!   packet is emitted, then the inner ones with `tunnel_depth` + 1. For GRE and
//!   IP-in-IP only the inner packet is emitted: Zeek never logs the outer one,
//!   also not when decapsulation fails (then the frame is "not decoded", with
//!   the GRE reason). Inner packets keep the outer frame's VLAN ids.
//! - Fragments are reassembled (see `frag.rs` for limits and the overlap
//!   policy, last writer wins); the datagram is emitted once, with the time and
//!   number of the fragment that completed it. A fragment cut short by the
//!   snaplen is decoded alone when it is the first one and dropped otherwise,
//!   as Zeek does.
//!
//! Headers are read with etherparse's zero-copy header slices (Ethernet II,
//! 802.1Q, IPv4, IPv6 and its fragment header, UDP) and never with its
//! packet-level parsers, which refuse what Zeek keeps. The rest is read by hand,
//! each place saying why: what etherparse lacks (SLL2, MPLS, PPPoE, FabricPath,
//! VN-Tag, tunnels) and where it is stricter than Zeek (SLL, the IPv6 extension
//! header walk, TCP, ICMP and the headers an ICMP error quotes).
//!
//! Not like Zeek: IPv4 header checksums are not verified (Zeek without `-C`
//! drops such packets); Teredo is recognised per packet (Zeek detects it once
//! per UDP connection), see `tunnel.rs`; PPTP's PPP may omit `ff 03` and
//! compress the protocol field.

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
    /// Which of the inputs read together showed it (0-based, in the order
    /// given; 0 when read alone): set by the pipeline, not the decoder.
    pub input: u16,
    /// A copy of a packet another input already showed ([`Dedup`]): the
    /// tracker only notes that this input saw its connection, and counts
    /// nothing.
    pub copy: bool,
    /// TCP whose header runs past the captured bytes or the IP payload
    /// (options cut short; Zeek's `truncated_header` weird): the tracker
    /// opens the connection from the fixed header, as Zeek does before it
    /// reads the options, and counts nothing of the packet.
    pub header_only: bool,
    /// The mode (1-5) of a standard NTP message in a UDP datagram to or from
    /// port 123 that Zeek's NTP analyzer would parse, else 0: all the tracker
    /// needs of the payload (Zeek's NTP role flip), which it never sees.
    pub ntp_mode: u8,
    /// The IP fragments a reassembled datagram came in (2 or more: a UDP
    /// reply too big for one frame); 0 for a datagram of one frame.
    pub fragments: u16,
}

impl<'a> Packet<'a> {
    /// A packet of `payload` from `src` to `dst` with nothing else known
    /// (packet 0, no IP length, no TCP or ICMP header, no VLAN or tunnel):
    /// the base replays and tests fill in what they need.
    pub fn new(
        ts: Timestamp,
        transport: Transport,
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
        payload: &'a [u8],
    ) -> Self {
        Packet {
            ts,
            number: 0,
            transport,
            src,
            dst,
            sport,
            dport,
            ip_len: 0,
            payload_len: payload.len() as u32,
            payload,
            tcp: None,
            icmp: None,
            vlan: None,
            inner_vlan: None,
            tunnel_depth: 0,
            input: 0,
            copy: false,
            header_only: false,
            ntp_mode: 0,
            fragments: 0,
        }
    }
}

mod dedup;
mod fast;
mod frag;
mod icmp;
mod ip;
mod link;
pub(crate) mod ntp;
mod transport;
mod tunnel;
mod wifi;

#[cfg(test)]
mod captures_tests;
#[cfg(test)]
mod tests;

pub use dedup::Dedup;

use crate::read::LinkType;
use crate::time::Duration;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Tunnels nested deeper than this are not decapsulated (Zeek's `Tunnel::max_depth` default is 2).
pub const MAX_TUNNEL_DEPTH: u8 = 2;

/// Limits of the IP fragment reassembly buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeConfig {
    /// Payload bytes held for incomplete datagrams, over all of them; when a new
    /// fragment would exceed it the oldest datagrams are evicted.
    pub max_fragment_bytes: usize,
    /// Incomplete datagrams held at once; the oldest is evicted beyond it.
    pub max_fragment_datagrams: usize,
    /// An incomplete datagram is dropped once a packet arrives this much later
    /// than its first fragment. Measured with capture timestamps, never the wall clock.
    pub fragment_timeout: Duration,
}

impl Default for DecodeConfig {
    /// 64 MiB, 65 536 datagrams, 60 s.
    ///
    /// Zeek's own `frag_timeout` defaults to 0 (never expire, unbounded memory);
    /// 60 s is RFC 8200's reassembly timeout for IPv6 and outlasts Linux's 30 s
    /// `ipfrag_time`, so real senders' fragments are never dropped early.
    fn default() -> Self {
        DecodeConfig {
            max_fragment_bytes: 64 << 20,
            max_fragment_datagrams: 65_536,
            fragment_timeout: Duration::from_secs(60),
        }
    }
}

/// What happened to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one packet was emitted (also for the fragment completing a datagram).
    Decoded,
    /// An IP fragment was buffered to wait for the rest of its datagram.
    FragmentBuffered,
    /// Nothing was emitted; the string names the layer and the reason, as the
    /// key in [`DecodeStats::not_decoded`] (for unsupported link types the key
    /// also names the link type).
    NotDecoded(&'static str),
}

/// Per-decoder counters. Every frame ends in exactly one of `decoded`,
/// `reassembled`, `not_decoded` or (while still waiting) `fragments_buffered`:
/// `frames == decoded + reassembled + fragments_buffered + sum(not_decoded)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    /// Frames given to [`Decoder::decode`].
    pub frames: u64,
    /// Non-fragment frames that produced at least one packet.
    pub decoded: u64,
    /// Fragment frames currently held, waiting for the rest of their datagram
    /// (a gauge: it falls when their datagram completes or expires).
    pub fragments_buffered: u64,
    /// Fragment frames whose datagram was reassembled and decoded.
    pub reassembled: u64,
    /// Datagrams reassembled from fragments (each emitted as one packet).
    pub datagrams_reassembled: u64,
    /// Frames that produced no packet, by `"layer: reason"` (fragment frames of
    /// datagrams that expired or were evicted are counted here too).
    pub not_decoded: BTreeMap<String, u64>,
    /// Link types seen that the decoder does not support.
    pub unsupported_link_types: BTreeSet<u32>,
}

impl DecodeStats {
    /// Adds `n` frames under `reason` (no entry for zero).
    fn count(&mut self, reason: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.not_decoded.get_mut(reason) {
            Some(c) => *c += n,
            None => {
                self.not_decoded.insert(reason.to_owned(), n);
            }
        }
    }
}

/// Decodes frames into [`Packet`]s, reassembling IP fragments on the way.
#[derive(Debug)]
pub struct Decoder {
    /// Pending fragments.
    frags: frag::FragPool,
    /// Counters.
    stats: DecodeStats,
}

/// Per-frame facts that every packet from the frame shares.
#[derive(Clone, Copy, Debug)]
struct FrameCtx {
    /// Capture time.
    ts: Timestamp,
    /// Packet number in the file.
    number: u64,
    /// Outer 802.1Q id of the outermost Ethernet header.
    vlan: Option<u16>,
    /// Inner (QinQ) id of the outermost Ethernet header.
    inner_vlan: Option<u16>,
}

/// Internal result of decoding one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Packets were emitted; the frame is not counted yet.
    Emitted,
    /// The frame's fragment completed a datagram; the frame is counted already.
    Reassembled,
    /// The frame's fragment is buffered; counted already.
    Buffered,
    /// Nothing emitted; the frame is not counted yet.
    Failed(&'static str),
    /// Nothing emitted and the frame is counted already (a completed datagram failed to decode).
    FailedCounted(&'static str),
}

/// Of two subframes' results, the one that says more about the frame:
/// a packet over a completed datagram over a buffered fragment over a failure.
fn stronger(a: Step, b: Step) -> Step {
    let rank = |s: &Step| match s {
        Step::Emitted => 4,
        Step::Reassembled => 3,
        Step::Buffered => 2,
        Step::FailedCounted(_) => 1,
        Step::Failed(_) => 0,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

impl Decoder {
    /// A decoder with the given fragment reassembly limits.
    pub fn new(cfg: DecodeConfig) -> Self {
        Decoder {
            frags: frag::FragPool::new(cfg),
            stats: DecodeStats::default(),
        }
    }

    /// Decodes one frame; calls `emit` for each transport-layer packet found: the
    /// outer packet first, then tunnelled inner ones (tunnel_depth 1, 2...).
    /// Returns what happened to the frame.
    // Generic over `emit` so the common path (fast Ethernet) can inline the
    // caller's handling of each packet; the general path takes it as `dyn`.
    pub fn decode<E: FnMut(&Packet<'_>) + ?Sized>(
        &mut self,
        ts: Timestamp,
        number: u64,
        link: LinkType,
        data: &[u8],
        emit: &mut E,
    ) -> Outcome {
        self.decode_frame::<true, E>(ts, number, link, data, emit)
    }

    /// [`Decoder::decode`], with its fast path (`fast.rs`) for Ethernet frames
    /// when `FAST` (always, but in the tests that check both paths agree).
    #[inline(always)]
    fn decode_frame<const FAST: bool, E: FnMut(&Packet<'_>) + ?Sized>(
        &mut self,
        ts: Timestamp,
        number: u64,
        link: LinkType,
        data: &[u8],
        emit: &mut E,
    ) -> Outcome {
        self.stats.frames += 1;
        self.expire(ts);
        if FAST
            && link == LinkType::ETHERNET
            && let Some(outcome) = self.fast_ethernet(ts, number, data, emit)
        {
            return outcome;
        }
        self.decode_general(ts, number, link, data, &mut |p| emit(p))
    }

    /// Decodes one counted frame layer by layer: every link type, tunnel,
    /// fragment and error. [`Decoder::decode`] sends only what its fast path
    /// (`fast.rs`) does not take.
    // Out of line: the fast path's caller stays small (few registers to save,
    // a small stack frame) for the frames that never get here.
    #[inline(never)]
    fn decode_general(
        &mut self,
        ts: Timestamp,
        number: u64,
        link: LinkType,
        data: &[u8],
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Outcome {
        if link == LinkType::IEEE802_11 {
            return self.decode_wifi((ts, number), Ok(data), emit);
        }
        if link == LinkType::IEEE802_11_RADIOTAP {
            return self.decode_wifi((ts, number), wifi::radiotap(data), emit);
        }
        let l3 = match link::decode_link(link, data) {
            Ok(l3) => l3,
            Err(link::LinkError::Unsupported) => {
                self.stats.unsupported_link_types.insert(link.0);
                let key = format!("link: unsupported link type {link}");
                self.stats.count(&key, 1);
                return Outcome::NotDecoded("link: unsupported link type");
            }
            Err(link::LinkError::Bad(reason)) => {
                self.stats.count(reason, 1);
                return Outcome::NotDecoded(reason);
            }
        };
        let ctx = FrameCtx {
            ts,
            number,
            vlan: l3.vlan,
            inner_vlan: l3.inner_vlan,
        };
        let step = self.decode_l3(&ctx, l3.l3, 0, true, emit);
        self.frame_outcome(step)
    }

    /// Counts a frame by what decoding it came to.
    fn frame_outcome(&mut self, step: Step) -> Outcome {
        match step {
            Step::Emitted => {
                self.stats.decoded += 1;
                Outcome::Decoded
            }
            Step::Reassembled => Outcome::Decoded,
            Step::Buffered => Outcome::FragmentBuffered,
            Step::Failed(reason) => {
                self.stats.count(reason, 1);
                Outcome::NotDecoded(reason)
            }
            Step::FailedCounted(reason) => Outcome::NotDecoded(reason),
        }
    }

    /// A frame of link type 105 or 127 (radiotap already skipped, or why it
    /// could not be) of the record at (time, number). The frame counts once:
    /// decoded when any A-MSDU subframe gave a packet.
    fn decode_wifi(
        &mut self,
        (ts, number): (Timestamp, u64),
        frame: Result<&[u8], &'static str>,
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Outcome {
        let ctx = FrameCtx {
            ts,
            number,
            vlan: None,
            inner_vlan: None,
        };
        let step = self.decode_wifi_frame(&ctx, frame, 0, true, emit);
        self.frame_outcome(step)
    }

    /// An 802.11 frame at tunnel depth `depth`: one packet, or one per A-MSDU
    /// subframe, as Zeek forwards them; the strongest subframe's result
    /// stands for the frame.
    fn decode_wifi_frame(
        &mut self,
        ctx: &FrameCtx,
        frame: Result<&[u8], &'static str>,
        depth: u8,
        counts_frame: bool,
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Step {
        let body =
            |this: &mut Self, body: &[u8], emit: &mut dyn FnMut(&Packet<'_>)| match wifi::llc_snap(
                body,
            )
            .and_then(|(etype, rest)| link::after_ethertype(etype, rest))
            {
                Ok(l) => this.decode_l3(ctx, l.l3, depth, counts_frame, emit),
                Err(reason) => Step::Failed(reason),
            };
        match frame.and_then(wifi::frame) {
            Err(reason) => Step::Failed(reason),
            Ok(wifi::Body::Single(b)) => body(self, b, emit),
            Ok(wifi::Body::Amsdu(subs)) => {
                let mut best: Option<Step> = None;
                for s in subs {
                    let step = match s {
                        Ok(b) => body(self, b, emit),
                        Err(reason) => Step::Failed(reason),
                    };
                    best = Some(best.map_or(step, |b| stronger(b, step)));
                }
                best.unwrap_or(Step::Failed("ieee802_11: empty A-MSDU"))
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Drops every incomplete datagram (end of trace), counting its frames as not decoded.
    pub fn flush(&mut self) {
        let dropped = self.frags.drain_all();
        self.account_dropped(dropped);
    }

    /// Drops datagrams whose first fragment is older than the timeout at `now`.
    #[inline]
    fn expire(&mut self, now: Timestamp) {
        // Checked here so that the common case (no fragments pending) stays
        // inline in `decode` and the walk below is a call only when needed.
        if !self.frags.idle() {
            self.expire_pending(now);
        }
    }

    /// [`Decoder::expire`] when fragments are held.
    #[inline(never)]
    fn expire_pending(&mut self, now: Timestamp) {
        if let Some(dropped) = self.frags.expire(now) {
            self.account_dropped(dropped);
        }
    }

    /// Moves frames of dropped datagrams from `fragments_buffered` to `not_decoded`.
    fn account_dropped(&mut self, d: frag::Dropped) {
        let total = d.v4_expired + d.v6_expired + d.v4_evicted + d.v6_evicted;
        self.stats.fragments_buffered = self.stats.fragments_buffered.saturating_sub(total);
        self.stats
            .count("ipv4: fragment never completed", d.v4_expired);
        self.stats
            .count("ipv6: fragment never completed", d.v6_expired);
        self.stats.count(
            "ipv4: fragment evicted, reassembly buffer full",
            d.v4_evicted,
        );
        self.stats.count(
            "ipv6: fragment evicted, reassembly buffer full",
            d.v6_evicted,
        );
    }
}
