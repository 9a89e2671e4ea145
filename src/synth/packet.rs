//! IP datagrams with correct lengths and checksums: TCP, UDP, ICMP (echo and
//! errors quoting another datagram), IPv4 options, IPv6 extension headers and
//! fragmentation.
//!
//! Every function returns a whole IP datagram (header included). The
//! `write_*` variants append to a caller's buffer so generators can reuse one
//! allocation per packet stream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

/// IP protocol numbers used by the builders.
pub mod proto {
    /// Hop-by-hop options (IPv6 extension header).
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPV4: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Generic Routing Encapsulation.
    pub const GRE: u8 = 47;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header (IPv6).
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
}

/// An IPv6 extension header placed between the IPv6 header and the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtHeader {
    /// Hop-by-hop options (type-length-value options, padded with Pad1/PadN to 8 bytes; at most 2046 kept).
    HopByHop(Vec<u8>),
    /// Destination options (type-length-value options, padded like hop-by-hop).
    DestOpts(Vec<u8>),
}

impl ExtHeader {
    /// The IP protocol number naming this header.
    fn number(&self) -> u8 {
        match self {
            ExtHeader::HopByHop(_) => proto::HOPOPT,
            ExtHeader::DestOpts(_) => proto::DSTOPTS,
        }
    }

    /// The options bytes before padding, cut to the 2046 bytes a header can hold.
    fn options(&self) -> &[u8] {
        match self {
            ExtHeader::HopByHop(o) | ExtHeader::DestOpts(o) => o.get(..2046).unwrap_or(o),
        }
    }

    /// Encoded length: next header and length bytes plus options, rounded up to 8.
    fn len(&self) -> usize {
        (2 + self.options().len()).div_ceil(8) * 8
    }
}

/// IP-layer settings shared by the builders; [`Ip::default`] is a plain header.
///
/// Fields that only exist in one IP version are ignored for the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip {
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification field (also used as IPv4 fragment identification).
    pub ident: u16,
    /// IPv4 "don't fragment" flag.
    pub dont_fragment: bool,
    /// IPv4 type of service / IPv6 traffic class byte (DSCP and ECN).
    pub tos: u8,
    /// IPv6 flow label (low 20 bits).
    pub flow_label: u32,
    /// Raw IPv4 options, padded with end-of-list bytes to a multiple of 4 (at most 40 bytes kept).
    pub options: Vec<u8>,
    /// IPv6 extension headers, in order, before the transport header.
    pub ext: Vec<ExtHeader>,
}

impl Default for Ip {
    /// TTL 64, identification 0, no flags, options or extension headers.
    fn default() -> Self {
        Ip {
            ttl: 64,
            ident: 0,
            dont_fragment: false,
            tos: 0,
            flow_label: 0,
            options: Vec::new(),
            ext: Vec::new(),
        }
    }
}

/// The TCP header fields a caller chooses; ports come from the socket addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tcp {
    /// Flag bits (see [`crate::decode::tcp_flags`]).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Receive window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Raw TCP options, padded with end-of-list bytes to a multiple of 4 (at most 40 bytes kept).
    pub options: Vec<u8>,
}

/// Adds `data` as big-endian 16-bit words to a one's-complement accumulator.
fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

/// Folds an accumulator into the final Internet checksum (RFC 1071).
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data` (RFC 1071), as stored in IPv4 and ICMPv4 headers.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum(data, 0))
}

/// Accumulator for the TCP/UDP/ICMPv6 pseudo-header of `src`, `dst`, protocol and length.
fn pseudo(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u64 {
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&d.octets(), sum(&s.octets(), 0)),
        _ => sum(&v6(dst).octets(), sum(&v6(src).octets(), 0)),
    };
    acc + u64::from(protocol) + len as u64
}

/// An address as IPv6 (IPv4 becomes IPv4-mapped), for mixed-family inputs.
fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// An address as IPv4, or 0.0.0.0 when it is an IPv6 address without an IPv4 mapping.
fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

/// Appends `opts` padded with zero bytes to a multiple of 4, at most 40 bytes in all.
fn put_padded(buf: &mut Vec<u8>, opts: &[u8]) {
    let o = opts.get(..40).unwrap_or(opts);
    buf.extend_from_slice(o);
    buf.resize(buf.len() + (4 - o.len() % 4) % 4, 0);
}

/// Length of `opts` once padded by [`put_padded`].
fn padded_len(opts: &[u8]) -> usize {
    opts.len().min(40).div_ceil(4) * 4
}

impl Ip {
    /// True when the datagram will be IPv4: both addresses IPv4 (mixed families build IPv6
    /// with the IPv4 address mapped, so a caller's mistake still yields a parseable packet).
    fn is_v4(src: IpAddr, dst: IpAddr) -> bool {
        src.is_ipv4() && dst.is_ipv4()
    }

    /// Appends the IP header (and options or extension headers) for `l4_len` bytes of `protocol`.
    fn put_header(&self, buf: &mut Vec<u8>, src: IpAddr, dst: IpAddr, protocol: u8, l4_len: usize) {
        if Self::is_v4(src, dst) {
            let start = buf.len();
            let hl = 20 + padded_len(&self.options);
            let total = (hl + l4_len).min(0xffff) as u16;
            buf.push(0x40 | (hl / 4) as u8);
            buf.push(self.tos);
            buf.extend_from_slice(&total.to_be_bytes());
            buf.extend_from_slice(&self.ident.to_be_bytes());
            buf.extend_from_slice(&(if self.dont_fragment { 0x4000u16 } else { 0 }).to_be_bytes());
            buf.push(self.ttl);
            buf.push(protocol);
            buf.extend_from_slice(&[0, 0]);
            buf.extend_from_slice(&v4(src).octets());
            buf.extend_from_slice(&v4(dst).octets());
            put_padded(buf, &self.options);
            let c = checksum(&buf[start..]);
            buf[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let ext_len: usize = self.ext.iter().map(ExtHeader::len).sum();
            let first = self.ext.first().map_or(protocol, ExtHeader::number);
            let vtf = (6u32 << 28) | (u32::from(self.tos) << 20) | (self.flow_label & 0x000f_ffff);
            buf.extend_from_slice(&vtf.to_be_bytes());
            buf.extend_from_slice(&((ext_len + l4_len).min(0xffff) as u16).to_be_bytes());
            buf.push(first);
            buf.push(self.ttl);
            buf.extend_from_slice(&v6(src).octets());
            buf.extend_from_slice(&v6(dst).octets());
            for (i, e) in self.ext.iter().enumerate() {
                let next = self.ext.get(i + 1).map_or(protocol, ExtHeader::number);
                let len = e.len();
                buf.push(next);
                buf.push((len / 8 - 1) as u8);
                buf.extend_from_slice(e.options());
                match len - 2 - e.options().len() {
                    0 => {}
                    // Pad1 is a single zero byte; PadN is type 1, length, zeros (RFC 8200 4.2).
                    1 => buf.push(0),
                    n => {
                        buf.push(1);
                        buf.push((n - 2) as u8);
                        buf.resize(buf.len() + n - 2, 0);
                    }
                }
            }
        }
    }

    /// Appends a datagram carrying `payload` (already a complete transport message) as `protocol`.
    pub fn write_datagram(
        &self,
        buf: &mut Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        payload: &[u8],
    ) {
        self.put_header(buf, src, dst, protocol, payload.len());
        buf.extend_from_slice(payload);
    }

    /// A datagram carrying `payload` (already a complete transport message) as `protocol`.
    pub fn datagram(&self, src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(60 + payload.len());
        self.write_datagram(&mut b, src, dst, protocol, payload);
        b
    }

    /// Appends a TCP segment in a datagram, with a correct checksum.
    pub fn write_tcp(
        &self,
        buf: &mut Vec<u8>,
        src: SocketAddr,
        dst: SocketAddr,
        tcp: &Tcp,
        payload: &[u8],
    ) {
        let hl = 20 + padded_len(&tcp.options);
        let l4_len = hl + payload.len();
        self.put_header(buf, src.ip(), dst.ip(), proto::TCP, l4_len);
        let start = buf.len();
        buf.extend_from_slice(&src.port().to_be_bytes());
        buf.extend_from_slice(&dst.port().to_be_bytes());
        buf.extend_from_slice(&tcp.seq.to_be_bytes());
        buf.extend_from_slice(&tcp.ack.to_be_bytes());
        buf.push(((hl / 4) as u8) << 4);
        buf.push(tcp.flags);
        buf.extend_from_slice(&tcp.window.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&tcp.urgent.to_be_bytes());
        put_padded(buf, &tcp.options);
        buf.extend_from_slice(payload);
        let c = fold(sum(
            &buf[start..],
            pseudo(src.ip(), dst.ip(), proto::TCP, l4_len),
        ));
        buf[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
    }

    /// A TCP segment in a datagram, with a correct checksum.
    pub fn tcp(&self, src: SocketAddr, dst: SocketAddr, tcp: &Tcp, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(100 + payload.len());
        self.write_tcp(&mut b, src, dst, tcp, payload);
        b
    }

    /// Appends a UDP datagram with a correct checksum (0 is sent as 0xffff, RFC 768).
    pub fn write_udp(&self, buf: &mut Vec<u8>, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        let l4_len = 8 + payload.len();
        self.put_header(buf, src.ip(), dst.ip(), proto::UDP, l4_len);
        let start = buf.len();
        buf.extend_from_slice(&src.port().to_be_bytes());
        buf.extend_from_slice(&dst.port().to_be_bytes());
        buf.extend_from_slice(&(l4_len.min(0xffff) as u16).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(payload);
        let c = match fold(sum(
            &buf[start..],
            pseudo(src.ip(), dst.ip(), proto::UDP, l4_len),
        )) {
            0 => 0xffff,
            c => c,
        };
        buf[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
    }

    /// A UDP datagram with a correct checksum.
    pub fn udp(&self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(60 + payload.len());
        self.write_udp(&mut b, src, dst, payload);
        b
    }

    /// An ICMP (IPv4) or ICMPv6 (IPv6, pseudo-header checksum) message.
    ///
    /// `rest` is the second 32-bit word of the ICMP header (echo id and sequence,
    /// next-hop MTU, unused zeros...); `body` follows it.
    pub fn icmp(
        &self,
        src: IpAddr,
        dst: IpAddr,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        body: &[u8],
    ) -> Vec<u8> {
        let v4 = Self::is_v4(src, dst);
        let protocol = if v4 { proto::ICMP } else { proto::ICMPV6 };
        let l4_len = 8 + body.len();
        let mut buf = Vec::with_capacity(60 + l4_len);
        self.put_header(&mut buf, src, dst, protocol, l4_len);
        let start = buf.len();
        buf.extend_from_slice(&[icmp_type, code, 0, 0]);
        buf.extend_from_slice(&rest);
        buf.extend_from_slice(body);
        let acc = if v4 {
            0
        } else {
            pseudo(src, dst, protocol, l4_len)
        };
        let c = fold(sum(&buf[start..], acc));
        buf[start + 2..start + 4].copy_from_slice(&c.to_be_bytes());
        buf
    }
}

/// A TCP segment with default IP settings (TTL 64).
pub fn tcp(
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
    seq: u32,
    ack: u32,
    window: u16,
    payload: &[u8],
) -> Vec<u8> {
    Ip::default().tcp(
        src,
        dst,
        &Tcp {
            flags,
            seq,
            ack,
            window,
            ..Tcp::default()
        },
        payload,
    )
}

/// A UDP datagram with default IP settings.
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    Ip::default().udp(src, dst, payload)
}

/// An ICMP or ICMPv6 echo request (or reply when `reply`) with identifier `id` and sequence `seq`.
pub fn icmp_echo(
    src: IpAddr,
    dst: IpAddr,
    reply: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let t = match (Ip::is_v4(src, dst), reply) {
        (true, false) => 8,
        (true, true) => 0,
        (false, false) => 128,
        (false, true) => 129,
    };
    let mut rest = [0u8; 4];
    rest[..2].copy_from_slice(&id.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    Ip::default().icmp(src, dst, t, 0, rest, payload)
}

/// The source address of an IP datagram, or `None` when it is too short or not IP.
pub fn source_of(datagram: &[u8]) -> Option<IpAddr> {
    match datagram.first()? >> 4 {
        4 => {
            let b: [u8; 4] = datagram.get(12..16)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = datagram.get(8..24)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// An ICMP error sent by `reporter` back to the source of `quoted`, quoting exactly the bytes given.
///
/// The family follows `reporter`: ICMPv4 types 3 (unreachable) and 11 (time
/// exceeded), ICMPv6 types 1 (unreachable) and 3 (time exceeded) etc. Real
/// routers quote the IP header plus at least 8 bytes (RFC 792) or as much as
/// fits (RFC 1812: 576 bytes; RFC 4443: 1280); pass a shorter slice to mimic a
/// particular router or to cut the quote short. When `quoted` has no readable
/// source address the error goes to the unspecified address.
pub fn icmp_error(reporter: IpAddr, icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    icmp_error_rest(reporter, icmp_type, code, [0; 4], quoted)
}

/// An ICMP "fragmentation needed" (v4: type 3 code 4) or ICMPv6 "packet too big" (type 2) with `mtu`.
pub fn packet_too_big(reporter: IpAddr, mtu: u32, quoted: &[u8]) -> Vec<u8> {
    if reporter.is_ipv4() {
        // RFC 1191: the next-hop MTU is the low 16 bits of the second word.
        let m = (mtu.min(0xffff) as u16).to_be_bytes();
        icmp_error_rest(reporter, 3, 4, [0, 0, m[0], m[1]], quoted)
    } else {
        icmp_error_rest(reporter, 2, 0, mtu.to_be_bytes(), quoted)
    }
}

/// An ICMP error with an explicit second header word.
fn icmp_error_rest(
    reporter: IpAddr,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let dst = match (reporter, source_of(quoted)) {
        (IpAddr::V4(_), Some(IpAddr::V4(a))) => IpAddr::V4(a),
        (IpAddr::V6(_), Some(IpAddr::V6(a))) => IpAddr::V6(a),
        (IpAddr::V4(_), _) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), _) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Ip::default().icmp(reporter, dst, icmp_type, code, rest, quoted)
}

/// A 32-bit FNV-1a hash, used for deterministic IPv6 fragment identifications.
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Splits `datagram` into up to `n` fragments in order (IPv4 flags/offset or an IPv6 fragment header).
///
/// Pieces are equal multiples of 8 bytes except the last; a payload too short
/// for `n` pieces gives fewer. See [`fragment_ranges`] for identification and
/// header rules.
pub fn fragment(datagram: &[u8], n: usize) -> Vec<Vec<u8>> {
    let Some((_, payload_len)) = split_point(datagram) else {
        return Vec::new();
    };
    let n = n.max(1);
    let piece = payload_len.div_ceil(n).div_ceil(8).max(1) * 8;
    let ranges: Vec<Range<usize>> = (0..payload_len.div_ceil(piece).max(1))
        .map(|i| i * piece..((i + 1) * piece).min(payload_len))
        .collect();
    fragment_ranges(datagram, &ranges)
}

/// Where the fragmentable part starts and how long it is, or `None` for a non-IP datagram.
fn split_point(d: &[u8]) -> Option<(usize, usize)> {
    match d.first()? >> 4 {
        4 => {
            let hl = usize::from(d.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*d.get(2)?, *d.get(3)?])).min(d.len());
            (hl >= 20 && total >= hl).then(|| (hl, total - hl))
        }
        6 => {
            let total =
                (40 + usize::from(u16::from_be_bytes([*d.get(4)?, *d.get(5)?]))).min(d.len());
            let unfrag = v6_unfragmentable(d)?.0;
            (total >= unfrag).then(|| (unfrag, total - unfrag))
        }
        _ => None,
    }
}

/// End of the IPv6 unfragmentable part (hop-by-hop, routing, and destination options before a
/// routing header, RFC 8200 4.5) and the offset of the next-header byte that names what follows.
fn v6_unfragmentable(d: &[u8]) -> Option<(usize, usize)> {
    let mut next = *d.get(6)?;
    let mut pos = 40;
    let mut end = (40, 6);
    while matches!(next, proto::HOPOPT | proto::ROUTING | proto::DSTOPTS) {
        let len = (usize::from(*d.get(pos + 1)?) + 1) * 8;
        let this = next;
        let next_at = pos;
        next = *d.get(pos)?;
        pos += len;
        if this != proto::DSTOPTS {
            end = (pos, next_at);
        }
    }
    Some(end)
}

/// Fragments `datagram` into the given payload byte ranges, in the order given (so callers can
/// make fragments overlap, repeat or leave gaps; reorder the result for out-of-order delivery).
///
/// Range starts are rounded down to a multiple of 8, ends are clamped to the
/// payload; "more fragments" is set unless a range reaches the payload's end.
/// IPv4 keeps the datagram's identification; all options go in the offset-0
/// fragment, only options with the copy bit set in the others, and DF is
/// cleared. IPv6 inserts a fragment header after the unfragmentable part with
/// an identification derived deterministically from the datagram's bytes
/// (FNV-1a), so equal datagrams get equal ids. A non-IP input gives no fragments.
pub fn fragment_ranges(datagram: &[u8], ranges: &[Range<usize>]) -> Vec<Vec<u8>> {
    let Some((start, payload_len)) = split_point(datagram) else {
        return Vec::new();
    };
    let Some(payload) = datagram.get(start..start + payload_len) else {
        return Vec::new();
    };
    let v4 = datagram.first().is_some_and(|b| b >> 4 == 4);
    let ident = fnv1a(datagram);
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let lo = (r.start / 8 * 8).min(payload_len);
        let hi = r.end.clamp(lo, payload_len);
        let piece = payload.get(lo..hi).unwrap_or(&[]);
        let more = hi < payload_len;
        out.push(if v4 {
            v4_fragment(datagram, start, lo, piece, more)
        } else {
            v6_fragment(datagram, start, ident, lo, piece, more)
        });
    }
    out
}

/// The options an IPv4 fragment at a non-zero offset carries: those with the copy bit.
fn copied_options(opts: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&t) = opts.get(i) {
        match t {
            0 => break,
            1 => i += 1,
            _ => {
                let len = usize::from(opts.get(i + 1).copied().unwrap_or(0)).max(2);
                if t & 0x80 != 0 {
                    out.extend_from_slice(opts.get(i..i + len).unwrap_or(&[]));
                }
                i += len;
            }
        }
    }
    out
}

/// One IPv4 fragment of the payload at byte `offset`.
fn v4_fragment(d: &[u8], hl: usize, offset: usize, piece: &[u8], more: bool) -> Vec<u8> {
    let opts = d.get(20..hl).unwrap_or(&[]);
    let opts = if offset == 0 {
        opts.to_vec()
    } else {
        copied_options(opts)
    };
    let hl = 20 + padded_len(&opts);
    let mut b = Vec::with_capacity(hl + piece.len());
    b.extend_from_slice(d.get(..20).unwrap_or(&[0; 20]));
    put_padded(&mut b, &opts);
    b[0] = 0x40 | (hl / 4) as u8;
    b[2..4].copy_from_slice(&((hl + piece.len()).min(0xffff) as u16).to_be_bytes());
    let fo = ((offset / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
    b[6..8].copy_from_slice(&fo.to_be_bytes());
    b[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(&b);
    b[10..12].copy_from_slice(&c.to_be_bytes());
    b.extend_from_slice(piece);
    b
}

/// One IPv6 fragment of the fragmentable part at byte `offset`.
fn v6_fragment(
    d: &[u8],
    unfrag: usize,
    ident: u32,
    offset: usize,
    piece: &[u8],
    more: bool,
) -> Vec<u8> {
    let next_at = v6_unfragmentable(d).map_or(6, |u| u.1);
    let mut b = Vec::with_capacity(unfrag + 8 + piece.len());
    b.extend_from_slice(d.get(..unfrag).unwrap_or(&[]));
    let inner_next = b.get(next_at).copied().unwrap_or(proto::NONE);
    if let Some(x) = b.get_mut(next_at) {
        *x = proto::FRAGMENT;
    }
    b.push(inner_next);
    b.push(0);
    let fo = ((offset / 8) as u16) << 3 | u16::from(more);
    b.extend_from_slice(&fo.to_be_bytes());
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(piece);
    let plen = (b.len().saturating_sub(40)).min(0xffff) as u16;
    if let Some(x) = b.get_mut(4..6) {
        x.copy_from_slice(&plen.to_be_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, PSH, SYN};
    use etherparse::{
        IcmpEchoHeader, Icmpv4Type, Icmpv6Type, Ipv4Header, Ipv6FragmentHeader, Ipv6Header,
        NetSlice, SlicedPacket, TransportSlice,
    };

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ipa(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Checks the IPv4 header checksum and total length with etherparse.
    fn check_v4_header(d: &[u8]) {
        let (h, _) = Ipv4Header::from_slice(d).unwrap();
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "IPv4 header checksum"
        );
        assert_eq!(usize::from(h.total_len), d.len(), "IPv4 total length");
    }

    #[test]
    fn tcp_v4_and_v6_checksums_and_lengths() {
        for (c, s) in [
            ("10.0.0.1:49152", "10.0.0.2:389"),
            ("[2001:db8::1]:49152", "[2001:db8::2]:636"),
        ] {
            let payload = b"hello world, odd len";
            let d = tcp(sa(c), sa(s), PSH | ACK, 1000, 2000, 8192, payload);
            let p = SlicedPacket::from_ip(&d).unwrap();
            let Some(TransportSlice::Tcp(t)) = p.transport else {
                panic!("not tcp")
            };
            assert_eq!(
                (t.source_port(), t.destination_port()),
                (sa(c).port(), sa(s).port())
            );
            assert_eq!(
                (
                    t.sequence_number(),
                    t.acknowledgment_number(),
                    t.window_size()
                ),
                (1000, 2000, 8192)
            );
            assert!(t.psh() && t.ack() && !t.syn());
            assert_eq!(t.payload(), payload);
            let expect = match p.net {
                Some(NetSlice::Ipv4(ref v4)) => {
                    check_v4_header(&d);
                    t.calc_checksum_ipv4(v4.header().source(), v4.header().destination())
                        .unwrap()
                }
                Some(NetSlice::Ipv6(ref v6)) => {
                    assert_eq!(usize::from(v6.header().payload_length()) + 40, d.len());
                    t.calc_checksum_ipv6(v6.header().source(), v6.header().destination())
                        .unwrap()
                }
                _ => panic!("no ip"),
            };
            assert_eq!(t.checksum(), expect, "tcp checksum for {c}");
        }
    }

    #[test]
    fn tcp_options_are_padded_and_counted() {
        let h = Tcp {
            flags: SYN,
            seq: 7,
            window: 64240,
            options: vec![2, 4, 0x05, 0xb4, 1, 3, 3, 8],
            ..Tcp::default()
        };
        let d = Ip::default().tcp(sa("10.0.0.1:1"), sa("10.0.0.2:2"), &h, &[]);
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!(t.data_offset(), 7);
        let Some(NetSlice::Ipv4(v4)) = p.net else {
            panic!()
        };
        assert_eq!(
            t.checksum(),
            t.calc_checksum_ipv4(v4.header().source(), v4.header().destination())
                .unwrap()
        );
    }

    #[test]
    fn udp_checksums_v4_v6() {
        for (c, s) in [
            ("192.0.2.1:5353", "192.0.2.2:53"),
            ("[fe80::1]:546", "[ff02::1:2]:547"),
        ] {
            let d = udp(sa(c), sa(s), b"abc");
            let p = SlicedPacket::from_ip(&d).unwrap();
            let Some(TransportSlice::Udp(u)) = p.transport else {
                panic!("not udp")
            };
            assert_eq!(u.length(), 11);
            assert_eq!(u.payload(), b"abc");
            let expect = match p.net {
                Some(NetSlice::Ipv4(v4)) => {
                    check_v4_header(&d);
                    u.to_header()
                        .calc_checksum_ipv4(&v4.header().to_header(), u.payload())
                        .unwrap()
                }
                Some(NetSlice::Ipv6(v6)) => u
                    .to_header()
                    .calc_checksum_ipv6(&v6.header().to_header(), u.payload())
                    .unwrap(),
                _ => panic!(),
            };
            assert_eq!(u.checksum(), expect);
        }
    }

    #[test]
    fn icmp_echo_v4_v6() {
        let d = icmp_echo(ipa("10.1.1.1"), ipa("10.1.1.2"), false, 0x1234, 7, b"ping");
        check_v4_header(&d);
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = p.transport else {
            panic!("not icmp")
        };
        assert_eq!(
            i.icmp_type(),
            Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 0x1234, seq: 7 })
        );
        assert_eq!(i.checksum(), i.icmp_type().calc_checksum(i.payload()));

        let d = icmp_echo(
            ipa("2001:db8::1"),
            ipa("2001:db8::2"),
            true,
            9,
            10,
            b"pong!",
        );
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(TransportSlice::Icmpv6(i)) = p.transport else {
            panic!("not icmpv6")
        };
        assert_eq!(
            i.icmp_type(),
            Icmpv6Type::EchoReply(IcmpEchoHeader { id: 9, seq: 10 })
        );
        let Some(NetSlice::Ipv6(v6)) = p.net else {
            panic!()
        };
        let expect = i
            .icmp_type()
            .calc_checksum(v6.header().source(), v6.header().destination(), i.payload())
            .unwrap();
        assert_eq!(i.checksum(), expect);
    }

    #[test]
    fn icmp_errors_quote_the_datagram_and_go_back_to_its_source() {
        let syn = tcp(
            sa("10.0.0.5:50000"),
            sa("10.9.9.9:88"),
            SYN,
            1,
            0,
            1024,
            &[],
        );
        let err = icmp_error(ipa("10.0.0.254"), 3, 13, &syn);
        check_v4_header(&err);
        let p = SlicedPacket::from_ip(&err).unwrap();
        let Some(NetSlice::Ipv4(ref v4)) = p.net else {
            panic!()
        };
        assert_eq!(v4.header().source(), [10, 0, 0, 254]);
        assert_eq!(v4.header().destination(), [10, 0, 0, 5]);
        let Some(TransportSlice::Icmpv4(i)) = p.transport else {
            panic!("not icmp")
        };
        assert_eq!(i.type_u8(), 3);
        assert_eq!(i.code_u8(), 13);
        assert_eq!(i.payload(), &syn[..]);
        assert_eq!(i.checksum(), i.icmp_type().calc_checksum(i.payload()));
        // The quoted datagram itself is a parseable TCP SYN to port 88.
        let q = SlicedPacket::from_ip(i.payload()).unwrap();
        let Some(TransportSlice::Tcp(t)) = q.transport else {
            panic!()
        };
        assert_eq!(t.destination_port(), 88);

        let u6 = udp(sa("[2001:db8::5]:5000"), sa("[2001:db8::9]:53"), b"q");
        for (e, t) in [
            (icmp_error(ipa("2001:db8::fe"), 1, 4, &u6[..48]), 1u8),
            (packet_too_big(ipa("2001:db8::fe"), 1280, &u6), 2),
        ] {
            let p = SlicedPacket::from_ip(&e).unwrap();
            let Some(NetSlice::Ipv6(ref v6)) = p.net else {
                panic!()
            };
            assert_eq!(
                v6.header().destination_addr(),
                "2001:db8::5".parse::<Ipv6Addr>().unwrap()
            );
            let Some(TransportSlice::Icmpv6(i)) = p.transport else {
                panic!()
            };
            assert_eq!(i.type_u8(), t);
            let expect = i
                .icmp_type()
                .calc_checksum(v6.header().source(), v6.header().destination(), i.payload())
                .unwrap();
            assert_eq!(i.checksum(), expect);
            if t == 2 {
                assert_eq!(i.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1280 });
            } else {
                assert_eq!(i.payload().len(), 48);
            }
        }

        let ptb = packet_too_big(ipa("10.0.0.254"), 1400, &syn);
        let p = SlicedPacket::from_ip(&ptb).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = p.transport else {
            panic!()
        };
        assert_eq!((i.type_u8(), i.code_u8()), (3, 4));
        assert_eq!(&i.bytes5to8()[2..4], &1400u16.to_be_bytes());
    }

    #[test]
    fn ipv4_options_and_v6_extension_headers() {
        // Router alert (RFC 2113), 4 bytes, plus a 1-byte NOP that forces 3 bytes of padding.
        let ip = Ip {
            options: vec![148, 4, 0, 0, 1],
            ttl: 1,
            ..Ip::default()
        };
        let d = ip.udp(sa("10.0.0.1:1"), sa("224.0.0.22:2"), b"x");
        check_v4_header(&d);
        let (h, _) = Ipv4Header::from_slice(&d).unwrap();
        assert_eq!(h.options.as_slice(), &[148, 4, 0, 0, 1, 0, 0, 0]);
        assert_eq!(h.time_to_live, 1);
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!()
        };
        assert_eq!(u.payload(), b"x");

        let ip = Ip {
            ext: vec![
                ExtHeader::HopByHop(vec![5, 2, 0, 0]),
                ExtHeader::DestOpts(vec![]),
                ExtHeader::DestOpts(vec![0x1e, 7, 1, 2, 3, 4, 5, 6, 7]),
            ],
            ..Ip::default()
        };
        let d = ip.tcp(
            sa("[2001:db8::1]:1"),
            sa("[2001:db8::2]:2"),
            &Tcp {
                flags: SYN,
                ..Tcp::default()
            },
            b"",
        );
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(NetSlice::Ipv6(ref v6)) = p.net else {
            panic!()
        };
        let exts = v6.extensions();
        assert_eq!(exts.first_header(), Some(etherparse::IpNumber(0)));
        // 8 + 8 + 16 bytes of extension headers, then a 20-byte TCP header.
        assert_eq!(v6.header().payload_length(), 8 + 8 + 16 + 20);
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("tcp after ext headers")
        };
        assert!(t.syn());
        assert_eq!(
            t.checksum(),
            t.calc_checksum_ipv6(v6.header().source(), v6.header().destination())
                .unwrap()
        );
    }

    #[test]
    fn oversized_extension_header_is_cut_to_the_maximum() {
        let ip = Ip {
            ext: vec![ExtHeader::DestOpts(vec![0; 5000])],
            ..Ip::default()
        };
        let d = ip.udp(sa("[::1]:1"), sa("[::2]:2"), b"z");
        // RFC 8200: Hdr Ext Len is 8-bit in 8-octet units, so a header holds at most 2048 bytes.
        assert_eq!(d[41], 255);
        let p = SlicedPacket::from_ip(&d).unwrap();
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!()
        };
        assert_eq!(u.payload(), b"z");
    }

    /// Reassembles with the fragments' own header fields (offset, MF) and checks coverage.
    fn reassemble_v4(frags: &[Vec<u8>]) -> (Vec<u8>, usize) {
        let mut out = vec![0u8; 0];
        let mut last = 0;
        for f in frags {
            check_v4_header(f);
            let (h, rest) = Ipv4Header::from_slice(f).unwrap();
            let off = usize::from(h.fragment_offset.value()) * 8;
            if out.len() < off + rest.len() {
                out.resize(off + rest.len(), 0);
            }
            out[off..off + rest.len()].copy_from_slice(rest);
            if !h.more_fragments {
                last += 1;
            }
        }
        (out, last)
    }

    #[test]
    fn ipv4_fragments_reassemble_to_the_original() {
        let ip = Ip {
            ident: 0xbeef,
            options: vec![0x83, 7, 4, 10, 0, 0, 1, 7, 2, 0, 0, 0],
            ..Ip::default()
        };
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let d = ip.udp(sa("10.0.0.1:1000"), sa("10.0.0.2:2000"), &payload);
        let (orig_h, orig_payload) = Ipv4Header::from_slice(&d).unwrap();
        let frags = fragment(&d, 3);
        assert_eq!(frags.len(), 3);
        for (i, f) in frags.iter().enumerate() {
            let (h, rest) = Ipv4Header::from_slice(f).unwrap();
            assert_eq!(h.identification, 0xbeef);
            assert_eq!(h.more_fragments, i < 2);
            assert!(!h.dont_fragment);
            if i > 0 {
                // Only the loose-source-route option (0x83, copy bit set) is repeated.
                assert_eq!(&h.options.as_slice()[..7], &[0x83, 7, 4, 10, 0, 0, 1]);
                assert_eq!(h.options.as_slice().len(), 8);
            } else {
                assert_eq!(h.options.as_slice(), orig_h.options.as_slice());
            }
            if i < 2 {
                assert_eq!(rest.len() % 8, 0);
            }
        }
        let (whole, ends) = reassemble_v4(&frags);
        assert_eq!(ends, 1);
        assert_eq!(whole, orig_payload);

        // Out of order and overlapping: 0..16, 8..40 (overlap 8..16), then the tail first.
        let mut f = fragment_ranges(&d, &[0..16, 8..40, 40..2000]);
        f.reverse();
        let (whole, ends) = reassemble_v4(&f);
        assert_eq!((whole, ends), (orig_payload.to_vec(), 1));
        let (h, rest) = Ipv4Header::from_slice(&f[1]).unwrap();
        assert_eq!(
            (h.fragment_offset.value(), rest.len(), h.more_fragments),
            (1, 32, true)
        );
    }

    #[test]
    fn ipv6_fragments_have_fragment_headers_and_reassemble() {
        let ip = Ip {
            ext: vec![ExtHeader::HopByHop(vec![]), ExtHeader::DestOpts(vec![])],
            ..Ip::default()
        };
        let payload = vec![0x5a; 3000];
        let d = ip.udp(sa("[2001:db8::1]:1000"), sa("[2001:db8::2]:2000"), &payload);
        // The fragmentable part starts after the hop-by-hop header (the destination
        // options header is not followed by routing, so it is fragmentable).
        let fragmentable = &d[48..];
        let frags = fragment(&d, 4);
        assert_eq!(frags.len(), 4);
        let mut whole = vec![0u8; fragmentable.len()];
        let mut ids = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let (h, _) = Ipv6Header::from_slice(f).unwrap();
            assert_eq!(usize::from(h.payload_length) + 40, f.len());
            let (fh, _) = Ipv6FragmentHeader::from_slice(&f[48..]).unwrap();
            assert_eq!(fh.more_fragments, i < 3);
            ids.push(fh.identification);
            // The hop-by-hop header is repeated and now points to the fragment header.
            assert_eq!(f[6], 0);
            assert_eq!(f[40], 44);
            let off = usize::from(fh.fragment_offset.value()) * 8;
            let data = &f[56..];
            if i < 3 {
                assert_eq!(data.len() % 8, 0);
            }
            // Every fragment header names destination options (60) as next header.
            assert_eq!(fh.next_header, etherparse::IpNumber(60));
            whole[off..off + data.len()].copy_from_slice(data);
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(whole, fragmentable);
    }

    #[test]
    fn fragmenting_garbage_yields_nothing() {
        assert!(fragment(&[], 3).is_empty());
        assert!(fragment(&[0x45, 0, 0], 3).is_empty());
        assert!(fragment(&[0x60; 30], 2).is_empty());
        assert!(fragment_ranges(&[0x12; 50], &[0..8, 8..16]).is_empty());
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example: the sum of these words is 0xddf2, checksum its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            n in 0usize..20,
            a in 0usize..300,
            b in 0usize..300,
        ) {
            let _ = fragment(&data, n);
            let _ = fragment_ranges(&data, &[a..b, b..a, 0..usize::MAX]);
            let _ = icmp_error(ipa("10.0.0.1"), 3, 1, &data);
            let _ = icmp_error(ipa("::1"), 1, 0, &data);
            let _ = packet_too_big(ipa("::1"), 1280, &data);
            let _ = source_of(&data);
        }

        #[test]
        fn fragments_reassemble_to_the_original(
            len in 0usize..3000,
            n in 1usize..12,
            v6 in proptest::bool::ANY,
        ) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let (c, s) = if v6 { ("[2001:db8::1]:1", "[2001:db8::2]:2") } else { ("10.0.0.1:1", "10.0.0.2:2") };
            let d = udp(sa(c), sa(s), &payload);
            let frags = fragment(&d, n);
            proptest::prop_assert!(!frags.is_empty() && frags.len() <= n);
            // Reassemble from the fragments' own headers, parsed by etherparse.
            let hl = if v6 { 40 } else { 20 };
            let mut whole = vec![0u8; d.len() - hl];
            let mut finals = 0;
            for f in &frags {
                let (off, more, data) = if v6 {
                    let (fh, rest) = Ipv6FragmentHeader::from_slice(&f[40..]).unwrap();
                    (usize::from(fh.fragment_offset.value()) * 8, fh.more_fragments, rest)
                } else {
                    check_v4_header(f);
                    let (h, rest) = Ipv4Header::from_slice(f).unwrap();
                    (usize::from(h.fragment_offset.value()) * 8, h.more_fragments, rest)
                };
                whole[off..off + data.len()].copy_from_slice(data);
                finals += usize::from(!more);
            }
            proptest::prop_assert_eq!(finals, 1);
            proptest::prop_assert_eq!(&whole[..], &d[hl..]);
        }
    }
}
