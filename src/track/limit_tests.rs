//! The connection limit: eviction order, nothing lost, bounded table and timers,
//! and output independent of the hasher's seed. Expected values come from the
//! packets each test builds (which connections it opened, which it answered).

use super::*;
use crate::decode::tcp_flags::{ACK, SYN};
use crate::decode::{Packet, TcpInfo};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

fn ms(t: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + t * 1_000_000)
}

/// A TCP packet at `t` ms between 10.0.x.y:sport and 10.9.0.1:dport.
fn tcp(t: i64, client: u32, sport: u16, to_server: bool, flags: u8, seq: u32) -> Packet<'static> {
    let c = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (client & 0xffff)));
    let s = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
    let (src, dst, sp, dp) = if to_server {
        (c, s, sport, 443)
    } else {
        (s, c, 443, sport)
    };
    Packet {
        ip_len: 40,
        tcp: Some(TcpInfo {
            flags,
            seq,
            ack: if flags & ACK != 0 { 1001 } else { 0 },
            window: 1000,
        }),
        ..Packet::new(ms(t), Transport::Tcp, (src, sp), (dst, dp), &[])
    }
}

fn cfg(max: usize) -> TrackConfig {
    TrackConfig {
        max_connections: max,
        ..TrackConfig::default()
    }
}

/// Feeds packets; returns (emitted before finish, emitted by finish).
fn feed(t: &mut Tracker, pkts: &[Packet<'_>]) -> (Vec<Connection>, Vec<Connection>) {
    let mut early = Vec::new();
    for p in pkts {
        t.packet(p, &mut |c| early.push(c));
        assert!(t.open_connections() <= t.stats().max_connections);
    }
    let mut rest = Vec::new();
    t.finish(&mut |c| rest.push(c));
    (early, rest)
}

#[test]
fn unanswered_attempts_go_first_even_when_newer() {
    // Connection 0: an answered handshake, the oldest and idle since.
    let mut p = vec![
        tcp(0, 0, 1000, true, SYN, 1000),
        tcp(1, 0, 1000, false, SYN | ACK, 5000),
        tcp(2, 0, 1000, true, ACK, 1001),
    ];
    // 15 unanswered SYNs from other clients fill the table (16).
    for i in 1..16 {
        p.push(tcp(10 + i64::from(i), i, 2000, true, SYN, 1));
    }
    // One more connection: the table must make room (batch of 16/16 = 1).
    p.push(tcp(100, 99, 3000, true, SYN, 1));
    let mut t = Tracker::new(cfg(16));
    let (early, rest) = feed(&mut t, &p);
    assert_eq!(early.len(), 1, "{early:#?}");
    // The oldest unanswered SYN (client 1), not the older answered connection.
    assert_eq!(early[0].orig_h, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(early[0].conn_state, "S0");
    assert_eq!(early[0].handshake, Handshake::Unanswered);
    assert_eq!(rest.len(), 16);
    let s = t.stats();
    assert_eq!(
        (s.evicted, s.evicted_unanswered, s.eviction_passes),
        (1, 1, 1)
    );
    assert_eq!(s.evicted_by_state.get("S0"), Some(&1));
    assert_eq!(s.evicted_by_handshake.get("unanswered"), Some(&1));
    assert_eq!(s.peak_open, 16);
    assert_eq!(s.connections, 17);
    let w = s.eviction_warning().unwrap_or_default();
    assert!(w.starts_with("1 connections were reported early") && w.contains("more than 16"));
    assert!(
        w.contains("1 of them were unanswered") && !w.contains("had replies"),
        "{w}"
    );
}

#[test]
fn no_warning_below_the_limit() {
    let mut t = Tracker::new(cfg(16));
    let (early, _) = feed(&mut t, &[tcp(0, 0, 1000, true, SYN, 1)]);
    assert!(early.is_empty());
    assert_eq!(t.stats().eviction_warning(), None);
}

#[test]
fn answered_connections_go_least_recently_active_first() {
    // Four answered connections; client 0 starts first but stays active,
    // client 1 starts later and goes quiet first.
    let mut p = Vec::new();
    for i in 0..4u32 {
        let t0 = i64::from(i) * 10;
        p.push(tcp(t0, i, 1000, true, SYN, 1000));
        p.push(tcp(t0 + 1, i, 1000, false, SYN | ACK, 5000));
    }
    p.push(tcp(50, 0, 1000, true, ACK, 1001)); // client 0 active again
    p.push(tcp(60, 2, 1000, true, ACK, 1001));
    p.push(tcp(61, 3, 1000, true, ACK, 1001));
    p.push(tcp(70, 7, 1000, true, SYN, 1)); // fifth connection, limit 4
    let mut t = Tracker::new(cfg(4));
    let (early, rest) = feed(&mut t, &p);
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].orig_h, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(rest.len(), 4);
    assert_eq!(t.stats().evicted_unanswered, 0);
    let w = t.stats().eviction_warning().unwrap_or_default();
    assert!(
        w.contains("; 1 had replies") && !w.contains("unanswered attempts"),
        "{w}"
    );
}

#[test]
fn syn_flood_is_bounded_and_nothing_is_lost() {
    const N: u32 = 20_000;
    const MAX: usize = 500;
    let p: Vec<Packet<'static>> = (0..N)
        .map(|i| {
            tcp(
                i64::from(i),
                i % 60_000,
                1024 + (i % 50_000) as u16,
                true,
                SYN,
                i,
            )
        })
        .collect();
    let mut t = Tracker::new(cfg(MAX));
    let (early, rest) = feed(&mut t, &p);
    assert_eq!(early.len() + rest.len(), N as usize);
    let uids: BTreeSet<&str> = early.iter().chain(&rest).map(|c| c.uid.as_str()).collect();
    assert_eq!(
        uids.len(),
        N as usize,
        "every SYN is its own connection, once"
    );
    let s = t.stats();
    assert_eq!(s.evicted, early.len() as u64);
    assert_eq!(s.evicted_by_state.get("S0").copied(), Some(s.evicted));
    assert_eq!(s.peak_open, MAX);
    assert!(
        t.slot_capacity() <= MAX,
        "slab capacity {}",
        t.slot_capacity()
    );
    assert!(
        t.timer_entries() <= 2 * MAX + 4096,
        "timers {}",
        t.timer_entries()
    );
    // Evicted rows come out in start order, batch after batch.
    assert!(early.windows(2).all(|w| w[0].ts <= w[1].ts));
}

#[test]
fn output_does_not_depend_on_the_hasher_seed() {
    // A mix of answered, unanswered, reused and evicted connections.
    let mut p = Vec::new();
    for i in 0..3000u32 {
        let t0 = i64::from(i) * 3;
        let client = i % 97;
        let sport = 1000 + (i % 53) as u16;
        p.push(tcp(t0, client, sport, true, SYN, i));
        if i % 3 == 0 {
            p.push(tcp(t0 + 1, client, sport, false, SYN | ACK, 7 * i));
        }
    }
    let run = |seed: u64| {
        let mut t = Tracker::with_hash_seed(cfg(64), seed);
        let (mut a, b) = feed(&mut t, &p);
        a.extend(b);
        (a, t.stats().clone())
    };
    let (a, sa) = run(1);
    let (b, sb) = run(0x9e37_79b9_7f4a_7c15);
    assert!(sa.evicted > 0);
    assert_eq!(sa, sb);
    assert_eq!(a, b);
}
