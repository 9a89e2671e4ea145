//! The common frame in one pass: Ethernet II with at most one VLAN tag, an
//! IPv4 header that is not a fragment or an IPv6 header followed directly by
//! TCP or UDP, and a whole TCP (20 bytes or more) or UDP (8 bytes) header.
//!
//! Nearly every frame of a large capture looks like this. The general path
//! (`link.rs`, `ip.rs`, `transport.rs`) handles it too, but in layers: each
//! builds an intermediate struct (two `IpAddr`s copied byte by byte at every
//! step), checks lengths again that the previous layer already checked, and
//! looks at tunnels, fragments and extension headers first. Here every field
//! is read once, from fixed-size arrays whose bounds were checked up front, and
//! the [`Packet`] is built once.
//!
//! The rule that keeps this honest: for every frame it accepts, this path emits
//! exactly the packets, and counts exactly what, the general path would (the
//! tests compare both on mutated frames); anything else returns `None` before
//! emitting or counting anything, and the general path decodes the frame.

use super::ip::proto;
use super::link::ethertype;
use super::{Decoder, FrameCtx, MAX_TUNNEL_DEPTH, Outcome, Packet, TcpInfo, Transport};
use super::{ntp, tunnel};
use crate::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The big-endian u16 at `at` of a fixed-size header (callers pass constant
/// offsets inside the array, so this compiles to a load and a swap).
#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    match (h.get(at), h.get(at + 1)) {
        (Some(&a), Some(&b)) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// The big-endian u32 at `at` of a fixed-size header.
#[inline(always)]
fn be32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    match h.get(at..at + 4).and_then(|b| b.first_chunk::<4>()) {
        Some(b) => u32::from_be_bytes(*b),
        None => 0,
    }
}

/// The IP layer of a common frame.
struct L3<'a> {
    /// Source address.
    src: IpAddr,
    /// Destination address.
    dst: IpAddr,
    /// TCP or UDP.
    proto: u8,
    /// Datagram length per the header.
    ip_len: u32,
    /// The transport header and payload, cut at the datagram's end.
    payload: &'a [u8],
    /// Transport length per the header.
    payload_len: u32,
}

/// IPv4 with any header length, not a fragment, carrying TCP or UDP.
#[inline(always)]
fn ipv4(d: &[u8]) -> Option<L3<'_>> {
    let h = d.first_chunk::<20>()?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < 20 || d.len() < ihl {
        return None;
    }
    // More-fragments flag or a fragment offset: the general path reassembles.
    if h[6] & 0x3f != 0 || h[7] != 0 {
        return None;
    }
    let p = h[9];
    if p != proto::TCP && p != proto::UDP {
        return None;
    }
    let mut total = usize::from(be16(h, 2));
    if total == 0 {
        // Segmentation offload, as in `ip::parse_v4`.
        total = d.len();
    }
    if total < ihl {
        return None;
    }
    Some(L3 {
        src: IpAddr::V4(Ipv4Addr::from(be32(h, 12))),
        dst: IpAddr::V4(Ipv4Addr::from(be32(h, 16))),
        proto: p,
        ip_len: total as u32,
        payload: d.get(ihl..total.min(d.len())).unwrap_or_default(),
        payload_len: (total - ihl) as u32,
    })
}

/// IPv6 whose next header is TCP or UDP (no extension headers).
#[inline(always)]
fn ipv6(d: &[u8]) -> Option<L3<'_>> {
    let h = d.first_chunk::<40>()?;
    let p = h[6];
    if h[0] >> 4 != 6 || (p != proto::TCP && p != proto::UDP) {
        return None;
    }
    let mut plen = usize::from(be16(h, 4));
    if plen == 0 && d.len() > 40 {
        // Jumbogram or segmentation offload, as in `ip::parse_v6`.
        plen = d.len() - 40;
    }
    let total = 40 + plen;
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        if let Some(s) = h.get(at..at + 16) {
            a.copy_from_slice(s);
        }
        IpAddr::V6(Ipv6Addr::from(a))
    };
    Some(L3 {
        src: addr(8),
        dst: addr(24),
        proto: p,
        ip_len: total as u32,
        payload: d.get(40..total.min(d.len())).unwrap_or_default(),
        payload_len: plen as u32,
    })
}

impl Decoder {
    /// Decodes an Ethernet frame of the common shape (see the module docs) and
    /// returns its outcome, or `None` without having emitted or counted
    /// anything when the frame needs the general path.
    #[inline(always)]
    pub(super) fn fast_ethernet<E: FnMut(&Packet<'_>) + ?Sized>(
        &mut self,
        ts: Timestamp,
        number: u64,
        d: &[u8],
        emit: &mut E,
    ) -> Option<Outcome> {
        let eth = d.first_chunk::<18>()?;
        let mut etype = be16(eth, 12);
        let mut vlan = None;
        let mut l3 = d.get(14..)?;
        if matches!(
            etype,
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD
        ) {
            vlan = Some(be16(eth, 14) & 0x0fff);
            etype = be16(eth, 16);
            l3 = d.get(18..)?;
        }
        let ip = match etype {
            ethertype::IPV4 => ipv4(l3)?,
            ethertype::IPV6 => ipv6(l3)?,
            _ => return None,
        };
        let t = ip.payload;
        let mut pkt = Packet {
            ts,
            number,
            transport: Transport::Tcp,
            src: ip.src,
            dst: ip.dst,
            sport: 0,
            dport: 0,
            ip_len: ip.ip_len,
            payload_len: 0,
            payload: &[],
            tcp: None,
            icmp: None,
            vlan,
            inner_vlan: None,
            tunnel_depth: 0,
            input: 0,
            copy: false,
            header_only: false,
            ntp_mode: 0,
            fragments: 0,
        };
        if ip.proto == proto::TCP {
            let h = t.first_chunk::<20>()?;
            let hlen = usize::from(h[12] >> 4) * 4;
            // Options past the captured bytes or the datagram: the general
            // path's (rare) header-only packet.
            if hlen < 20 || hlen > t.len() || hlen as u32 > ip.payload_len {
                return None;
            }
            pkt.sport = be16(h, 0);
            pkt.dport = be16(h, 2);
            pkt.tcp = Some(TcpInfo {
                flags: h[13],
                seq: be32(h, 4),
                ack: be32(h, 8),
                window: be16(h, 14),
            });
            pkt.payload = t.get(hlen..).unwrap_or_default();
            pkt.payload_len = ip.payload_len.saturating_sub(hlen as u32);
            emit(&pkt);
        } else {
            let h = t.first_chunk::<8>()?;
            pkt.transport = Transport::Udp;
            pkt.sport = be16(h, 0);
            pkt.dport = be16(h, 2);
            pkt.payload = t.get(8..).unwrap_or_default();
            pkt.payload_len = ip.payload_len.saturating_sub(8);
            pkt.ntp_mode = ntp::mode_of(pkt.sport, pkt.dport, pkt.payload);
            emit(&pkt);
            if MAX_TUNNEL_DEPTH > 0
                && let Some(inner) = tunnel::udp(pkt.sport, pkt.dport, pkt.payload)
            {
                let ctx = FrameCtx {
                    ts,
                    number,
                    vlan,
                    inner_vlan: None,
                };
                // The frame's fate is "decoded" already (the outer packet).
                self.decode_inner(&ctx, inner, 1, false, &mut |p| emit(p));
            }
        }
        self.stats.decoded += 1;
        Some(Outcome::Decoded)
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! The fast path against the general one: same packets, outcomes and counters.

    use super::super::{DecodeConfig, Decoder, Outcome};
    use crate::read::LinkType;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    /// Every packet a decoder emits for one frame (`Debug` form, payload included),
    /// the outcome, and the counters afterwards.
    type Run = (Outcome, Vec<String>, String);

    /// Decodes `frame` through `decode` (`fast`) or the general path alone.
    fn run(dec: &mut Decoder, fast: bool, number: u64, frame: &[u8]) -> Run {
        let mut got = Vec::new();
        let ts = Timestamp(1_000_000_000 + number as i64);
        let mut emit = |p: &super::Packet<'_>| got.push(format!("{p:?}"));
        let o = if fast {
            dec.decode(ts, number, LinkType::ETHERNET, frame, &mut emit)
        } else {
            dec.decode_frame::<false, _>(ts, number, LinkType::ETHERNET, frame, &mut emit)
        };
        (o, got, format!("{:?}", dec.stats()))
    }

    /// Asserts both paths agree on every frame of a sequence (one decoder each,
    /// so fragments and tunnels carry state across frames as in a capture).
    /// Returns how many frames the fast path decoded by itself.
    pub(crate) fn assert_same(frames: &[Vec<u8>]) -> usize {
        let mut fast = Decoder::new(DecodeConfig::default());
        let mut slow = Decoder::new(DecodeConfig::default());
        let mut taken = 0;
        for (i, f) in frames.iter().enumerate() {
            let mut probe = Decoder::new(DecodeConfig::default());
            let taken_here = probe
                .fast_ethernet(Timestamp(0), 0, f, &mut |_| {})
                .is_some();
            taken += usize::from(taken_here);
            let n = i as u64 + 1;
            assert_eq!(
                run(&mut fast, true, n, f),
                run(&mut slow, false, n, f),
                "frame {n}: {f:02x?}"
            );
        }
        taken
    }

    fn eth(vlan: Option<u16>, etype: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if let Some(id) = vlan {
            v.extend([0x81, 0x00]);
            v.extend((0xe000 | id).to_be_bytes());
        }
        v.extend(etype.to_be_bytes());
        v.extend(l3);
        v
    }

    fn ipv4(proto: u8, opts: &[u8], transport: &[u8]) -> Vec<u8> {
        let ihl = 5 + opts.len() / 4;
        let total = (ihl * 4 + transport.len()) as u16;
        let mut v = vec![0x40 | ihl as u8, 0];
        v.extend(total.to_be_bytes());
        v.extend([
            0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        v.extend(opts);
        v.extend(transport);
        v
    }

    fn ipv6(next: u8, transport: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend((transport.len() as u16).to_be_bytes());
        v.extend([next, 64]);
        v.extend([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend(transport);
        v
    }

    fn tcp(opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let off = (5 + opts.len() / 4) as u8;
        let mut v = vec![0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 7, 0, 0, 0, 9];
        v.extend([off << 4, 0x18, 0xfa, 0xf0, 0, 0, 0, 0]);
        v.extend(opts);
        v.extend(payload);
        v
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(sport.to_be_bytes());
        v.extend(dport.to_be_bytes());
        v.extend(((8 + payload.len()) as u16).to_be_bytes());
        v.extend([0, 0]);
        v.extend(payload);
        v
    }

    /// Frames of every shape near the fast path's edges: tagged or not, IPv4
    /// with and without options, IPv6, TCP with options, UDP, UDP tunnels, ICMP,
    /// IPv6 extension headers.
    fn templates() -> Vec<Vec<u8>> {
        let inner = eth(None, 0x0800, &ipv4(17, &[], &udp(1, 2, b"in")));
        let mut t = Vec::new();
        for vlan in [None, Some(7)] {
            t.push(eth(
                vlan,
                0x0800,
                &ipv4(6, &[], &tcp(&[], b"GET / HTTP/1.1")),
            ));
            t.push(eth(
                vlan,
                0x0800,
                &ipv4(6, &[1, 1, 1, 0], &tcp(&[2, 4, 5, 0xb4], b"")),
            ));
            t.push(eth(
                vlan,
                0x0800,
                &ipv4(17, &[], &udp(53, 3333, b"\x12\x34\x81\x80")),
            ));
            t.push(eth(vlan, 0x0800, &ipv4(1, &[], &[8, 0, 0, 0, 0, 1, 0, 1])));
            t.push(eth(vlan, 0x86dd, &ipv6(6, &tcp(&[], &[22, 3, 1, 0, 5]))));
            t.push(eth(vlan, 0x86dd, &ipv6(17, &udp(5353, 53, b"q"))));
            t.push(eth(vlan, 0x86dd, &ipv6(0, &[17, 0, 0, 0, 0, 0, 0, 0])));
            t.push(eth(
                vlan,
                0x0800,
                &ipv4(
                    17,
                    &[],
                    &udp(9, 4789, &[&[8, 0, 0, 0, 0, 0, 1, 0][..], &inner].concat()),
                ),
            ));
        }
        t
    }

    #[test]
    fn templates_agree_and_most_take_the_fast_path() {
        let t = templates();
        let taken = assert_same(&t);
        // TCP, TCP with options, UDP, IPv6 TCP, IPv6 UDP, VXLAN; each tagged and not.
        assert_eq!(taken, 12, "fast path took {taken} of {}", t.len());
    }

    #[test]
    fn every_truncation_agrees() {
        for f in templates() {
            let cuts: Vec<Vec<u8>> = (0..=f.len()).map(|n| f[..n].to_vec()).collect();
            assert_same(&cuts);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Header bytes overwritten anywhere in the first 80 bytes, and the frame cut anywhere.
        #[test]
        fn mutated_frames_agree(
            which in 0usize..16,
            edits in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let t = templates();
            let mut f = t[which % t.len()].clone();
            for (at, b) in edits {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            f.truncate(cut.index(f.len() + 1));
            assert_same(&[f]);
        }
    }
}
