//! Scenario tests: hand-built packet sequences, checked against the meaning
//! Zeek's `conn.log` documentation gives each `conn_state` and history letter,
//! and against flowaudit's own handshake verdicts.

use super::*;
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use crate::decode::{IcmpInfo, Packet, Quoted, TcpInfo};
use std::net::IpAddr;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const ROUTER: [u8; 4] = [10, 0, 0, 254];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

fn ms(t: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + t * 1_000_000)
}

/// A TCP packet at `t` ms; `ip_len` is 40 + payload as for an option-less IPv4/TCP header.
#[allow(clippy::too_many_arguments)]
fn tcp(
    t: i64,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
) -> Packet<'static> {
    Packet {
        ip_len: 40 + len,
        payload_len: len,
        tcp: Some(TcpInfo {
            flags,
            seq,
            ack,
            window: 1000,
        }),
        ..Packet::new(
            ms(t),
            Transport::Tcp,
            (ip(src), sport),
            (ip(dst), dport),
            &[],
        )
    }
}

fn udp(t: i64, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, len: u32) -> Packet<'static> {
    Packet {
        ip_len: 28 + len,
        payload_len: len,
        vlan: Some(7),
        ..Packet::new(
            ms(t),
            Transport::Udp,
            (ip(src), sport),
            (ip(dst), dport),
            &[],
        )
    }
}

fn icmp(
    t: i64,
    src: [u8; 4],
    dst: [u8; 4],
    icmp_type: u8,
    code: u8,
    len: u32,
    quoted: Option<Quoted>,
) -> Packet<'static> {
    let (sport, dport) = (u16::from(icmp_type), u16::from(code));
    Packet {
        ip_len: 28 + len,
        payload_len: len,
        icmp: Some(IcmpInfo {
            v6: false,
            icmp_type,
            code,
            quoted,
        }),
        ..Packet::new(
            ms(t),
            Transport::Icmp,
            (ip(src), sport),
            (ip(dst), dport),
            &[],
        )
    }
}

fn run_with(cfg: TrackConfig, pkts: &[Packet<'_>]) -> Vec<Connection> {
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    for p in pkts {
        t.packet(p, &mut |c| out.push(c));
    }
    t.finish(&mut |c| out.push(c));
    assert_eq!(t.open_connections(), 0);
    out
}

fn run(pkts: &[Packet<'_>]) -> Vec<Connection> {
    run_with(TrackConfig::default(), pkts)
}

fn one(pkts: &[Packet<'_>]) -> Connection {
    let v = run(pkts);
    assert_eq!(v.len(), 1, "{v:#?}");
    v.into_iter().next().unwrap_or_else(|| unreachable!())
}

const C: [u8; 4] = CLIENT;
const S: [u8; 4] = SERVER;

/// SYN, SYN-ACK, ACK: client ISN 100, server ISN 5000.
fn handshake() -> Vec<Packet<'static>> {
    vec![
        tcp(0, C, 40000, S, 80, SYN, 100, 0, 0),
        tcp(10, S, 80, C, 40000, SYN | ACK, 5000, 101, 0),
        tcp(20, C, 40000, S, 80, ACK, 101, 5001, 0),
    ]
}

#[test]
fn sf_normal_establishment_and_termination() {
    let mut p = handshake();
    p.extend([
        tcp(30, C, 40000, S, 80, PSH | ACK, 101, 5001, 10),
        tcp(40, S, 80, C, 40000, ACK, 5001, 111, 0),
        tcp(50, S, 80, C, 40000, PSH | ACK, 5001, 111, 20),
        tcp(60, C, 40000, S, 80, FIN | ACK, 111, 5021, 0),
        tcp(70, S, 80, C, 40000, FIN | ACK, 5021, 112, 0),
        tcp(80, C, 40000, S, 80, ACK, 112, 5022, 0),
    ]);
    let c = one(&p);
    assert_eq!(c.conn_state, "SF");
    assert_eq!(c.history, "ShADadFf");
    assert_eq!(
        (c.orig_h, c.orig_p, c.resp_h, c.resp_p),
        (ip(C), 40000, ip(S), 80)
    );
    assert_eq!((c.orig_bytes, c.resp_bytes), (10, 20));
    assert_eq!((c.orig_pkts, c.resp_pkts), (5, 4));
    assert_eq!(
        (c.orig_ip_bytes, c.resp_ip_bytes),
        (5 * 40 + 10, 4 * 40 + 20)
    );
    assert_eq!(c.handshake, Handshake::Established);
    assert_eq!(c.syn_attempts, 1);
    assert_eq!(c.proto_name(), "tcp");
    // Zeek's duration leaves out the final ACK after both FINs.
    assert_eq!(c.duration, Duration(70_000_000));
}

#[test]
fn s0_attempt_without_reply() {
    let c = one(&[tcp(0, C, 40000, S, 445, SYN, 7, 0, 0)]);
    assert_eq!(c.conn_state, "S0");
    assert_eq!(c.history, "S");
    assert_eq!(c.handshake, Handshake::Unanswered);
    assert_eq!(c.syn_attempts, 1);
}

#[test]
fn syn_retransmissions_merge_into_one_connection() {
    let times = [0, 1000, 3000, 7000, 15000];
    let p: Vec<_> = times
        .iter()
        .map(|&t| tcp(t, C, 40000, S, 445, SYN, 7, 0, 0))
        .collect();
    let c = one(&p);
    assert_eq!(c.conn_state, "S0");
    assert_eq!(c.syn_attempts, 5);
    assert_eq!(
        c.syn_times,
        times.iter().map(|&t| ms(t)).collect::<Vec<_>>()
    );
    assert_eq!(c.orig_pkts, 5);
    // Same ISN: the S is recorded once.
    assert_eq!(c.history, "S");

    // Zeek's own attempt timer (5 s) cuts the attempt: 0, 1, 3 s, then 7 s, then 15 s.
    let z = run_with(TrackConfig::zeek(), &p);
    assert_eq!(
        z.iter().map(|c| c.orig_pkts).collect::<Vec<_>>(),
        vec![3, 1, 1]
    );
}

#[test]
fn syn_times_are_capped() {
    let p: Vec<_> = (0..20)
        .map(|i| tcp(i * 100, C, 40000, S, 445, SYN, 7, 0, 0))
        .collect();
    let c = one(&p);
    assert_eq!(c.syn_attempts, 20);
    assert_eq!(c.syn_times.len(), 16);
}

#[test]
fn rej_and_port_reuse() {
    // pop3.pcap pattern: SYN answered by RST, retried: one REJ row per attempt.
    let p = [
        tcp(0, C, 26242, S, 110, SYN, 1000, 0, 0),
        tcp(50, S, 110, C, 26242, RST | ACK, 0, 1001, 0),
        tcp(3000, C, 26242, S, 110, SYN, 1000, 0, 0),
        tcp(3050, S, 110, C, 26242, RST | ACK, 0, 1001, 0),
    ];
    let v = run(&p);
    assert_eq!(v.len(), 2);
    for c in &v {
        assert_eq!(c.conn_state, "REJ");
        assert_eq!(c.history, "Sr");
        assert_eq!(c.handshake, Handshake::Rejected);
        assert_eq!((c.orig_pkts, c.resp_pkts), (1, 1));
    }
    assert_ne!(v[0].uid, v[1].uid);
}

#[test]
fn s1_established_not_terminated() {
    let mut p = handshake();
    p.push(tcp(30, C, 40000, S, 80, PSH | ACK, 101, 5001, 5));
    let c = one(&p);
    assert_eq!(c.conn_state, "S1");
    assert_eq!(c.history, "ShAD");
}

#[test]
fn s2_and_s3_one_sided_close() {
    let mut p = handshake();
    p.push(tcp(30, C, 40000, S, 80, FIN | ACK, 101, 5001, 0));
    assert_eq!(one(&p).conn_state, "S2");
    let mut p = handshake();
    p.push(tcp(30, S, 80, C, 40000, FIN | ACK, 5001, 101, 0));
    assert_eq!(one(&p).conn_state, "S3");
}

#[test]
fn rsto_and_rstr() {
    let mut p = handshake();
    p.push(tcp(30, C, 40000, S, 80, RST | ACK, 101, 5001, 0));
    let c = one(&p);
    assert_eq!(c.conn_state, "RSTO");
    assert_eq!(c.history, "ShAR");
    assert_eq!(c.handshake, Handshake::Established);
    let mut p = handshake();
    p.push(tcp(30, S, 80, C, 40000, RST | ACK, 5001, 101, 0));
    let c = one(&p);
    assert_eq!(c.conn_state, "RSTR");
    assert_eq!(c.history, "ShAr");
}

#[test]
fn rstos0_syn_then_originator_rst() {
    let c = one(&[
        tcp(0, C, 40000, S, 80, SYN, 100, 0, 0),
        tcp(10, C, 40000, S, 80, RST, 101, 0, 0),
    ]);
    assert_eq!(c.conn_state, "RSTOS0");
    assert_eq!(c.history, "SR");
}

#[test]
fn rstrh_and_shr_synack_then_close_from_responder() {
    // The SYN was missed; port 80 is a likely server port, so Zeek flips at once.
    let c = one(&[
        tcp(0, S, 80, C, 40000, SYN | ACK, 5000, 101, 0),
        tcp(10, S, 80, C, 40000, RST, 5001, 0, 0),
    ]);
    assert_eq!((c.orig_h, c.orig_p), (ip(C), 40000));
    assert_eq!(c.conn_state, "RSTRH");
    assert_eq!(c.history, "^hr");
    assert_eq!(c.handshake, Handshake::Midstream);
    let c = one(&[
        tcp(0, S, 80, C, 40000, SYN | ACK, 5000, 101, 0),
        tcp(10, S, 80, C, 40000, FIN | ACK, 5001, 101, 0),
    ]);
    assert_eq!(c.conn_state, "SHR");
    assert_eq!(c.history, "^hf");
}

#[test]
fn sh_syn_then_originator_fin() {
    let c = one(&[
        tcp(0, C, 40000, S, 80, SYN, 100, 0, 0),
        tcp(10, C, 40000, S, 80, FIN, 101, 0, 0),
    ]);
    assert_eq!(c.conn_state, "SH");
    assert_eq!(c.history, "SF");
}

#[test]
fn oth_midstream() {
    let c = one(&[
        tcp(0, C, 40000, S, 389, PSH | ACK, 100, 5000, 30),
        tcp(10, S, 389, C, 40000, PSH | ACK, 5000, 130, 40),
    ]);
    assert_eq!(c.conn_state, "OTH");
    assert_eq!(c.history, "Dd");
    assert_eq!((c.orig_bytes, c.resp_bytes), (30, 40));
    assert_eq!(c.handshake, Handshake::Midstream);
    // A server-port source with a client-port destination is flipped (Zeek's heuristic).
    let c = one(&[tcp(0, S, 389, C, 40000, PSH | ACK, 5000, 100, 40)]);
    assert_eq!((c.orig_p, c.resp_p), (40000, 389));
    assert_eq!(c.history, "^d");
}

#[test]
fn synack_first_then_ack_is_flipped_even_between_server_ports() {
    // Both 80 and 6669 are likely server ports, so the SYN-ACK alone does not flip
    // (it could be a stealth scan); the ACK that follows does (zeek#2191).
    let c = one(&[
        tcp(0, S, 80, C, 6669, SYN | ACK, 5000, 101, 0),
        tcp(10, C, 6669, S, 80, ACK, 101, 5001, 0),
        tcp(20, C, 6669, S, 80, PSH | ACK, 101, 5001, 50),
    ]);
    assert_eq!((c.orig_h, c.orig_p, c.resp_p), (ip(C), 6669, 80));
    assert_eq!(c.history, "^hAD");
    assert_eq!(c.conn_state, "S1");
}

#[test]
fn closed_early_and_icmp_unreachable_verdicts() {
    let p = [
        tcp(0, C, 40000, S, 80, SYN, 100, 0, 0),
        tcp(10, S, 80, C, 40000, SYN | ACK, 5000, 101, 0),
        tcp(20, C, 40000, S, 80, RST, 101, 0, 0),
    ];
    let c = one(&p);
    assert_eq!(c.handshake, Handshake::ClosedEarly);
    assert_eq!(c.history, "ShR");

    let q = Quoted {
        transport: Transport::Tcp,
        src: ip(C),
        dst: ip(S),
        sport: 40000,
        dport: 80,
    };
    let v = run(&[
        tcp(0, C, 40000, S, 80, SYN, 100, 0, 0),
        icmp(5, ROUTER, C, 3, 13, 48, Some(q)),
    ]);
    assert_eq!(v.len(), 2);
    let t = v
        .iter()
        .find(|c| c.proto == Transport::Tcp)
        .unwrap_or_else(|| unreachable!());
    assert_eq!(t.handshake, Handshake::IcmpUnreachable);
    let e = t.icmp.unwrap_or_else(|| unreachable!());
    assert_eq!(
        (e.icmp_type, e.code, e.reporter, e.count, e.ts),
        (3, 13, ip(ROUTER), 1, ms(5))
    );
    // The ICMP error is logged as its own connection too: type 3, code as responder port.
    let i = v
        .iter()
        .find(|c| c.proto == Transport::Icmp)
        .unwrap_or_else(|| unreachable!());
    assert_eq!(
        (i.orig_h, i.orig_p, i.resp_h, i.resp_p),
        (ip(ROUTER), 3, ip(C), 13)
    );
    assert_eq!(i.conn_state, "OTH");
    assert_eq!(i.handshake, Handshake::None);
}

#[test]
fn retransmission_and_zero_window_letters() {
    let mut p = handshake();
    p.push(tcp(30, C, 40000, S, 80, PSH | ACK, 101, 5001, 10));
    p.push(tcp(40, C, 40000, S, 80, PSH | ACK, 101, 5001, 10));
    let mut zw = tcp(50, S, 80, C, 40000, ACK, 5001, 111, 0);
    if let Some(t) = zw.tcp.as_mut() {
        t.window = 0;
    }
    p.push(zw);
    let c = one(&p);
    assert_eq!(c.history, "ShADTaw");
    assert_eq!(c.orig_bytes, 10);
}

#[test]
fn udp_states_and_verdicts() {
    let c = one(&[udp(0, C, 5000, S, 1812, 20)]);
    assert_eq!(
        (c.conn_state, c.history.as_str(), c.handshake),
        ("S0", "D", Handshake::Unanswered)
    );
    assert_eq!(c.vlan, Some(7));
    let c = one(&[udp(0, C, 5000, S, 1812, 20), udp(5, S, 1812, C, 5000, 30)]);
    assert_eq!(
        (c.conn_state, c.history.as_str(), c.handshake),
        ("SF", "Dd", Handshake::Answered)
    );
    assert_eq!((c.orig_bytes, c.resp_bytes, c.orig_ip_bytes), (20, 30, 48));
    // A reply from a server port first: flipped, the originator said nothing.
    let c = one(&[udp(0, S, 53, C, 5000, 30)]);
    assert_eq!(
        (c.orig_p, c.resp_p, c.conn_state, c.history.as_str()),
        (5000, 53, "SHR", "^d")
    );
    // Port unreachable.
    let q = Quoted {
        transport: Transport::Udp,
        src: ip(C),
        dst: ip(S),
        sport: 5000,
        dport: 1812,
    };
    let v = run(&[
        udp(0, C, 5000, S, 1812, 20),
        icmp(3, S, C, 3, 3, 48, Some(q)),
    ]);
    let u = v
        .iter()
        .find(|c| c.proto == Transport::Udp)
        .unwrap_or_else(|| unreachable!());
    assert_eq!(u.handshake, Handshake::IcmpUnreachable);
}

#[test]
fn inactivity_timeouts_split_connections() {
    // UDP: 1 minute.
    let v = run(&[
        udp(0, C, 5000, S, 1812, 20),
        udp(61_000, C, 5000, S, 1812, 20),
    ]);
    assert_eq!(v.len(), 2);
    let v = run(&[
        udp(0, C, 5000, S, 1812, 20),
        udp(59_000, C, 5000, S, 1812, 20),
    ]);
    assert_eq!(v.len(), 1);
    // DNS: Zeek's DNS analyzer drops the connection after ~10 s of silence.
    let v = run(&[udp(0, C, 5000, S, 53, 20), udp(16_000, C, 5000, S, 53, 20)]);
    assert_eq!(v.len(), 2);
    // TCP: 5 minutes.
    let mut p = handshake();
    p.push(tcp(290_000, C, 40000, S, 80, PSH | ACK, 101, 5001, 5));
    assert_eq!(run(&p).len(), 1);
    let mut p = handshake();
    p.push(tcp(330_000, C, 40000, S, 80, PSH | ACK, 101, 5001, 5));
    assert_eq!(run(&p).len(), 2);
}

#[test]
fn timed_out_connections_are_emitted_while_packets_flow() {
    let mut t = Tracker::new(TrackConfig::default());
    let mut out = Vec::new();
    t.packet(&udp(0, C, 5000, S, 1812, 20), &mut |c| out.push(c));
    t.packet(&udp(10, C, 5001, S, 1812, 20), &mut |c| out.push(c));
    assert_eq!(t.open_connections(), 2);
    t.packet(&udp(120_000, C, 5002, S, 1812, 20), &mut |c| out.push(c));
    assert_eq!(out.len(), 2);
    assert_eq!(t.open_connections(), 1);
}

#[test]
fn icmp_echo_request_and_reply_share_a_connection() {
    let c = one(&[icmp(0, C, S, 8, 0, 56, None), icmp(1, S, C, 0, 0, 56, None)]);
    assert_eq!(
        (c.orig_h, c.orig_p, c.resp_h, c.resp_p),
        (ip(C), 8, ip(S), 0)
    );
    assert_eq!(
        (c.orig_pkts, c.resp_pkts, c.orig_bytes, c.resp_bytes),
        (1, 1, 56, 56)
    );
    assert_eq!(
        (c.conn_state, c.history.as_str(), c.proto_name()),
        ("OTH", "", "icmp")
    );
}

#[test]
fn other_transports_are_unknown_transport() {
    let mut p = udp(0, C, 0, S, 0, 100);
    p.transport = Transport::Other(132);
    let c = one(&[p]);
    assert_eq!(c.proto_name(), "unknown_transport");
    assert_eq!(
        (c.orig_p, c.resp_p, c.conn_state, c.orig_bytes),
        (0, 0, "OTH", 0)
    );
    assert_eq!(c.handshake, Handshake::None);
}

#[test]
fn uids_are_deterministic() {
    let mut p = handshake();
    p.push(udp(30, C, 5000, S, 53, 10));
    let a: Vec<_> = run(&p).into_iter().map(|c| c.uid).collect();
    let b: Vec<_> = run(&p).into_iter().map(|c| c.uid).collect();
    assert_eq!(a, b);
    assert_ne!(a[0], a[1]);
}

#[test]
fn tcp_without_header_is_ignored() {
    let mut p = tcp(0, C, 1, S, 2, SYN, 0, 0, 0);
    p.tcp = None;
    assert!(run(&[p]).is_empty());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary TCP/UDP/ICMP sequences never panic, every packet is counted
        /// exactly once, and the table is empty after `finish`.
        #[test]
        fn never_panics_and_counts_every_packet(
            pkts in proptest::collection::vec(
                (0u8..3, any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>(), 0u32..3000, 0i64..400_000, any::<u16>()),
                1..60)
        ) {
            let mut t = 0;
            let built: Vec<Packet<'static>> = pkts
                .iter()
                .map(|&(kind, dir, flags, seq, ack, len, dt, win)| {
                    t += dt / 50;
                    let (a, b) = if dir { (C, S) } else { (S, C) };
                    let (pa, pb) = if dir { (40000, 80) } else { (80, 40000) };
                    match kind {
                        0 => {
                            let mut p = tcp(t, a, pa, b, pb, flags, seq, ack, len);
                            if let Some(i) = p.tcp.as_mut() { i.window = win; }
                            p
                        }
                        1 => udp(t, a, pa, b, pb, len),
                        _ => icmp(t, a, b, flags % 20, 0, len, None),
                    }
                })
                .collect();
            let out = run(&built);
            let total: u64 = out.iter().map(|c| c.orig_pkts + c.resp_pkts).sum();
            prop_assert_eq!(total, built.len() as u64);
            for c in &out {
                prop_assert!(c.duration.0 >= 0);
            }
        }
    }
}

#[test]
fn only_open_connections_are_held() {
    // 100 000 one-packet UDP flows, one every 10 ms (1000 s of traffic): with a
    // 60 s timeout at most ~6000 can be open at any time.
    let mut t = Tracker::new(TrackConfig::default());
    let mut emitted = 0usize;
    let mut peak = 0usize;
    for i in 0..100_000u32 {
        let [_, _, hi, lo] = i.to_be_bytes();
        let p = udp(i64::from(i) * 10, [10, 1, hi, lo], 40000, S, 1812, 10);
        t.packet(&p, &mut |_| emitted += 1);
        peak = peak.max(t.open_connections());
    }
    assert!(peak <= 6_002, "peak {peak}");
    t.finish(&mut |_| emitted += 1);
    assert_eq!(emitted, 100_000);
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let v = run(&[
        udp(0, C, 5000, S, 53, 10),
        Packet {
            ts: Timestamp(i64::MAX - 5),
            ..udp(0, C, 5000, S, 53, 10)
        },
        Packet {
            ts: Timestamp(i64::MIN),
            ..tcp(0, C, 1, S, 2, SYN, 0, 0, 0)
        },
        Packet {
            ts: Timestamp(i64::MAX),
            ..tcp(0, C, 1, S, 2, FIN | ACK, 0, 0, 0)
        },
    ]);
    let pkts: u64 = v.iter().map(|c| c.orig_pkts + c.resp_pkts).sum();
    assert_eq!(pkts, 4);
}

/// A mix where sharding could go wrong: many flows (so every shard gets
/// some), ICMP errors quoting TCP and UDP flows (whose shard usually differs
/// from the ICMP flow's), port reuse, and a timestamp jump on one flow that
/// expires every other flow on a single table's clock.
fn shard_mix() -> Vec<Packet<'static>> {
    let mut p = Vec::new();
    let mut t = 0;
    for i in 0..120u16 {
        let port = 40000 + i;
        let srv = [10, 0, 1, (i % 7) as u8 + 1];
        match i % 5 {
            0 => {
                p.push(tcp(t, C, port, srv, 445, SYN, 100, 0, 0));
                p.push(tcp(t + 3000, C, port, srv, 445, SYN, 100, 0, 0));
            }
            1 => {
                p.push(tcp(t, C, port, srv, 636, SYN, 100, 0, 0));
                let q = Quoted {
                    transport: Transport::Tcp,
                    src: ip(C),
                    dst: ip(srv),
                    sport: port,
                    dport: 636,
                };
                p.push(icmp(t + 2, ROUTER, C, 3, 13, 48, Some(q)));
            }
            2 => {
                p.push(udp(t, C, port, srv, 53, 40));
                let q = Quoted {
                    transport: Transport::Udp,
                    src: ip(C),
                    dst: ip(srv),
                    sport: port,
                    dport: 53,
                };
                p.push(icmp(t + 1, srv, C, 3, 3, 68, Some(q)));
            }
            3 => {
                p.push(tcp(t, C, port, srv, 389, SYN, 100, 0, 0));
                p.push(tcp(t + 1, srv, 389, C, port, SYN | ACK, 900, 101, 0));
                p.push(tcp(t + 2, C, port, srv, 389, ACK, 101, 901, 0));
                p.push(tcp(t + 3, C, port, srv, 389, ACK | FIN, 101, 901, 0));
                p.push(tcp(t + 4, srv, 389, C, port, ACK | FIN, 901, 102, 0));
                p.push(tcp(t + 5, C, port, srv, 389, ACK, 102, 902, 0));
                // Port reuse: a new SYN with a new ISN on the same 5-tuple.
                p.push(tcp(t + 6000, C, port, srv, 389, SYN, 7000, 0, 0));
            }
            _ => {
                p.push(tcp(t, C, port, srv, 88, SYN, 100, 0, 0));
                p.push(tcp(t + 1, srv, 88, C, port, RST | ACK, 0, 101, 0));
            }
        }
        t += 50;
        if i == 60 {
            // One flow's packet 400 s ahead: on the capture's clock every
            // connection open so far expires here, whatever shard it is in.
            p.push(udp(t + 400_000, [10, 0, 9, 9], 5000, S, 123, 48));
        }
    }
    p.sort_by_key(|x| x.ts);
    // Put the jump back in file order, out of timestamp order.
    if let Some(pos) = p.iter().position(|x| x.dport == 123)
        && let Some(x) = p.get(pos).copied()
    {
        p.remove(pos);
        p.insert(p.len() / 2, x);
    }
    p
}

#[test]
fn shards_give_the_same_connections_as_one_table() {
    let pkts = shard_mix();
    let mut want = run(&pkts);
    want.sort_by(|a, b| a.uid.cmp(&b.uid));
    assert!(
        want.iter()
            .any(|c| c.icmp.is_some() && c.proto == Transport::Tcp)
    );
    assert!(
        want.iter()
            .any(|c| c.icmp.is_some() && c.proto == Transport::Udp)
    );
    for split in [
        vec![vec![0, 1, 2, 3]],
        vec![vec![0, 2], vec![1, 3]],
        vec![vec![3], vec![1], vec![0, 2]],
    ] {
        for round in [1, 7, 4096] {
            let mut sets: Vec<ShardSet> = split
                .iter()
                .map(|s| ShardSet::new(TrackConfig::default(), s.iter().copied()))
                .collect();
            let mut got = Vec::new();
            for chunk in pkts.chunks(round) {
                for set in &mut sets {
                    set.round(chunk, &mut |_, c| got.push(c));
                }
            }
            for set in &mut sets {
                set.finish(&mut |_, c| got.push(c));
            }
            got.sort_by(|a, b| a.uid.cmp(&b.uid));
            assert_eq!(got, want, "split {split:?}, rounds of {round}");
        }
    }
}

#[test]
fn colliding_index_hashes_fall_back_to_whole_keys() {
    let pkts = shard_mix();
    let mut want = run(&pkts);
    want.sort_by(|a, b| a.uid.cmp(&b.uid));
    // Two bits of hash for about a hundred open connections: nearly every key
    // collides with another, so inserts, lookups and removals go through the
    // overflow map.
    let mut t = Tracker::with_colliding_index(TrackConfig::default(), 2);
    let mut got = Vec::new();
    for chunk in pkts.chunks(5) {
        t.packets(chunk, &mut |c| got.push(c));
    }
    t.finish(&mut |c| got.push(c));
    assert_eq!(t.open_connections(), 0);
    got.sort_by(|a, b| a.uid.cmp(&b.uid));
    assert_eq!(got, want);
}

/// Another input's copy of a packet marks the connection as seen by that
/// input and changes nothing else: not the counters, not the history, not
/// the clock (a copy 5 minutes ahead must not expire anything).
#[test]
fn a_copy_marks_its_input_and_counts_nothing() {
    let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let plain = [
        tcp(0, c, 40000, s, 389, SYN, 100, 0, 0),
        tcp(10, s, 389, c, 40000, SYN | ACK, 500, 101, 0),
        tcp(20, c, 40000, s, 389, ACK, 101, 501, 0),
    ];
    let mut with_copies = Vec::new();
    for p in &plain {
        with_copies.push(*p);
        with_copies.push(Packet {
            input: 1,
            copy: true,
            ..*p
        });
    }
    // A copy far ahead of the capture's clock, of a flow nobody opened.
    with_copies.push(Packet {
        input: 2,
        copy: true,
        ..tcp(300_000, c, 40001, s, 389, SYN, 7, 0, 0)
    });
    let one = run(&plain);
    let both = run(&with_copies);
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(one[0].inputs, input_bit(0usize));
    assert_eq!(both[0].inputs, input_bit(0usize) | input_bit(1usize));
    assert_eq!(
        Connection {
            inputs: 0,
            ..both[0].clone()
        },
        Connection {
            inputs: 0,
            ..one[0].clone()
        }
    );
}
