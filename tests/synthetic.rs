//! End-to-end tests through the CLI on captures the synth builder writes, so
//! the ground truth (who sent what, when) is known exactly: every handshake
//! verdict, SYN retransmissions, port reuse, ICMP attribution, fragments,
//! VLANs, every link type, every container variant, stdin and directories.

mod common;

use common::flowaudit;
use flowaudit::synth::{
    Conversation, Link, TcpSession, Trace, TsResol, UdpSession, Wifi, fragment, icmp_error, link,
};
use flowaudit::time::{Duration, Timestamp};
use serde_json::Value;
use std::net::SocketAddr;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Runs `flowaudit flows --format jsonl` on capture bytes; returns the rows.
fn flows(bytes: &[u8]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.cap");
    std::fs::write(&path, bytes).expect("write capture");
    flows_args(&[path.as_os_str()], None)
}

fn flows_args(args: &[&std::ffi::OsStr], stdin: Option<Vec<u8>>) -> Vec<Value> {
    let mut cmd = flowaudit();
    cmd.args(["flows", "--format", "jsonl"]).args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let out = cmd.output().expect("run flowaudit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl row"))
        .collect()
}

/// The one row with this protocol and responder port.
fn row<'a>(rows: &'a [Value], proto: &str, resp_p: u16) -> &'a Value {
    let found: Vec<&Value> = rows
        .iter()
        .filter(|r| r["proto"] == proto && r["id.resp_p"] == resp_p)
        .collect();
    assert_eq!(found.len(), 1, "want one {proto}/{resp_p} row in {rows:#?}");
    found[0]
}

fn trace_of(convs: &[&dyn Fn(&mut Trace)]) -> Trace {
    let mut t = Trace::new(Link::ethernet());
    for c in convs {
        c(&mut t);
    }
    t.sort();
    t
}

/// The counters a connection row must share with the session that made it.
fn assert_counts(r: &Value, c: &impl Conversation) {
    assert_eq!(r["orig_pkts"], c.client_packets(), "orig_pkts in {r}");
    assert_eq!(r["resp_pkts"], c.server_packets(), "resp_pkts in {r}");
    assert_eq!(
        r["orig_ip_bytes"],
        c.client_ip_bytes(),
        "orig_ip_bytes in {r}"
    );
    assert_eq!(
        r["resp_ip_bytes"],
        c.server_ip_bytes(),
        "resp_ip_bytes in {r}"
    );
}

#[test]
fn tcp_established_and_closed_is_sf_with_sequence_byte_counts() {
    let mut s = TcpSession::new(addr("10.0.1.10:50000"), addr("10.0.0.4:389"), 1000, 5000);
    s.handshake().client_data(300).server_data(4000).close();
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&s);
        }])
        .to_pcap(),
    );
    let r = row(&rows, "tcp", 389);
    assert_eq!(r["conn_state"], "SF");
    assert_eq!(r["handshake"], "established");
    assert_eq!(r["history"], "ShADadFf");
    assert_eq!(r["orig_bytes"], s.client_payload_bytes());
    assert_eq!(r["resp_bytes"], s.server_payload_bytes());
    assert_eq!(r["id.orig_h"], "10.0.1.10");
    assert_eq!(r["syn_attempts"], 1);
    // Zeek stops the clock once both sides have closed (the last FIN): the
    // final ACK is counted as a packet but does not extend `duration`.
    let last_fin = s
        .packets()
        .iter()
        .rev()
        .find(|p| p.flags & 0x01 != 0)
        .unwrap()
        .ts;
    let want = last_fin.since(s.first_ts().unwrap()).as_secs_f64();
    let dur = r["duration"].as_f64().unwrap();
    assert!((dur - want).abs() < 1e-6, "duration {dur}, want {want}");
    assert_counts(r, &s);
}

#[test]
fn syn_answered_by_rst_is_rejected() {
    let mut s = TcpSession::new(addr("10.0.1.10:50001"), addr("10.0.0.5:3268"), 1, 0);
    s.reject();
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&s);
        }])
        .to_pcap(),
    );
    let r = row(&rows, "tcp", 3268);
    assert_eq!(r["conn_state"], "REJ");
    assert_eq!(r["history"], "Sr");
    assert_eq!(r["handshake"], "rejected");
    assert_counts(r, &s);
}

#[test]
fn retransmitted_syns_merge_into_one_unanswered_connection() {
    let mut s = TcpSession::new(addr("10.0.1.10:50002"), addr("10.0.0.5:445"), 77, 0);
    s.unanswered(2, Duration::from_secs(3));
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&s);
        }])
        .to_pcap(),
    );
    let r = row(&rows, "tcp", 445);
    assert_eq!(r["conn_state"], "S0");
    assert_eq!(r["handshake"], "unanswered");
    assert_eq!(r["syn_attempts"], 3);
    let want: Vec<f64> = s.syn_times().iter().map(|t| t.as_secs_f64()).collect();
    let got: Vec<f64> = r["syn_times"]
        .as_array()
        .expect("syn_times")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "syn times {got:?} vs {want:?}");
    }
    assert_counts(r, &s);
}

#[test]
fn handshake_seen_midway_is_midstream() {
    let mut s = TcpSession::new(addr("10.0.1.10:50003"), addr("10.0.0.4:636"), 10, 20);
    s.handshake();
    let mut late = TcpSession::new(addr("10.0.1.10:50003"), addr("10.0.0.4:636"), 10, 20);
    late.handshake().client_data(100).server_data(100);
    // Keep only what follows the handshake, as a capture started late would.
    let mut t = Trace::new(Link::ethernet());
    for p in late.packets().iter().skip(3) {
        t.push_ip(p.ts, &p.ip);
    }
    let rows = flows(&t.to_pcap());
    let r = row(&rows, "tcp", 636);
    assert_eq!(r["handshake"], "midstream");
    assert_eq!(r["conn_state"], "OTH");
    assert_eq!(r["syn_attempts"], 0);
}

#[test]
fn rst_after_syn_ack_is_closed_early() {
    let mut s = TcpSession::new(addr("10.0.1.10:50004"), addr("10.0.0.4:135"), 10, 20);
    s.syn().syn_ack().client_rst();
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&s);
        }])
        .to_pcap(),
    );
    let r = row(&rows, "tcp", 135);
    assert_eq!(r["handshake"], "closed-early");
    assert_counts(r, &s);
}

#[test]
fn icmp_prohibited_is_attributed_to_the_tcp_and_udp_attempts_it_quotes() {
    let router = "10.0.1.1".parse().unwrap();
    let mut tcp = TcpSession::new(addr("10.0.1.10:50005"), addr("10.0.0.5:9389"), 5, 0);
    tcp.syn();
    let mut udp = UdpSession::new(addr("10.0.1.10:50006"), addr("10.0.0.5:123"));
    udp.request(48);
    let mut t = Trace::new(Link::ethernet());
    t.add(&tcp).add(&udp);
    let tcp_err = icmp_error(router, 3, 13, &tcp.packets()[0].ip);
    let udp_err = icmp_error(router, 3, 3, &udp.packets()[0].ip);
    let at = Timestamp(tcp.now().0 + 500_000);
    t.push_ip(at, &tcp_err)
        .push_ip(Timestamp(at.0 + 1000), &udp_err)
        .sort();
    let rows = flows(&t.to_pcap());

    let r = row(&rows, "tcp", 9389);
    assert_eq!(r["handshake"], "icmp-unreachable");
    assert_eq!(r["icmp"]["type"], 3);
    assert_eq!(r["icmp"]["code"], 13);
    assert_eq!(r["icmp"]["reporter"], "10.0.1.1");
    let u = row(&rows, "udp", 123);
    assert_eq!(u["handshake"], "icmp-unreachable");
    assert_eq!(u["icmp"]["code"], 3);
    assert_eq!(u["conn_state"], "S0");
    // Zeek logs the ICMP errors as connections of their own as well.
    let icmp_rows = rows.iter().filter(|r| r["proto"] == "icmp").count();
    assert!(icmp_rows >= 1, "ICMP rows missing: {rows:#?}");
}

#[test]
fn icmp_quoting_the_responder_packet_reaches_the_same_connection() {
    // The server's reply is refused on its way back: the ICMP error quotes a
    // packet sent by the responder and goes to the responder.
    let mut udp = UdpSession::new(addr("[fd00::1:10]:53000"), addr("[fd00::4]:53"));
    udp.request(40).response(120);
    let err = icmp_error("fd00::1:1".parse().unwrap(), 1, 1, &udp.packets()[1].ip);
    let mut t = Trace::new(Link::ethernet());
    t.add(&udp)
        .push_ip(Timestamp(udp.now().0 + 1_000_000), &err)
        .sort();
    let rows = flows(&t.to_pcap());
    let u = row(&rows, "udp", 53);
    assert_eq!(u["icmp"]["type"], 1);
    assert_eq!(u["icmp"]["v6"], true);
    assert_eq!(u["icmp"]["reporter"], "fd00::1:1");
    assert_eq!(u["id.orig_h"], "fd00::1:10");
}

#[test]
fn udp_answered_and_unanswered() {
    let mut a = UdpSession::new(addr("10.0.1.10:53001"), addr("10.0.0.4:53"));
    a.request(40).response(200);
    let mut n = UdpSession::new(addr("10.0.1.10:53002"), addr("10.0.0.5:389"));
    n.request(60).wait(Duration::from_secs(1)).request(60);
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&a).add(&n);
        }])
        .to_pcap(),
    );
    let r = row(&rows, "udp", 53);
    assert_eq!(r["handshake"], "answered");
    assert_eq!(r["conn_state"], "SF");
    assert_eq!(r["history"], "Dd");
    assert_eq!(r["orig_bytes"], a.client_payload_bytes());
    assert_eq!(r["resp_bytes"], a.server_payload_bytes());
    assert_counts(r, &a);
    let r = row(&rows, "udp", 389);
    assert_eq!(r["handshake"], "unanswered");
    assert_eq!(r["conn_state"], "S0");
    assert_counts(r, &n);
}

#[test]
fn port_reuse_after_close_starts_a_new_connection() {
    let c = addr("10.0.1.10:50010");
    let s = addr("10.0.0.4:88");
    let mut first = TcpSession::new(c, s, 100, 200);
    first.handshake().client_data(10).close();
    let mut second =
        TcpSession::new(c, s, 900_000, 300).starting_at(Timestamp(first.now().0 + 20_000_000_000));
    second.handshake().client_data(10).close();
    let rows = flows(
        &trace_of(&[&|t| {
            t.add(&first).add(&second);
        }])
        .to_pcap(),
    );
    let same: Vec<&Value> = rows.iter().filter(|r| r["id.resp_p"] == 88).collect();
    assert_eq!(same.len(), 2, "{rows:#?}");
    assert_ne!(same[0]["uid"], same[1]["uid"]);
    for r in same {
        assert_eq!(r["conn_state"], "SF");
        assert_eq!(r["orig_pkts"], first.client_packets());
    }
}

#[test]
fn udp_reply_in_three_fragments_is_one_reply_v4_and_v6() {
    for (client, server) in [
        ("10.0.1.10:53010", "10.0.0.4:389"),
        ("[fd00::1:10]:53010", "[fd00::4]:389"),
    ] {
        let mut u = UdpSession::new(addr(client), addr(server));
        u.request(80).response(3000);
        let mut t = Trace::new(Link::ethernet());
        let req = &u.packets()[0];
        let resp = &u.packets()[1];
        t.push_ip(req.ts, &req.ip);
        for (i, f) in fragment(&resp.ip, 3).iter().enumerate() {
            t.push_ip(Timestamp(resp.ts.0 + i as i64 * 1000), f);
        }
        let rows = flows(&t.to_pcap());
        let r = row(&rows, "udp", 389);
        assert_eq!(r["resp_pkts"], 1, "{client}: {r}");
        assert_eq!(r["resp_bytes"], 3000, "{client}: {r}");
        assert_eq!(r["handshake"], "answered");
        assert_eq!(
            rows.len(),
            1,
            "{client}: fragments must not make rows: {rows:#?}"
        );
    }
}

#[test]
fn vlan_and_qinq_ids_are_reported() {
    // 802.1ah: Zeek's VLAN analyzer reads the backbone tag (B-TAG) before
    // the I-TAG, so the backbone VLAN is the connection's `vlan`.
    for (vlans, outer, inner) in [
        (Link::Ethernet(vec![42u16]), 42, None::<u16>),
        (Link::Ethernet(vec![100, 7]), 100, Some(7u16)),
        (Link::Pbb(300), 300, None),
    ] {
        let mut s = TcpSession::new(addr("10.0.1.10:50020"), addr("10.0.0.4:389"), 1, 2);
        s.handshake().close();
        let mut t = Trace::new(vlans.clone());
        t.add(&s);
        let rows = flows(&t.to_pcap());
        let r = row(&rows, "tcp", 389);
        assert_eq!(r["vlan"], outer, "{vlans:?}");
        assert_eq!(
            r.get("inner_vlan").and_then(Value::as_u64),
            inner.map(u64::from)
        );
        assert_eq!(r["conn_state"], "SF");
    }
}

/// Strips what legitimately differs between two runs of the same packets.
fn comparable(rows: Vec<Value>) -> Vec<Value> {
    rows.into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("vlan");
                o.remove("inner_vlan");
            }
            r
        })
        .collect()
}

/// Three connections of different kinds (IPv4 TCP, IPv6 rejected TCP, UDP) on one link.
fn build(link: Link) -> Trace {
    let mut t = Trace::new(link);
    let mut a = TcpSession::new(addr("10.0.1.10:50030"), addr("10.0.0.4:389"), 1, 2);
    a.handshake().client_data(500).server_data(1500).close();
    let mut b = TcpSession::new(addr("[fd00::1:10]:50031"), addr("[fd00::5]:445"), 3, 0);
    b.reject();
    let mut u = UdpSession::new(addr("10.0.1.10:53030"), addr("10.0.0.4:53"));
    u.request(30).response(90);
    t.add(&a).add(&b).add(&u).sort();
    t
}

#[test]
fn every_link_type_gives_the_same_connections() {
    let reference = comparable(flows(&build(Link::ethernet()).to_pcap()));
    assert_eq!(reference.len(), 3);
    for link in [
        Link::Ethernet(vec![10]),
        Link::Ethernet(vec![10, 20]),
        Link::Mpls(vec![16, 17]),
        Link::Pppoe(1),
        Link::FabricPath,
        Link::VnTag,
        Link::Pbb(300),
        Link::Sll,
        Link::Sll2,
        Link::Null(false),
        Link::Null(true),
        Link::Loop,
        Link::Raw,
        Link::Ppp(true),
        Link::Ppp(false),
    ]
    .into_iter()
    .chain(wifi_links())
    {
        let name = format!("{link:?}");
        let rows = comparable(flows(&build(link).to_pcap()));
        assert_eq!(rows, reference, "{name}");
    }
    // LINKTYPE_IPV4 and IPV6 carry one family each.
    for (link, family_v6) in [(Link::Ipv4, false), (Link::Ipv6, true)] {
        let name = format!("{link:?}");
        let rows = comparable(flows(&build(link).to_pcap()));
        let want: Vec<Value> = reference
            .iter()
            .filter(|r| r["id.orig_h"].as_str().unwrap().contains(':') == family_v6)
            .cloned()
            .collect();
        assert_eq!(rows, want, "{name}");
    }
}

/// 802.11 data frames of every header shape: with and without radiotap, QoS,
/// and each combination of the To DS and From DS bits.
fn wifi_links() -> Vec<Link> {
    let mut v = Vec::new();
    for radiotap in [false, true] {
        for qos in [false, true] {
            for ds in 0..4 {
                v.push(Link::Ieee80211(Wifi { radiotap, qos, ds }));
            }
        }
    }
    v
}

/// `flowaudit info` on 802.11 with radiotap: every data frame decoded, and
/// the frames Zeek's analyzer skips named by why (management, a null data
/// frame, an encrypted one); an A-MSDU frame gives one packet per subframe.
#[test]
fn info_counts_wifi_frames_and_names_those_without_ip() {
    let w = Wifi {
        radiotap: true,
        qos: true,
        ds: 1,
    };
    let mut t = build(Link::Ieee80211(w));
    let frames = t.frames().len() as u64;
    let end = t.frames().last().map_or(Timestamp(0), |f| f.0);
    let radiotap = [0u8, 0, 8, 0, 0, 0, 0, 0];
    let with_header = |fc: u8, flags: u8, body: &[u8]| {
        let mut f = radiotap.to_vec();
        f.extend_from_slice(&[fc, flags]);
        f.extend_from_slice(&[0; 22]);
        f.extend_from_slice(&[0, 0]); // QoS control
        f.extend_from_slice(body);
        f
    };
    t.push_frame(end, with_header(0x80, 0, &[0; 40])); // beacon
    t.push_frame(end, with_header(0xC8, 0x01, &[0; 4])); // QoS null
    t.push_frame(end, with_header(0x88, 0x41, &[0; 40])); // protected QoS data
    // An A-MSDU of two UDP datagrams (each its own connection), A-MSDU bit in QoS control.
    let mut amsdu = radiotap.to_vec();
    amsdu.extend_from_slice(&[0x88, 0x01]);
    amsdu.extend_from_slice(&[0; 22]);
    amsdu.extend_from_slice(&[0x80, 0]);
    for port in [1001u16, 1002] {
        let mut u = UdpSession::new(addr(&format!("10.0.9.1:{port}")), addr("10.0.9.2:7"));
        u.request(10);
        let ip = &u.packets()[0].ip;
        let mut body = vec![0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];
        body.extend_from_slice(ip);
        amsdu.extend_from_slice(&[0x02; 12]);
        amsdu.extend_from_slice(&(body.len() as u16).to_be_bytes());
        amsdu.extend_from_slice(&body);
        amsdu.extend(std::iter::repeat_n(0, body.len() % 4));
    }
    t.push_frame(end, amsdu);
    let bytes = t.to_pcap();
    let d = &info_decode(&bytes);
    assert_eq!(d["decoded"], frames + 1, "{d:#}");
    let nd = &d["not_decoded"];
    assert_eq!(nd["ieee802_11: management or control frame"], 1, "{d:#}");
    assert_eq!(nd["ieee802_11: data frame without a body"], 1, "{d:#}");
    assert_eq!(nd["ieee802_11: protected (encrypted) frame"], 1, "{d:#}");
    let rows = flows(&bytes);
    for port in [1001, 1002] {
        assert!(
            rows.iter()
                .any(|r| r["id.orig_p"] == port && r["id.resp_p"] == 7 && r["orig_pkts"] == 1),
            "subframe from port {port}: {rows:#?}"
        );
    }
}

/// Wraps an inner IP datagram in a tunnel.
type Wrap = Box<dyn Fn(&[u8]) -> Vec<u8>>;

#[test]
fn tunnelled_connections_are_tracked_inside_and_out() {
    let mut inner = TcpSession::new(addr("10.0.1.10:50040"), addr("10.0.0.4:389"), 1, 2);
    inner.handshake().close();
    let o1 = "192.0.2.1".parse().unwrap();
    let o2 = "192.0.2.2".parse().unwrap();
    let tunnels: Vec<(&str, Wrap)> = vec![
        (
            "gre",
            Box::new(move |ip: &[u8]| link::gre(o1, o2, link::ip_ethertype(ip), ip)),
        ),
        (
            "ipip",
            Box::new(move |ip: &[u8]| link::ip_in_ip(o1, o2, ip)),
        ),
        (
            "vxlan",
            Box::new(|ip: &[u8]| {
                link::vxlan(
                    addr("192.0.2.1:40000"),
                    addr("192.0.2.2:4789"),
                    7,
                    &link::ethernet(ip, &[]),
                )
            }),
        ),
        (
            "geneve",
            Box::new(|ip: &[u8]| {
                link::geneve(
                    addr("192.0.2.1:40001"),
                    addr("192.0.2.2:6081"),
                    7,
                    &link::ethernet(ip, &[]),
                )
            }),
        ),
        (
            "gtp-u",
            Box::new(|ip: &[u8]| {
                link::gtp_u(addr("192.0.2.1:2152"), addr("192.0.2.2:2152"), 9, ip)
            }),
        ),
        (
            "gre-in-udp",
            Box::new(|ip: &[u8]| {
                let (src, dst) = (addr("192.0.2.1:40002"), addr("192.0.2.2:4754"));
                link::gre_udp(src, dst, link::ip_ethertype(ip), ip)
            }),
        ),
        (
            "ayiya",
            Box::new(|ip: &[u8]| link::ayiya(addr("192.0.2.1:40003"), addr("192.0.2.2:5072"), ip)),
        ),
        (
            // Zeek's detection finds AYIYA on any port.
            "ayiya-detected",
            Box::new(|ip: &[u8]| link::ayiya(addr("192.0.2.1:40004"), addr("192.0.2.2:41000"), ip)),
        ),
    ];
    // Aruba access points' GRE: an 802.11 frame in each of Zeek's protocol-type ranges.
    let mut tunnels = tunnels;
    for ptype in [0x8200u16, 0x8210, 0x8370, 0x9000] {
        let wifi = Link::Ieee80211(Wifi {
            radiotap: false,
            qos: ptype == 0x8210,
            ds: 1,
        });
        tunnels.push((
            "aruba",
            Box::new(move |ip: &[u8]| link::gre(o1, o2, ptype, &wifi.frame(ip))),
        ));
    }
    for (name, wrap) in tunnels {
        let mut t = Trace::new(Link::ethernet()).with_encap(wrap);
        t.add(&inner);
        let rows = flows(&t.to_pcap());
        let r = row(&rows, "tcp", 389);
        assert_eq!(r["conn_state"], "SF", "{name}");
        assert_eq!(r["tunnel_depth"], 1, "{name}");
        assert_counts(r, &inner);
    }
}

#[test]
fn pcap_and_pcapng_of_the_same_packets_give_identical_flows() {
    let t = build(Link::ethernet());
    let reference = flows(&t.to_pcap());
    let variants = [
        (
            "pcap BE usec",
            t.write_pcap(Vec::new(), true, false).unwrap(),
        ),
        (
            "pcap LE nsec",
            t.write_pcap(Vec::new(), false, true).unwrap(),
        ),
        (
            "pcap BE nsec",
            t.write_pcap(Vec::new(), true, true).unwrap(),
        ),
        (
            "pcapng LE us",
            t.write_pcapng(Vec::new(), false, TsResol::Decimal(6))
                .unwrap(),
        ),
        (
            "pcapng BE ns",
            t.write_pcapng(Vec::new(), true, TsResol::Decimal(9))
                .unwrap(),
        ),
        (
            "pcapng 2^-20",
            t.write_pcapng(Vec::new(), false, TsResol::Binary(20))
                .unwrap(),
        ),
    ];
    for (name, bytes) in variants {
        let rows = flows(&bytes);
        if name.contains("2^-20") {
            // 2^-20 s ticks cannot carry every microsecond exactly: compare all but ts/duration.
            let strip = |v: &Vec<Value>| -> Vec<Value> {
                v.iter()
                    .map(|r| {
                        let mut r = r.clone();
                        let o = r.as_object_mut().unwrap();
                        o.remove("ts");
                        o.remove("duration");
                        o.remove("uid");
                        r
                    })
                    .collect()
            };
            assert_eq!(strip(&rows), strip(&reference), "{name}");
        } else {
            assert_eq!(rows, reference, "{name}");
        }
    }
}

#[test]
fn pcapng_with_two_interfaces_of_different_resolution_keeps_times() {
    use flowaudit::read::LinkType;
    use flowaudit::synth::PcapNgWriter;
    let mut a = TcpSession::new(addr("10.0.1.10:50050"), addr("10.0.0.4:389"), 1, 2);
    a.handshake().close();
    let mut b = UdpSession::new(addr("10.0.1.10:53050"), addr("10.0.0.4:53"))
        .starting_at(Timestamp(1_700_000_000_123_456_789));
    b.request(20).response(40);
    let mut w = PcapNgWriter::new(Vec::new(), false).unwrap();
    let usec = w
        .add_interface(LinkType::ETHERNET, TsResol::Decimal(6), 0)
        .unwrap();
    let nsec = w
        .add_interface(LinkType::RAW, TsResol::Decimal(9), 0)
        .unwrap();
    for p in a.packets() {
        w.write_epb(usec, p.ts, &link::ethernet(&p.ip, &[]), None)
            .unwrap();
    }
    for p in b.packets() {
        w.write_epb(nsec, p.ts, &p.ip, None).unwrap();
    }
    let rows = flows(&w.into_inner().unwrap());
    let t = row(&rows, "tcp", 389);
    let u = row(&rows, "udp", 53);
    assert!((t["ts"].as_f64().unwrap() - a.first_ts().unwrap().as_secs_f64()).abs() < 1e-6);
    assert!((u["ts"].as_f64().unwrap() - 1_700_000_000.123_457).abs() < 1e-6);
    assert_eq!(u["conn_state"], "SF");
    assert_eq!(t["conn_state"], "SF");
}

#[test]
fn stdin_gzip_and_directories_read_like_files() {
    use std::io::Write;
    let bytes = build(Link::ethernet()).to_pcapng();
    let reference = flows(&bytes);
    let from_stdin = flows_args(&[std::ffi::OsStr::new("-")], Some(bytes.clone()));
    assert_eq!(from_stdin, reference);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        flows_args(&[std::ffi::OsStr::new("-")], Some(gz.clone())),
        reference
    );

    // A directory: the capture split in two files (plus a nested one) reads as one trace.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub").join("c.pcap.gz"), &gz).unwrap();
    let rows = flows_args(&[dir.path().as_os_str()], None);
    assert_eq!(rows, reference);
}

#[test]
fn legacy_raw_link_types_12_and_14_read_as_raw_ip() {
    use flowaudit::read::LinkType;
    use flowaudit::synth::{PcapOptions, PcapWriter};
    let t = build(Link::Raw);
    let reference = flows(&t.to_pcap());
    for link in [LinkType::RAW_LEGACY, LinkType::RAW_OPENBSD] {
        let mut w = PcapWriter::new(
            Vec::new(),
            PcapOptions {
                link,
                ..PcapOptions::default()
            },
        )
        .unwrap();
        for (ts, frame) in t.frames() {
            w.write_packet(*ts, frame, None).unwrap();
        }
        assert_eq!(flows(&w.into_inner().unwrap()), reference, "{link}");
    }
}

/// The `decode` object `flowaudit info -f json` reports for one capture.
fn info_decode(capture: &[u8]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("capture.pcap");
    std::fs::write(&path, capture).expect("write");
    let out = flowaudit()
        .args(["info", "-f", "json"])
        .arg(&path)
        .output()
        .expect("run flowaudit");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["captures"][0]["decode"].clone()
}

/// `flowaudit info` counts every 802.1ah frame as decoded, and one whose
/// PBB header has nothing after it as not decoded at the PBB layer.
#[test]
fn info_counts_pbb_frames_and_names_a_truncated_one() {
    let mut t = build(Link::Pbb(300));
    let frames = t.frames().len() as u64;
    // One more frame: backbone MACs, B-TAG, I-TAG, customer MACs and
    // EtherType, and no payload (Zeek: truncated_PBB_header).
    let mut cut = vec![0x02u8; 12];
    cut.extend_from_slice(&[0x88, 0xa8, 0x01, 0x2c, 0x88, 0xe7, 0, 1, 0x23, 0x45]);
    cut.extend_from_slice(&[0x02; 12]);
    cut.extend_from_slice(&[0x08, 0x00]);
    let end = t.frames().last().map_or(Timestamp(0), |f| f.0);
    t.push_frame(end, cut);
    let d = &info_decode(&t.to_pcap());
    assert_eq!(d["decoded"], frames, "{d:#}");
    assert_eq!(d["not_decoded"]["pbb: truncated header"], 1, "{d:#}");
}

/// A TCP header whose data offset runs past the captured bytes: Zeek makes
/// the connection from the fixed 20 bytes, then drops the packet at its
/// options (`truncated_header`). Alone it is a connection with no packets
/// (OTH); before the real SYN, the SYN's new sequence number is a reuse of
/// that empty connection, so the handshake is a second, whole row.
#[test]
fn a_tcp_header_past_the_captured_bytes_opens_a_connection_and_counts_nothing() {
    let mut s = TcpSession::new(addr("10.0.1.10:50050"), addr("10.0.0.4:389"), 1, 2);
    s.handshake().client_data(100).server_data(300).close();
    let pk = s.packets();
    let mut cut = pk[0].ip.clone();
    let ihl = usize::from(cut[0] & 0x0f) * 4;
    cut[ihl + 12] = 0xA0; // 40-byte header, 20 captured
    let early = Timestamp(pk[0].ts.0 - 1_000_000_000);

    let mut alone = Trace::new(Link::ethernet());
    alone.push_ip(early, &cut);
    let bytes = alone.to_pcap();
    let rows = flows(&bytes);
    let r = row(&rows, "tcp", 389);
    assert_eq!(r["conn_state"], "OTH", "{r}");
    for field in ["orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes"] {
        assert_eq!(r[field], 0, "{field} in {r}");
    }
    assert_eq!(r["id.orig_p"], 50050, "{r}");
    let d = info_decode(&bytes);
    assert_eq!(d["decoded"], 0, "{d:#}");
    assert_eq!(
        d["not_decoded"].as_object().map(|o| o.len()),
        Some(1),
        "{d:#}"
    );
    assert!(
        d["not_decoded"]
            .as_object()
            .is_some_and(|o| o.keys().all(|k| k.contains("truncated_header"))),
        "{d:#}"
    );

    let mut before = Trace::new(Link::ethernet());
    before.push_ip(early, &cut);
    before.add(&s);
    let rows = flows(&before.to_pcap());
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let empty = &rows[0];
    assert_eq!(empty["conn_state"], "OTH", "{empty}");
    assert_eq!(empty["orig_pkts"], 0, "{empty}");
    let whole = &rows[1];
    assert_eq!(whole["conn_state"], "SF", "{whole}");
    assert_counts(whole, &s);
    assert_ne!(empty["uid"], whole["uid"]);
}
