//! Hostile and broken input through the whole library path (bytes -> read ->
//! decode -> track): arbitrary bytes as a capture, arbitrary bytes behind valid
//! pcap/pcapng headers, valid captures with arbitrary packet bodies, and real
//! captures cut short and with bytes flipped.
//!
//! Properties: nothing panics; every record read is counted exactly once by
//! the decoder (`frames == decoded + reassembled + fragments_buffered +
//! sum(not_decoded)`, with nothing left buffered after the end of the input);
//! the tracker never holds more than its limit.
//!
//! Case counts: `FLOWAUDIT_PROPTEST_CASES` sets the total over all properties
//! (default 10 000), split by weight below. Minimised failures are kept in
//! `tests/hostile.proptest-regressions` and replayed first on every run.

mod common;

use flowaudit::decode::DecodeConfig;
use flowaudit::pipeline::{self, CaptureReport, Options};
use flowaudit::read::LinkType;
use flowaudit::synth::{
    Conversation, Link, PcapNgWriter, PcapOptions, PcapWriter, TcpSession, Trace, TsResol,
};
use flowaudit::time::Timestamp;
use flowaudit::track::{Handshake, TrackConfig};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::net::SocketAddr;
use std::sync::OnceLock;

/// Total cases over all properties: 10 000 by default, or `FLOWAUDIT_PROPTEST_CASES`.
fn total_cases() -> u32 {
    std::env::var("FLOWAUDIT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10_000)
}

/// The config of a property that gets `share` percent of the total.
fn config(share: u32) -> ProptestConfig {
    ProptestConfig {
        cases: (total_cases() * share / 100).max(1),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // Shrinking a failure should not take forever on 2 cores.
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// Small limits, so that eviction paths run too.
fn opts() -> Options {
    Options {
        track: TrackConfig {
            max_connections: 8,
            ..TrackConfig::default()
        },
        decode: DecodeConfig {
            max_fragment_datagrams: 4,
            max_fragment_bytes: 4096,
            ..DecodeConfig::default()
        },
        ..Options::default()
    }
}

/// Runs the library over `bytes` as one capture; checks the counting
/// invariant; returns the report when the input was a capture.
fn check(bytes: Vec<u8>) -> Result<Option<CaptureReport>, TestCaseError> {
    let mut rows = 0u64;
    let (res, stats) = pipeline::run_stream(
        "mem.pcap",
        Box::new(std::io::Cursor::new(bytes)),
        &opts(),
        &mut |_| rows += 1,
    );
    prop_assert!(stats.peak_open <= 8, "peak {}", stats.peak_open);
    prop_assert_eq!(stats.connections, rows, "every connection emitted once");
    let Ok(rep) = res else {
        return Ok(None);
    };
    let d = &rep.decode;
    let not: u64 = d.not_decoded.values().sum();
    prop_assert_eq!(d.frames, rep.info.packets, "decoder saw every record");
    prop_assert_eq!(
        d.frames,
        d.decoded + d.reassembled + d.fragments_buffered + not,
        "every frame counted once: {:?}",
        d
    );
    prop_assert_eq!(d.fragments_buffered, 0, "nothing left buffered after flush");
    for w in &rep.info.warnings {
        prop_assert!(w.contains("mem.pcap"), "warning names the file: {}", w);
    }
    Ok(Some(rep))
}

/// Link types worth aiming bodies at: every one the decoder knows, plus one it does not.
const LINKS: [u32; 15] = [
    0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 160, 239, 105, 127,
];

/// A pcap file header (either byte order, usec or nsec, or the modified format).
fn pcap_header(big: bool, magic: u32, link: u32, snaplen: u32) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut h = Vec::with_capacity(24);
    h.extend(w32(magic));
    h.extend(w16(2));
    h.extend(w16(4));
    h.extend([0; 8]);
    h.extend(w32(snaplen));
    h.extend(w32(link));
    h
}

/// A pcapng section header and one interface description.
fn pcapng_header(big: bool, link: u32) -> Vec<u8> {
    let mut w = match PcapNgWriter::new(Vec::new(), big) {
        Ok(w) => w,
        Err(e) => panic!("writing to a Vec: {e}"),
    };
    let r = w.add_interface(LinkType(link), TsResol::Decimal(6), 0);
    assert!(r.is_ok());
    w.into_inner().unwrap_or_default()
}

/// Small real captures (under 64 KiB) from the shared corpus, read once.
fn real_captures() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = common::shared_captures();
        let mut v: Vec<(String, Vec<u8>)> = common::manifest()
            .iter()
            .filter_map(|row| {
                let name = row.get("path")?.clone();
                let bytes = std::fs::read(root.join(&name)).ok()?;
                (bytes.len() <= 64 << 10).then_some((name, bytes))
            })
            .collect();
        v.sort();
        assert!(v.len() >= 40, "shared captures missing: {}", v.len());
        v
    })
}

/// An IPv4 header (20 bytes) in front of `body`, protocol and fragment fields chosen.
fn ipv4(proto: u8, frag: u16, id: u16, src: u8, body: &[u8]) -> Vec<u8> {
    let total = (20 + body.len()).min(65_535) as u16;
    let mut p = vec![0x45, 0];
    p.extend(total.to_be_bytes());
    p.extend(id.to_be_bytes());
    p.extend(frag.to_be_bytes());
    p.extend([64, proto, 0, 0, 10, 0, 0, src, 10, 0, 1, 1]);
    p.extend_from_slice(body);
    p
}

proptest! {
    #![proptest_config(config(20))]

    /// Any bytes at all: an error or a (possibly empty, possibly truncated) report.
    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(bytes)?;
    }
}

proptest! {
    #![proptest_config(config(15))]

    /// Arbitrary bytes behind a valid pcap or pcapng header are read as records
    /// (or cut short with a warning), never refused.
    #[test]
    fn arbitrary_bytes_after_valid_header(
        kind in 0u8..5,
        big in any::<bool>(),
        link in prop::sample::select(&LINKS[..]),
        snaplen in prop::sample::select(&[0u32, 60, 65_535, 262_144, u32::MAX][..]),
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = match kind {
            0 => pcap_header(big, 0xa1b2_c3d4, link, snaplen),
            1 => pcap_header(big, 0xa1b2_3c4d, link, snaplen),
            2 => pcap_header(big, 0xa1b2_cd34, link, snaplen),
            _ => pcapng_header(big, link),
        };
        bytes.extend(body);
        let rep = check(bytes)?;
        prop_assert!(rep.is_some(), "a valid header is a capture");
    }
}

proptest! {
    #![proptest_config(config(15))]

    /// Valid records, arbitrary frames: every record is read and counted once.
    #[test]
    fn valid_capture_arbitrary_frames(
        ng in any::<bool>(),
        big in any::<bool>(),
        link in prop::sample::select(&LINKS[..]),
        frames in prop::collection::vec(
            (any::<u32>(), prop::collection::vec(any::<u8>(), 0..300)), 0..24),
    ) {
        let n = frames.len() as u64;
        let bytes = if ng {
            let mut w = PcapNgWriter::new(Vec::new(), big).map_err(|e| TestCaseError::fail(e.to_string()))?;
            w.add_interface(LinkType(link), TsResol::Decimal(9), 0).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (t, f) in &frames {
                w.write_epb(0, Timestamp(i64::from(*t) * 1_000_000), f, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?
        } else {
            let o = PcapOptions { big_endian: big, link: LinkType(link), ..PcapOptions::default() };
            let mut w = PcapWriter::new(Vec::new(), o).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (t, f) in &frames {
                w.write_packet(Timestamp(i64::from(*t) * 1_000_000), f, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?
        };
        let rep = check(bytes)?;
        let rep = rep.ok_or_else(|| TestCaseError::fail("valid capture refused"))?;
        prop_assert_eq!(rep.info.packets, n);
        prop_assert!(!rep.info.truncated);
    }

    /// Valid IPv4 headers (any protocol, fragment fields, few addresses and ids
    /// so fragments meet) over arbitrary transport bytes, as raw IP: reaches
    /// the transport, tunnel and reassembly code.
    #[test]
    fn valid_ip_arbitrary_transport(
        pkts in prop::collection::vec(
            (prop::sample::select(&[1u8, 4, 6, 17, 41, 47, 58, 132][..]),
             prop_oneof![Just(0u16), Just(0x4000), 0u16..0x2010, any::<u16>()],
             0u16..4, 1u8..4,
             prop::collection::vec(any::<u8>(), 0..200)), 1..32),
    ) {
        let n = pkts.len() as u64;
        let o = PcapOptions { link: LinkType::RAW, ..PcapOptions::default() };
        let mut w = PcapWriter::new(Vec::new(), o).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, (proto, frag, id, src, body)) in pkts.iter().enumerate() {
            let ts = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000);
            w.write_packet(ts, &ipv4(*proto, *frag, *id, *src, body), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let bytes = w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rep = check(bytes)?.ok_or_else(|| TestCaseError::fail("valid capture refused"))?;
        prop_assert_eq!(rep.info.packets, n);
    }
}

proptest! {
    #![proptest_config(config(10))]

    /// Scripted TCP sessions with arbitrary payload bytes (several sessions,
    /// either capture format): the connections found are exactly the sessions
    /// written, with the packet counts the sessions report as ground truth.
    #[test]
    fn tcp_sessions_with_arbitrary_payloads(
        ng in any::<bool>(),
        big in any::<bool>(),
        sessions in prop::collection::vec(
            prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 1..1600)), 0..6),
            1..4),
    ) {
        let mut trace = Trace::new(Link::ethernet());
        let mut truth = Vec::new();
        for (i, msgs) in sessions.iter().enumerate() {
            let client = SocketAddr::from(([10, 0, 0, 1 + i as u8], 50_000 + i as u16));
            let server = SocketAddr::from(([10, 0, 1, 1], 636));
            let mut s = TcpSession::new(client, server, 1000 * (i as u32 + 1), 7);
            s.handshake();
            for (from_client, payload) in msgs {
                if *from_client {
                    s.client_send(payload);
                } else {
                    s.server_send(payload);
                }
            }
            s.close();
            truth.push((client, s.client_packets(), s.server_packets()));
            trace.add(&s);
        }
        trace.sort();
        let bytes = if ng {
            trace.write_pcapng(Vec::new(), big, TsResol::Decimal(9))
        } else {
            trace.write_pcap(Vec::new(), big, false)
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut conns = Vec::new();
        let (res, _) = pipeline::run_stream(
            "mem.pcap",
            Box::new(std::io::Cursor::new(bytes)),
            &Options::default(),
            &mut |c| conns.push(c),
        );
        let rep = res.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(rep.decode.decoded, rep.info.packets);
        let mut found: Vec<(SocketAddr, u64, u64)> = conns
            .iter()
            .map(|c| (SocketAddr::new(c.orig_h, c.orig_p), c.orig_pkts, c.resp_pkts))
            .collect();
        found.sort();
        truth.sort();
        prop_assert_eq!(found, truth);
        for c in &conns {
            prop_assert_eq!(c.handshake, Handshake::Established);
            prop_assert_eq!(c.conn_state, "SF");
        }
    }
}

proptest! {
    #![proptest_config(config(25))]

    /// Real captures, cut at any offset and with up to 8 bytes overwritten:
    /// never a panic, every record read counted once.
    #[test]
    fn real_capture_cut_and_flipped(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let files = real_captures();
        let (_, orig) = &files[pick.index(files.len())];
        let mut bytes = orig.clone();
        for (at, v) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        check(bytes)?;
    }
}

/// Every shared capture, run twice (each run's hash maps get a fresh random
/// seed) with a tiny connection limit so eviction happens: the connection
/// lists and counters must be identical, so no output depends on hash order.
#[test]
fn output_does_not_depend_on_hash_seeds() {
    let root = common::shared_captures();
    let o = Options {
        track: TrackConfig {
            max_connections: 2,
            ..TrackConfig::default()
        },
        ..opts()
    };
    let mut evicting = 0;
    for row in common::manifest() {
        let Some(name) = row.get("path") else {
            continue;
        };
        let bytes = match std::fs::read(root.join(name)) {
            Ok(b) if b.len() <= 256 << 10 => b,
            _ => continue,
        };
        let run = || {
            let mut rows = Vec::new();
            let (res, stats) = pipeline::run_stream(
                name,
                Box::new(std::io::Cursor::new(bytes.clone())),
                &o,
                &mut |c| rows.push(c),
            );
            (rows, stats, res.map(|r| r.decode).ok())
        };
        let (a, sa, da) = run();
        let (b, sb, db) = run();
        assert_eq!(a, b, "{name}: connections differ between runs");
        assert_eq!(sa, sb, "{name}");
        assert_eq!(da, db, "{name}");
        evicting += usize::from(sa.evicted > 0);
    }
    assert!(evicting >= 5, "only {evicting} captures reached the limit");
}
