//! Agreement with Zeek's own `conn.log` baselines.
//!
//! The 24 traces in `shared/captures/zeek/` come with the conn.log Zeek's test
//! suite recorded for them. This test reads each trace with pcap-parser, decodes
//! it with a small link-layer and tunnel parser of its own plus etherparse (so
//! that it does not depend on the read and decode stages), runs the tracker with
//! Zeek's timers, and compares the rows as multisets keyed on
//! `proto, orig_h, orig_p, resp_h, resp_p`.
//!
//! The decoding here is deliberately minimal: Ethernet with VLAN/QinQ, MPLS,
//! PPPoE, VN-Tag and FabricPath; Linux SLL/SLL2, PPP and raw IP; GRE, IP-in-IP
//! and Teredo tunnels (Zeek logs the inner connections, and the outer UDP one
//! for Teredo but not GRE). IPv4 `total_len == 0` (segmentation offload) is
//! taken from the captured length, as Zeek does for the payload.

use super::{Connection, TrackConfig, Tracker};
use crate::decode::{IcmpInfo, Packet, Quoted, TcpInfo, Transport};
use crate::time::Timestamp;
use etherparse::LaxIpSlice;
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use std::collections::HashMap;
use std::net::IpAddr;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/captures/zeek");

struct Frame {
    ts: Timestamp,
    link: u32,
    data: Vec<u8>,
}

fn read_frames(path: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    let Ok(f) = std::fs::File::open(path) else {
        return out;
    };
    let Ok(mut r) = pcap_parser::create_reader(1 << 20, f) else {
        return out;
    };
    let mut link = 1u32;
    let mut nano = false;
    let mut ifs: Vec<(u32, u64, i64)> = Vec::new();
    loop {
        match r.next() {
            Ok((off, b)) => {
                match b {
                    PcapBlockOwned::LegacyHeader(h) => {
                        link = h.network.0 as u32;
                        nano = h.magic_number == 0xa1b2_3c4d || h.magic_number == 0x4d3c_b2a1;
                    }
                    PcapBlockOwned::Legacy(p) => {
                        let frac = i64::from(p.ts_usec);
                        let ns = if nano { frac } else { frac * 1000 };
                        out.push(Frame {
                            ts: Timestamp::from_parts(i64::from(p.ts_sec), ns),
                            link,
                            data: p.data.to_vec(),
                        });
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ifs.push((
                            idb.linktype.0 as u32,
                            idb.ts_resolution().unwrap_or(1_000_000),
                            idb.if_tsoffset,
                        ));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (lt, res, offs) = ifs
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or((1, 1_000_000, 0));
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let res = res.max(1);
                        let ns = (u128::from(raw % res) * 1_000_000_000 / u128::from(res)) as i64;
                        let cap = (epb.caplen as usize).min(epb.data.len());
                        out.push(Frame {
                            ts: Timestamp::from_parts((raw / res) as i64 + offs, ns),
                            link: lt,
                            data: epb.data.get(..cap).unwrap_or_default().to_vec(),
                        });
                    }
                    _ => {}
                }
                r.consume(off);
            }
            Err(PcapError::Incomplete(_)) => {
                if r.refill().is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    out
}

fn be16(d: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?]))
}

fn be32(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(i)?,
        *d.get(i + 1)?,
        *d.get(i + 2)?,
        *d.get(i + 3)?,
    ]))
}

#[derive(Default, Clone, Copy)]
struct L2 {
    vlan: Option<u16>,
    inner_vlan: Option<u16>,
}

type Ips<'a> = Vec<(&'a [u8], L2)>;

fn link_to_ip<'a>(link: u32, d: &'a [u8], out: &mut Ips<'a>) {
    let l2 = L2::default();
    match link {
        1 => ether(d, l2, out),
        113 => {
            if let (Some(et), Some(rest)) = (be16(d, 14), d.get(16..)) {
                ethertype(et, rest, l2, out)
            }
        }
        276 => {
            if let (Some(et), Some(rest)) = (be16(d, 0), d.get(20..)) {
                ethertype(et, rest, l2, out)
            }
        }
        9 => {
            let d = if d.starts_with(&[0xff, 0x03]) {
                d.get(2..).unwrap_or_default()
            } else {
                d
            };
            if let (Some(proto), Some(rest)) = (be16(d, 0), d.get(2..)) {
                ppp(proto, rest, l2, out)
            }
        }
        12 | 14 | 101 | 228 | 229 => out.push((d, l2)),
        0 | 108 => {
            if let Some(rest) = d.get(4..) {
                out.push((rest, l2))
            }
        }
        _ => {}
    }
}

fn ppp<'a>(proto: u16, d: &'a [u8], l2: L2, out: &mut Ips<'a>) {
    if proto == 0x0021 || proto == 0x0057 {
        out.push((d, l2));
    }
}

fn ether<'a>(d: &'a [u8], l2: L2, out: &mut Ips<'a>) {
    if let (Some(et), Some(rest)) = (be16(d, 12), d.get(14..)) {
        ethertype(et, rest, l2, out)
    }
}

fn ethertype<'a>(et: u16, d: &'a [u8], mut l2: L2, out: &mut Ips<'a>) {
    match et {
        0x0800 | 0x86dd => out.push((d, l2)),
        0x8100 | 0x88a8 | 0x9100 => {
            let (Some(tci), Some(next), Some(rest)) = (be16(d, 0), be16(d, 2), d.get(4..)) else {
                return;
            };
            let id = tci & 0xfff;
            if l2.vlan.is_none() {
                l2.vlan = Some(id);
            } else if l2.inner_vlan.is_none() {
                l2.inner_vlan = Some(id);
            }
            ethertype(next, rest, l2, out)
        }
        0x8847 | 0x8848 => {
            // Label stack until bottom-of-stack, then IPv4 or IPv6 by version nibble.
            let mut i = 0;
            while let Some(b) = d.get(i + 2) {
                i += 4;
                if b & 1 == 1 {
                    break;
                }
            }
            if let Some(rest) = d.get(i..)
                && let Some(v) = rest.first()
                && (v >> 4 == 4 || v >> 4 == 6)
            {
                out.push((rest, l2))
            }
        }
        0x8864 => {
            if let (Some(proto), Some(rest)) = (be16(d, 6), d.get(8..)) {
                ppp(proto, rest, l2, out)
            }
        }
        0x8926 => {
            if let (Some(next), Some(rest)) = (be16(d, 4), d.get(6..)) {
                ethertype(next, rest, l2, out)
            }
        }
        0x8903 => {
            if let Some(rest) = d.get(2..) {
                ether(rest, l2, out)
            }
        }
        _ => {}
    }
}

fn ip_packets<'a>(ts: Timestamp, ip: &'a [u8], l2: L2, depth: u8, out: &mut Vec<Packet<'a>>) {
    let Ok((s, _)) = LaxIpSlice::from_slice(ip) else {
        return;
    };
    let tso = matches!(&s, LaxIpSlice::Ipv4(v4) if v4.header().total_len() == 0);
    let (src, dst, ip_len, hdr_len, proto): (IpAddr, IpAddr, u32, u32, u8) = match &s {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let total = if h.total_len() == 0 {
                ip.len() as u32
            } else {
                u32::from(h.total_len())
            };
            let auth = v4
                .extensions()
                .auth
                .map(|a| a.slice().len() as u32)
                .unwrap_or(0);
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                total,
                u32::from(h.ihl()) * 4 + auth,
                v4.payload().ip_number.0,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let hl = 40 + v6.extensions().slice().len() as u32;
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                u32::from(h.payload_length()) + 40,
                hl,
                v6.payload().ip_number.0,
            )
        }
    };
    let pl = s.payload();
    if pl.fragmented {
        return;
    }
    let total = ip_len.saturating_sub(hdr_len);
    let ip_len = if tso { 0 } else { ip_len };
    let data = pl.payload;
    let base = Packet {
        ts,
        number: 0,
        transport: Transport::Other(proto),
        src,
        dst,
        sport: 0,
        dport: 0,
        ip_len,
        payload_len: total,
        payload: data,
        tcp: None,
        icmp: None,
        vlan: l2.vlan,
        inner_vlan: l2.inner_vlan,
        tunnel_depth: depth,
    };
    match proto {
        6 => {
            let (
                Some(sport),
                Some(dport),
                Some(seq),
                Some(ack),
                Some(off),
                Some(flags),
                Some(window),
            ) = (
                be16(data, 0),
                be16(data, 2),
                be32(data, 4),
                be32(data, 8),
                data.get(12),
                data.get(13),
                be16(data, 14),
            )
            else {
                return;
            };
            let off = u32::from(off >> 4) * 4;
            out.push(Packet {
                transport: Transport::Tcp,
                sport,
                dport,
                payload_len: total.saturating_sub(off),
                payload: data.get(off as usize..).unwrap_or_default(),
                tcp: Some(TcpInfo {
                    flags: *flags,
                    seq,
                    ack,
                    window,
                }),
                ..base
            });
        }
        17 => {
            let (Some(sport), Some(dport), Some(udp_pl)) =
                (be16(data, 0), be16(data, 2), data.get(8..))
            else {
                return;
            };
            out.push(Packet {
                transport: Transport::Udp,
                sport,
                dport,
                payload_len: total.saturating_sub(8),
                payload: udp_pl,
                ..base
            });
            if depth == 0 {
                teredo(ts, udp_pl, l2, out);
            }
        }
        1 | 58 => {
            let (Some(&t), Some(&c), Some(rest)) = (data.first(), data.get(1), data.get(8..))
            else {
                return;
            };
            let v6 = proto == 58;
            let is_err = if v6 {
                (1..=4).contains(&t)
            } else {
                matches!(t, 3 | 4 | 5 | 11 | 12)
            };
            let quoted = if is_err { quoted(rest) } else { None };
            out.push(Packet {
                transport: Transport::Icmp,
                sport: u16::from(t),
                dport: u16::from(c),
                payload_len: total.saturating_sub(8),
                payload: rest,
                icmp: Some(IcmpInfo {
                    v6,
                    icmp_type: t,
                    code: c,
                    quoted,
                }),
                ..base
            });
        }
        47 => gre(ts, data, l2, depth, out),
        4 | 41 => ip_packets(ts, data, l2, depth + 1, out),
        _ => out.push(base),
    }
}

fn quoted(d: &[u8]) -> Option<Quoted> {
    let (inner, _) = LaxIpSlice::from_slice(d).ok()?;
    let (src, dst, proto): (IpAddr, IpAddr, u8) = match &inner {
        LaxIpSlice::Ipv4(x) => (
            x.header().source_addr().into(),
            x.header().destination_addr().into(),
            x.payload().ip_number.0,
        ),
        LaxIpSlice::Ipv6(x) => (
            x.header().source_addr().into(),
            x.header().destination_addr().into(),
            x.payload().ip_number.0,
        ),
    };
    let p = inner.payload().payload;
    let transport = match proto {
        6 => Transport::Tcp,
        17 => Transport::Udp,
        1 | 58 => Transport::Icmp,
        o => Transport::Other(o),
    };
    let (sport, dport) = match transport {
        Transport::Tcp | Transport::Udp => (be16(p, 0).unwrap_or(0), be16(p, 2).unwrap_or(0)),
        _ => (0, 0),
    };
    Some(Quoted {
        transport,
        src,
        dst,
        sport,
        dport,
    })
}

/// Teredo: IPv6 in UDP, optionally behind origin-indication / authentication headers.
fn teredo<'a>(ts: Timestamp, mut q: &'a [u8], l2: L2, out: &mut Vec<Packet<'a>>) {
    loop {
        match (q.first(), q.get(1)) {
            (Some(0), Some(0)) if q.len() >= 8 => q = q.get(8..).unwrap_or_default(),
            (Some(0), Some(1)) => {
                let (Some(&a), Some(&b)) = (q.get(2), q.get(3)) else {
                    return;
                };
                let l = 4 + usize::from(a) + usize::from(b) + 9;
                let Some(rest) = q.get(l..) else { return };
                q = rest;
            }
            _ => break,
        }
    }
    let (Some(v), Some(plen), Some(nh)) = (q.first(), be16(q, 4), q.get(6)) else {
        return;
    };
    if v >> 4 == 6 && usize::from(plen) + 40 == q.len() && matches!(nh, 6 | 17 | 58 | 59) {
        ip_packets(ts, q, l2, 1, out);
    }
}

/// GRE: Zeek decapsulates it without logging the outer packet.
fn gre<'a>(ts: Timestamp, d: &'a [u8], l2: L2, depth: u8, out: &mut Vec<Packet<'a>>) {
    let (Some(&flags), Some(&verb), Some(proto)) = (d.first(), d.get(1), be16(d, 2)) else {
        return;
    };
    let mut off = 4;
    for bit in [0x80, 0x20, 0x10] {
        if flags & bit != 0 {
            off += 4;
        }
    }
    if verb & 7 == 1 && verb & 0x80 != 0 {
        off += 4; // enhanced GRE acknowledgment number
    }
    let Some(inner) = d.get(off..) else { return };
    let mut ips = Vec::new();
    match proto {
        0x0800 | 0x86dd => ips.push((inner, l2)),
        0x6558 => ether(inner, l2, &mut ips),
        0x88be => ether(inner.get(8..).unwrap_or_default(), l2, &mut ips),
        0x880b => {
            if let (Some(p), Some(rest)) = (be16(inner, 2), inner.get(4..)) {
                ppp(p, rest, l2, &mut ips)
            }
        }
        _ => {}
    }
    for (ip, l2) in ips {
        ip_packets(ts, ip, l2, depth + 1, out);
    }
}

type Key = (String, String, String, String, String);
type Row = HashMap<String, String>;

fn parse_log(path: &str) -> Vec<(Key, Row)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let m: Row = fields
            .iter()
            .cloned()
            .zip(line.split('\t').map(String::from))
            .collect();
        let g = |k: &str| m.get(k).cloned().unwrap_or_default();
        let k = (
            g("proto"),
            g("id.orig_h"),
            g("id.orig_p"),
            g("id.resp_h"),
            g("id.resp_p"),
        );
        rows.push((k, m));
    }
    rows
}

fn conn_key(c: &Connection) -> Key {
    (
        c.proto_name().to_string(),
        c.orig_h.to_string(),
        c.orig_p.to_string(),
        c.resp_h.to_string(),
        c.resp_p.to_string(),
    )
}

/// Per-file agreement counts: rows in Zeek's log, rows matched, and agreement per column.
#[derive(Default, Debug, Clone, Copy)]
struct Agreement {
    zeek: usize,
    ours: usize,
    matched: usize,
    state: usize,
    orig_pkts: usize,
    resp_pkts: usize,
    history: usize,
    bytes: usize,
}

fn compare(base: &str, all_protos: bool) -> Agreement {
    let pcap = ["pcap", "pcapng"]
        .iter()
        .map(|e| format!("{DIR}/{base}.{e}"))
        .find(|p| std::path::Path::new(p).exists());
    let Some(pcap) = pcap else {
        return Agreement::default();
    };
    let mut t = Tracker::new(TrackConfig::zeek());
    let mut conns = Vec::new();
    for f in read_frames(&pcap) {
        let mut ips = Vec::new();
        link_to_ip(f.link, &f.data, &mut ips);
        for (ip, l2) in ips {
            let mut pk = Vec::new();
            ip_packets(f.ts, ip, l2, 0, &mut pk);
            if std::env::var_os("ZEEKCMP_DUMP").is_some() {
                for p in &pk {
                    eprintln!(
                        "{} {:?} {}:{} > {}:{} ip_len={} len={} {:?}",
                        p.ts,
                        p.transport,
                        p.src,
                        p.sport,
                        p.dst,
                        p.dport,
                        p.ip_len,
                        p.payload_len,
                        p.tcp
                    );
                }
            }
            for p in &pk {
                t.packet(p, &mut |c| conns.push(c));
            }
        }
    }
    t.finish(&mut |c| conns.push(c));

    let wanted = |k: &Key| all_protos || k.0 == "tcp" || k.0 == "udp";
    let mut ours: HashMap<Key, Vec<Connection>> = HashMap::new();
    for c in conns {
        let k = conn_key(&c);
        if wanted(&k) {
            ours.entry(k).or_default().push(c);
        }
    }
    let mut a = Agreement {
        ours: ours.values().map(Vec::len).sum(),
        ..Agreement::default()
    };
    for (k, m) in parse_log(&format!("{DIR}/{base}.conn.log")) {
        if !wanted(&k) {
            continue;
        }
        a.zeek += 1;
        let g = |f: &str| m.get(f).map(String::as_str).unwrap_or("");
        let checks = |c: &Connection| {
            let hist = if c.history.is_empty() {
                "-"
            } else {
                c.history.as_str()
            };
            [
                c.conn_state == g("conn_state"),
                c.orig_pkts.to_string() == g("orig_pkts"),
                c.resp_pkts.to_string() == g("resp_pkts"),
                hist == g("history"),
            ]
        };
        let Some(list) = ours.get_mut(&k) else {
            continue;
        };
        // Rows of one 5-tuple form a multiset: take the best-agreeing one.
        let best = list
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| {
                let ip_bytes = g("orig_ip_bytes") == c.orig_ip_bytes.to_string();
                (checks(c).iter().filter(|x| **x).count(), ip_bytes)
            })
            .map(|(i, _)| i);
        let Some(i) = best else { continue };
        let c = list.swap_remove(i);
        let [s, o, r, h] = checks(&c);
        a.matched += 1;
        a.state += usize::from(s);
        a.orig_pkts += usize::from(o);
        a.resp_pkts += usize::from(r);
        a.history += usize::from(h);
        let dash_or = |f: &str, v: u64| g(f) == "-" || g(f) == v.to_string();
        if std::env::var_os("ZEEKCMP_VERBOSE").is_some() {
            eprintln!(
                "{k:?} zeek {} {} {}/{} bytes {}/{} ip {}/{} | ours {} {} {}/{} bytes {}/{} ip {}/{}",
                g("conn_state"),
                g("history"),
                g("orig_pkts"),
                g("resp_pkts"),
                g("orig_bytes"),
                g("resp_bytes"),
                g("orig_ip_bytes"),
                g("resp_ip_bytes"),
                c.conn_state,
                c.history,
                c.orig_pkts,
                c.resp_pkts,
                c.orig_bytes,
                c.resp_bytes,
                c.orig_ip_bytes,
                c.resp_ip_bytes
            );
        }
        a.bytes += usize::from(
            dash_or("orig_bytes", c.orig_bytes)
                && dash_or("resp_bytes", c.resp_bytes)
                && g("orig_ip_bytes") == c.orig_ip_bytes.to_string()
                && g("resp_ip_bytes") == c.resp_ip_bytes.to_string(),
        );
    }
    a
}

fn baselines() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".conn.log"))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn table(all_protos: bool) -> Agreement {
    use std::fmt::Write;
    let mut tot = Agreement::default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "file", "zeek", "ours", "match", "state", "opkts", "rpkts", "hist", "bytes"
    );
    for base in baselines() {
        let a = compare(&base, all_protos);
        let _ = writeln!(
            out,
            "{base:<32} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
            a.zeek, a.ours, a.matched, a.state, a.orig_pkts, a.resp_pkts, a.history, a.bytes
        );
        tot.zeek += a.zeek;
        tot.ours += a.ours;
        tot.matched += a.matched;
        tot.state += a.state;
        tot.orig_pkts += a.orig_pkts;
        tot.resp_pkts += a.resp_pkts;
        tot.history += a.history;
        tot.bytes += a.bytes;
    }
    let _ = writeln!(out, "{tot:?}");
    eprint!("{out}");
    tot
}

/// The acceptance bar: over all TCP and UDP rows, conn_state and both packet
/// counts agree on at least 99 % of Zeek's rows.
#[test]
fn tcp_and_udp_rows_agree_with_zeek() {
    let names = baselines();
    assert_eq!(names.len(), 24, "expected the 24 Zeek baselines in {DIR}");
    let t = table(false);
    assert_eq!(t.zeek, 176, "TCP+UDP rows in the baselines");
    let pct = |n: usize| n as f64 * 100.0 / t.zeek as f64;
    assert!(pct(t.matched) >= 99.0, "{t:?}");
    assert!(pct(t.state) >= 99.0, "{t:?}");
    assert!(pct(t.orig_pkts) >= 99.0, "{t:?}");
    assert!(pct(t.resp_pkts) >= 99.0, "{t:?}");
    assert!(pct(t.history) >= 95.0, "{t:?}");
    // Sizes from sequence numbers and IP byte counts (informational bar).
    assert!(pct(t.bytes) >= 95.0, "{t:?}");
    assert_eq!(t.ours, t.zeek, "no extra or missing rows");
}

/// ICMP and unknown-transport rows (Zeek's ICMP pseudo ports, one-way keys) agree too.
#[test]
fn all_rows_agree_with_zeek() {
    let t = table(true);
    assert_eq!(t.zeek, 221, "all rows in the baselines");
    assert!(
        t.state * 100 >= t.zeek * 99 && t.orig_pkts * 100 >= t.zeek * 99,
        "{t:?}"
    );
}
