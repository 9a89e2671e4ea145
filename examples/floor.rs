//! The floor under `flowaudit audit`'s time on a capture (issue 5): the same
//! reader and decoder, then the least a flow table can do per packet. A
//! foldhash map from the 5-tuple (either direction) to packet and byte
//! counters and the last packet's time, swept every 10 s of capture time for
//! flows idle for 60 s: no Zeek states or history, no per-state timeouts, no
//! learning, no audit.
//! `benches/e2e.sh` times it beside `cat` and `flowaudit audit`, so the
//! benchmark shows how much of the audit's time any flow table would spend.
//!
//! ```text
//! cargo run --release --example floor -- [--decode-only] FILE
//! ```
//!
//! `--decode-only` stops after decoding: the reader's and decoder's share.
//! Prints the packets decoded and the flows seen, which a reader can check
//! against `flowaudit info` and `flowaudit flows`.

use flowaudit::decode::{DecodeConfig, Decoder, Transport};
use flowaudit::read::{self, Source};
use std::collections::HashMap;
use std::net::IpAddr;

/// Flows idle this long (capture time) are dropped, as any flow meter
/// does, so the map holds about as many flows as the audit's tracker...
const IDLE_NS: i64 = 60_000_000_000;
/// ...by a sweep of the whole table this often.
const SWEEP_NS: i64 = 10_000_000_000;

/// A 5-tuple with its endpoints in a fixed order, so both directions meet.
type Key = (IpAddr, u16, IpAddr, u16, u16);

fn main() {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    let decode_only = args.first().is_some_and(|a| a == "--decode-only");
    if decode_only {
        args.remove(0);
    }
    let (Some(path), 1) = (args.pop(), args.len() + 1) else {
        eprintln!("usage: floor [--decode-only] FILE");
        std::process::exit(2);
    };
    let src = Source::Path(path.into());
    let mut decoder = Decoder::new(DecodeConfig::default());
    // Packets and bytes by direction, and the last packet's time.
    let mut flows: HashMap<Key, ([u64; 4], i64), foldhash::fast::RandomState> = HashMap::default();
    let mut packets = 0u64;
    let mut swept = i64::MIN;
    let mut seen = 0u64;
    let res = read::read_capture(&src, &mut |rec| {
        decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |p| {
            packets += 1;
            if decode_only {
                return;
            }
            let proto = match p.transport {
                Transport::Tcp => 6,
                Transport::Udp => 17,
                Transport::Icmp => 1,
                Transport::Other(n) => 256 + u16::from(n),
            };
            let (a, b) = ((p.src, p.sport), (p.dst, p.dport));
            let (key, side) = if a <= b {
                ((a.0, a.1, b.0, b.1, proto), 0)
            } else {
                ((b.0, b.1, a.0, a.1, proto), 2)
            };
            let (c, last) = flows.entry(key).or_insert_with(|| {
                seen += 1;
                ([0; 4], 0)
            });
            c[side] += 1;
            c[side + 1] += u64::from(p.ip_len);
            *last = p.ts.0;
            if p.ts.0.saturating_sub(swept) > SWEEP_NS {
                swept = p.ts.0;
                flows.retain(|_, (_, last)| p.ts.0.saturating_sub(*last) < IDLE_NS);
            }
        });
    });
    if let Err(e) = res {
        eprintln!("floor: {e}");
        std::process::exit(2);
    }
    println!(
        "{packets} packets decoded, {seen} flows (a 5-tuple idle for 60 s starts a new one), {} open at the end",
        flows.len()
    );
}
