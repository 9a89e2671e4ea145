//! Writes a SYN flood for the report-size measurement (issue 14): `--syns`
//! never-answered SYNs (default 3 000 000) from random sources (random
//! addresses and ports) to random ports of one domain controller, 10 µs
//! apart, as raw IPv4, plus an inventory that names the DC and a sync server.
//!
//! ```text
//! cargo run --release --example synth_flood -- OUT.pcap [--syns N] [--seed S] [--inventory OUT.toml]
//! ```
//!
//! Deterministic: the same arguments give the same bytes (a seeded splitmix64).

use flowaudit::read::LinkType;
use flowaudit::synth::{PcapOptions, PcapWriter, Rng};
use flowaudit::time::Timestamp;
use std::io::BufWriter;
use std::net::{Ipv4Addr, SocketAddr};

/// The domain controller every SYN goes to.
const DC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: synth_flood OUT.pcap [--syns N] [--seed S] [--inventory OUT.toml]");
        std::process::exit(2);
    };
    let num = |name: &str, default: u64| {
        arg(&args, name).map_or(default, |v| {
            v.parse().unwrap_or_else(|e| panic!("{name} {v}: {e}"))
        })
    };
    let syns = num("--syns", 3_000_000);
    let mut rng = Rng(num("--seed", 14));
    let file = std::fs::File::create(out).unwrap_or_else(|e| panic!("{out}: {e}"));
    let opts = PcapOptions {
        link: LinkType::RAW,
        ..PcapOptions::default()
    };
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file), opts)
        .unwrap_or_else(|e| panic!("{out}: {e}"));
    for i in 0..syns {
        let r = rng.next();
        // Public-looking sources: first octet 11-223, never the inventory's 10/8.
        let a = (r >> 32) as u32;
        let first = 11 + (a >> 24) % 213;
        let src = Ipv4Addr::from((first << 24) | (a & 0x00ff_ffff));
        let sport = 1024 + (r as u16 % 64_000);
        let dport = 1 + ((r >> 16) as u16 % 65_535);
        let frame = flowaudit::synth::tcp(
            SocketAddr::from((src, sport)),
            SocketAddr::from((DC, dport)),
            0x02,
            r as u32,
            0,
            64_240,
            &[],
        );
        let ts = Timestamp(1_700_000_000_000_000_000 + i as i64 * 10_000);
        w.write_packet(ts, &frame, None)
            .unwrap_or_else(|e| panic!("{out}: {e}"));
    }
    w.into_inner().unwrap_or_else(|e| panic!("{out}: {e}"));
    if let Some(inv) = arg(&args, "--inventory") {
        std::fs::write(
            &inv,
            format!("features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"{DC}\"]\n"),
        )
        .unwrap_or_else(|e| panic!("{inv}: {e}"));
    }
    eprintln!("{out}: {syns} SYNs to {DC}");
}
