//! Floods through the whole library path stay bounded: a SYN flood larger
//! than the connection limit, and IP fragments that never complete. The
//! expected numbers come from what each test wrote (how many SYNs, how many
//! fragments), never from the code under test. A 5-million-SYN version with
//! memory figures is `benches/flood.rs`; a 3-million-SYN capture for the
//! report size is `examples/synth_flood.rs`.

mod common;

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

/// A SYN flood of `n` never-answered SYNs, each from its own source
/// (11.0.0.0/8, no cloud range) to a port of the DC 10.0.0.4 spread over
/// 1-65535, 10 µs apart; (capture, inventory, distinct ports).
fn flood_to_dc(dir: &std::path::Path, n: u32) -> (std::path::PathBuf, std::path::PathBuf, usize) {
    let path = dir.join(format!("flood-{n}.pcap"));
    let file = std::fs::File::create(&path).expect("create");
    let opts = PcapOptions {
        link: LinkType::RAW,
        ..PcapOptions::default()
    };
    let mut w = PcapWriter::new(BufWriter::new(file), opts).expect("header");
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..n {
        let src = std::net::SocketAddr::from(((0x0b00_0000 | i).to_be_bytes(), 40_000));
        let port = 1 + (i.wrapping_mul(7919) % 65_535) as u16;
        ports.insert(port);
        let dst = std::net::SocketAddr::from(([10, 0, 0, 4], port));
        let ts = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 10_000);
        let frame = flowaudit::synth::tcp(src, dst, 0x02, i, 0, 64_240, &[]);
        w.write_packet(ts, &frame, None).expect("write");
    }
    w.into_inner().expect("flush");
    let inv = dir.join("inventory.toml");
    std::fs::write(
        &inv,
        "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .expect("inventory");
    (path, inv, ports.len())
}

/// A flood gives a report of a few hundred kilobytes whatever its size (the
/// busiest ports and host pairs, exact totals), and says what it is.
#[test]
fn a_syn_flood_gives_a_small_report_with_exact_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sizes = Vec::new();
    for n in [10_000u32, 40_000] {
        let (cap, inv, ports) = flood_to_dc(dir.path(), n);
        let audit = |format: &str| {
            let out = common::flowaudit()
                .args(["audit", "--fail-on", "never", "-f", format, "-i"])
                .arg(&inv)
                .arg(&cap)
                .output()
                .expect("run flowaudit");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let json = audit("json");
        let html = audit("html");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        let findings = v["findings"].as_array().expect("findings");
        let mut count = 0;
        let mut pairs = 0;
        // Besides the flood: the flows of a sync server the capture never shows.
        for f in findings.iter().filter(|f| f["kind"] != "missing") {
            assert_eq!(f["kind"], "unclassified", "{f}");
            count += f["count"].as_u64().expect("count");
            pairs += f["hosts_total"].as_u64().expect("hosts_total");
            let listed = f["hosts"].as_array().expect("hosts").len();
            assert!(listed <= 20, "{listed} host pairs listed");
            let ev: Vec<&str> = f["evidence"]
                .as_array()
                .expect("evidence")
                .iter()
                .filter_map(|e| e.as_str())
                .collect();
            let unique: std::collections::BTreeSet<&&str> = ev.iter().collect();
            assert_eq!(unique.len(), ev.len(), "an evidence line repeats: {ev:#?}");
        }
        // Every SYN its own connection and host pair, none lost to the caps.
        assert_eq!((count, pairs), (u64::from(n), u64::from(n)));
        let said = format!(
            "flood or scan: {n} failed connection attempts from {n} unknown hosts to {ports} tcp ports of dc (10.0.0.4)"
        );
        let warnings = v["summary"]["capture_warnings"].to_string();
        assert!(warnings.contains(&said), "{warnings}");
        sizes.push((json.len(), html.len()));
    }
    eprintln!("report sizes (json, html) for 10k and 40k SYNs: {sizes:?}");
    for &(json, html) in &sizes {
        assert!(json < 1 << 20 && html < 1 << 20, "{sizes:?}");
    }
    // Four times the SYNs, about the same report (listing every pair would
    // make it four times larger).
    let (small, large) = (sizes[0], sizes[1]);
    assert!(
        large.0 * 10 < small.0 * 13 && large.1 * 10 < small.1 * 13,
        "{sizes:?}"
    );
}
