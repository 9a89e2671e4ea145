//! A deterministic capture builder: exact packets, times and link types written as pcap or pcapng, for tests, samples and benchmarks.

pub mod writer;

pub use writer::{DEFAULT_SNAPLEN, PcapNgWriter, PcapOptions, PcapWriter, TsResol};
pub mod packet;
pub mod link;
