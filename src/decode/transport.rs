//! From an IP packet to emitted [`Packet`]s: reassembly of fragments, TCP, UDP,
//! ICMP, other protocols, and decapsulation of tunnels.

use super::frag::Added;
use super::icmp;
use super::ip::{self, IpPacket, proto};
use super::link::{self, Net, be16, be32};
use super::tunnel::{self, Inner};
use super::{Decoder, FrameCtx, MAX_TUNNEL_DEPTH, Packet, Step, TcpInfo, Transport};
use etherparse::UdpHeaderSlice;

/// Why a TCP packet whose data offset is below 5 words is not counted,
/// though its connection is kept.
pub(crate) const TCP_BAD_OFFSET: &str =
    "tcp: bad data offset (bad_TCP_header_len: connection kept, packet not counted)";

/// Why a TCP packet whose options run past the captured bytes (or the
/// datagram) is not counted, though its connection is kept.
pub(crate) const TCP_OPTIONS_CUT: &str =
    "tcp: header past the captured bytes (truncated_header: connection kept, packet not counted)";

impl Decoder {
    /// Decodes an IP packet (or buffers it when it is a fragment).
    /// `counts_frame` is false when the frame already has a fate, so that a
    /// fragment carried in an emitted UDP tunnel is not counted twice.
    pub(super) fn decode_l3(
        &mut self,
        ctx: &FrameCtx,
        net: Net<'_>,
        depth: u8,
        counts_frame: bool,
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Step {
        let parsed = match net {
            Net::V4(d) => ip::parse_v4(d),
            Net::V6(d) => ip::parse_v6(d),
        };
        let ip = match parsed {
            Ok(ip) => ip,
            Err(reason) => return Step::Failed(reason),
        };
        let Some(frag) = ip.frag else {
            return self.decode_transport(ctx, &ip, depth, counts_frame, emit);
        };
        if (ip.payload.len() as u32) < ip.payload_len {
            // A fragment cut by the snaplen can never be reassembled. Like Zeek,
            // decode a first fragment on its own (header-only traces still show
            // the connection) and drop later ones.
            if frag.offset == 0 {
                return self.decode_transport(ctx, &ip, depth, counts_frame, emit);
            }
            return Step::Failed(if ip.v6 {
                "ipv6: fragment cut short by snaplen"
            } else {
                "ipv4: fragment cut short by snaplen"
            });
        }
        let added = self.frags.add(
            ctx.ts,
            ip.src,
            ip.dst,
            ip.proto,
            frag,
            // The reassembled IPv6 datagram has no fragment header (8 bytes).
            if ip.v6 {
                ip.hdr_len.saturating_sub(8)
            } else {
                ip.hdr_len
            },
            ip.payload_len,
            ip.payload,
            counts_frame,
        );
        let evicted = self.frags.take_evicted();
        self.account_dropped(evicted);
        match added {
            Added::Buffered => {
                self.stats.fragments_buffered += u64::from(counts_frame);
                Step::Buffered
            }
            Added::Rejected(reason) => Step::Failed(reason),
            Added::Complete(e) => {
                let earlier = e.frames.saturating_sub(u64::from(counts_frame));
                self.stats.fragments_buffered =
                    self.stats.fragments_buffered.saturating_sub(earlier);
                let data = e.data.as_slice();
                let total = data.len() as u32;
                // IPv6: extension headers after the fragment header sit in the reassembled payload.
                let (p, off) = if e.v6 {
                    match ip::walk_v6_ext(ip.proto, data, 0) {
                        Ok(x) if x.frag.is_none() && x.off <= data.len() => (x.proto, x.off),
                        _ => {
                            self.stats.count("ipv6: bad reassembled datagram", e.frames);
                            return Step::FailedCounted("ipv6: bad reassembled datagram");
                        }
                    }
                } else {
                    (ip.proto, 0)
                };
                let whole = IpPacket {
                    v6: e.v6,
                    src: ip.src,
                    dst: ip.dst,
                    proto: p,
                    ip_len: e.hdr_len.saturating_add(total),
                    hdr_len: e.hdr_len.saturating_add(off as u32),
                    payload: data.get(off..).unwrap_or_default(),
                    payload_len: total.saturating_sub(off as u32),
                    frag: None,
                    fragments: u16::try_from(e.frames).unwrap_or(u16::MAX),
                };
                // The datagram's frames are accounted here, so nothing inside counts them again.
                match self.decode_transport(ctx, &whole, depth, false, emit) {
                    Step::Failed(reason) | Step::FailedCounted(reason) => {
                        self.stats.count(reason, e.frames);
                        Step::FailedCounted(reason)
                    }
                    _ => {
                        self.stats.reassembled += e.frames;
                        self.stats.datagrams_reassembled += 1;
                        Step::Reassembled
                    }
                }
            }
        }
    }

    /// Decodes what a tunnel carries, one level deeper.
    pub(super) fn decode_inner(
        &mut self,
        ctx: &FrameCtx,
        inner: Inner<'_>,
        depth: u8,
        counts_frame: bool,
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Step {
        match inner {
            Inner::Net(n) => self.decode_l3(ctx, n, depth, counts_frame, emit),
            Inner::Ether(d) => match link::ethernet(d) {
                Ok(l) => self.decode_l3(ctx, l.l3, depth, counts_frame, emit),
                Err(reason) => Step::Failed(reason),
            },
            Inner::Wifi(d) => self.decode_wifi_frame(ctx, Ok(d), depth, counts_frame, emit),
        }
    }

    /// Decodes the transport layer of a whole (non-fragment) datagram.
    fn decode_transport(
        &mut self,
        ctx: &FrameCtx,
        ip: &IpPacket<'_>,
        depth: u8,
        counts_frame: bool,
        emit: &mut dyn FnMut(&Packet<'_>),
    ) -> Step {
        let d = ip.payload;
        let mut pkt = Packet {
            ts: ctx.ts,
            number: ctx.number,
            transport: Transport::Other(ip.proto),
            src: ip.src,
            dst: ip.dst,
            sport: 0,
            dport: 0,
            ip_len: ip.ip_len,
            payload_len: ip.payload_len,
            payload: d,
            tcp: None,
            icmp: None,
            vlan: ctx.vlan,
            inner_vlan: ctx.inner_vlan,
            tunnel_depth: depth,
            input: 0,
            copy: false,
            header_only: false,
            ntp_mode: 0,
            fragments: ip.fragments,
        };
        let tunnels = depth < MAX_TUNNEL_DEPTH;
        match ip.proto {
            proto::TCP => {
                // Not etherparse's TcpHeaderSlice: it needs the options too, while
                // Zeek keys the connection on the first 20 bytes (options cut by the snaplen).
                let (
                    Some(sport),
                    Some(dport),
                    Some(seq),
                    Some(ack),
                    Some(&off),
                    Some(&flags),
                    Some(window),
                ) = (
                    be16(d, 0),
                    be16(d, 2),
                    be32(d, 4),
                    be32(d, 8),
                    d.get(12),
                    d.get(13),
                    be16(d, 14),
                )
                else {
                    return Step::Failed("tcp: truncated header");
                };
                let hlen = usize::from(off >> 4) * 4;
                if d.len() < 20 {
                    return Step::Failed("tcp: truncated header");
                }
                pkt.transport = Transport::Tcp;
                pkt.sport = sport;
                pkt.dport = dport;
                pkt.tcp = Some(TcpInfo {
                    flags,
                    seq,
                    ack,
                    window,
                });
                if hlen < 20 || hlen > d.len() || hlen as u32 > ip.payload_len {
                    // Zeek makes the connection from the fixed header, then
                    // drops the packet at its data offset (`bad_TCP_header_len`)
                    // or its options (`truncated_header`).
                    pkt.header_only = true;
                    pkt.payload = &[];
                    pkt.payload_len = 0;
                    emit(&pkt);
                    return Step::Failed(if hlen < 20 {
                        TCP_BAD_OFFSET
                    } else {
                        TCP_OPTIONS_CUT
                    });
                }
                pkt.payload = d.get(hlen..).unwrap_or_default();
                pkt.payload_len = ip.payload_len.saturating_sub(hlen as u32);
                emit(&pkt);
                Step::Emitted
            }
            proto::UDP => {
                // The UDP length field is not used: lengths come from the IP header, as in Zeek.
                let Ok(udp) = UdpHeaderSlice::from_slice(d) else {
                    return Step::Failed("udp: truncated header");
                };
                let hlen = udp.slice().len();
                pkt.transport = Transport::Udp;
                pkt.sport = udp.source_port();
                pkt.dport = udp.destination_port();
                pkt.payload = d.get(hlen..).unwrap_or_default();
                pkt.payload_len = ip.payload_len.saturating_sub(hlen as u32);
                pkt.ntp_mode = super::ntp::mode_of(pkt.sport, pkt.dport, pkt.payload);
                emit(&pkt);
                if tunnels && let Some(inner) = tunnel::udp(pkt.sport, pkt.dport, pkt.payload) {
                    // The frame's fate is "decoded" already (the outer packet).
                    self.decode_inner(ctx, inner, depth + 1, false, emit);
                }
                Step::Emitted
            }
            proto::ICMP | proto::ICMPV6 if (ip.proto == proto::ICMPV6) == ip.v6 => {
                let Some(info) = icmp::parse(ip.v6, d) else {
                    return Step::Failed(if ip.v6 {
                        "icmpv6: truncated header"
                    } else {
                        "icmp: truncated header"
                    });
                };
                pkt.transport = Transport::Icmp;
                pkt.sport = u16::from(info.icmp_type);
                pkt.dport = u16::from(info.code);
                pkt.icmp = Some(info);
                pkt.payload = d.get(8..).unwrap_or_default();
                pkt.payload_len = ip.payload_len.saturating_sub(8);
                emit(&pkt);
                Step::Emitted
            }
            proto::NONE if ip.v6 => Step::Failed("ipv6: no next header"),
            proto::GRE | proto::IPIP | proto::IPV6 => {
                // Zeek logs only the inner connection of a GRE or IP-in-IP tunnel
                // (never the outer one, not even when decapsulation fails or the
                // tunnel is nested too deep), so the outer packet is not emitted.
                if !tunnels {
                    return Step::Failed("tunnel: nested deeper than MAX_TUNNEL_DEPTH");
                }
                let inner = match ip.proto {
                    proto::GRE => tunnel::gre(d),
                    proto::IPIP => Ok(Inner::Net(Net::V4(d))),
                    _ => Ok(Inner::Net(Net::V6(d))),
                };
                match inner {
                    Ok(inner) => self.decode_inner(ctx, inner, depth + 1, counts_frame, emit),
                    Err(reason) => Step::Failed(reason),
                }
            }
            _ => {
                emit(&pkt);
                Step::Emitted
            }
        }
    }
}
