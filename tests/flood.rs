//! Floods through the whole library path stay bounded: a SYN flood larger
//! than the connection limit, and IP fragments that never complete. The
//! expected numbers come from what each test wrote (how many SYNs, how many
//! fragments), never from the code under test. A 5-million-SYN version with
//! memory figures is `benches/flood.rs`.

use flowaudit::decode::{DecodeConfig, Decoder};
use flowaudit::pipeline::{self, Options};
use flowaudit::read::{LinkType, Source};
use flowaudit::synth::{PcapOptions, PcapWriter};
use flowaudit::time::Timestamp;
use flowaudit::track::TrackConfig;
use std::io::BufWriter;

/// A TCP SYN from a distinct client (address, port) per `i` to 192.0.2.1:445,
/// built by the repository's capture builder.
fn syn(i: u32) -> Vec<u8> {
    let client = std::net::SocketAddr::from((
        (0x0a00_0000 | (i >> 10)).to_be_bytes(),
        1024 + (i & 0x3ff) as u16,
    ));
    flowaudit::synth::tcp(
        client,
        "192.0.2.1:445".parse().unwrap(),
        0x02,
        i,
        0,
        64_240,
        &[],
    )
}

#[test]
fn syn_flood_beyond_the_limit_evicts_and_loses_nothing() {
    const SYNS: u32 = 200_000;
    const LIMIT: usize = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flood.pcap");
    let file = std::fs::File::create(&path).expect("create");
    let opts = PcapOptions {
        link: LinkType::RAW,
        ..PcapOptions::default()
    };
    let mut w = PcapWriter::new(BufWriter::new(file), opts).expect("header");
    for i in 0..SYNS {
        // 10 µs apart: 2 s in all, far below every timeout, so only the limit frees memory.
        let ts = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 10_000);
        w.write_packet(ts, &syn(i), None).expect("write");
    }
    w.into_inner().expect("flush");

    let o = Options {
        track: TrackConfig {
            max_connections: LIMIT,
            ..TrackConfig::default()
        },
        ..Options::default()
    };
    let mut rows = 0u64;
    let mut s0 = 0u64;
    let (results, stats) =
        pipeline::run_with_stats(&[Source::Path(path)], &o, &mut |_| {}, &mut |c| {
            rows += 1;
            s0 += u64::from(c.conn_state == "S0" && c.syn_attempts == 1);
        });
    let rep = results[0].as_ref().expect("read");
    assert_eq!(rep.info.packets, u64::from(SYNS));
    assert_eq!(rep.decode.decoded, u64::from(SYNS));
    // Every SYN is its own unanswered connection, reported once, none lost.
    assert_eq!((rows, s0), (u64::from(SYNS), u64::from(SYNS)));
    assert_eq!(stats.connections, u64::from(SYNS));
    assert_eq!(stats.peak_open, LIMIT);
    // All but what is still open at the end were evicted, each counted as S0 / unanswered.
    assert!(stats.evicted >= u64::from(SYNS) - LIMIT as u64, "{stats:?}");
    assert_eq!(stats.evicted_by_state.get("S0"), Some(&stats.evicted));
    assert_eq!(
        stats.evicted_by_handshake.get("unanswered"),
        Some(&stats.evicted)
    );
    assert_eq!(stats.evicted_unanswered, stats.evicted);
}

/// A raw IPv4 first fragment (MF set) of 1400 payload bytes, datagram id `i`.
fn first_fragment(i: u32) -> Vec<u8> {
    let mut p = vec![0u8; 20 + 1400];
    p[..4].copy_from_slice(&[0x45, 0, 0x05, 0x8c]); // total length 1420
    p[4..6].copy_from_slice(&(i as u16).to_be_bytes());
    p[6] = 0x20; // MF, offset 0
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&(0x0a00_0000 | (i >> 16)).to_be_bytes());
    p[16..20].copy_from_slice(&[192, 0, 2, 1]);
    p
}

#[test]
fn fragments_that_never_complete_stay_within_the_buffer_limits() {
    const FRAGS: u32 = 100_000;
    let cfg = DecodeConfig {
        max_fragment_bytes: 1 << 20,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(cfg);
    let mut peak = 0;
    for i in 0..FRAGS {
        let ts = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 1_000);
        d.decode(
            ts,
            u64::from(i) + 1,
            LinkType::RAW,
            &first_fragment(i),
            &mut |_| panic!("an incomplete datagram was emitted"),
        );
        peak = peak.max(d.stats().fragments_buffered);
    }
    // 1 MiB holds at most 748 fragments of 1400 bytes: the byte limit binds.
    assert!(peak <= (1 << 20) / 1400, "peak {peak} fragments held");
    assert!(peak > 100, "the pool was used: {peak}");
    d.flush();
    let s = d.stats();
    let evicted = s
        .not_decoded
        .get("ipv4: fragment evicted, reassembly buffer full")
        .copied()
        .unwrap_or(0);
    let never = s
        .not_decoded
        .get("ipv4: fragment never completed")
        .copied()
        .unwrap_or(0);
    assert_eq!(evicted + never, u64::from(FRAGS), "{s:?}");
    assert!(evicted >= u64::from(FRAGS) - peak);
    assert_eq!(s.fragments_buffered, 0);
}

#[test]
fn the_report_says_when_the_connection_limit_was_reached() {
    // 300 unanswered SYNs from distinct clients, a limit of 50.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.pcap");
    let mut w = PcapWriter::new(
        BufWriter::new(std::fs::File::create(&path).unwrap()),
        PcapOptions {
            link: flowaudit::read::LinkType::RAW,
            ..PcapOptions::default()
        },
    )
    .unwrap();
    for i in 0..300u32 {
        w.write_packet(
            Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 1_000_000_000),
            &syn(i),
            None,
        )
        .unwrap();
    }
    w.into_inner().unwrap();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "features = []\n[roles]\nsync = [\"10.0.0.0/8\"]\ndc = [\"192.0.2.1\"]\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("flowaudit")
        .unwrap()
        .args([
            "audit",
            "--max-connections",
            "50",
            "-f",
            "json",
            "--fail-on",
            "never",
            "-i",
        ])
        .arg(&inv)
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = doc["summary"]["capture_warnings"].to_string();
    assert!(
        warnings.contains("connections were reported early") && warnings.contains("more than 50"),
        "{warnings}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reported early"), "{stderr}");
    // Every attempt is still accounted for (the last SYNs, in the capture's
    // final seconds, are inconclusive rather than blocked).
    let attempts: u64 = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "blocked" || f["kind"] == "inconclusive")
        .flat_map(|f| f["hosts"].as_array().unwrap().iter())
        .map(|h| h["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 300);
}
