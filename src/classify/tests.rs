//! Classifier scenarios. Connections are filled in by hand with what the tracker
//! produces for each case (its own tests pin those values: `Sr`/REJ for a reset
//! SYN, `S`/S0 with `syn_attempts` for retransmissions, ...); every expected
//! number in an evidence string comes from the connection the test built.

use super::*;
use crate::catalogue::{Catalogue, Feature, Kind, PortRange, Rule, When};
use crate::decode::Transport;
use crate::inventory::{Inventory, RoleEntry, RoleSource};
use crate::time::{Duration, Timestamp};
use crate::track::{Connection, Handshake, IcmpError};
use ipnet::IpNet;

const SYNC: &str = "10.0.1.10";
const DC4: &str = "10.0.0.4";
const DC5: &str = "10.0.0.5";
const SYNC6: &str = "fd00::1:10";
const DC6: &str = "fd00::4";
const FW: &str = "10.0.1.1";
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|_| unreachable!("bad test address {s}"))
}

fn at(ms: i64) -> Timestamp {
    Timestamp(T0 * 1_000_000_000 + ms * 1_000_000)
}

/// A rule as the catalogue loader would build it.
#[allow(clippy::too_many_arguments)]
fn rule(
    id: &str,
    src: &[Role],
    dst: &[Role],
    transports: &[Proto],
    ports: (u16, u16),
    protocol: &str,
    features: &[Feature],
    when: When,
    kind: Kind,
) -> Rule {
    Rule {
        id: id.to_string(),
        table: id
            .strip_prefix('t')
            .and_then(|r| r.split('-').next())
            .map(str::to_string),
        page: None,
        section: None,
        src: src.to_vec(),
        dst: dst.to_vec(),
        transports: transports.to_vec(),
        ports: PortRange {
            lo: ports.0,
            hi: ports.1,
        },
        protocol: protocol.to_string(),
        description: format!("{protocol} for the test"),
        features: features.to_vec(),
        when,
        kind,
        fallback_for: None,
        source: None,
        notes: Vec::new(),
        on_block: Vec::new(),
        on_reset: None,
        epm: false,
        identifies: false,
        if_deployed: false,
        line: 1,
    }
}

fn catalogue() -> Catalogue {
    use Feature::*;
    use Kind::*;
    use Proto::*;
    use Role::*;
    use When::*;
    let mut fb = rule(
        "t5-https",
        &[Sync],
        &[Azure],
        &[Tcp],
        (443, 443),
        "HTTPS",
        &[HealthAgent],
        Fallback,
        Required,
    );
    fb.fallback_for = Some("t5-amqp".to_string());
    let mut kerb = rule(
        "t1-kerberos",
        &[Sync],
        &[Dc],
        &[Tcp, Udp],
        (88, 88),
        "Kerberos",
        &[PasswordHashSync],
        EverySyncCycle,
        Required,
    );
    kerb.notes = vec!["Windows uses Kerberos over TCP first; no UDP 88 is normal".to_string()];
    Catalogue {
        origin: vec!["<test>".to_string()],
        rules: vec![
            rule(
                "t1-ldap",
                &[Sync],
                &[Dc],
                &[Tcp],
                (389, 389),
                "LDAP",
                &[PasswordHashSync],
                EverySyncCycle,
                Required,
            ),
            rule(
                "t1-gc",
                &[Sync],
                &[Dc],
                &[Tcp],
                (3268, 3268),
                "LDAP GC",
                &[PasswordHashSync],
                EverySyncCycle,
                Required,
            ),
            rule(
                "t1-dns",
                &[Sync],
                &[Dc],
                &[Tcp, Udp],
                (53, 53),
                "DNS",
                &[],
                EverySyncCycle,
                Required,
            ),
            kerb,
            rule(
                "t1-smb",
                &[Sync],
                &[Dc],
                &[Tcp],
                (445, 445),
                "SMB",
                &[SeamlessSso, PasswordWriteback],
                OnDemand,
                Required,
            ),
            rule(
                "t1-winrm",
                &[Sync],
                &[Dc],
                &[Tcp],
                (5985, 5985),
                "WinRM",
                &[AdfsGmsa],
                SetupOnly,
                Required,
            ),
            rule(
                "t1-rpc",
                &[Sync],
                &[Dc],
                &[Tcp],
                (49152, 65535),
                "RPC",
                &[PasswordHashSync],
                EverySyncCycle,
                Required,
            ),
            rule(
                "t1-https",
                &[Sync],
                &[Azure],
                &[Tcp],
                (443, 443),
                "HTTPS",
                &[PasswordHashSync],
                EverySyncCycle,
                Required,
            ),
            rule(
                "t5-amqp",
                &[Sync],
                &[Azure],
                &[Tcp],
                (5671, 5671),
                "AMQP",
                &[HealthAgent],
                Optional,
                Required,
            ),
            fb,
            rule(
                "fact-ntp",
                &[Sync, Role::Adfs],
                &[Dc],
                &[Udp],
                (123, 123),
                "W32Time",
                &[],
                Optional,
                Tolerated,
            ),
        ],
        azure_ranges: Vec::new(),
        hostnames: Vec::new(),
        client_hostnames: Vec::new(),
        lookups: Vec::new(),
        tls_issuers: Vec::new(),
    }
}

/// Inventory with these features and roles; entries sorted most specific first,
/// plus the Entra ID range as the catalogue's azure range.
fn inventory_with(features: &[Feature], roles: &[(&str, Role)]) -> Inventory {
    let mut entries: Vec<RoleEntry> = roles
        .iter()
        .map(|&(s, role)| RoleEntry {
            net: s.parse::<IpNet>().unwrap_or_else(|_| IpNet::from(ip(s))),
            role,
            source: RoleSource::Inventory,
            line: 1,
        })
        .collect();
    entries.push(RoleEntry {
        net: "20.190.128.0/18".parse().unwrap_or_else(|_| unreachable!()),
        role: Role::Azure,
        source: RoleSource::Catalogue,
        line: 0,
    });
    entries.sort_by_key(|e| std::cmp::Reverse(e.net.prefix_len()));
    Inventory {
        path: "test.toml".to_string(),
        features: features.to_vec(),
        features_assumed: false,
        entries,
    }
}

fn inventory(features: &[Feature]) -> Inventory {
    inventory_with(
        features,
        &[
            (SYNC, Role::Sync),
            (SYNC6, Role::Sync),
            (DC4, Role::Dc),
            (DC5, Role::Dc),
            (DC6, Role::Dc),
            ("10.0.50.0/24", Role::Users),
        ],
    )
}

fn phs() -> Inventory {
    inventory(&[Feature::PasswordHashSync])
}

pub(super) fn base(
    ts: Timestamp,
    orig: &str,
    resp: &str,
    port: u16,
    proto: Transport,
) -> Connection {
    Connection {
        uid: "Ctest".into(),
        proto,
        conn_state: "OTH",
        history: Default::default(),
        orig_pkts: 0,
        orig_ip_bytes: 0,
        handshake: Handshake::None,
        syn_attempts: 0,
        ..Connection::unanswered_syn(ts, ip(orig), ip(resp), port)
    }
}

/// SYN, SYN-ACK, ACK, data both ways, FINs: `ShADadFf`, SF.
fn established(ts: Timestamp, orig: &str, resp: &str, port: u16) -> Connection {
    Connection {
        duration: Duration(70_000_000),
        orig_bytes: 10,
        resp_bytes: 20,
        conn_state: "SF",
        history: "ShADadFf".into(),
        orig_pkts: 5,
        resp_pkts: 4,
        handshake: Handshake::Established,
        syn_attempts: 1,
        syn_times: vec![ts],
        ..base(ts, orig, resp, port, Transport::Tcp)
    }
}

/// SYN answered by RST `delay_ns` later: `Sr`, REJ.
fn rejected(ts: Timestamp, orig: &str, resp: &str, port: u16, delay_ns: i64) -> Connection {
    Connection {
        duration: Duration(delay_ns),
        conn_state: "REJ",
        history: "Sr".into(),
        orig_pkts: 1,
        resp_pkts: 1,
        handshake: Handshake::Rejected,
        syn_attempts: 1,
        syn_times: vec![ts],
        ..base(ts, orig, resp, port, Transport::Tcp)
    }
}

/// SYNs at these offsets (ms) from `ts`, never answered: `S`, S0.
fn unanswered(ts: Timestamp, orig: &str, resp: &str, port: u16, offsets_ms: &[i64]) -> Connection {
    let times: Vec<Timestamp> = offsets_ms
        .iter()
        .map(|&o| Timestamp(ts.0 + o * 1_000_000))
        .collect();
    Connection {
        duration: Duration(offsets_ms.last().copied().unwrap_or(0) * 1_000_000),
        conn_state: "S0",
        history: "S".into(),
        orig_pkts: offsets_ms.len() as u64,
        handshake: Handshake::Unanswered,
        syn_attempts: offsets_ms.len() as u32,
        syn_times: times,
        ..base(ts, orig, resp, port, Transport::Tcp)
    }
}

fn icmp_err(reporter: &str, t: u8, code: u8, ts: Timestamp) -> IcmpError {
    let r = ip(reporter);
    IcmpError {
        icmp_type: t,
        code,
        v6: r.is_ipv6(),
        reporter: r,
        ts,
        count: 1,
    }
}

/// A SYN refused by an ICMP error 2 ms later.
fn icmp_blocked(
    ts: Timestamp,
    orig: &str,
    resp: &str,
    port: u16,
    reporter: &str,
    t: u8,
    code: u8,
) -> Connection {
    Connection {
        handshake: Handshake::IcmpUnreachable,
        icmp: Some(icmp_err(reporter, t, code, Timestamp(ts.0 + 2_000_000))),
        ..unanswered(ts, orig, resp, port, &[0])
    }
}

fn udp(
    ts: Timestamp,
    orig: &str,
    resp: &str,
    port: u16,
    requests: u64,
    replies: u64,
) -> Connection {
    Connection {
        conn_state: if replies > 0 { "SF" } else { "S0" },
        history: if replies > 0 { "Dd" } else { "D" }.into(),
        orig_pkts: requests,
        resp_pkts: replies,
        handshake: if replies > 0 {
            Handshake::Answered
        } else {
            Handshake::Unanswered
        },
        ..base(ts, orig, resp, port, Transport::Udp)
    }
}

fn run(
    cat: &Catalogue,
    inv: &Inventory,
    conns: &[Connection],
    span: Option<(Timestamp, Timestamp)>,
) -> Audit {
    let mut c = Classifier::new(cat, inv);
    for x in conns {
        c.connection(x);
    }
    c.finish(span)
}

/// A 45-minute span starting at T0.
fn long() -> Option<(Timestamp, Timestamp)> {
    Some((at(0), at(45 * 60 * 1000)))
}

fn find(a: &Audit, kind: FindingKind, port: u16) -> Vec<&Finding> {
    a.findings
        .iter()
        .filter(|f| f.kind == kind && f.port == port)
        .collect()
}

fn only(a: &Audit, kind: FindingKind, port: u16) -> &Finding {
    let v = find(a, kind, port);
    assert_eq!(v.len(), 1, "one {kind:?} on {port}: {:#?}", a.findings);
    v[0]
}

/// Background traffic that makes every PHS every-sync-cycle rule present, so
/// tests that look at one flow do not drown in `missing` findings.
fn background() -> Vec<Connection> {
    vec![
        established(at(1000), SYNC, DC4, 389),
        established(at(1000), SYNC, DC4, 53),
        established(at(1000), SYNC, DC4, 88),
        established(at(1000), SYNC, DC4, 49670),
        established(at(1000), SYNC, "20.190.130.1", 443),
    ]
}

#[test]
fn established_flow_is_healthy() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(established(at(2000), SYNC, DC5, 389));
    let a = run(&cat, &inv, &v, long());
    let h = only(&a, FindingKind::Healthy, 389);
    assert_eq!(h.severity, Severity::Info);
    assert_eq!(h.rule.as_deref(), Some("t1-ldap"));
    assert_eq!(h.table.as_deref(), Some("1"));
    assert_eq!(h.ports.as_deref(), Some("389"));
    assert_eq!(h.count, 2);
    assert_eq!(
        h.hosts
            .iter()
            .map(|p| (p.src, p.dst, p.attempts))
            .collect::<Vec<_>>(),
        vec![(ip(SYNC), ip(DC4), 1), (ip(SYNC), ip(DC5), 1)]
    );
    assert_eq!(
        h.evidence[0],
        "rule t1-ldap (table 1, LDAP): 2 connections established between 2 host pairs on tcp/389"
    );
    assert_eq!(
        h.wireshark_filter.as_deref(),
        Some(
            "(ip.addr==10.0.1.10 && ip.addr==10.0.0.4 && tcp.port==389) || \
             (ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && tcp.port==389)"
        )
    );
    // Only the GC flow, which the background leaves out, is not healthy.
    let others: Vec<(FindingKind, u16)> = a
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Healthy)
        .map(|f| (f.kind, f.port))
        .collect();
    assert_eq!(others, vec![(FindingKind::Missing, 3268)]);
    assert_eq!(a.summary.classified, 6);
}

#[test]
fn rst_blocked_with_works_to_one_fails_to_other() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(established(at(2000), SYNC, DC4, 3268));
    // Windows retries a refused connect: two REJ rows, RST 0.4 ms after each SYN.
    v.push(rejected(at(3000), SYNC, DC5, 3268, 400_000));
    v.push(rejected(at(3500), SYNC, DC5, 3268, 400_000));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.severity, Severity::Error);
    assert_eq!(b.how, Some(How::Rst));
    assert_eq!(b.rule.as_deref(), Some("t1-gc"));
    assert_eq!(b.count, 2);
    assert_eq!(b.hosts.len(), 1);
    let hp = &b.hosts[0];
    assert_eq!((hp.src, hp.dst, hp.attempts), (ip(SYNC), ip(DC5), 2));
    assert_eq!((hp.first_ts, hp.last_ts), (at(3000), at(3500)));
    assert_eq!(
        b.evidence,
        vec![
            "works to 10.0.0.4, fails to 10.0.0.5".to_string(),
            "RST from 10.0.0.5 0.4 ms after each of 2 SYNs: port closed or host firewall"
                .to_string(),
            "needed by rule t1-gc (table 1, LDAP GC) for password-hash-sync".to_string(),
        ]
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some("ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && tcp.port==3268")
    );
    let h = only(&a, FindingKind::Healthy, 3268);
    assert!(
        h.evidence.contains(
            &"tcp/3268: works to 10.0.0.4, fails to 10.0.0.5 (see the blocked finding)".to_string()
        ),
        "{:?}",
        h.evidence
    );
    // A failed attempt is never also unexpected.
    assert!(find(&a, FindingKind::Unexpected, 3268).is_empty());
    // Errors first.
    assert_eq!(a.findings[0].kind, FindingKind::Blocked);
}

#[test]
fn rst_delays_that_differ_are_given_as_a_range() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(rejected(at(3000), SYNC, DC5, 3268, 300_000));
    v.push(rejected(at(3500), SYNC, DC5, 3268, 1_500_000));
    v.push(rejected(at(4000), SYNC, DC5, 3268, 500_000));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(
        b.evidence[0],
        "RST from 10.0.0.5 between 0.3 ms and 1.5 ms after each of 3 SYNs: port closed or host firewall"
    );
}

#[test]
fn unanswered_syns_are_no_synack() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    // Windows: SYN, retransmissions 3 s and 9 s later.
    v.push(unanswered(at(5000), SYNC, DC5, 3268, &[0, 3000, 9000]));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.how, Some(How::NoSynack));
    assert_eq!(b.severity, Severity::Error);
    assert_eq!(b.hosts[0].attempts, 3);
    assert_eq!(
        (b.hosts[0].first_ts, b.hosts[0].last_ts),
        (at(5000), at(14000))
    );
    assert_eq!(
        b.evidence[0],
        "3 SYNs to 10.0.0.5 over 9.0 s, no SYN-ACK: a firewall dropping silently, or the host is down"
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some("ip.src==10.0.1.10 && ip.dst==10.0.0.5 && tcp.dstport==3268")
    );
    // 3268 is still attempted, so t1-gc is not also missing.
    assert!(find(&a, FindingKind::Missing, 3268).is_empty());

    // When the destination answers other traffic, it is up: the SYNs are dropped.
    v.push(established(at(2000), SYNC, DC5, 389));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).evidence[0],
        "3 SYNs to 10.0.0.5 over 9.0 s, no SYN-ACK: a firewall dropping silently \
         (10.0.0.5 is up: the capture holds other packets from it)"
    );
}

#[test]
fn several_connections_of_retransmitted_syns() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(unanswered(at(5000), SYNC, DC5, 3268, &[0, 3000, 9000]));
    v.push(unanswered(at(600_000), SYNC, DC5, 3268, &[0, 1000]));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.hosts[0].attempts, 5);
    assert_eq!(b.hosts[0].last_ts, at(601_000));
    assert_eq!(
        b.evidence[0],
        "5 SYNs in 2 connections to 10.0.0.5 (retransmitted for up to 9.0 s), no SYN-ACK: \
         a firewall dropping silently, or the host is down"
    ); // Single SYNs, never retransmitted: no "retransmitted for up to 0.0 s".
    let mut v = background();
    v.push(unanswered(at(5000), SYNC, DC5, 3268, &[0]));
    v.push(unanswered(at(9000), SYNC, DC5, 3268, &[0]));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).evidence[0],
        "2 connections to 10.0.0.5, one SYN each and no retransmission, no SYN-ACK: \
         a firewall dropping silently, or the host is down"
    );
}

#[test]
fn icmp_prohibited_from_a_router_and_port_unreachable_from_the_destination() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(icmp_blocked(at(5000), SYNC, DC5, 3268, FW, 3, 13));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.how, Some(How::Icmp));
    assert_eq!(b.severity, Severity::Error);
    assert_eq!(
        b.evidence[0],
        "ICMP 3/13 (communication administratively prohibited) from 10.0.1.1 for 1 connection \
         to 10.0.0.5: a firewall in the path"
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some(
            "(ip.src==10.0.1.10 && ip.dst==10.0.0.5 && tcp.dstport==3268) || \
             (icmp.type==3 && ip.src==10.0.1.1 && ip.dst==10.0.1.10 && tcp.dstport==3268)"
        )
    );

    // UDP DNS to a DC that runs no DNS server: port unreachable from the DC itself.
    let mut v = background();
    let mut u = udp(at(5000), SYNC, DC5, 53, 1, 0);
    u.handshake = Handshake::IcmpUnreachable;
    u.icmp = Some(icmp_err(DC5, 3, 3, at(5001)));
    v.push(u);
    let a = run(&cat, &inv, &v, long());
    let b = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Blocked && f.transport == Proto::Udp)
        .unwrap_or_else(|| unreachable!("{:#?}", a.findings));
    assert_eq!(b.how, Some(How::Icmp));
    assert_eq!(b.rule.as_deref(), Some("t1-dns"));
    assert_eq!(b.hosts[0].attempts, 1);
    assert_eq!(
        b.evidence[0],
        "ICMP 3/3 (port unreachable) from the destination itself (10.0.0.5) for 1 connection \
         to 10.0.0.5: nothing listens on the port"
    );
    assert_eq!(
        b.evidence[1],
        "needed by rule t1-dns (table 1, DNS) for every deployment"
    );
}

#[test]
fn time_exceeded_names_a_routing_loop() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(icmp_blocked(at(5000), SYNC, DC5, 3268, FW, 11, 0));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).evidence[0],
        "ICMP 11/0 (TTL exceeded in transit) from 10.0.1.1 for 1 connection to 10.0.0.5: \
         routing loop or TTL too low"
    );
}

#[test]
fn udp_without_reply_is_no_reply() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    // Two requests (a retry on the same 5-tuple) and no answer.
    v.push(udp(at(5000), SYNC, DC5, 53, 2, 0));
    let a = run(&cat, &inv, &v, long());
    let b = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Blocked)
        .unwrap_or_else(|| unreachable!("{:#?}", a.findings));
    assert_eq!(
        (b.transport, b.port, b.how),
        (Proto::Udp, 53, Some(How::NoReply))
    );
    assert_eq!(b.hosts[0].attempts, 1, "UDP attempts are connections");
    assert_eq!(
        b.evidence[0],
        "2 requests in 1 connection to 10.0.0.5, no reply and no ICMP error: \
         a firewall dropping silently, or the host is down"
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some("ip.src==10.0.1.10 && ip.dst==10.0.0.5 && udp.dstport==53")
    );
}

#[test]
fn several_hows_in_one_group_stay_apart() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(rejected(at(3000), SYNC, DC4, 3268, 400_000));
    v.push(unanswered(at(5000), SYNC, DC5, 3268, &[0, 3000]));
    let a = run(&cat, &inv, &v, long());
    let hows: Vec<Option<How>> = find(&a, FindingKind::Blocked, 3268)
        .iter()
        .map(|f| f.how)
        .collect();
    assert_eq!(hows, vec![Some(How::Rst), Some(How::NoSynack)]);
}

#[test]
fn blocked_without_an_enabled_rule_is_less_severe() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(rejected(at(3000), SYNC, DC5, 8080, 400_000));
    v.push(rejected(at(3000), SYNC, DC5, 5985, 400_000));
    v.push(udp(at(3000), SYNC, DC5, 123, 3, 0));
    let a = run(&cat, &inv, &v, long());
    let none = only(&a, FindingKind::Blocked, 8080);
    assert_eq!(none.severity, Severity::Info);
    assert_eq!(none.rule, None);
    assert_eq!(
        none.evidence[1],
        "no rule of the catalogue needs tcp/8080 from sync to dc: the firewall may be doing its job"
    );
    let off = only(&a, FindingKind::Blocked, 5985);
    assert_eq!(off.severity, Severity::Warning);
    assert_eq!(off.rule.as_deref(), Some("t1-winrm"));
    assert_eq!(
        off.evidence[1],
        "allowed by rule t1-winrm only with feature adfs-gmsa, which the inventory does not enable: \
         the firewall may be doing its job"
    );
    let tol = only(&a, FindingKind::Blocked, 123);
    assert_eq!(tol.severity, Severity::Warning);
    assert_eq!(
        tol.evidence[1],
        "rule fact-ntp (W32Time) tolerates this flow, but no enabled feature requires it"
    );
    // The same flows with their feature enabled are errors.
    let inv = inventory(&[Feature::PasswordHashSync, Feature::AdfsGmsa]);
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 5985).severity,
        Severity::Error
    );
}

#[test]
fn unexpected_traffic_names_the_feature_that_would_explain_it() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(established(at(3000), SYNC, DC4, 5985));
    v.push(established(at(3000), SYNC, DC4, 8080));
    v.push(established(at(3000), DC4, "10.0.50.7", 80));
    let a = run(&cat, &inv, &v, long());
    let w = only(&a, FindingKind::Unexpected, 5985);
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.rule.as_deref(), Some("t1-winrm"));
    assert_eq!(
        w.evidence,
        vec![
            "1 connection established between 1 host pair".to_string(),
            "allowed by rule t1-winrm only with feature adfs-gmsa, which the inventory does not enable"
                .to_string(),
        ]
    );
    assert_eq!(
        only(&a, FindingKind::Unexpected, 8080).evidence[1],
        "no rule of the catalogue allows tcp/8080 from sync to dc"
    );
    let u = only(&a, FindingKind::Unexpected, 80);
    assert_eq!(
        (u.src_role, u.dst_role),
        (Some(Role::Dc), Some(Role::Users))
    );
    assert_eq!(
        u.evidence[1],
        "the catalogue has no rule for traffic from dc to users"
    );
    // With the feature on, WinRM is healthy and not missing.
    let inv = inventory(&[Feature::PasswordHashSync, Feature::AdfsGmsa]);
    let a = run(&cat, &inv, &v, long());
    assert!(find(&a, FindingKind::Unexpected, 5985).is_empty());
    assert_eq!(
        only(&a, FindingKind::Healthy, 5985).rule.as_deref(),
        Some("t1-winrm")
    );
}

#[test]
fn tolerated_rules_allow_and_never_go_missing() {
    let cat = catalogue();
    let inv = phs();
    // NTP answered: healthy by the tolerated rule, not unexpected.
    let mut v = background();
    v.push(udp(at(3000), SYNC, DC4, 123, 1, 1));
    let a = run(&cat, &inv, &v, long());
    let h = only(&a, FindingKind::Healthy, 123);
    assert_eq!(
        (h.transport, h.rule.as_deref()),
        (Proto::Udp, Some("fact-ntp"))
    );
    assert_eq!(
        h.evidence[0],
        "rule fact-ntp (W32Time): 1 connection answered between 1 host pair on udp/123"
    );
    assert!(find(&a, FindingKind::Unexpected, 123).is_empty());
    // Absent: never missing.
    let a = run(&cat, &inv, &background(), long());
    assert!(
        !a.findings
            .iter()
            .any(|f| f.rule.as_deref() == Some("fact-ntp"))
    );
}

#[test]
fn missing_severity_follows_when_span_and_vantage() {
    let cat = catalogue();
    let inv = phs();
    // Everything but 3268 (GC, every sync cycle) from a 45-minute capture of the sync server.
    let a = run(&cat, &inv, &background(), long());
    let m = only(&a, FindingKind::Missing, 3268);
    assert_eq!(m.severity, Severity::Error);
    assert_eq!(
        (m.src_role, m.dst_role, m.transport),
        (Some(Role::Sync), Some(Role::Dc), Proto::Tcp)
    );
    assert_eq!(
        (m.ports.as_deref(), m.count, m.hosts.len()),
        (Some("3268"), 0, 0)
    );
    assert_eq!(m.wireshark_filter, None);
    assert_eq!(
        m.evidence,
        vec![
            "no connection from sync to dc on tcp/3268 in the capture".to_string(),
            "rule t1-gc (table 1, LDAP GC): LDAP GC for the test; needed by password-hash-sync; \
             expected every sync cycle"
                .to_string(),
            "the capture spans 45 min, at least one 30-min sync cycle, and holds traffic from sync \
             hosts: this flow should have appeared"
                .to_string(),
        ]
    );
    // 12 minutes: shorter than a sync cycle.
    let a = run(&cat, &inv, &background(), Some((at(0), at(12 * 60 * 1000))));
    let m = only(&a, FindingKind::Missing, 3268);
    assert_eq!(m.severity, Severity::Warning);
    assert_eq!(
        m.evidence.last().map(String::as_str),
        Some("the capture spans 12 min, shorter than one 30-min sync cycle")
    );
    assert!(
        a.summary
            .capture_warnings
            .iter()
            .any(|w| w.starts_with("the capture spans 12 min, shorter than one 30-min sync cycle"))
    );
    // No packet from any sync host (a capture at a DC, of other traffic): cannot judge.
    let v = vec![
        established(at(1000), DC4, DC5, 389),
        udp(at(0), SYNC, DC4, 53, 1, 0),
    ];
    let a = run(&cat, &inv, &v[..1], long());
    let m = only(&a, FindingKind::Missing, 389);
    assert_eq!(m.severity, Severity::Info);
    assert_eq!(
        m.evidence.last().map(String::as_str),
        Some("the capture holds no traffic from any sync host: it cannot judge this flow")
    );
    // Notes of the rule are carried (Kerberos).
    let k = only(&a, FindingKind::Missing, 88);
    assert!(
        k.evidence
            .contains(&"Windows uses Kerberos over TCP first; no UDP 88 is normal".to_string())
    );
    assert_eq!(
        k.evidence[0],
        "no connection from sync to dc on tcp/88 or udp/88 in the capture"
    );
    // Features off: no missing finding for their rules.
    assert!(find(&a, FindingKind::Missing, 445).is_empty());
    assert!(find(&a, FindingKind::Missing, 5985).is_empty());
    assert!(find(&a, FindingKind::Missing, 5671).is_empty());
    // Rules for every deployment (DNS) are missing too; one UDP DNS attempt, even failed, counts.
    assert_eq!(
        only(&a, FindingKind::Missing, 53).rule.as_deref(),
        Some("t1-dns")
    );
    let a = run(&cat, &inv, &v, long());
    assert!(find(&a, FindingKind::Missing, 53).is_empty());
}

#[test]
fn missing_on_demand_setup_only_and_no_hosts() {
    let cat = catalogue();
    let inv = inventory(&[
        Feature::PasswordHashSync,
        Feature::SeamlessSso,
        Feature::AdfsGmsa,
    ]);
    let mut v = background();
    v.push(established(at(1000), SYNC, DC4, 3268));
    let a = run(&cat, &inv, &v, long());
    let smb = only(&a, FindingKind::Missing, 445);
    assert_eq!(smb.severity, Severity::Warning);
    assert_eq!(
        smb.evidence.last().map(String::as_str),
        Some(
            "expected only when something triggers it; the capture spans 45 min: its absence may be normal"
        )
    );
    assert_eq!(
        smb.evidence[1],
        "rule t1-smb (table 1, SMB): SMB for the test; needed by seamless-sso or password-writeback; expected on demand"
    );
    let winrm = only(&a, FindingKind::Missing, 5985);
    assert_eq!(winrm.severity, Severity::Info);
    assert_eq!(
        winrm.evidence.last().map(String::as_str),
        Some("expected only while installing or reconfiguring: its absence is normal")
    );
    // Short capture: on-demand drops to info.
    let a = run(&cat, &inv, &v, Some((at(0), at(600_000))));
    assert_eq!(only(&a, FindingKind::Missing, 445).severity, Severity::Info);

    // No DC in the inventory: the capture cannot be judged for DC flows.
    let inv = inventory_with(&[Feature::PasswordHashSync], &[(SYNC, Role::Sync)]);
    let a = run(&cat, &inv, &background(), long());
    let m = only(&a, FindingKind::Missing, 389);
    assert_eq!(m.severity, Severity::Info);
    assert_eq!(
        m.evidence.last().map(String::as_str),
        Some("no dc hosts in the inventory")
    );
}

#[test]
fn fallback_is_missing_only_when_its_primary_does_not_work() {
    let cat = catalogue();
    let inv = inventory(&[Feature::PasswordHashSync, Feature::HealthAgent]);
    // AMQP 5671 works; 443 to Azure absent: t1-https is missing (error), the fallback is not.
    let mut v: Vec<Connection> = background()
        .into_iter()
        .filter(|c| c.resp_p != 443)
        .collect();
    v.push(established(at(1000), SYNC, DC4, 3268));
    v.push(established(at(1000), SYNC, "20.190.130.1", 5671));
    let a = run(&cat, &inv, &v, long());
    let m = find(&a, FindingKind::Missing, 443);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(
        (m[0].rule.as_deref(), m[0].severity),
        (Some("t1-https"), Severity::Error)
    );
    // Neither: the optional primary and its fallback are both information only.
    v.pop();
    let a = run(&cat, &inv, &v, long());
    let amqp = only(&a, FindingKind::Missing, 5671);
    assert_eq!(amqp.severity, Severity::Info);
    let fb = a
        .findings
        .iter()
        .find(|f| f.rule.as_deref() == Some("t5-https"))
        .unwrap_or_else(|| unreachable!("{:#?}", a.findings));
    assert_eq!(
        (fb.kind, fb.severity),
        (FindingKind::Missing, Severity::Info)
    );
    assert_eq!(
        fb.evidence.last().map(String::as_str),
        Some("used only when rule t5-amqp fails, which shows no working connection either")
    );
}

#[test]
fn inconclusive_one_sided_capture() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    // Only the originator's direction: SYN, then its ACK and data; nothing back.
    let mut c = unanswered(at(5000), SYNC, DC5, 3268, &[0]);
    c.history = "SAD".into();
    c.orig_pkts = 3;
    c.duration = Duration(20_000_000);
    v.push(c);
    let a = run(&cat, &inv, &v, long());
    assert!(find(&a, FindingKind::Blocked, 3268).is_empty());
    let i = only(&a, FindingKind::Inconclusive, 3268);
    assert_eq!(i.severity, Severity::Warning);
    assert_eq!(
        i.evidence[0],
        "10.0.1.10 -> 10.0.0.5: 1 connection sent ACKs or data after the SYN, but no packet from \
         10.0.0.5 was captured: the handshake completed and the capture shows one direction only"
    );
}

#[test]
fn inconclusive_syn_at_the_end_of_the_capture() {
    let cat = catalogue();
    let inv = phs();
    let end = at(45 * 60 * 1000);
    let mut v = background();
    // One SYN 1.2 s before the last packet of the capture.
    v.push(unanswered(
        Timestamp(end.0 - 1_200_000_000),
        SYNC,
        DC5,
        3268,
        &[0],
    ));
    let a = run(&cat, &inv, &v, long());
    let i = only(&a, FindingKind::Inconclusive, 3268);
    assert_eq!(
        i.evidence[0],
        "the only SYN from 10.0.1.10 to 10.0.0.5 came 1.2 s before the capture ended, \
         before a retransmission could follow"
    );
    assert!(find(&a, FindingKind::Blocked, 3268).is_empty());
    // The same single SYN 10 s before the end had time for a retransmission: blocked.
    let mut v = background();
    v.push(unanswered(
        Timestamp(end.0 - 10_000_000_000),
        SYNC,
        DC5,
        3268,
        &[0],
    ));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).evidence[0],
        "1 SYN to 10.0.0.5, no SYN-ACK: a firewall dropping silently, or the host is down"
    );
    // Two SYNs near the end: the retransmission already came and went unanswered.
    let mut v = background();
    v.push(unanswered(
        Timestamp(end.0 - 2_000_000_000),
        SYNC,
        DC5,
        3268,
        &[0, 1000],
    ));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).how,
        Some(How::NoSynack)
    );
    // A UDP request in the last second.
    let mut v = background();
    v.push(udp(Timestamp(end.0 - 500_000_000), SYNC, DC5, 53, 1, 0));
    let a = run(&cat, &inv, &v, long());
    let i = only(&a, FindingKind::Inconclusive, 53);
    assert_eq!(
        i.evidence[0],
        "the only request from 10.0.1.10 to 10.0.0.5 came 0.5 s before the capture ended, \
         before a reply or a retry could be seen"
    );
}

#[test]
fn tail_candidates_are_folded_as_time_moves_on() {
    let cat = catalogue();
    let inv = phs();
    let mut c = Classifier::new(&cat, &inv);
    // A single SYN at t=0, then later traffic: once the latest packet is 3 s past it,
    // it can no longer be at the end of the capture and is folded into `blocked`.
    c.connection(&unanswered(at(0), SYNC, DC5, 3268, &[0]));
    assert_eq!(c.footprint().2, 1);
    c.connection(&established(at(2000), SYNC, DC4, 389));
    assert_eq!(c.footprint().2, 1, "2.07 s later it may still be the end");
    c.connection(&established(at(5000), SYNC, DC4, 389));
    assert_eq!(c.footprint().2, 0);
    let a = c.finish(Some((at(0), at(5070))));
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).how,
        Some(How::NoSynack)
    );
}

#[test]
fn midstream_connections() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    // Began before the capture, data both ways: established in substance.
    let mut both = base(at(0), SYNC, DC5, 3268, Transport::Tcp);
    both.history = "Dd".into();
    both.orig_pkts = 1;
    both.resp_pkts = 1;
    both.handshake = Handshake::Midstream;
    v.push(both);
    // Began before the capture, only the responder's packets.
    let mut one = base(at(0), SYNC, DC5, 389, Transport::Tcp);
    one.history = "^d".into();
    one.resp_pkts = 1;
    one.handshake = Handshake::Midstream;
    v.push(one);
    let a = run(&cat, &inv, &v, long());
    let h = only(&a, FindingKind::Healthy, 3268);
    assert!(
        h.evidence
            .contains(&"1 of them began before the capture (no SYN seen)".to_string())
    );
    assert_eq!(h.hosts[0].attempts, 1);
    let i = only(&a, FindingKind::Inconclusive, 389);
    assert_eq!(
        i.evidence[0],
        "10.0.1.10 -> 10.0.0.5: 1 connection began before the capture (no SYN seen) and show \
         packets from one side only"
    );
    assert_eq!(i.evidence[1], "matches rule t1-ldap (table 1, LDAP)");
}

#[test]
fn closed_early_proves_the_port_open() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    let mut c = rejected(at(0), SYNC, DC5, 3268, 1_000_000);
    c.history = "ShR".into();
    c.conn_state = "RSTOS0";
    c.handshake = Handshake::ClosedEarly;
    v.push(c);
    let a = run(&cat, &inv, &v, long());
    let h = only(&a, FindingKind::Healthy, 3268);
    assert_eq!(
        h.evidence[1],
        "1 connection got a SYN-ACK but closed before the handshake completed (the port is open)"
    );
}

#[test]
fn ipv6_filters_and_icmpv6() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(unanswered(at(0), SYNC6, DC6, 3268, &[0, 1000, 3000]));
    v.push(icmp_blocked(at(0), SYNC6, DC6, 389, "fd00::1", 1, 1));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some("ipv6.src==fd00::1:10 && ipv6.dst==fd00::4 && tcp.dstport==3268")
    );
    assert_eq!(
        b.evidence[0],
        "3 SYNs to fd00::4 over 3.0 s, no SYN-ACK: a firewall dropping silently, or the host is down"
    );
    let i = only(&a, FindingKind::Blocked, 389);
    // LDAP works to the DC's IPv4 address (background) and fails to another DC's IPv6 one.
    assert_eq!(i.evidence[0], "works to 10.0.0.4, fails to fd00::4");
    assert_eq!(
        i.evidence[1],
        "ICMPv6 1/1 (communication administratively prohibited) from fd00::1 for 1 connection to \
         fd00::4: a firewall in the path"
    );
    assert_eq!(
        i.wireshark_filter.as_deref(),
        Some(
            "(ipv6.src==fd00::1:10 && ipv6.dst==fd00::4 && tcp.dstport==389) || \
             (icmpv6.type==1 && ipv6.src==fd00::1 && ipv6.dst==fd00::1:10 && tcp.dstport==389)"
        )
    );
}

#[test]
fn unclassified_ignored_and_other_transports() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    for (i, h) in ["52.1.1.1", "52.1.1.2", "52.1.1.3"].iter().enumerate() {
        v.push(established(at(i as i64 * 1000), SYNC, h, 443));
    }
    v.push(unanswered(at(9000), SYNC, "52.1.1.3", 443, &[0, 3000]));
    v.push(udp(at(0), "198.51.100.7", DC4, 53, 1, 1));
    v.push(established(at(0), "198.51.100.7", "198.51.100.8", 443));
    let mut icmp = base(at(0), DC4, SYNC, 0, Transport::Icmp);
    icmp.orig_p = 8;
    icmp.orig_pkts = 1;
    v.push(icmp);
    let a = run(&cat, &inv, &v, long());
    let u = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Unclassified && f.src_role == Some(Role::Sync))
        .unwrap_or_else(|| unreachable!("{:#?}", a.findings));
    assert_eq!(
        (u.severity, u.dst_role, u.port, u.count),
        (Severity::Info, None, 443, 4)
    );
    assert_eq!(
        u.evidence,
        vec![
            "sync -> 3 unknown hosts on tcp/443".to_string(),
            "4 connections, 1 of them failed".to_string()
        ]
    );
    assert_eq!(u.hosts.len(), 3);
    let i = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Unclassified && f.dst_role == Some(Role::Dc))
        .unwrap_or_else(|| unreachable!());
    assert_eq!(i.evidence[0], "1 unknown host -> dc on udp/53");
    assert_eq!(
        (
            a.summary.classified,
            a.summary.unclassified,
            a.summary.ignored,
            a.summary.other_transports
        ),
        (5, 5, 1, 1)
    );
    assert_eq!(
        a.summary.roles_seen,
        vec![Role::Sync, Role::Dc, Role::Azure]
    );
}

#[test]
fn capture_warnings_one_sided_and_filtered() {
    let cat = catalogue();
    let inv = phs();
    // A tap that saw only the sync server's transmissions.
    let mut v = Vec::new();
    for i in 0..4 {
        let mut c = unanswered(at(i * 1000), SYNC, DC4, 389, &[0]);
        c.history = "SADF".into();
        c.orig_pkts = 4;
        v.push(c);
    }
    v.push(unanswered(at(60_000), SYNC, DC5, 3268, &[0, 3000, 9000]));
    let a = run(&cat, &inv, &v, long());
    assert!(
        a.summary.capture_warnings.iter().any(|w| w.starts_with(
            "4 of 4 TCP connections with at least 2 packets have packets from one side only: the capture looks one-sided"
        )),
        "{:?}",
        a.summary.capture_warnings
    );
    // ... so the unanswered SYNs are not called an error.
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.severity, Severity::Warning);
    assert_eq!(
        b.evidence.last().map(String::as_str),
        Some(
            "the capture looks one-sided (see the capture warnings): the replies may simply not have been captured"
        )
    );

    // A capture filtered to SYN/FIN/RST: handshakes and closes, no ACK, no data.
    let mut v = Vec::new();
    for i in 0..3 {
        let mut c = established(at(i * 1000), SYNC, DC4, 389);
        c.history = "ShFf".into();
        c.orig_pkts = 2;
        c.resp_pkts = 2;
        v.push(c);
    }
    let a = run(&cat, &inv, &v, long());
    assert!(
        a.summary.capture_warnings.iter().any(|w| w.starts_with(
            "none of the 3 TCP connections shows a pure ACK or a data packet, though 3 got a SYN-ACK"
        )),
        "{:?}",
        a.summary.capture_warnings
    );
    // A normal capture gets neither warning.
    let a = run(&cat, &inv, &background(), long());
    assert!(
        a.summary.capture_warnings.is_empty(),
        "{:?}",
        a.summary.capture_warnings
    );
    // No packets at all.
    let a = run(&cat, &inv, &[], None);
    assert_eq!(
        a.summary.capture_warnings,
        vec!["the capture holds no packets".to_string()]
    );
    assert_eq!(a.summary.span_seconds, 0.0);
}

#[test]
fn summary_counts_order_and_assumptions() {
    let cat = catalogue();
    let mut inv = phs();
    inv.features_assumed = true;
    let mut v = background();
    v.push(rejected(at(3000), SYNC, DC5, 8080, 400_000));
    v.push(established(at(3000), SYNC, DC4, 5985));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        a.summary.assumptions,
        vec!["features assumed: password-hash-sync".to_string()]
    );
    assert_eq!(a.features, vec![Feature::PasswordHashSync]);
    assert_eq!(a.summary.span_seconds, 2700.0);
    // missing GC (error), unexpected WinRM (warning), blocked 8080 (info), healthy x5.
    let order: Vec<(Severity, FindingKind, u16)> = a
        .findings
        .iter()
        .map(|f| (f.severity, f.kind, f.port))
        .collect();
    assert_eq!(
        order,
        vec![
            (Severity::Error, FindingKind::Missing, 3268),
            (Severity::Warning, FindingKind::Unexpected, 5985),
            (Severity::Info, FindingKind::Blocked, 8080),
            (Severity::Info, FindingKind::Healthy, 53),
            (Severity::Info, FindingKind::Healthy, 88),
            (Severity::Info, FindingKind::Healthy, 389),
            (Severity::Info, FindingKind::Healthy, 49670),
            (Severity::Info, FindingKind::Healthy, 443),
        ]
    );
    assert_eq!(a.summary.findings.get("healthy"), Some(&5));
    assert_eq!(a.summary.findings.get("missing"), Some(&1));
    assert_eq!(a.summary.severities.get("info"), Some(&6));
    assert_eq!(a.summary.severities.get("error"), Some(&1));
}

#[test]
fn rule_ranges_merge_ports_in_one_healthy_finding() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(established(at(2000), SYNC, DC5, 49671));
    let a = run(&cat, &inv, &v, long());
    let h = a
        .findings
        .iter()
        .find(|f| f.rule.as_deref() == Some("t1-rpc"))
        .unwrap_or_else(|| unreachable!());
    assert_eq!(
        (h.port, h.ports.as_deref(), h.count),
        (49670, Some("49152-65535"), 2)
    );
    assert_eq!(
        h.evidence[0],
        "rule t1-rpc (table 1, RPC): 2 connections established between 2 host pairs on tcp/49670 and 49671"
    );
}

#[test]
fn aggregation_memory_follows_groups_not_connections() {
    let cat = catalogue();
    let inv = phs();
    let mut c = Classifier::new(&cat, &inv);
    for i in 0..100_000u32 {
        let mut x = rejected(at(i64::from(i)), SYNC, DC5, 3268, 400_000);
        x.orig_p = 1024 + (i % 60_000) as u16;
        c.connection(&x);
    }
    // Single unanswered SYNs one second apart: held only while they may be the last.
    for i in 0..100_000i64 {
        c.connection(&unanswered(at(200_000 + i * 1000), SYNC, DC4, 3269, &[0]));
        assert!(c.footprint().2 <= 4);
    }
    // The last three SYNs (0, 1 and 2 s before the latest packet) may still be the end.
    assert_eq!(c.footprint(), (2, 2, 3));
    let a = c.finish(Some((at(0), at(200_000 + 99_999 * 1000))));
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(
        (b.count, b.hosts.len(), b.hosts[0].attempts),
        (100_000, 1, 100_000)
    );
    assert_eq!(
        b.evidence[0],
        "RST from 10.0.0.5 0.4 ms after each of 100000 SYNs: port closed or host firewall"
    );
    let n = only(&a, FindingKind::Blocked, 3269);
    assert_eq!((n.count, n.hosts[0].attempts), (99_997, 99_997));
    assert_eq!(only(&a, FindingKind::Inconclusive, 3269).count, 3);
}

/// The bundled sample run through the real pipeline: every fault its manifest
/// lists comes out as `blocked` with the `how` its handshake verdict implies.
#[test]
fn sample_capture_faults_are_blocked() {
    use crate::synth::sample as s;
    use Feature::*;
    let mut cat = catalogue();
    cat.rules.push(rule(
        "t1-ldaps",
        &[Role::Sync],
        &[Role::Dc],
        &[Proto::Tcp],
        (636, 636),
        "LDAPS",
        &[Ldaps],
        When::EverySyncCycle,
        Kind::Required,
    ));
    cat.rules.push(rule(
        "t7-cert",
        &[Role::Users],
        &[Role::Wap],
        &[Proto::Tcp],
        (49443, 49443),
        "HTTPS",
        &[AdfsCertAuth],
        When::OnDemand,
        Kind::Required,
    ));
    let inv = inventory_with(
        &[
            PasswordHashSync,
            SeamlessSso,
            Ldaps,
            Adfs,
            AdfsCertAuth,
            HealthAgent,
        ],
        &[
            (s::SYNC, Role::Sync),
            (s::SYNC6, Role::Sync),
            (s::DC1, Role::Dc),
            (s::DC1_6, Role::Dc),
            (s::DC2, Role::Dc),
            (s::ADFS, Role::Adfs),
            (s::WAP, Role::Wap),
            ("203.0.113.0/24", Role::Users),
            (s::SERVICE_BUS, Role::Azure),
            ("40.126.0.0/18", Role::Azure),
        ],
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/hybrid-identity.pcapng"
    );
    let sources = [crate::read::Source::Path(path.into())];
    let mut conns = Vec::new();
    let results = crate::pipeline::run(&sources, &Default::default(), &mut |c| conns.push(c));
    assert!(results.iter().all(|r| r.is_ok()));
    let first = conns.iter().map(|c| c.ts).min();
    let last = conns.iter().map(|c| Timestamp(c.ts.0 + c.duration.0)).max();
    let span = first.zip(last);
    let a = run(&cat, &inv, &conns, span);
    if std::env::var_os("FLOWAUDIT_SHOW").is_some() {
        for f in &a.findings {
            eprintln!(
                "{:?} {:?} {:?}->{:?} {}/{} {:?} {:?}\n  {:#?}\n  {:?}",
                f.severity,
                f.kind,
                f.src_role,
                f.dst_role,
                f.transport.name(),
                f.port,
                f.how,
                f.rule,
                f.evidence,
                f.wireshark_filter
            );
        }
        eprintln!("{:#?}", a.summary);
    }
    for fault in s::FAULTS {
        let how = match (fault.proto, fault.handshake) {
            (_, "rejected") => How::Rst,
            (_, "icmp-unreachable") => How::Icmp,
            ("tcp", _) => How::NoSynack,
            _ => How::NoReply,
        };
        let hit = a.findings.iter().any(|f| {
            f.kind == FindingKind::Blocked
                && f.port == fault.port
                && f.transport.name() == fault.proto
                && f.how == Some(how)
                && f.hosts
                    .iter()
                    .any(|h| h.src == ip(fault.src) && h.dst == ip(fault.dst))
        });
        assert!(hit, "{fault:?} not blocked with {how:?}: {:#?}", a.findings);
    }
    let gc = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Blocked && f.port == 3268)
        .unwrap_or_else(|| unreachable!());
    assert_eq!(gc.evidence[0], "works to 10.0.0.4, fails to 10.0.0.5");
}

#[test]
fn works_from_one_source_fails_from_another() {
    let cat = catalogue();
    let inv = inventory_with(
        &[Feature::PasswordHashSync],
        &[
            (SYNC, Role::Sync),
            ("10.0.1.11", Role::Sync),
            (DC4, Role::Dc),
        ],
    );
    let mut v = background();
    v.push(established(at(2000), SYNC, DC4, 3268));
    v.push(unanswered(at(2000), "10.0.1.11", DC4, 3268, &[0, 3000]));
    let a = run(&cat, &inv, &v, long());
    assert_eq!(
        only(&a, FindingKind::Blocked, 3268).evidence[0],
        "works from 10.0.1.10, fails from 10.0.1.11"
    );
}

#[test]
fn intermittent_failures_to_a_working_host() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    v.push(established(at(2000), SYNC, DC4, 3268));
    v.push(unanswered(at(9000), SYNC, DC4, 3268, &[0, 3000]));
    let a = run(&cat, &inv, &v, long());
    assert!(
        only(&a, FindingKind::Blocked, 3268).evidence[0]
            .starts_with("some connections to 10.0.0.4 work and others fail: intermittent")
    );
}

#[test]
fn partial_reply_and_inconclusive_without_rule_is_info() {
    let cat = catalogue();
    let inv = phs();
    let mut v = background();
    // The responder sent a bare ACK (challenge ACK), no SYN-ACK, no RST.
    let mut c = unanswered(at(5000), SYNC, DC5, 8080, &[0]);
    c.history = "Sa".into();
    c.resp_pkts = 1;
    v.push(c);
    let a = run(&cat, &inv, &v, long());
    let i = only(&a, FindingKind::Inconclusive, 8080);
    assert_eq!(i.severity, Severity::Info);
    assert_eq!(i.rule, None);
    assert_eq!(
        i.evidence[0],
        "10.0.1.10 -> 10.0.0.5: 10.0.0.5 sent packets in 1 connection but no SYN-ACK or RST was \
         captured: the capture missed part of the conversation"
    );
}

#[test]
fn blocked_fallback_is_an_error_only_when_its_primary_fails_too() {
    let cat = catalogue();
    // Health agent only: 443 to Azure is needed as the fallback of 5671.
    let inv = inventory(&[Feature::HealthAgent]);
    let az = "20.190.130.1";
    let mut v = vec![unanswered(at(0), SYNC, az, 443, &[0, 3000, 9000])];
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 443);
    assert_eq!(
        (b.severity, b.rule.as_deref()),
        (Severity::Error, Some("t5-https"))
    );
    assert_eq!(
        b.evidence[1],
        "rule t5-https (table 5, HTTPS) is the fallback for rule t5-amqp, which shows no working \
         connection either"
    );
    v.push(established(at(0), SYNC, az, 5671));
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 443);
    assert_eq!(b.severity, Severity::Warning);
    assert_eq!(
        b.evidence[1],
        "rule t5-https (table 5, HTTPS) is the fallback for rule t5-amqp, which works"
    );
}

#[test]
fn filters_are_capped_at_fifty_host_pairs() {
    let cat = catalogue();
    let inv = inventory_with(
        &[Feature::PasswordHashSync],
        &[(SYNC, Role::Sync), ("10.0.0.0/24", Role::Dc)],
    );
    let mut v = background();
    for i in 1..=60 {
        v.push(rejected(
            at(2000),
            SYNC,
            &format!("10.0.0.{}", 100 + i),
            3268,
            400_000,
        ));
    }
    let a = run(&cat, &inv, &v, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.hosts.len(), DEFAULT_MAX_HOSTS);
    assert_eq!(b.hosts_total, 60);
    assert!(
        b.evidence
            .iter()
            .any(|e| e == "the filter shows the first 50 of 60 host pairs"),
        "{:?}",
        b.evidence
    );
    let f = b.wireshark_filter.as_deref().unwrap_or_default();
    assert_eq!(f.matches(" || ").count(), 49);
    assert!(f.contains("ip.addr==10.0.0.150 ") && !f.contains("ip.addr==10.0.0.151 "));
}

proptest::proptest! {
    /// Whatever the tracker hands over, classifying never panics and stays ordered.
    #[test]
    fn never_panics(
        rows in proptest::collection::vec(
            (any_ts(), 0i64..i64::MAX, 0u8..8, 0u16..4, 0u64..3, 0u64..3, 0u32..20, "[ShADadFfRr^]{0,6}", proptest::bool::ANY),
            0..40,
        ),
        span in proptest::option::of((any_ts(), any_ts())),
    ) {
        let cat = catalogue();
        let inv = phs();
        let hosts = [SYNC, DC4, DC5, "20.190.130.1", "198.51.100.9", SYNC6];
        let mut c = Classifier::new(&cat, &inv);
        for (i, (ts, dur, hs, port, op, rp, syns, hist, icmp)) in rows.into_iter().enumerate() {
            let proto = if hs % 3 == 0 { Transport::Udp } else if hs == 7 { Transport::Icmp } else { Transport::Tcp };
            let mut x = base(Timestamp(ts), hosts[i % 6], hosts[(i + 1 + hs as usize) % 6], [389, 53, 3268, 8080][port as usize], proto);
            x.duration = Duration(dur);
            x.handshake = [
                Handshake::Established, Handshake::Rejected, Handshake::Unanswered, Handshake::IcmpUnreachable,
                Handshake::Midstream, Handshake::ClosedEarly, Handshake::Answered, Handshake::None,
            ][hs as usize];
            x.orig_pkts = op;
            x.resp_pkts = rp;
            x.syn_attempts = syns;
            x.syn_times = (0..syns.min(16)).map(|k| Timestamp(ts.saturating_add(i64::from(k)))).collect();
            x.history = hist.into();
            if icmp {
                x.icmp = Some(icmp_err(FW, 3, hs, Timestamp(ts)));
            }
            c.connection(&x);
        }
        let a = c.finish(span.map(|(x, y)| (Timestamp(x.min(y)), Timestamp(x.max(y)))));
        for w in a.findings.windows(2) {
            proptest::prop_assert!(w[0].severity >= w[1].severity);
        }
    }
}

fn any_ts() -> impl proptest::strategy::Strategy<Value = i64> {
    proptest::prop_oneof![
        i64::MIN..i64::MAX,
        1_700_000_000_000_000_000i64..1_700_000_100_000_000_000
    ]
}

#[test]
fn host_roles_added_later_apply_to_later_connections_and_never_override_the_inventory() {
    let cat = catalogue();
    let inv = phs();
    let mut cl = Classifier::new(&cat, &inv);
    // 198.51.100.7 has no role; DC4 is a dc in the inventory and must stay one.
    cl.add_host_roles(&[(ip("198.51.100.7"), Role::Azure), (ip(DC4), Role::Azure)]);
    cl.connection(&established(
        Timestamp(1_000_000_000),
        SYNC,
        "198.51.100.7",
        443,
    ));
    cl.connection(&established(Timestamp(2_000_000_000), SYNC, DC4, 389));
    let audit = cl.finish(Some((Timestamp(0), Timestamp(3_000_000_000))));
    assert_eq!(audit.summary.unclassified, 0, "{:#?}", audit.findings);
    let pairs: Vec<(Option<Role>, Option<Role>, u16)> = audit
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Missing)
        .map(|f| (f.src_role, f.dst_role, f.port))
        .collect();
    assert!(
        pairs.contains(&(Some(Role::Sync), Some(Role::Azure), 443)),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&(Some(Role::Sync), Some(Role::Dc), 389)),
        "{pairs:?}"
    );
}

#[test]
fn ends_look_mapped_addresses_up_as_written_but_list_them_as_ipv4() {
    let cat = catalogue();
    let inv = phs();
    let cl = Classifier::new(&cat, &inv);
    let t = Timestamp(T0 * 1_000_000_000);
    let plain = cl.ends(&established(t, SYNC, DC4, 389));
    assert!(!plain.one_end_listed());
    let half = cl.ends(&established(t, SYNC, "192.0.2.1", 443));
    assert!(half.one_end_listed());
    // The classifier has always matched `::ffff:10.0.1.10` against IPv6
    // entries only, while the hold decision (Inventory::role_of) sees the
    // IPv4 sync host: both must stay as they were.
    let mapped = cl.ends(&established(t, "::ffff:10.0.1.10", "192.0.2.1", 443));
    assert!(mapped.one_end_listed());
    let mut alone = Classifier::new(&cat, &inv);
    alone.connection_with(
        &established(t, "::ffff:10.0.1.10", DC4, 389),
        cl.ends(&established(t, "::ffff:10.0.1.10", DC4, 389)),
    );
    let a = alone.finish(Some((t, t)));
    assert_eq!((a.summary.classified, a.summary.unclassified), (0, 1));
}

#[test]
fn connections_in_groups_equal_one_by_one() {
    let cat = catalogue();
    let inv = phs();
    let t = |s: i64| Timestamp((T0 + s) * 1_000_000_000);
    let mut conns = Vec::new();
    for i in 0..21 {
        conns.push(established(t(i), SYNC, DC4, 389));
        conns.push(rejected(t(i), SYNC, DC5, 3268, 400_000));
        conns.push(unanswered(t(i), SYNC, DC5, 88, &[0, 1000, 3000]));
        conns.push(established(t(i), SYNC, "192.0.2.9", 443));
    }
    // 84 connections: not a multiple of the group size, so the last group is short.
    let mut one = Classifier::new(&cat, &inv);
    for c in &conns {
        one.prefetch(std::slice::from_ref(c));
        one.connection(c);
    }
    let mut all = Classifier::new(&cat, &inv);
    all.connections(&conns);
    let (a, b) = (
        one.finish(Some((t(0), t(30)))),
        all.finish(Some((t(0), t(30)))),
    );
    assert_eq!(a, b);
    assert_eq!(b.summary.classified + b.summary.unclassified, 84);
}

/// The responder's reply alone, in a record of its own that the tracker
/// flipped back to the requester's orientation (`^d`, SHR).
fn late_reply(ts: Timestamp, orig: &str, resp: &str, port: u16) -> Connection {
    Connection {
        conn_state: "SHR",
        history: "^d".into(),
        resp_pkts: 1,
        handshake: Handshake::Answered,
        ..base(ts, orig, resp, port, Transport::Udp)
    }
}

/// A DNS reply that came after the request's record was closed makes the
/// request slow, not blocked, and the reply's record is not a second flow.
#[test]
fn a_reply_in_a_later_record_is_slow_not_blocked() {
    let mut conns = background();
    conns.push(udp(at(2000), SYNC, DC5, 53, 1, 0));
    conns.push(late_reply(at(14_500), SYNC, DC5, 53));
    let a = run(&catalogue(), &phs(), &conns, long());
    assert!(
        find(&a, FindingKind::Blocked, 53).is_empty(),
        "{:#?}",
        a.findings
    );
    assert!(
        find(&a, FindingKind::Healthy, 53)
            .iter()
            .all(|f| f.transport == Proto::Tcp),
        "{:#?}",
        a.findings
    );
    let f = only(&a, FindingKind::Slow, 53);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.count, 1);
    assert_eq!(f.hosts.len(), 1);
    assert_eq!(f.hosts[0].dst, ip(DC5));
    // 14.5 s - 2.0 s: the delay from the request to the reply.
    assert!(
        f.evidence[0].starts_with("1 request in 1 record to 10.0.0.5 answered only 12.5 s after"),
        "{:?}",
        f.evidence
    );
    assert_eq!(
        f.wireshark_filter.as_deref(),
        Some("ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && udp.port==53")
    );
}

/// A later record the client began is a new request on a reused port, and a
/// reply later than the window is no answer: the first request stays blocked.
#[test]
fn a_new_request_or_a_very_late_packet_does_not_answer() {
    let window = LATE_REPLY_WINDOW.0 / 1_000_000;
    for later in [
        udp(at(14_000), SYNC, DC5, 53, 1, 1),
        late_reply(at(2000 + window + 1), SYNC, DC5, 53),
    ] {
        let mut conns = background();
        conns.push(udp(at(2000), SYNC, DC5, 53, 1, 0));
        conns.push(later.clone());
        let a = run(&catalogue(), &phs(), &conns, long());
        assert!(find(&a, FindingKind::Slow, 53).is_empty(), "{later:?}");
        let b = only(&a, FindingKind::Blocked, 53);
        assert_eq!(b.how, Some(How::NoReply));
        assert_eq!(b.count, 1);
        // The later record is judged on its own: it worked.
        let udp_healthy: Vec<_> = find(&a, FindingKind::Healthy, 53)
            .into_iter()
            .filter(|f| f.transport == Proto::Udp)
            .collect();
        assert_eq!(udp_healthy.len(), 1);
        assert_eq!(udp_healthy[0].count, 1);
    }
}

/// A late reply to a host of no known role is not a failure of that host either.
#[test]
fn a_late_reply_from_an_unknown_host_is_not_a_failure() {
    let conns = [
        udp(at(2000), SYNC, "192.0.2.53", 53, 1, 0),
        late_reply(at(13_000), SYNC, "192.0.2.53", 53),
    ];
    let a = run(&catalogue(), &phs(), &conns, long());
    let u = only(&a, FindingKind::Unclassified, 53);
    assert_eq!(u.count, 1);
    assert_eq!(u.evidence[1], "1 connection, 0 of them failed");
}

/// A record holding only a last ACK, some seconds after a connection of the
/// same address/port pair closed, is that connection's tail: no
/// "began before the capture" warning.
#[test]
fn a_stray_ack_after_a_close_is_the_closed_connections_tail() {
    let ack_only = |ts: Timestamp| Connection {
        conn_state: "OTH",
        history: "A".into(),
        orig_pkts: 1,
        handshake: Handshake::Midstream,
        ..base(ts, SYNC, DC4, 389, Transport::Tcp)
    };
    let mut conns = background();
    // `background` holds an SF connection 10.0.1.10:50000 -> 10.0.0.4:389 at 1 s.
    conns.push(ack_only(at(13_000)));
    let a = run(&catalogue(), &phs(), &conns, long());
    assert!(
        find(&a, FindingKind::Inconclusive, 389).is_empty(),
        "{:#?}",
        a.findings
    );
    let h = only(&a, FindingKind::Healthy, 389);
    assert_eq!(h.count, 1, "the stray record is not a connection");
    assert!(
        h.evidence
            .iter()
            .any(|e| e.starts_with("1 record holds only stray packets")),
        "{:?}",
        h.evidence
    );
    // Long after the window it is a connection of its own that began before the capture.
    let window = STRAY_WINDOW.0 / 1_000_000;
    let mut conns = background();
    conns.push(ack_only(at(1070 + window + 1000)));
    let a = run(&catalogue(), &phs(), &conns, long());
    assert_eq!(only(&a, FindingKind::Inconclusive, 389).count, 1);
}

/// Handshake, the client's first data, then a RST from the server, which
/// never sent a byte: `ShADr`, RSTR.
fn reset_after_handshake(ts: Timestamp, orig: &str, resp: &str, port: u16) -> Connection {
    Connection {
        duration: Duration(3_000_000),
        orig_bytes: 517,
        resp_bytes: 0,
        conn_state: "RSTR",
        history: "ShADr".into(),
        orig_pkts: 3,
        resp_pkts: 2,
        ..established(ts, orig, resp, port)
    }
}

/// Issue 20, item 3: a DC that resets LDAPS right after the ClientHello
/// (no certificate) blocks the flow; it is never healthy.
#[test]
fn a_reset_before_the_server_sent_a_byte_is_blocked() {
    let mut cat = catalogue();
    let mut ldaps = rule(
        "t1-ldaps",
        &[Role::Sync],
        &[Role::Dc],
        &[Proto::Tcp],
        (636, 636),
        "LDAP/SSL",
        &[Feature::Ldaps],
        When::EverySyncCycle,
        Kind::Required,
    );
    ldaps.on_reset = Some("the DC has no LDAPS certificate".to_string());
    cat.rules.push(ldaps);
    let inv = inventory(&[Feature::PasswordHashSync, Feature::Ldaps]);
    let mut conns = background();
    conns.push(reset_after_handshake(at(2000), SYNC, DC5, 636));
    conns.push(reset_after_handshake(at(2500), SYNC, DC5, 636));
    let a = run(&cat, &inv, &conns, long());
    assert!(
        find(&a, FindingKind::Healthy, 636).is_empty(),
        "{:#?}",
        a.findings
    );
    let b = only(&a, FindingKind::Blocked, 636);
    assert_eq!(b.how, Some(How::ResetAfterHandshake));
    assert_eq!(b.severity, Severity::Error);
    assert_eq!(b.count, 2);
    assert!(
        b.evidence[0].starts_with(
            "2 connections to 10.0.0.5 completed the handshake, then 10.0.0.5 reset them \
             without sending a byte, 3.0 ms after the SYN, after the client's first data"
        ),
        "{:?}",
        b.evidence
    );
    assert!(
        b.evidence
            .iter()
            .any(|e| e == "the DC has no LDAPS certificate")
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some("ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && tcp.port==636")
    );
}

/// Resets that are no refusal: the client's own, one after the server
/// answered, and one that ends a connection idle for an hour.
#[test]
fn resets_after_an_answer_or_by_the_client_or_after_idling_are_working() {
    let cases = [
        Connection {
            history: "ShADR".into(),
            conn_state: "RSTO",
            ..reset_after_handshake(at(2000), SYNC, DC5, 389)
        },
        Connection {
            history: "ShADadr".into(),
            resp_bytes: 300,
            ..reset_after_handshake(at(2000), SYNC, DC5, 389)
        },
        Connection {
            history: "ShAr".into(),
            orig_bytes: 0,
            duration: Duration(3_600_000_000_000),
            ..reset_after_handshake(at(2000), SYNC, DC5, 389)
        },
        Connection {
            history: "ShADFr".into(),
            ..reset_after_handshake(at(2000), SYNC, DC5, 389)
        },
    ];
    for c in cases {
        let mut conns = background();
        conns.push(c.clone());
        let a = run(&catalogue(), &phs(), &conns, long());
        assert!(
            find(&a, FindingKind::Blocked, 389).is_empty(),
            "{c:?}: {:#?}",
            a.findings
        );
        assert_eq!(only(&a, FindingKind::Healthy, 389).count, 2, "{c:?}");
    }
}

/// Issue 20, item 5: a capture that holds only the sync server's
/// transmissions: its Kerberos requests over UDP got no reply in the
/// capture, but nothing else in it has a reply either.
#[test]
fn udp_without_any_reply_in_a_one_sided_capture_is_inconclusive() {
    let one_way: Vec<Connection> = (0..3)
        .map(|i| udp(at(1000 + i * 4000), SYNC, DC4, 88, 1, 0))
        .collect();
    let a = run(&catalogue(), &phs(), &one_way, long());
    assert!(
        find(&a, FindingKind::Blocked, 88).is_empty(),
        "{:#?}",
        a.findings
    );
    let i = only(&a, FindingKind::Inconclusive, 88);
    assert_eq!(i.count, 3);
    assert!(
        i.evidence[0].contains("the capture looks one-sided"),
        "{:?}",
        i.evidence
    );
    assert!(
        a.summary
            .capture_warnings
            .iter()
            .any(|w| w.starts_with("no packet of the capture comes from a responder")),
        "{:?}",
        a.summary.capture_warnings
    );
    // The same requests in a capture that shows replies elsewhere are blocked.
    let mut two_way = one_way.clone();
    two_way.extend(background());
    let a = run(&catalogue(), &phs(), &two_way, long());
    assert_eq!(only(&a, FindingKind::Blocked, 88).how, Some(How::NoReply));
    assert!(
        a.summary.capture_warnings.is_empty(),
        "{:?}",
        a.summary.capture_warnings
    );
}

/// Issue 20, item 7: failures on several ports of one rule's range (the
/// dynamic RPC ports the endpoint mapper handed out) are one finding.
#[test]
fn failures_on_ports_of_one_range_rule_are_one_finding() {
    let mut conns = background();
    for (i, port) in [49_700u16, 49_671, 49_688].into_iter().enumerate() {
        conns.push(rejected(
            at(3000 + i as i64 * 100),
            SYNC,
            DC5,
            port,
            400_000,
        ));
    }
    let a = run(&catalogue(), &phs(), &conns, long());
    let blocked: Vec<&Finding> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Blocked)
        .collect();
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    let b = blocked[0];
    assert_eq!(b.port, 49_671, "the lowest port seen");
    assert_eq!(b.count, 3);
    assert_eq!(b.hosts.len(), 1);
    assert_eq!(b.hosts[0].attempts, 3);
    assert_eq!(b.rule.as_deref(), Some("t1-rpc"));
    assert!(
        b.evidence
            .iter()
            .any(|e| e == "on tcp/49671, 49688 and 49700 (3 ports of the rule's 49152-65535)"),
        "{:?}",
        b.evidence
    );
    assert_eq!(
        b.wireshark_filter.as_deref(),
        Some(
            "ip.addr==10.0.1.10 && ip.addr==10.0.0.5 && \
             (tcp.port==49671 || tcp.port==49688 || tcp.port==49700)"
        )
    );
}

/// Issue 20, item 7: a SYN scan of a DC from a user's subnet is one `scan`
/// finding, not one blocked or unexpected finding per port.
#[test]
fn a_port_scan_is_one_finding() {
    let scanner = "10.0.50.7";
    let mut conns = background();
    let (mut open, mut closed, mut silent) = (0, 0, 0);
    for port in 1..=120u16 {
        let ts = at(5000 + i64::from(port));
        conns.push(match port % 10 {
            0 => {
                open += 1;
                // SYN, SYN-ACK, then the scanner's RST: closed early.
                Connection {
                    conn_state: "RSTO",
                    history: "ShR".into(),
                    orig_pkts: 2,
                    resp_pkts: 1,
                    handshake: Handshake::ClosedEarly,
                    syn_attempts: 1,
                    syn_times: vec![ts],
                    ..base(ts, scanner, DC4, port, Transport::Tcp)
                }
            }
            1 => {
                silent += 1;
                unanswered(ts, scanner, DC4, port, &[0])
            }
            _ => {
                closed += 1;
                rejected(ts, scanner, DC4, port, 300_000)
            }
        });
    }
    // A connection of the scanner that carried data is no probe.
    conns.push(established(at(9000), scanner, DC4, 389));
    let a = run(&catalogue(), &phs(), &conns, long());
    let scans: Vec<&Finding> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Scan)
        .collect();
    assert_eq!(scans.len(), 1, "{:#?}", a.findings);
    let s = scans[0];
    assert_eq!(s.count, 120);
    assert_eq!(s.src_role, Some(Role::Users));
    assert_eq!(s.dst_role, Some(Role::Dc));
    assert_eq!(s.ports.as_deref(), Some("1-120"));
    assert_eq!(s.hosts.len(), 1);
    assert_eq!(s.hosts[0].attempts, 120);
    assert!(
        s.evidence[0].starts_with(
            "10.0.50.7 sent 120 connection attempts without a byte of data to 120 ports on 10.0.0.4"
        ),
        "{:?}",
        s.evidence
    );
    assert_eq!(
        s.evidence[1],
        format!(
            "of the attempts, {open} answered with a SYN-ACK (open: 10, 20, 30, 40, 50, 60, 70, 80, \
             90, 100, 110, 120), {closed} reset (closed) and {silent} unanswered (filtered)"
        )
    );
    // Nothing else is about the scanner, but for its real LDAP connection.
    for f in &a.findings {
        if f.kind == FindingKind::Scan {
            continue;
        }
        let about_scanner: Vec<&HostPair> =
            f.hosts.iter().filter(|h| h.src == ip(scanner)).collect();
        if !about_scanner.is_empty() {
            assert_eq!(f.port, 389, "{f:#?}");
        }
    }
    // Forty ports are no scan: the attempts are judged one by one.
    let few: Vec<Connection> = (1..=40u16)
        .map(|p| rejected(at(5000 + i64::from(p)), scanner, DC4, p, 300_000))
        .chain(background())
        .collect();
    let a = run(&catalogue(), &phs(), &few, long());
    assert!(a.findings.iter().all(|f| f.kind != FindingKind::Scan));
    assert!(
        a.findings
            .iter()
            .filter(|f| f.kind == FindingKind::Blocked)
            .count()
            > 1
    );
}

/// Issue 19, item 10: a finding says a line per destination for the first
/// ten only, as it lists host pairs for the first few.
#[test]
fn evidence_lines_per_destination_are_capped() {
    let inv = inventory_with(
        &[Feature::PasswordHashSync],
        &[(SYNC, Role::Sync), ("10.0.0.0/24", Role::Dc)],
    );
    let mut conns = background();
    for i in 0..13 {
        let dst = format!("10.0.0.{}", 100 + i);
        conns.push(rejected(at(3000 + i * 10), SYNC, &dst, 3268, 300_000));
    }
    let a = run(&catalogue(), &inv, &conns, long());
    let b = only(&a, FindingKind::Blocked, 3268);
    let rst_lines = b
        .evidence
        .iter()
        .filter(|e| e.starts_with("RST from"))
        .count();
    assert_eq!(rst_lines, 10, "{:?}", b.evidence);
    assert!(
        b.evidence
            .iter()
            .any(|e| e == "and 3 more destinations like these")
    );
    assert_eq!(b.hosts.len(), 13, "the host pairs are all there");
}

/// Datagrams to a broadcast or multicast address expect no reply from it:
/// never "blocked (no-reply)".
#[test]
fn udp_to_broadcast_or_multicast_is_not_judged() {
    let inv = inventory_with(
        &[Feature::PasswordHashSync],
        &[
            (SYNC, Role::Sync),
            ("10.0.0.0/24", Role::Dc),
            ("224.0.0.0/4", Role::Dc),
            ("255.255.255.255", Role::Dc),
        ],
    );
    let mut conns = background();
    for dst in ["10.0.0.255", "224.0.0.252", "255.255.255.255"] {
        conns.push(udp(at(3000), SYNC, dst, 5355, 2, 0));
    }
    let a = run(&catalogue(), &inv, &conns, long());
    assert!(
        find(&a, FindingKind::Blocked, 5355).is_empty(),
        "{:#?}",
        a.findings
    );
    assert_eq!(a.summary.other_transports, 3);
    // A unicast request without a reply still is.
    conns.push(udp(at(3000), SYNC, "10.0.0.7", 5355, 2, 0));
    let a = run(&catalogue(), &inv, &conns, long());
    assert_eq!(only(&a, FindingKind::Blocked, 5355).count, 1);
}

/// Issue 13: a port an endpoint mapper handed out for the server belongs to
/// the rules that cover endpoint-mapper ports, even outside their range; a
/// port nobody handed out stays unexpected.
#[test]
fn endpoint_mapper_ports_outside_the_range_are_dynamic_rpc() {
    let mut cat = catalogue();
    for r in &mut cat.rules {
        r.epm = r.id == "t1-rpc";
    }
    let mut conns = background();
    conns.push(established(at(3000), SYNC, DC4, 4997));
    conns.push(established(at(3100), SYNC, DC4, 4998));
    let inv = phs();
    let mut c = Classifier::new(&cat, &inv);
    for x in &conns {
        c.connection(x);
    }
    c.set_endpoints([(
        ip(DC4),
        4997,
        "port 4997 handed out by the mapper".to_string(),
    )]);
    let a = c.finish(long());
    assert!(
        find(&a, FindingKind::Unexpected, 4997).is_empty(),
        "{:#?}",
        a.findings
    );
    assert_eq!(only(&a, FindingKind::Unexpected, 4998).count, 1);
    let rpc: Vec<&Finding> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Healthy && f.rule.as_deref() == Some("t1-rpc"))
        .collect();
    assert_eq!(rpc.len(), 1);
    assert_eq!(rpc[0].count, 2, "49670 from the background and 4997");
    assert!(
        rpc[0]
            .evidence
            .iter()
            .any(|e| e == "port 4997 handed out by the mapper")
    );
}

/// Issue 14: a finding lists the host pairs with the most attempts, at most
/// the limit, and counts them all.
#[test]
fn findings_list_the_busiest_host_pairs_and_count_them_all() {
    let inv = inventory_with(
        &[Feature::PasswordHashSync],
        &[(SYNC, Role::Sync), ("10.0.0.0/24", Role::Dc)],
    );
    let mut v = background();
    for i in 1..=30i64 {
        // DC .100+i gets i SYNs: the last five are the busiest.
        let offsets: Vec<i64> = (0..i).map(|k| k * 1000).collect();
        v.push(unanswered(
            at(2000),
            SYNC,
            &format!("10.0.0.{}", 100 + i),
            3268,
            &offsets,
        ));
    }
    let cat = catalogue();
    let mut c = Classifier::new(&cat, &inv);
    c.set_max_hosts(5);
    for x in &v {
        c.connection(x);
    }
    let a = c.finish(long());
    let b = only(&a, FindingKind::Blocked, 3268);
    assert_eq!(b.hosts_total, 30);
    let listed: Vec<String> = b.hosts.iter().map(|h| h.dst.to_string()).collect();
    assert_eq!(
        listed,
        [
            "10.0.0.126",
            "10.0.0.127",
            "10.0.0.128",
            "10.0.0.129",
            "10.0.0.130"
        ]
    );
    assert!(b.evidence.iter().any(|e| e.starts_with("30 host pairs in all: the 5 with the most attempts are listed")));
    // Under the limit, nothing is said and everything is listed.
    let h = only(&a, FindingKind::Healthy, 389);
    assert_eq!(h.hosts_total as usize, h.hosts.len());
}
