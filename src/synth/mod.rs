//! A deterministic capture builder: exact packets, times and link types written
//! as pcap or pcapng, for tests, samples and benchmarks.
//!
//! Nothing here is random or reads the clock: the same calls give the same
//! bytes. The layers compose bottom-up:
//!
//! - [`packet`]: IP datagrams (TCP, UDP, ICMP echo and errors, IPv4 options,
//!   IPv6 extension headers, fragments) with correct lengths and checksums;
//! - [`link`]: link-layer framing ([`Link`]) and tunnels (GRE, IP-in-IP,
//!   Teredo, VXLAN, GTP-U, Geneve);
//! - [`session`]: scripted TCP/UDP conversations that know their own ground
//!   truth ([`Conversation`]), collected into a [`Trace`];
//! - [`writer`]: streaming pcap/pcapng writers over any [`std::io::Write`],
//!   usable directly for large generated captures.
//!
//! A test that needs a rejected TCP connection in a pcapng file:
//!
//! ```
//! use flowaudit::synth::{Conversation, Link, TcpSession, Trace, TsResol};
//!
//! let client = "10.0.0.5:50123".parse().unwrap();
//! let dc = "10.0.0.10:636".parse().unwrap();
//! let mut s = TcpSession::new(client, dc, 1000, 0);
//! s.reject(); // SYN, then RST-ACK from the server
//!
//! let mut trace = Trace::new(Link::ethernet());
//! trace.add(&s);
//! let bytes = trace.write_pcapng(Vec::new(), false, TsResol::Decimal(6)).unwrap();
//! // or: trace.save(dir.join("rejected.pcapng"))
//!
//! assert_eq!((s.client_packets(), s.server_packets()), (1, 1));
//! assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]); // pcapng section header
//! ```

pub mod link;
pub mod packet;
pub mod payload;
pub mod rng;
pub mod sample;
pub mod session;
pub mod writer;

pub use link::{Link, Wifi, ethernet, ethertype, port};
pub use packet::{
    ExtHeader, Ip, Tcp, fragment, fragment_ranges, icmp_echo, icmp_error, packet_too_big, proto,
    tcp, udp,
};
pub use rng::Rng;
pub use session::{
    Conversation, DEFAULT_GAP, DEFAULT_MSS, START, Sent, TcpSession, Trace, UdpSession,
};
pub use writer::{DEFAULT_SNAPLEN, PcapNgWriter, PcapOptions, PcapWriter, TsResol};
