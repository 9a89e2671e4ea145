//! The fuzz targets' bodies, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`) and the stable corpus replay
//! (`tests/fuzz_corpus.rs`), which include this file by path.
//!
//! Each body runs the library on untrusted bytes and panics only when an
//! invariant breaks (a panic inside the library fails the same way).

// Each binary uses only its own target's body.
#![allow(dead_code)]

use flowaudit::decode::{DecodeConfig, Decoder};
use flowaudit::pipeline::{self, Options};
use flowaudit::read::LinkType;
use flowaudit::time::Timestamp;
use flowaudit::track::{TrackConfig, Tracker};

/// Small limits, so that the eviction paths are reached with small inputs.
pub fn small_limits() -> Options {
    Options {
        decode: DecodeConfig {
            max_fragment_bytes: 8192,
            max_fragment_datagrams: 8,
            ..DecodeConfig::default()
        },
        track: TrackConfig {
            max_connections: 16,
            ..TrackConfig::default()
        },
        ..Options::default()
    }
}

/// Bytes as a capture file through read -> decode -> track; every record read
/// must be counted once by the decoder.
pub fn read_bytes(data: &[u8]) {
    let mut rows = 0u64;
    let (res, stats) = pipeline::run_stream(
        "fuzz.pcap",
        Box::new(std::io::Cursor::new(data.to_vec())),
        &small_limits(),
        &mut |_| rows += 1,
    );
    assert!(stats.peak_open <= 16);
    assert_eq!(stats.connections, rows);
    if let Ok(rep) = res {
        let d = &rep.decode;
        let not: u64 = d.not_decoded.values().sum();
        assert_eq!(d.frames, rep.info.packets);
        assert_eq!(
            d.frames,
            d.decoded + d.reassembled + d.fragments_buffered + not
        );
    }
}

/// Link types the decode target aims at (every one the decoder knows, and one it does not).
pub const LINKS: [LinkType; 15] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::PPP,
    LinkType::RAW_LEGACY,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(160),
    LinkType(239),
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
];

/// Bytes as frames for the decoder and tracker: the first byte picks the link
/// type from [`LINKS`]; the rest is a sequence of frames, each a 2-byte
/// big-endian length and that many bytes (the last one takes what is left),
/// one millisecond apart, so fragments and connections span frames.
pub fn decode_bytes(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    let opts = small_limits();
    let mut decoder = Decoder::new(opts.decode);
    let mut tracker = Tracker::new(opts.track);
    let mut frames = 0u64;
    while !rest.is_empty() {
        let (frame, tail) = match rest.split_first_chunk::<2>() {
            Some((len, tail)) => {
                let n = usize::from(u16::from_be_bytes(*len)).min(tail.len());
                tail.split_at(n)
            }
            None => (rest, &[][..]),
        };
        rest = tail;
        frames += 1;
        let ts = Timestamp(1_700_000_000_000_000_000 + frames as i64 * 1_000_000);
        decoder.decode(ts, frames, link, frame, &mut |p| {
            tracker.packet(p, &mut |_| {});
        });
    }
    decoder.flush();
    tracker.finish(&mut |_| {});
    let d = decoder.stats();
    let not: u64 = d.not_decoded.values().sum();
    assert_eq!(d.frames, frames);
    assert_eq!(
        d.frames,
        d.decoded + d.reassembled + d.fragments_buffered + not
    );
    assert_eq!(d.fragments_buffered, 0);
    assert!(tracker.stats().peak_open <= 16);
}
