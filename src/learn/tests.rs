//! Each name source and the endpoint mapper, through the real pipeline on
//! captures built with [`crate::synth`]; parsers against arbitrary bytes.

use super::*;
use crate::pipeline::{self, Options};
use crate::read::Source;
use crate::synth::payload::{self, Rdata};
use crate::synth::{Link, TcpSession, Trace, UdpSession};
use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddr};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Runs the trace through decode and the learner, as `flowaudit` does.
pub(crate) fn learn(trace: &Trace) -> Learned {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.pcapng");
    trace.save(&path).expect("write capture");
    let mut learner = Learner::new();
    let res = pipeline::run_observed(
        &[Source::Path(path)],
        &Options::default(),
        &mut |p| learner.observe(p),
        &mut |_| {},
    );
    assert!(res.iter().all(Result::is_ok));
    learner.finish()
}

fn names(l: &Learned, addr: &str) -> Vec<(String, NameSource)> {
    l.names
        .names(ip(addr))
        .iter()
        .map(|n| (n.name.clone(), n.source))
        .collect()
}

#[test]
fn dns_over_udp_follows_a_cname_chain_to_the_name_asked_for() {
    let mut t = Trace::new(Link::ethernet());
    let msg = payload::dns_response(
        7,
        "login.microsoftonline.com",
        &[
            (
                "login.microsoftonline.com",
                Rdata::Cname("login.mso.msidentity.com"),
            ),
            (
                "login.mso.msidentity.com",
                Rdata::Cname("ak.privatelink.msidentity.com"),
            ),
            (
                "ak.privatelink.msidentity.com",
                Rdata::Addr(ip("20.190.151.7")),
            ),
            (
                "ak.privatelink.msidentity.com",
                Rdata::Addr(ip("2603:1036::7")),
            ),
        ],
    );
    let mut u = UdpSession::new(sa("10.0.1.10:50000"), sa("10.0.0.4:53"));
    u.client_send(&[0; 40]).server_send(&msg);
    t.add(&u);
    let l = learn(&t);
    let want = vec![
        ("login.microsoftonline.com".to_string(), NameSource::Dns),
        ("login.mso.msidentity.com".to_string(), NameSource::Dns),
        ("ak.privatelink.msidentity.com".to_string(), NameSource::Dns),
    ];
    assert_eq!(names(&l, "20.190.151.7"), want);
    assert_eq!(names(&l, "2603:1036::7"), want);
    assert_eq!(
        l.names.name(ip("20.190.151.7")),
        Some("login.microsoftonline.com")
    );
    // The query (client -> server) taught nothing about the resolver.
    assert!(l.names.names(ip("10.0.0.4")).is_empty());
}

#[test]
fn dns_over_tcp_with_length_prefix() {
    let mut t = Trace::new(Link::ethernet());
    let msg = payload::dns_response(
        9,
        "crl.microsoft.com",
        &[("crl.microsoft.com", Rdata::Addr(ip("93.184.220.29")))],
    );
    let mut s = TcpSession::new(sa("10.0.1.10:50001"), sa("10.0.0.4:53"), 1, 2);
    s.handshake()
        .client_send(&payload::dns_over_tcp(&[0; 30]))
        .server_send(&payload::dns_over_tcp(&msg))
        .close();
    t.add(&s);
    let l = learn(&t);
    assert_eq!(
        names(&l, "93.184.220.29"),
        vec![("crl.microsoft.com".to_string(), NameSource::Dns)]
    );
}

#[test]
fn error_responses_and_queries_teach_nothing() {
    let mut msg = payload::dns_response(
        1,
        "x.example",
        &[("x.example", Rdata::Addr(ip("192.0.2.1")))],
    );
    msg[3] |= 3; // NXDOMAIN
    let mut t = Trace::new(Link::ethernet());
    let mut u = UdpSession::new(sa("10.0.1.10:50000"), sa("10.0.0.4:53"));
    u.server_send(&msg);
    t.add(&u);
    assert!(learn(&t).names.is_empty());
}

#[test]
fn sni_names_the_server() {
    let mut t = Trace::new(Link::ethernet());
    let mut s = TcpSession::new(sa("10.0.1.10:50002"), sa("52.168.10.20:443"), 1, 2);
    s.handshake()
        .client_send(&payload::client_hello(
            "Contoso-Health.ServiceBus.Windows.NET",
        ))
        .server_data(900)
        .close();
    t.add(&s);
    let l = learn(&t);
    assert_eq!(
        names(&l, "52.168.10.20"),
        vec![(
            "contoso-health.servicebus.windows.net".to_string(),
            NameSource::Sni
        )]
    );
    assert!(l.names.names(ip("10.0.1.10")).is_empty());
}

#[test]
fn http_host_names_the_server_and_adfs_paths_are_noted() {
    let mut t = Trace::new(Link::ethernet());
    let mut s = TcpSession::new(sa("10.0.1.10:50003"), sa("93.184.220.29:80"), 1, 2);
    s.handshake()
        .client_send(&payload::http_request(
            "GET",
            "/pki/crl/products/x.crl",
            "crl.microsoft.com:80",
        ))
        .server_data(500)
        .close();
    t.add(&s);
    let mut a = TcpSession::new(sa("192.168.100.30:50100"), sa("10.0.2.20:80"), 1, 2);
    a.handshake()
        .client_send(&payload::http_request(
            "GET",
            "/adfs/ls/idpinitiatedsignon.aspx",
            "sts.contoso.com",
        ))
        .close();
    t.add(&a);
    let l = learn(&t);
    assert_eq!(
        names(&l, "93.184.220.29"),
        vec![("crl.microsoft.com".to_string(), NameSource::HttpHost)]
    );
    assert!(l.adfs_paths.contains_key(&ip("10.0.2.20")));
    assert!(!l.adfs_paths.contains_key(&ip("93.184.220.29")));
}

#[test]
fn connect_attributes_the_proxied_connection_not_the_proxy() {
    let mut t = Trace::new(Link::ethernet());
    let mut s = TcpSession::new(sa("10.0.1.10:50004"), sa("10.0.9.9:8080"), 1, 2);
    s.handshake()
        .client_send(&payload::http_connect("login.microsoftonline.com", 443))
        .server_send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .client_send(&payload::client_hello("login.microsoftonline.com"))
        .close();
    t.add(&s);
    let l = learn(&t);
    let p = l
        .proxy_target(ip("10.0.1.10"), 50004, ip("10.0.9.9"), 8080)
        .expect("CONNECT learned");
    assert_eq!(
        (p.host.as_str(), p.port),
        ("login.microsoftonline.com", 443)
    );
    // The proxy keeps its own identity: the SNI inside the tunnel is the origin's.
    assert!(l.names.names(ip("10.0.9.9")).is_empty());
    assert_eq!(l.proxied.len(), 1);
}

#[test]
fn absolute_form_requests_to_a_proxy_do_not_rename_it() {
    let mut t = Trace::new(Link::ethernet());
    let mut s = TcpSession::new(sa("10.0.1.10:50006"), sa("10.0.9.9:3128"), 1, 2);
    s.handshake()
        .client_send(&payload::http_request(
            "GET",
            "http://crl.microsoft.com/pki/x.crl",
            "crl.microsoft.com",
        ))
        .close();
    t.add(&s);
    let l = learn(&t);
    assert!(l.names.names(ip("10.0.9.9")).is_empty());
    let p = l
        .proxy_target(ip("10.0.1.10"), 50006, ip("10.0.9.9"), 3128)
        .expect("proxied");
    assert_eq!((p.host.as_str(), p.port), ("crl.microsoft.com", 80));
}

#[test]
fn epm_towers_give_tcp_port_and_ipv4_floor_for_several_towers() {
    let mut t = Trace::new(Link::ethernet());
    let resp = payload::epm_map_response(
        2,
        &[
            (49668, Ipv4Addr::new(10, 0, 0, 4)),
            (49670, Ipv4Addr::new(10, 0, 0, 4)),
            (49700, Ipv4Addr::new(0, 0, 0, 0)),
        ],
    );
    let mut s = TcpSession::new(sa("10.0.1.10:50005"), sa("10.0.0.4:135"), 1, 2);
    s.handshake().client_data(160).server_send(&resp).close();
    t.add(&s);
    let l = learn(&t);
    let got: Vec<(Option<IpAddr>, u16)> = l.epm.all().iter().map(|a| (a.addr, a.port)).collect();
    assert_eq!(
        got,
        vec![
            (Some(ip("10.0.0.4")), 49668),
            (Some(ip("10.0.0.4")), 49670),
            (None, 49700),
        ]
    );
    for port in [49668, 49670, 49700] {
        let a = l.epm.announced(ip("10.0.0.4"), port).expect("announced");
        assert_eq!(a.mapper, ip("10.0.0.4"));
    }
    assert!(l.epm.announced(ip("10.0.0.4"), 49669).is_none());
}

/// The real exchange in mapi.pcap: Zeek's dce_rpc.log shows ept_map calls to
/// 192.168.0.2:135 followed by NSPI binds on 4997 and exchange_mapi on 1032.
#[test]
fn epm_of_the_real_mapi_capture_hands_out_4997_and_1032() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/captures/zeek-nobaseline/mapi.pcap"
    );
    if !std::path::Path::new(path).exists() {
        return;
    }
    let mut learner = Learner::new();
    pipeline::run_observed(
        &[Source::Path(path.into())],
        &Options::default(),
        &mut |p| learner.observe(p),
        &mut |_| {},
    );
    let l = learner.finish();
    let server = ip("192.168.0.2");
    for port in [4997, 1032] {
        let a = l.epm.announced(server, port).expect("port handed out");
        assert_eq!(a.mapper, server);
        assert_eq!(a.addr, Some(server));
    }
}

proptest! {
    #[test]
    fn parsers_are_total_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut n = 0usize;
        dns::answers(&b, &mut |_| n += 1);
        prop_assert!(n <= 64);
        let _ = dns::tcp_message(&b);
        if let Some(s) = tls::client_hello_sni(&b) { prop_assert!(s.len() <= b.len()); }
        if let Some(r) = http::request(&b) { let _ = (r.connect_target(), r.is_adfs_path()); }
        let mut e = 0usize;
        epm::endpoints(&b, &mut |_| e += 1);
        prop_assert!(e <= 64);
    }

    #[test]
    fn parsers_survive_mutated_valid_messages(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let msgs = [
            payload::dns_response(1, "a.b.example", &[("a.b.example", Rdata::Cname("c.example")), ("c.example", Rdata::Addr(ip("192.0.2.9")))]),
            payload::client_hello("login.microsoftonline.com"),
            payload::http_connect("x.example", 443),
            payload::epm_map_response(1, &[(49670, Ipv4Addr::new(10, 0, 0, 5))]),
        ];
        for m in msgs {
            let mut m = m.clone();
            for (i, v) in &flips { if !m.is_empty() { let i = i % m.len(); m[i] = *v; } }
            let m = &m[..cut % (m.len() + 1)];
            dns::answers(m, &mut |_| {});
            let _ = tls::client_hello_sni(m);
            let _ = http::request(m);
            epm::endpoints(m, &mut |_| {});
            let mut l = Learner::new();
            l.dns(m, crate::time::Timestamp(0));
        }
    }

    #[test]
    fn compression_loops_end(ptr in 12u16..40) {
        // A name that points at itself (or around) must end, not loop.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&(0xc000 | ptr).to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        m.resize(64, 0xc0);
        let mut n = 0;
        dns::answers(&m, &mut |_| n += 1);
        prop_assert!(n <= 1);
    }
}

proptest! {
    #[test]
    fn observe_is_total_on_any_payload_and_port(
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        sport in prop_oneof![Just(53u16), Just(135), Just(443), Just(80), any::<u16>()],
        tcp in any::<bool>(),
        lead in prop_oneof![Just(22u8), Just(b'C'), Just(b'G'), Just(5), any::<u8>()],
    ) {
        let mut payload = payload;
        if let Some(b) = payload.first_mut() { *b = lead; }
        let p = crate::decode::Packet::new(
            crate::time::Timestamp(1),
            if tcp { Transport::Tcp } else { Transport::Udp },
            (ip("10.0.0.1"), sport),
            (ip("10.0.0.2"), 50000),
            &payload,
        );
        let mut l = Learner::new();
        l.observe(&p);
        l.observe(&p);
        let learned = l.finish();
        for a in learned.names.addrs() {
            for n in learned.names.names(a) {
                // Whatever is kept is a plain host name: safe in any output.
                prop_assert!(n.name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c)));
            }
        }
    }
}

/// A DNS packet from the resolver to `client`.
fn dns_packet(msg: &[u8]) -> crate::decode::Packet<'_> {
    crate::decode::Packet::new(
        crate::time::Timestamp(1),
        Transport::Udp,
        (ip("10.0.0.4"), 53),
        (ip("10.0.1.10"), 50000),
        msg,
    )
}

#[test]
fn one_responses_cname_chain_does_not_reach_the_next_response() {
    let first = payload::dns_response(
        1,
        "www.example.com",
        &[
            ("www.example.com", Rdata::Cname("edge.example.net")),
            ("edge.example.net", Rdata::Addr(ip("192.0.2.1"))),
        ],
    );
    let second = payload::dns_response(
        2,
        "edge.example.net",
        &[("edge.example.net", Rdata::Addr(ip("192.0.2.2")))],
    );
    let mut l = Learner::new();
    l.observe(&dns_packet(&first));
    l.observe(&dns_packet(&second));
    let l = l.finish();
    assert_eq!(
        names(&l, "192.0.2.1"),
        vec![
            ("www.example.com".to_string(), NameSource::Dns),
            ("edge.example.net".to_string(), NameSource::Dns),
        ]
    );
    assert_eq!(
        names(&l, "192.0.2.2"),
        vec![("edge.example.net".to_string(), NameSource::Dns)]
    );
}

/// `http::request` as it was before it checked the method first, to show the
/// shortcut rejects only what this rejects.
fn request_by_line(p: &[u8]) -> Option<http::Request<'_>> {
    let head = p.get(..8192).unwrap_or(p);
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let mut parts = head.get(..line_end)?.split(|&c| c == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if method.is_empty()
        || method.len() > 16
        || !method.iter().all(u8::is_ascii_uppercase)
        || target.is_empty()
        || !version.starts_with(b"HTTP/1.")
    {
        return None;
    }
    http::request(p).or(Some(http::Request {
        method: b"",
        target: b"",
        host: None,
    }))
}

proptest! {
    #[test]
    fn the_method_shortcut_rejects_no_request(
        method in "[A-Z]{0,18}|[A-Za-z\r\n ]{0,18}",
        sep in prop_oneof![Just(" "), Just("\r\n"), Just(""), Just("  ")],
        rest in "[ -~]{0,20}( HTTP/1.1)?(\r\nHost: a.example)?\r\n",
    ) {
        let req = format!("{method}{sep}{rest}");
        prop_assert_eq!(http::request(req.as_bytes()), request_by_line(req.as_bytes()), "{:?}", req);
    }

    /// The inline checks in `observe` skip only packets no parser learns from.
    #[test]
    fn observe_skips_only_what_teaches_nothing(
        which in 0usize..4,
        lead in prop_oneof![Just(22u8), Just(b'C'), Just(b'G'), Just(0), any::<u8>()],
        sport in prop_oneof![Just(53u16), Just(135), Just(443), any::<u16>()],
        tcp in any::<bool>(),
    ) {
        let msgs = [
            payload::dns_response(1, "a.example", &[("a.example", Rdata::Addr(ip("192.0.2.9")))]),
            payload::client_hello("login.microsoftonline.com"),
            [&b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\n"[..]].concat(),
            payload::epm_map_response(1, &[(49670, Ipv4Addr::new(10, 0, 0, 5))]),
        ];
        let mut m = msgs[which].clone();
        m[0] = lead;
        let mut p = dns_packet(&m);
        p.sport = sport;
        p.transport = if tcp { Transport::Tcp } else { Transport::Udp };
        let (mut gated, mut direct) = (Learner::new(), Learner::new());
        gated.observe(&p);
        direct.parse(&p);
        let (g, d) = (gated.finish(), direct.finish());
        prop_assert_eq!(format!("{:?}", g.names.addrs()), format!("{:?}", d.names.addrs()));
        prop_assert_eq!(g.epm.all(), d.epm.all());
        prop_assert_eq!(g.proxied.len(), d.proxied.len());
    }
}

/// Names learned out of time order (a dns.log read after the ssl.log that
/// names the same address later) are kept in time order, an earlier
/// sighting of a known name moves it forward, and the first
/// [`MAX_NAMES_PER_ADDR`] by time are the ones kept: the table packets in
/// time order give.
#[test]
fn names_learned_out_of_order_are_kept_in_time_order() {
    let a = ip("20.190.128.10");
    let t = |s: i64| Timestamp::from_parts(s, 0);
    let mut in_order = NameTable::default();
    let mut shuffled = NameTable::default();
    let seen: Vec<(String, NameSource, i64)> = (0..12)
        .map(|i| (format!("n{i}.example"), NameSource::Dns, 100 + i))
        .collect();
    for (n, s, ts) in &seen {
        in_order.learn(a, n.as_bytes(), *s, t(*ts));
    }
    for i in [11, 3, 7, 0, 9, 1, 10, 5, 2, 8, 6, 4] {
        let (n, s, ts) = &seen[i];
        shuffled.learn(a, n.as_bytes(), *s, t(*ts));
    }
    assert_eq!(in_order.names(a), shuffled.names(a));
    assert_eq!(in_order.names(a).len(), MAX_NAMES_PER_ADDR);
    assert_eq!(shuffled.name(a), Some("n0.example"));
    // Seen later under another source: unchanged; seen earlier: moved, and
    // its source is the earlier sighting's.
    shuffled.learn(a, b"n3.example", NameSource::Sni, t(500));
    assert_eq!(shuffled.names(a)[3].source, NameSource::Dns);
    shuffled.learn(a, b"N5.example.", NameSource::Sni, t(50));
    let first = &shuffled.names(a)[0];
    assert_eq!(
        (first.name.as_str(), first.source, first.ts),
        ("n5.example", NameSource::Sni, t(50))
    );
    assert_eq!(shuffled.names(a).len(), MAX_NAMES_PER_ADDR);
}

/// A Zeek dns.log row of a CNAME chain teaches what the response's packets
/// teach (the names of `dns_over_udp_follows_a_cname_chain_to_the_name_asked_for`).
#[test]
fn a_dns_log_row_teaches_what_the_response_teaches() {
    let mut t = Trace::new(Link::ethernet());
    let msg = payload::dns_response(
        7,
        "login.microsoftonline.com",
        &[
            (
                "login.microsoftonline.com",
                Rdata::Cname("login.mso.msidentity.com"),
            ),
            (
                "login.mso.msidentity.com",
                Rdata::Cname("ak.privatelink.msidentity.com"),
            ),
            (
                "ak.privatelink.msidentity.com",
                Rdata::Addr(ip("20.190.151.7")),
            ),
        ],
    );
    let mut u = UdpSession::new(sa("10.0.1.10:50000"), sa("10.0.0.4:53"));
    u.client_send(&[0; 40]).server_send(&msg);
    t.add(&u);
    let from_packets = learn(&t);
    let mut l = Learner::new();
    l.learn_dns_answers(
        None,
        b"login.microsoftonline.com",
        &[
            b"login.mso.msidentity.com",
            b"ak.privatelink.msidentity.com",
            b"20.190.151.7",
        ],
        Timestamp(0),
    );
    let from_log = l.finish();
    let a = ip("20.190.151.7");
    let names = |l: &Learned| -> Vec<(String, NameSource)> {
        l.names
            .names(a)
            .iter()
            .map(|n| (n.name.clone(), n.source))
            .collect()
    };
    assert_eq!(names(&from_log), names(&from_packets));
    assert_eq!(names(&from_log).len(), 3);
}
