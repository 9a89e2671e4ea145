//! Per-stage micro-benchmarks (criterion): decode per packet, tracker update
//! per packet, classification per connection, on an in-memory synthetic mix
//! of the shape benches/e2e.sh uses (full TCP connections, rejected and
//! unanswered SYNs, DNS; IPv4 with VLAN tags and IPv6).
//!
//! `cargo bench --bench stages`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowaudit::catalogue::Catalogue;
use flowaudit::classify::Classifier;
use flowaudit::decode::{DecodeConfig, Decoder, Packet};
use flowaudit::inventory::Inventory;
use flowaudit::read::{self, LinkType};
use flowaudit::synth::{Link, TcpSession, Trace, UdpSession};
use flowaudit::time::{Duration, Timestamp};
use flowaudit::track::{Connection, TrackConfig, Tracker};
use std::hint::black_box;
use std::net::SocketAddr;

/// Sessions in the benchmark trace (about 8 packets each).
const SESSIONS: u32 = 20_000;

/// Inventory giving the trace's hosts their roles.
const INVENTORY: &str = r#"
features = ["password-hash-sync", "seamless-sso", "ldaps"]
[roles]
sync = ["10.0.1.0/24", "fd00:0:0:1::/64"]
dc = ["10.0.0.0/24", "fd00::/64"]
"#;

/// The captured frames of a synthetic mix: (time, link type, bytes).
fn frames() -> Vec<(Timestamp, LinkType, Vec<u8>)> {
    let mut trace = Trace::new(Link::Ethernet(vec![100]));
    for i in 0..SESSIONS {
        let v6 = i % 10 == 0;
        let host = |net: u32, n: u32| -> String {
            if v6 {
                format!("fd00::{net:x}:0:0:0:{:x}", n % 200 + 2)
            } else {
                format!("10.0.{net}.{}", n % 200 + 2)
            }
        };
        let sa = |ip: String, port: u16| SocketAddr::new(ip.parse().expect("address"), port);
        let start = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 2_000_000);
        let c = sa(host(1, i), 10_000 + (i % 50_000) as u16);
        match i % 5 {
            0 | 1 => {
                let mut s =
                    TcpSession::new(c, sa(host(0, i / 7), 389), i, 3 * i).starting_at(start);
                s.handshake().client_data(300).server_data(1400).close();
                trace.add(&s);
            }
            2 => {
                let mut s = TcpSession::new(c, sa(host(0, i), 3268), i, 0).starting_at(start);
                s.reject();
                trace.add(&s);
            }
            3 => {
                let mut s = TcpSession::new(c, sa(host(0, i), 445), i, 0).starting_at(start);
                s.unanswered(2, Duration::from_secs(1));
                trace.add(&s);
            }
            _ => {
                let mut s = UdpSession::new(c, sa(host(0, i), 53)).starting_at(start);
                s.request(40).response(120);
                trace.add(&s);
            }
        }
    }
    trace.sort();
    let bytes = trace
        .write_pcap(Vec::new(), false, true)
        .expect("in memory");
    let mut out = Vec::new();
    read::read_stream("bench", Box::new(std::io::Cursor::new(bytes)), &mut |r| {
        out.push((r.ts, r.link, r.data.to_vec()));
    })
    .expect("readable");
    out
}

/// The decoded packets of `frames`, payloads dropped (the tracker never reads them).
fn packets(frames: &[(Timestamp, LinkType, Vec<u8>)]) -> Vec<Packet<'static>> {
    let mut d = Decoder::new(DecodeConfig::default());
    let mut out = Vec::with_capacity(frames.len());
    for (n, (ts, link, data)) in frames.iter().enumerate() {
        d.decode(*ts, n as u64 + 1, *link, data, &mut |p| {
            out.push(Packet { payload: &[], ..*p });
        });
    }
    out
}

fn stages(c: &mut Criterion) {
    let frames = frames();
    let pkts = packets(&frames);
    let mut g = c.benchmark_group("per packet");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut d = Decoder::new(DecodeConfig::default());
            let mut n = 0u64;
            for (i, (ts, link, data)) in frames.iter().enumerate() {
                d.decode(*ts, i as u64, *link, data, &mut |p| {
                    n += u64::from(p.ip_len)
                });
            }
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("track", |b| {
        b.iter(|| {
            let mut t = Tracker::new(TrackConfig::default());
            let mut n = 0u64;
            for p in &pkts {
                t.packet(p, &mut |c| n += c.orig_pkts);
            }
            t.finish(&mut |c| n += c.orig_pkts);
            black_box(n)
        })
    });
    g.bench_function("track batched", |b| {
        b.iter(|| {
            let mut t = Tracker::new(TrackConfig::default());
            let mut n = 0u64;
            for batch in pkts.chunks(4096) {
                t.packets(batch, &mut |c| n += c.orig_pkts);
            }
            t.finish(&mut |c| n += c.orig_pkts);
            black_box(n)
        })
    });
    g.finish();

    let mut conns: Vec<Connection> = Vec::new();
    let mut t = Tracker::new(TrackConfig::default());
    for p in &pkts {
        t.packet(p, &mut |c| conns.push(c));
    }
    t.finish(&mut |c| conns.push(c));
    let catalogue = Catalogue::embedded().expect("built-in catalogue");
    let inventory = Inventory::parse("bench.toml", INVENTORY)
        .expect("inventory")
        .with_cloud_ranges(&catalogue.azure_ranges);
    let mut g = c.benchmark_group("per connection");
    g.throughput(Throughput::Elements(conns.len() as u64));
    g.bench_function("classify", |b| {
        b.iter(|| {
            let mut cl = Classifier::new(&catalogue, &inventory);
            for c in &conns {
                cl.connection(c);
            }
            black_box(cl.finish(None).findings.len())
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
