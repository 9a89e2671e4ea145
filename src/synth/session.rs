//! Scripted conversations with ground truth, and the [`Trace`] that frames
//! and writes them.
//!
//! Time model: a session stamps each packet at its clock, then advances the
//! clock by its gap (10 ms unless changed with `gap`); `wait` adds idle time
//! before the next packet. Nothing reads the wall clock, so the same script
//! always gives the same bytes.
//!
//! An ICMP error is a separate flow, so sessions do not record it; push it on
//! the trace next to the packet it quotes:
//!
//! ```
//! use flowaudit::synth::{Conversation, Link, TcpSession, Trace, icmp_error};
//!
//! let mut s = TcpSession::new("10.0.0.5:50000".parse().unwrap(), "10.9.0.1:88".parse().unwrap(), 1, 0);
//! s.syn();
//! let prohibited = icmp_error("10.0.0.254".parse().unwrap(), 3, 13, &s.packets()[0].ip);
//! let mut t = Trace::new(Link::ethernet());
//! t.add(&s).push_ip(s.now(), &prohibited);
//! assert_eq!(t.frames().len(), 2);
//! ```

use super::link::Link;
use super::packet::{Ip, Tcp};
use super::writer::{DEFAULT_SNAPLEN, PcapNgWriter, PcapOptions, PcapWriter, TsResol};
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use crate::read::LinkType;
use crate::time::{Duration, Timestamp};
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

/// Where sessions start unless told otherwise: 2023-11-14T22:13:20Z (1.7e9 s).
pub const START: Timestamp = Timestamp(1_700_000_000_000_000_000);

/// Time between consecutive packets of a session unless changed: 10 ms.
pub const DEFAULT_GAP: Duration = Duration(10_000_000);

/// TCP payload bytes per segment unless changed (Ethernet MSS).
pub const DEFAULT_MSS: usize = 1460;

/// Receive window advertised by both sides.
const WINDOW: u16 = 64_240;

/// One packet of a scripted conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When it was captured.
    pub ts: Timestamp,
    /// True when the client (originator) sent it.
    pub from_client: bool,
    /// The IP datagram.
    pub ip: Vec<u8>,
    /// Transport payload length.
    pub payload_len: u32,
    /// TCP flags (0 for UDP).
    pub flags: u8,
}

/// Ground truth of a scripted conversation, computed from the packets it recorded.
pub trait Conversation {
    /// Every packet, in the order sent.
    fn packets(&self) -> &[Sent];

    /// Packets sent by the client.
    fn client_packets(&self) -> u64 {
        self.packets().iter().filter(|p| p.from_client).count() as u64
    }

    /// Packets sent by the server.
    fn server_packets(&self) -> u64 {
        self.packets().iter().filter(|p| !p.from_client).count() as u64
    }

    /// IP bytes (headers included) sent by the client, as Zeek's `orig_ip_bytes`.
    fn client_ip_bytes(&self) -> u64 {
        self.packets()
            .iter()
            .filter(|p| p.from_client)
            .map(|p| p.ip.len() as u64)
            .sum()
    }

    /// IP bytes sent by the server, as Zeek's `resp_ip_bytes`.
    fn server_ip_bytes(&self) -> u64 {
        self.packets()
            .iter()
            .filter(|p| !p.from_client)
            .map(|p| p.ip.len() as u64)
            .sum()
    }

    /// Transport payload bytes sent by the client (retransmissions counted once per packet).
    fn client_payload_bytes(&self) -> u64 {
        self.packets()
            .iter()
            .filter(|p| p.from_client)
            .map(|p| u64::from(p.payload_len))
            .sum()
    }

    /// Transport payload bytes sent by the server.
    fn server_payload_bytes(&self) -> u64 {
        self.packets()
            .iter()
            .filter(|p| !p.from_client)
            .map(|p| u64::from(p.payload_len))
            .sum()
    }

    /// Time of the first packet.
    fn first_ts(&self) -> Option<Timestamp> {
        self.packets().first().map(|p| p.ts)
    }

    /// Time of the last packet.
    fn last_ts(&self) -> Option<Timestamp> {
        self.packets().last().map(|p| p.ts)
    }

    /// Time from first to last packet (zero when empty).
    fn duration(&self) -> Duration {
        match (self.first_ts(), self.last_ts()) {
            (Some(a), Some(b)) => b.since(a),
            _ => Duration(0),
        }
    }
}

/// Deterministic payload bytes: the byte at stream offset `i` is `i mod 256`.
fn pattern(start: u64, n: usize) -> Vec<u8> {
    (0..n as u64).map(|i| (start + i) as u8).collect()
}

/// A scripted TCP connection between a client (originator) and a server.
///
/// Methods append packets and return `&mut Self` for chaining; sequence and
/// acknowledgment numbers follow from the initial sequence numbers.
#[derive(Clone, Debug)]
pub struct TcpSession {
    /// Originator address and port.
    client: SocketAddr,
    /// Responder address and port.
    server: SocketAddr,
    /// IP settings of client packets.
    client_ip: Ip,
    /// IP settings of server packets.
    server_ip: Ip,
    /// Timestamp of the next packet.
    now: Timestamp,
    /// Clock advance after each packet.
    gap: Duration,
    /// Largest payload per segment.
    mss: usize,
    /// Client initial sequence number.
    isn_c: u32,
    /// Server initial sequence number.
    isn_s: u32,
    /// Next client sequence number.
    c_next: u32,
    /// Next server sequence number.
    s_next: u32,
    /// Packets sent by the client so far, added to its IPv4 identification (stacks count up).
    c_count: u16,
    /// Packets sent by the server so far.
    s_count: u16,
    /// Whether the server's SYN has been sent (so the client has something to acknowledge).
    s_synced: bool,
    /// Client stream bytes sent so far, for the payload pattern.
    c_sent: u64,
    /// Server stream bytes sent so far.
    s_sent: u64,
    /// Everything sent.
    packets: Vec<Sent>,
}

impl TcpSession {
    /// A session that has sent nothing yet, starting at [`START`].
    pub fn new(client: SocketAddr, server: SocketAddr, isn_c: u32, isn_s: u32) -> Self {
        TcpSession {
            client,
            server,
            client_ip: Ip::default(),
            server_ip: Ip::default(),
            now: START,
            gap: DEFAULT_GAP,
            mss: DEFAULT_MSS,
            isn_c,
            isn_s,
            c_next: isn_c,
            s_next: isn_s,
            c_count: 0,
            s_count: 0,
            s_synced: false,
            c_sent: 0,
            s_sent: 0,
            packets: Vec::new(),
        }
    }

    /// Sets the time of the next packet.
    pub fn starting_at(mut self, ts: Timestamp) -> Self {
        self.now = ts;
        self
    }

    /// Sets the time between consecutive packets.
    pub fn gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// Sets the largest payload per segment (at least 1).
    pub fn mss(mut self, mss: usize) -> Self {
        self.mss = mss.max(1);
        self
    }

    /// Sets the IP settings (TTL, options, extension headers...) of each side's packets.
    pub fn ip(mut self, client: Ip, server: Ip) -> Self {
        self.client_ip = client;
        self.server_ip = server;
        self
    }

    /// The client's address.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The timestamp the next packet will get.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Adds idle time before the next packet.
    pub fn wait(&mut self, d: Duration) -> &mut Self {
        self.now = Timestamp(self.now.0.saturating_add(d.0));
        self
    }

    /// Appends one segment with explicit numbers at the current time, without touching the sequence state.
    ///
    /// Each side's IPv4 identification counts up from its [`Ip::ident`] by one per packet.
    pub fn raw(
        &mut self,
        from_client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: &[u8],
    ) -> &mut Self {
        let (src, dst, base, count) = if from_client {
            (self.client, self.server, &self.client_ip, &mut self.c_count)
        } else {
            (self.server, self.client, &self.server_ip, &mut self.s_count)
        };
        let ip = Ip {
            ident: base.ident.wrapping_add(*count),
            ..base.clone()
        };
        *count = count.wrapping_add(1);
        let seg = Tcp {
            flags,
            seq,
            ack,
            window: WINDOW,
            ..Tcp::default()
        };
        let bytes = ip.tcp(src, dst, &seg, payload);
        self.packets.push(Sent {
            ts: self.now,
            from_client,
            ip: bytes,
            payload_len: payload.len() as u32,
            flags,
        });
        self.now = Timestamp(self.now.0.saturating_add(self.gap.0));
        self
    }

    /// Appends a segment from one side using and advancing that side's sequence number
    /// (payload, SYN and FIN each consume sequence space); the ACK number is filled when `flags` has ACK.
    pub fn segment(&mut self, from_client: bool, flags: u8, payload: &[u8]) -> &mut Self {
        let (seq, ack) = if from_client {
            (self.c_next, self.s_next)
        } else {
            (self.s_next, self.c_next)
        };
        let ack = if flags & ACK != 0 { ack } else { 0 };
        let used = payload.len() as u32 + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0);
        if from_client {
            self.c_next = self.c_next.wrapping_add(used);
        } else {
            self.s_next = self.s_next.wrapping_add(used);
            if flags & SYN != 0 {
                self.s_synced = true;
            }
        }
        self.raw(from_client, flags, seq, ack, payload)
    }

    /// Client SYN with the client's initial sequence number.
    pub fn syn(&mut self) -> &mut Self {
        self.c_next = self.isn_c;
        self.segment(true, SYN, &[])
    }

    /// Server SYN-ACK with the server's initial sequence number.
    pub fn syn_ack(&mut self) -> &mut Self {
        self.s_next = self.isn_s;
        self.segment(false, SYN | ACK, &[])
    }

    /// Client ACK (no payload).
    pub fn ack(&mut self) -> &mut Self {
        self.segment(true, ACK, &[])
    }

    /// The three-way handshake: SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> &mut Self {
        self.syn().syn_ack().ack()
    }

    /// Client sends `payload` in PSH-ACK segments of at most MSS bytes; the server ACKs once at the end.
    pub fn client_send(&mut self, payload: &[u8]) -> &mut Self {
        self.send(true, payload)
    }

    /// Server sends `payload` in PSH-ACK segments; the client ACKs once at the end.
    pub fn server_send(&mut self, payload: &[u8]) -> &mut Self {
        self.send(false, payload)
    }

    /// Client sends `n` deterministic bytes (see [`TcpSession::client_send`]).
    pub fn client_data(&mut self, n: usize) -> &mut Self {
        let p = pattern(self.c_sent, n);
        self.client_send(&p)
    }

    /// Server sends `n` deterministic bytes (see [`TcpSession::server_send`]).
    pub fn server_data(&mut self, n: usize) -> &mut Self {
        let p = pattern(self.s_sent, n);
        self.server_send(&p)
    }

    /// Data segments from one side then one pure ACK from the other (nothing for empty data).
    fn send(&mut self, from_client: bool, payload: &[u8]) -> &mut Self {
        if payload.is_empty() {
            return self;
        }
        for chunk in payload.chunks(self.mss) {
            self.segment(from_client, PSH | ACK, chunk);
        }
        if from_client {
            self.c_sent += payload.len() as u64;
        } else {
            self.s_sent += payload.len() as u64;
        }
        self.segment(!from_client, ACK, &[])
    }

    /// Client-initiated close: client FIN-ACK, server FIN-ACK, client ACK.
    pub fn close(&mut self) -> &mut Self {
        self.segment(true, FIN | ACK, &[])
            .segment(false, FIN | ACK, &[])
            .segment(true, ACK, &[])
    }

    /// Server-initiated close: server FIN-ACK, client FIN-ACK, server ACK.
    pub fn server_close(&mut self) -> &mut Self {
        self.segment(false, FIN | ACK, &[])
            .segment(true, FIN | ACK, &[])
            .segment(false, ACK, &[])
    }

    /// A refused connection: client SYN answered by RST-ACK (sequence 0, acknowledging the SYN), as closed ports do.
    pub fn reject(&mut self) -> &mut Self {
        self.syn();
        let ack = self.c_next;
        self.raw(false, RST | ACK, 0, ack, &[])
    }

    /// An unanswered connection attempt: a SYN and `retries` retransmissions with the same ISN.
    ///
    /// The first retransmission comes `first_rto` after the SYN and each wait
    /// doubles (exponential backoff). Linux: 1 s (RFC 6298's initial RTO),
    /// `tcp_syn_retries` 6. Windows as documented for Windows 2000
    /// (`TcpInitialRTT` 3 s, `TcpMaxConnectRetransmissions` 2, so SYNs at 0, 3
    /// and 9 s); newer Windows sets both per TCP template (`InitialRto`,
    /// `MaxSynRetransmissions`), so check the system being modelled. The next
    /// packet comes `gap` after the last SYN.
    pub fn unanswered(&mut self, retries: u32, first_rto: Duration) -> &mut Self {
        self.syn();
        let mut rto = first_rto.0;
        for _ in 0..retries {
            let last = self.packets.last().map_or(self.now, |p| p.ts);
            self.now = Timestamp(last.0.saturating_add(rto));
            self.raw(true, SYN, self.isn_c, 0, &[]);
            rto = rto.saturating_mul(2);
        }
        self
    }

    /// The client aborts: RST-ACK after the server's SYN was seen, a bare RST before.
    pub fn client_rst(&mut self) -> &mut Self {
        let flags = if self.s_synced { RST | ACK } else { RST };
        self.segment(true, flags, &[])
    }

    /// The server aborts with RST-ACK at its current sequence number.
    pub fn server_rst(&mut self) -> &mut Self {
        self.segment(false, RST | ACK, &[])
    }

    /// Times of the client's SYNs (first and retransmissions).
    pub fn syn_times(&self) -> Vec<Timestamp> {
        self.packets
            .iter()
            .filter(|p| p.from_client && p.flags & SYN != 0)
            .map(|p| p.ts)
            .collect()
    }
}

impl Conversation for TcpSession {
    fn packets(&self) -> &[Sent] {
        &self.packets
    }
}

/// A scripted UDP exchange between a client (originator) and a server.
#[derive(Clone, Debug)]
pub struct UdpSession {
    /// Originator address and port.
    client: SocketAddr,
    /// Responder address and port.
    server: SocketAddr,
    /// IP settings of all packets.
    ip: Ip,
    /// Timestamp of the next packet.
    now: Timestamp,
    /// Clock advance after each packet.
    gap: Duration,
    /// Client bytes sent so far, for the payload pattern.
    c_sent: u64,
    /// Server bytes sent so far.
    s_sent: u64,
    /// Everything sent.
    packets: Vec<Sent>,
}

impl UdpSession {
    /// An exchange that has sent nothing yet, starting at [`START`].
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        UdpSession {
            client,
            server,
            ip: Ip::default(),
            now: START,
            gap: DEFAULT_GAP,
            c_sent: 0,
            s_sent: 0,
            packets: Vec::new(),
        }
    }

    /// Sets the time of the next packet.
    pub fn starting_at(mut self, ts: Timestamp) -> Self {
        self.now = ts;
        self
    }

    /// Sets the time between consecutive packets.
    pub fn gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// Sets the IP settings of every packet.
    pub fn ip(mut self, ip: Ip) -> Self {
        self.ip = ip;
        self
    }

    /// The timestamp the next packet will get.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Adds idle time before the next packet.
    pub fn wait(&mut self, d: Duration) -> &mut Self {
        self.now = Timestamp(self.now.0.saturating_add(d.0));
        self
    }

    /// Client sends one datagram with `payload`.
    pub fn client_send(&mut self, payload: &[u8]) -> &mut Self {
        self.push(true, payload)
    }

    /// Server sends one datagram with `payload`.
    pub fn server_send(&mut self, payload: &[u8]) -> &mut Self {
        self.push(false, payload)
    }

    /// Client sends one datagram of `n` deterministic bytes.
    pub fn request(&mut self, n: usize) -> &mut Self {
        let p = pattern(self.c_sent, n);
        self.c_sent += n as u64;
        self.push(true, &p)
    }

    /// Server sends one datagram of `n` deterministic bytes.
    pub fn response(&mut self, n: usize) -> &mut Self {
        let p = pattern(self.s_sent, n);
        self.s_sent += n as u64;
        self.push(false, &p)
    }

    /// Records one datagram and advances the clock.
    fn push(&mut self, from_client: bool, payload: &[u8]) -> &mut Self {
        let (s, d) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let ip = self.ip.udp(s, d, payload);
        self.packets.push(Sent {
            ts: self.now,
            from_client,
            ip,
            payload_len: payload.len() as u32,
            flags: 0,
        });
        self.now = Timestamp(self.now.0.saturating_add(self.gap.0));
        self
    }
}

impl Conversation for UdpSession {
    fn packets(&self) -> &[Sent] {
        &self.packets
    }
}

/// A wrapper applied to each IP datagram before link framing (for example a tunnel).
pub type Encap = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// Timed link-layer frames of one link type, ready to be written as pcap or pcapng.
///
/// Frames are written in insertion order; call [`Trace::sort`] after adding
/// several conversations to interleave them by time. A trace holds every frame
/// in memory: for captures too large for that, drive [`PcapWriter`] or
/// [`PcapNgWriter`] directly with [`Ip::write_tcp`] and [`Link::write_frame`]
/// into reused buffers.
pub struct Trace {
    /// Framing of pushed datagrams, and the file's link type.
    link: Link,
    /// Optional wrapper around each datagram before framing.
    encap: Option<Encap>,
    /// The frames, in write order.
    frames: Vec<(Timestamp, Vec<u8>)>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("link", &self.link)
            .field("encap", &self.encap.is_some())
            .field("frames", &self.frames.len())
            .finish()
    }
}

impl Trace {
    /// An empty trace whose datagrams are framed by `link`.
    pub fn new(link: Link) -> Self {
        Trace {
            link,
            encap: None,
            frames: Vec::new(),
        }
    }

    /// Wraps every datagram pushed from now on (e.g. `|ip| gre(a, b, ethertype::IPV4, ip)`) before framing.
    pub fn with_encap(mut self, f: impl Fn(&[u8]) -> Vec<u8> + 'static) -> Self {
        self.encap = Some(Box::new(f));
        self
    }

    /// The link type the written file declares.
    pub fn link_type(&self) -> LinkType {
        self.link.link_type()
    }

    /// Frames (after the encapsulation, if any) and appends one IP datagram.
    pub fn push_ip(&mut self, ts: Timestamp, ip: &[u8]) -> &mut Self {
        let frame = match &self.encap {
            Some(e) => self.link.frame(&e(ip)),
            None => self.link.frame(ip),
        };
        self.frames.push((ts, frame));
        self
    }

    /// Appends an already framed packet as is.
    pub fn push_frame(&mut self, ts: Timestamp, frame: Vec<u8>) -> &mut Self {
        self.frames.push((ts, frame));
        self
    }

    /// Appends every packet of a conversation.
    pub fn add(&mut self, c: &impl Conversation) -> &mut Self {
        for p in c.packets() {
            self.push_ip(p.ts, &p.ip);
        }
        self
    }

    /// Orders frames by time, keeping insertion order among equal times.
    pub fn sort(&mut self) -> &mut Self {
        self.frames.sort_by_key(|f| f.0);
        self
    }

    /// The frames in write order.
    pub fn frames(&self) -> &[(Timestamp, Vec<u8>)] {
        &self.frames
    }

    /// Writes a classic pcap file (snaplen 262144) and returns the writer.
    pub fn write_pcap<W: Write>(&self, w: W, big_endian: bool, nanos: bool) -> io::Result<W> {
        let opts = PcapOptions {
            big_endian,
            nanos,
            link: self.link_type(),
            snaplen: DEFAULT_SNAPLEN,
        };
        let mut pw = PcapWriter::new(w, opts)?;
        for (ts, f) in &self.frames {
            pw.write_packet(*ts, f, None)?;
        }
        pw.into_inner()
    }

    /// Writes a one-section, one-interface pcapng file of EPBs and returns the writer.
    pub fn write_pcapng<W: Write>(
        &self,
        w: W,
        big_endian: bool,
        tsresol: TsResol,
    ) -> io::Result<W> {
        let mut nw = PcapNgWriter::new(w, big_endian)?;
        let id = nw.add_interface(self.link_type(), tsresol, DEFAULT_SNAPLEN)?;
        for (ts, f) in &self.frames {
            nw.write_epb(id, *ts, f, None)?;
        }
        nw.into_inner()
    }

    /// The trace as little-endian microsecond pcap bytes.
    pub fn to_pcap(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        self.write_pcap(Vec::new(), false, false)
            .unwrap_or_default()
    }

    /// The trace as little-endian microsecond pcapng bytes.
    pub fn to_pcapng(&self) -> Vec<u8> {
        self.write_pcapng(Vec::new(), false, TsResol::Decimal(6))
            .unwrap_or_default()
    }

    /// Writes the trace to a file: pcapng when the name ends in `.pcapng`, else pcap (both little-endian, microseconds).
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let w = io::BufWriter::new(std::fs::File::create(path)?);
        if path.extension().is_some_and(|e| e == "pcapng") {
            self.write_pcapng(w, false, TsResol::Decimal(6))?;
        } else {
            self.write_pcap(w, false, false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::link::{Link, ethertype, gre};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapBlockOwned, PcapNGSlice};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// One TCP packet as an independent parser sees it.
    #[derive(Debug, PartialEq)]
    struct Seen {
        ts: i64,
        src: SocketAddr,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: usize,
        ip_len: usize,
    }

    /// Reads a pcapng with pcap-parser and each Ethernet frame's TCP header with etherparse.
    fn read_tcp(bytes: &[u8]) -> Vec<Seen> {
        let mut out = Vec::new();
        for b in PcapNGSlice::from_slice(bytes).unwrap() {
            if let PcapBlockOwned::NG(Block::EnhancedPacket(e)) = b.unwrap() {
                let (s, us) = e.decode_ts(0, 1_000_000);
                let p = SlicedPacket::from_ethernet(&e.data[..e.caplen as usize]).unwrap();
                let (ip, ip_len) = match &p.net {
                    Some(NetSlice::Ipv4(v)) => (
                        v.header().source_addr().into(),
                        usize::from(v.header().total_len()),
                    ),
                    Some(NetSlice::Ipv6(v)) => (
                        v.header().source_addr().into(),
                        usize::from(v.header().payload_length()) + 40,
                    ),
                    _ => panic!("not ip"),
                };
                let Some(TransportSlice::Tcp(t)) = &p.transport else {
                    panic!("not tcp")
                };
                let flags = u8::from(t.fin())
                    | u8::from(t.syn()) << 1
                    | u8::from(t.rst()) << 2
                    | u8::from(t.psh()) << 3
                    | u8::from(t.ack()) << 4;
                out.push(Seen {
                    ts: i64::from(s) * 1_000_000_000 + i64::from(us) * 1000,
                    src: SocketAddr::new(ip, t.source_port()),
                    flags,
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    payload: t.payload().len(),
                    ip_len,
                });
            }
        }
        out
    }

    #[test]
    fn full_connection_numbers_flags_and_ground_truth() {
        let c = sa("10.0.0.1:50000");
        let srv = sa("10.0.0.2:389");
        let mut s = TcpSession::new(c, srv, 1000, 5000);
        s.handshake().client_data(100).server_data(3000).close();
        let mut t = Trace::new(Link::ethernet());
        t.add(&s);
        let seen = read_tcp(&t.to_pcapng());

        // The script, written out by hand: handshake, 1 request + ACK, 3 response segments
        // (1460 + 1460 + 80) + ACK, then FIN/FIN/ACK.
        let expect: Vec<(bool, u8, u32, u32, usize)> = vec![
            (true, SYN, 1000, 0, 0),
            (false, SYN | ACK, 5000, 1001, 0),
            (true, ACK, 1001, 5001, 0),
            (true, PSH | ACK, 1001, 5001, 100),
            (false, ACK, 5001, 1101, 0),
            (false, PSH | ACK, 5001, 1101, 1460),
            (false, PSH | ACK, 6461, 1101, 1460),
            (false, PSH | ACK, 7921, 1101, 80),
            (true, ACK, 1101, 8001, 0),
            (true, FIN | ACK, 1101, 8001, 0),
            (false, FIN | ACK, 8001, 1102, 0),
            (true, ACK, 1102, 8002, 0),
        ];
        assert_eq!(seen.len(), expect.len());
        for (i, (p, e)) in seen.iter().zip(&expect).enumerate() {
            assert_eq!(p.src, if e.0 { c } else { srv }, "packet {i} direction");
            assert_eq!(
                (p.flags, p.seq, p.ack, p.payload),
                (e.1, e.2, e.3, e.4),
                "packet {i}"
            );
            assert_eq!(p.ts, START.0 + i as i64 * DEFAULT_GAP.0, "packet {i} time");
        }
        // Ground truth accessors agree with what the parser saw.
        let from_c: Vec<&Seen> = seen.iter().filter(|p| p.src == c).collect();
        assert_eq!(s.client_packets(), from_c.len() as u64);
        assert_eq!(s.server_packets(), (seen.len() - from_c.len()) as u64);
        assert_eq!(
            s.client_ip_bytes(),
            from_c.iter().map(|p| p.ip_len as u64).sum::<u64>()
        );
        assert_eq!(s.client_payload_bytes(), 100);
        assert_eq!(s.server_payload_bytes(), 3000);
        assert_eq!(s.duration(), Duration(11 * DEFAULT_GAP.0));
    }

    #[test]
    fn ipv4_identification_counts_up_per_side_and_ttl_applies() {
        let client_ip = Ip {
            ident: 100,
            ttl: 128,
            ..Ip::default()
        };
        let mut s = TcpSession::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"), 0, 0).ip(
            client_ip,
            Ip {
                ident: 7,
                ..Ip::default()
            },
        );
        s.handshake().close();
        let ids: Vec<(u8, u16, u8)> = s
            .packets()
            .iter()
            .map(|p| {
                let (h, _) = etherparse::Ipv4Header::from_slice(&p.ip).unwrap();
                (h.source[3], h.identification, h.time_to_live)
            })
            .collect();
        assert_eq!(
            ids,
            [
                (1, 100, 128),
                (2, 7, 64),
                (1, 101, 128),
                (1, 102, 128),
                (2, 8, 64),
                (1, 103, 128)
            ]
        );
    }

    #[test]
    fn reject_and_resets() {
        let mut s = TcpSession::new(sa("[2001:db8::1]:50000"), sa("[2001:db8::2]:88"), 7, 9);
        s.reject();
        let mut t = Trace::new(Link::ethernet());
        t.add(&s);
        let seen = read_tcp(&t.to_pcapng());
        assert_eq!(
            seen.iter()
                .map(|p| (p.flags, p.seq, p.ack))
                .collect::<Vec<_>>(),
            [(SYN, 7, 0), (RST | ACK, 0, 8)]
        );

        let mut s = TcpSession::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"), 100, 200);
        s.handshake().client_data(10).client_rst();
        let mut r = TcpSession::new(sa("10.0.0.1:3"), sa("10.0.0.2:2"), 100, 200);
        r.syn().client_rst();
        let mut q = TcpSession::new(sa("10.0.0.1:4"), sa("10.0.0.2:2"), 100, 200);
        q.handshake().server_rst();
        let mut t = Trace::new(Link::ethernet());
        t.add(&s).add(&r).add(&q);
        let seen = read_tcp(&t.to_pcapng());
        let last = |port: u16| {
            seen.iter()
                .rfind(|p| p.src.port() == port)
                .map(|p| (p.flags, p.seq, p.ack))
        };
        assert_eq!(last(1), Some((RST | ACK, 111, 201)));
        assert_eq!(last(3), Some((RST, 101, 0)));
        let srv_last = seen.last().map(|p| (p.src, p.flags, p.seq, p.ack));
        assert_eq!(srv_last, Some((sa("10.0.0.2:2"), RST | ACK, 201, 101)));
    }

    #[test]
    fn unanswered_syns_back_off_exponentially_with_same_isn() {
        let mut s = TcpSession::new(sa("10.0.0.1:50000"), sa("10.0.0.2:3268"), 42, 0);
        s.unanswered(3, Duration::from_secs(1));
        let mut t = Trace::new(Link::Raw);
        t.add(&s);
        // Parse the raw-IP pcap with pcap-parser's legacy functions and etherparse.
        let bytes = t.to_pcap();
        let (mut rem, hdr) = pcap_parser::pcap::parse_pcap_header(&bytes).unwrap();
        assert_eq!(hdr.network.0, 101);
        let mut times = Vec::new();
        while !rem.is_empty() {
            let (r, rec) = pcap_parser::pcap::parse_pcap_frame(rem).unwrap();
            let p = SlicedPacket::from_ip(rec.data).unwrap();
            let Some(TransportSlice::Tcp(tcp)) = p.transport else {
                panic!()
            };
            assert!(tcp.syn() && !tcp.ack());
            assert_eq!(tcp.sequence_number(), 42);
            times.push(i64::from(rec.ts_sec) * 1_000_000 + i64::from(rec.ts_usec));
            rem = r;
        }
        let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, [1_000_000, 2_000_000, 4_000_000]);
        assert_eq!(s.syn_times().len(), 4);
        assert_eq!(s.server_packets(), 0);
    }

    #[test]
    fn udp_exchange_ground_truth() {
        let mut u = UdpSession::new(sa("10.0.0.1:5000"), sa("10.0.0.2:53"));
        u.request(30)
            .response(100)
            .wait(Duration::from_secs(5))
            .request(30);
        assert_eq!((u.client_packets(), u.server_packets()), (2, 1));
        assert_eq!(u.client_payload_bytes(), 60);
        // 20-byte IPv4 header + 8-byte UDP header per datagram.
        assert_eq!(u.client_ip_bytes(), 2 * (28 + 30));
        assert_eq!(u.server_ip_bytes(), 128);
        assert_eq!(u.duration(), Duration(2 * DEFAULT_GAP.0 + 5_000_000_000));
        let mut t = Trace::new(Link::Sll2);
        t.add(&u);
        assert_eq!(t.frames().len(), 3);
        for (_, f) in t.frames() {
            let p = SlicedPacket::from_ip(&f[20..]).unwrap();
            assert!(matches!(p.transport, Some(TransportSlice::Udp(_))));
        }
    }

    #[test]
    fn encapsulated_trace_and_sorting() {
        let outer_a = "192.0.2.1".parse().unwrap();
        let outer_b = "192.0.2.2".parse().unwrap();
        let mut a = TcpSession::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"), 0, 0).gap(Duration(3));
        a.handshake();
        let mut b = TcpSession::new(sa("10.0.0.1:5"), sa("10.0.0.2:2"), 0, 0)
            .starting_at(Timestamp(START.0 + 4))
            .gap(Duration(3));
        b.handshake();
        let mut t = Trace::new(Link::ethernet())
            .with_encap(move |ip| gre(outer_a, outer_b, ethertype::IPV4, ip));
        t.add(&a).add(&b).sort();
        let times: Vec<i64> = t.frames().iter().map(|f| f.0.0 - START.0).collect();
        assert_eq!(times, [0, 3, 4, 6, 7, 10]);
        let f = &t.frames()[0].1;
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(v)) = &p.net else {
            panic!()
        };
        assert_eq!(v.header().protocol().0, 47);
        let inner = &v.payload().payload[4..];
        let ip = SlicedPacket::from_ip(inner).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = ip.transport else {
            panic!()
        };
        assert!(tcp.syn());
    }

    #[test]
    fn same_script_same_bytes() {
        let build = || {
            let mut s = TcpSession::new(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"), 9, 9);
            s.handshake().client_data(5000).server_data(10).close();
            let mut u = UdpSession::new(sa("10.0.0.1:1"), sa("10.0.0.2:53"));
            u.request(40).response(80);
            let mut t = Trace::new(Link::Ethernet(vec![5, 6]));
            t.add(&s).add(&u).sort();
            (t.to_pcap(), t.to_pcapng())
        };
        let (a, b) = build();
        assert_eq!((a.clone(), b.clone()), build());
        assert_ne!(a, b);
    }

    #[test]
    fn save_picks_format_from_extension() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TcpSession::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"), 0, 0);
        s.reject();
        let mut t = Trace::new(Link::ethernet());
        t.add(&s);
        t.save(dir.path().join("a.pcapng")).unwrap();
        t.save(dir.path().join("a.pcap")).unwrap();
        let ng = std::fs::read(dir.path().join("a.pcapng")).unwrap();
        let pc = std::fs::read(dir.path().join("a.pcap")).unwrap();
        assert_eq!(&ng[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        assert_eq!(&pc[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(read_tcp(&ng).len(), 2);
    }
}
