//! Flood benchmark (a plain program, `harness = false`): writes a capture of
//! `FLOWAUDIT_FLOOD_SYNS` (default 5 000 000) never-answered SYNs from
//! distinct source address/port pairs, runs the pipeline over it with
//! `max_connections` = `FLOWAUDIT_FLOOD_LIMIT` (default 100 000), then
//! `FLOWAUDIT_FLOOD_OPEN` (default 1 000 000) completed handshakes that never
//! close with the same limit (evicted least recently active first), then a
//! capture of `FLOWAUDIT_FLOOD_FRAGS` (default 2 000 000) first fragments that
//! never complete with the default reassembly limits (8-byte
//! fragments, then a tenth as many 1400-byte ones). A sampler thread
//! records peak private memory (`RssAnon` in `/proc/self/status`) during each
//! run; the program fails when it exceeds the configured bound plus a fixed
//! allowance, or when nothing was evicted.
//!
//! Run: `cargo bench --bench flood` (release profile). Linux only (procfs).

use flowaudit::pipeline::{self, Options};
use flowaudit::read::{LinkType, Source};
use flowaudit::synth::{PcapOptions, PcapWriter};
use flowaudit::time::Timestamp;
use flowaudit::track::{BYTES_PER_CONNECTION, TrackConfig};
use std::io::BufWriter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Read buffers, allocator slack, decoder and report state: memory that does not grow with the file.
const ALLOWANCE: u64 = 48 << 20;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `RssAnon` of this process in bytes (private, anonymous resident memory).
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs `f` while a thread samples `rss_anon` every 5 ms; returns f's result and the peak.
fn with_peak<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_anon()));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_anon(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let out = f();
    peak.fetch_max(rss_anon(), Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    (out, peak.load(Ordering::Relaxed))
}

/// The client (address, port) of connection `i`: distinct for every `i`.
fn client(i: u32) -> std::net::SocketAddr {
    std::net::SocketAddr::from((
        (0x0a00_0000 | (i >> 10)).to_be_bytes(),
        1024 + (i & 0x3ff) as u16,
    ))
}

/// A TCP SYN from client `i` to 192.0.2.1:445, built by the capture builder.
fn syn(i: u32) -> Vec<u8> {
    flowaudit::synth::tcp(client(i), SERVER.parse().unwrap(), 0x02, i, 0, 64_240, &[])
}

/// The server every flood connection goes to.
const SERVER: &str = "192.0.2.1:445";

/// Packet `k` (0 SYN, 1 SYN-ACK, 2 ACK) of handshake `i` between a distinct
/// client (address, port) and 192.0.2.1:445; the connection never closes.
fn handshake(i: u32, k: u32) -> Vec<u8> {
    let server = SERVER.parse().unwrap();
    match k {
        0 => syn(i),
        1 => flowaudit::synth::tcp(server, client(i), 0x12, 7, i.wrapping_add(1), 64_240, &[]),
        _ => flowaudit::synth::tcp(client(i), server, 0x10, i.wrapping_add(1), 8, 64_240, &[]),
    }
}

/// A raw IPv4 first fragment (MF set, `payload` bytes) of datagram `i`.
fn first_fragment(i: u32, payload: u16) -> Vec<u8> {
    let total = 20 + payload;
    let mut p = vec![0u8; usize::from(total)];
    p[..2].copy_from_slice(&[0x45, 0]);
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[4..6].copy_from_slice(&(i as u16).to_be_bytes());
    p[6] = 0x20;
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&(0x0a00_0000 | (i >> 16)).to_be_bytes());
    p[16..20].copy_from_slice(&[192, 0, 2, 1]);
    p
}

fn write(path: &std::path::Path, n: u32, frame: impl Fn(u32) -> Vec<u8>) -> u64 {
    let file = std::fs::File::create(path).expect("create capture");
    let opts = PcapOptions {
        link: LinkType::RAW,
        ..PcapOptions::default()
    };
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file), opts).expect("header");
    for i in 0..n {
        // 10 µs apart: 5 M packets span 50 s, below every timeout.
        let ts = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 10_000);
        w.write_packet(ts, &frame(i), None).expect("write");
    }
    w.into_inner().expect("flush");
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn main() {
    let syns = env_num("FLOWAUDIT_FLOOD_SYNS", 5_000_000) as u32;
    let limit = env_num("FLOWAUDIT_FLOOD_LIMIT", 100_000) as usize;
    let frags = env_num("FLOWAUDIT_FLOOD_FRAGS", 2_000_000) as u32;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failed = false;

    let path = dir.path().join("syn-flood.pcap");
    let size = write(&path, syns, syn);
    let opts = Options {
        track: TrackConfig {
            max_connections: limit,
            ..TrackConfig::default()
        },
        ..Options::default()
    };
    let base = rss_anon();
    let t = Instant::now();
    let mut rows = 0u64;
    let ((results, stats), peak) = with_peak(|| {
        pipeline::run_with_stats(
            &[Source::Path(path.clone())],
            &opts,
            &mut |_| {},
            &mut |_| rows += 1,
        )
    });
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let packets = results
        .first()
        .and_then(|r| r.as_ref().ok())
        .map_or(0, |r| r.info.packets);
    let bound = (limit * BYTES_PER_CONNECTION) as u64 + ALLOWANCE;
    println!(
        "syn flood: {syns} SYNs ({:.0} MB file), {packets} packets read, {rows} connections \
         reported in {secs:.1} s; max_connections {limit}, peak open {}, evicted {} in {} passes \
         ({:?}); private memory (RssAnon) {:.1} MiB before, peak {:.1} MiB; bound {:.1} MiB \
         ({limit} x {BYTES_PER_CONNECTION} B + {} MiB allowance)",
        size as f64 / 1e6,
        stats.peak_open,
        stats.evicted,
        stats.eviction_passes,
        stats.evicted_by_state,
        base as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        bound as f64 / 1048576.0,
        ALLOWANCE >> 20,
    );
    if peak > bound || stats.evicted == 0 || rows != u64::from(syns) || stats.peak_open > limit {
        eprintln!("syn flood: FAILED");
        failed = true;
    }

    let open = env_num("FLOWAUDIT_FLOOD_OPEN", 1_000_000) as u32;
    let path = dir.path().join("never-closed.pcap");
    let size = write(&path, open.saturating_mul(3), |j| handshake(j / 3, j % 3));
    let base = rss_anon();
    let t = Instant::now();
    let mut rows = 0u64;
    let ((_, stats), peak) = with_peak(|| {
        pipeline::run_with_stats(
            &[Source::Path(path.clone())],
            &opts,
            &mut |_| {},
            &mut |_| rows += 1,
        )
    });
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let bound = (limit * BYTES_PER_CONNECTION) as u64 + ALLOWANCE;
    println!(
        "never-closed connections: {open} handshakes ({:.0} MB file), {rows} connections reported \
         in {secs:.1} s; peak open {}, evicted {} ({:?}, {:?}); private memory {:.1} MiB before, \
         peak {:.1} MiB; bound {:.1} MiB",
        size as f64 / 1e6,
        stats.peak_open,
        stats.evicted,
        stats.evicted_by_state,
        stats.evicted_by_handshake,
        base as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        bound as f64 / 1048576.0,
    );
    if peak > bound || rows != u64::from(open) || stats.peak_open > limit {
        eprintln!("never-closed connections: FAILED");
        failed = true;
    }

    // Many small fragments (the datagram limit binds), then fewer big ones (the byte limit binds).
    for (n, payload) in [(frags, 8u16), (frags / 10, 1400)] {
        let path = dir.path().join("fragment-flood.pcap");
        let size = write(&path, n, |i| first_fragment(i, payload));
        let opts = Options::default();
        let base = rss_anon();
        let t = Instant::now();
        let (results, peak) = with_peak(|| pipeline::survey(&[Source::Path(path.clone())], &opts));
        let secs = t.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&path);
        let not_decoded: u64 = results
            .first()
            .and_then(|r| r.as_ref().ok())
            .map_or(0, |r| r.decode.not_decoded.values().sum());
        let bound = opts.decode.max_fragment_bytes as u64
            + opts.decode.max_fragment_datagrams as u64 * 256
            + ALLOWANCE;
        println!(
            "fragment flood: {n} never-completed fragments of {payload} bytes ({:.0} MB file) \
             in {secs:.1} s, {not_decoded} counted as not decoded; private memory {:.1} MiB \
             before, peak {:.1} MiB; bound {:.1} MiB (max_fragment_bytes {} MiB + {} datagrams \
             x 256 B + allowance)",
            size as f64 / 1e6,
            base as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            bound as f64 / 1048576.0,
            opts.decode.max_fragment_bytes >> 20,
            opts.decode.max_fragment_datagrams,
        );
        if peak > bound || not_decoded != u64::from(n) {
            eprintln!("fragment flood: FAILED");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
