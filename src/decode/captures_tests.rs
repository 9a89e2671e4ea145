//! Decodes the shared real captures. For the Zeek traces the oracle is Zeek's
//! own conn.log: the set of connection 5-tuples the decoder's packets could
//! form must equal the set Zeek logged. The other captures check that nothing
//! panics, that every frame is counted exactly once, and per-file facts from
//! the capture manifest.

use super::*;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Directory of the shared captures.
const CAPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/captures/");

/// One frame: (ts, link type, bytes).
type Frame = (Timestamp, LinkType, Vec<u8>);

/// Every frame of a capture, read by the project's reader (tested on its own
/// against the capture manifest in `crate::read`).
fn read_capture(path: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    let src = crate::read::Source::Path(path.into());
    let _ = crate::read::read_capture(&src, &mut |r| out.push((r.ts, r.link, r.data.to_vec())));
    out
}

/// A connection key with orientation removed: proto and the sorted endpoint pair.
type Key = (String, (IpAddr, u16), (IpAddr, u16));

/// Orientation-free key.
fn key(proto: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    (proto.to_owned(), a.min(b), a.max(b))
}

/// Zeek's ICMP "counterpart" type (ICMP4_counterpart / ICMP6_counterpart in
/// Zeek's ICMP analyzer): a request and its reply share one connection whose
/// responder port is the counterpart type; one-way messages use the code.
fn zeek_icmp_resp_port(v6: bool, t: u8, code: u8) -> u16 {
    let c = if v6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            131 => Some(130),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match t {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            17 => Some(18),
            18 => Some(17),
            10 => Some(9),
            9 => Some(10),
            _ => None,
        }
    };
    u16::from(c.unwrap_or(code))
}

/// The key a packet's connection gets in Zeek's conn.log.
fn packet_key(p: &Packet<'_>) -> Key {
    match p.transport {
        Transport::Tcp => key("tcp", (p.src, p.sport), (p.dst, p.dport)),
        Transport::Udp => key("udp", (p.src, p.sport), (p.dst, p.dport)),
        Transport::Icmp => {
            let i = p.icmp.expect("ICMP packets carry IcmpInfo");
            let resp = zeek_icmp_resp_port(i.v6, i.icmp_type, i.code);
            // A reply is logged under its request: orig is the requester.
            key("icmp", (p.src, u16::from(i.icmp_type)), (p.dst, resp))
        }
        Transport::Other(_) => key("unknown_transport", (p.src, 0), (p.dst, 0)),
    }
}

/// The keys of a Zeek conn.log.
fn baseline_keys(path: &str) -> BTreeSet<Key> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut fields: Vec<&str> = Vec::new();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').collect();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let col = |name: &str| cols[fields.iter().position(|f| *f == name).expect(name)];
        let addr = |n: &str| col(n).parse::<IpAddr>().expect("address");
        let port = |n: &str| col(n).parse::<u16>().expect("port");
        let proto = col("proto");
        // The ICMP pair is stored the other way round by the packet key when the
        // reply came first; normalise both sides the same way (sorted pair).
        out.insert(key(
            proto,
            (addr("id.orig_h"), port("id.orig_p")),
            (addr("id.resp_h"), port("id.resp_p")),
        ));
    }
    out
}

/// Decodes a whole capture: the packets' keys, the outcomes and the stats.
fn decode_file(path: &str) -> (BTreeSet<Key>, Vec<Outcome>, DecodeStats, usize) {
    let frames = read_capture(path);
    let mut dec = Decoder::new(DecodeConfig::default());
    let mut keys = BTreeSet::new();
    let mut outcomes = Vec::new();
    for (i, (ts, link, data)) in frames.iter().enumerate() {
        let o = dec.decode(*ts, i as u64 + 1, *link, data, &mut |p| {
            assert!(
                p.payload.len() as u64 <= u64::from(p.payload_len),
                "{path} #{}: captured payload longer than the header says",
                i + 1
            );
            keys.insert(packet_key(p));
        });
        outcomes.push(o);
    }
    dec.flush();
    let s = dec.stats().clone();
    let counted =
        s.decoded + s.reassembled + s.fragments_buffered + s.not_decoded.values().sum::<u64>();
    assert_eq!(
        counted,
        frames.len() as u64,
        "{path}: every frame counted once: {s:?}"
    );
    assert_eq!(s.frames, frames.len() as u64);
    (keys, outcomes, s, frames.len())
}

/// Zeek trace with its conn.log baseline.
fn zeek_pair(base: &str) -> (String, String) {
    let pcap = format!("{CAPS}zeek/{base}.pcap");
    let cap = if std::path::Path::new(&pcap).exists() {
        pcap
    } else {
        format!("{CAPS}zeek/{base}.pcapng")
    };
    (cap, format!("{CAPS}zeek/{base}.conn.log"))
}

/// Compares the decoder's 5-tuples with Zeek's for one trace.
fn check_against_zeek(base: &str) {
    let (cap, log) = zeek_pair(base);
    let (got, _, stats, _) = decode_file(&cap);
    let want = baseline_keys(&log);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{base}: missing (Zeek has, decoder not): {missing:#?}\nextra (decoder has, Zeek not): {extra:#?}\nstats: {stats:?}"
    );
}

#[test]
fn tunnel_and_link_traces_match_zeek_5_tuples() {
    for base in [
        "gre-sample",
        "Teredo",
        "mixed-vlan-mpls",
        "pppoe",
        "cisco-fabric-path",
        "vntag",
        "q-in-q",
        "quic-interop-retry",
        "irc-starttls",
    ] {
        check_against_zeek(base);
    }
}

#[test]
fn other_zeek_traces_match_zeek_5_tuples() {
    for base in [
        "simpleauth",
        "missing_krbtgt_ldap_request",
        "missing_ldap_logs",
        "sasl-ntlm",
        "ldap-starttls",
        "ldap-who-am-i",
        "pop3",
        "ssh.server-side-half-duplex",
        "ssh",
        "pcapng-multi-interface",
        "http-on-irc-port-missing-syn",
        "ipv6",
        "irc-dcc-send",
        "no_crlf",
        "wikipedia",
    ] {
        check_against_zeek(base);
    }
}

/// Every capture in the manifest: distinct TCP endpoint pairs equal tshark's
/// `conv,tcp` count from the manifest (an independent decoder), and every frame
/// is counted once (checked inside `decode_file`).
#[test]
fn tcp_conversations_match_tshark_for_every_capture() {
    let manifest = std::fs::read_to_string(format!("{CAPS}MANIFEST.tsv")).expect("manifest");
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (c_path, c_packets, c_tcp) = (col("path"), col("packets"), col("tcp_conversations"));
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let Ok(want_tcp) = cols[c_tcp].parse::<usize>() else {
            continue;
        };
        let Ok(want_packets) = cols[c_packets].parse::<usize>() else {
            continue;
        };
        let path = format!("{CAPS}{}", cols[c_path]);
        let (keys, _, _, frames) = decode_file(&path);
        if frames != want_packets {
            // The test's tiny reader skips exotic containers (e.g. modified pcap); nothing to compare.
            continue;
        }
        checked += 1;
        let got_tcp = keys.iter().filter(|k| k.0 == "tcp").count();
        // tshark does not look for Teredo on a relay's random port; Zeek does and
        // logs the inner TCP connection (see Teredo.conn.log), and so does the decoder.
        let want_tcp = if cols[c_path] == "zeek/Teredo.pcap" {
            want_tcp + 1
        } else {
            want_tcp
        };
        if got_tcp != want_tcp {
            mismatches.push(format!("{}: tcp {got_tcp} want {want_tcp}", cols[c_path]));
        }
    }
    assert!(checked > 60, "only {checked} captures checked");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Unsupported link types are named and every frame of them counted (packet
/// counts from the manifest).
#[test]
fn unsupported_link_types_are_counted_by_name() {
    for (file, link, name, frames) in [
        (
            "tcpdump/vsock-1.pcapng",
            271,
            "link: unsupported link type VSOCK(271)",
            10,
        ),
        (
            "tcpdump/nflog.pcap",
            239,
            "link: unsupported link type NFLOG(239)",
            4,
        ),
        (
            "tcpdump/unsupported-link-type-160.pcap",
            160,
            "link: unsupported link type USER13(160)",
            1,
        ),
    ] {
        let (keys, outcomes, s, _) = decode_file(&format!("{CAPS}{file}"));
        assert!(keys.is_empty(), "{file}");
        assert_eq!(s.unsupported_link_types, BTreeSet::from([link]), "{file}");
        assert_eq!(s.not_decoded.get(name), Some(&frames), "{file}: {s:?}");
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::NotDecoded(_))));
    }
    let (_, _, s, _) = decode_file(&format!("{CAPS}tcpdump/LINKTYPE_IPV4_invalid.pcap"));
    assert_eq!(
        s.not_decoded.values().sum::<u64>(),
        1,
        "a non-IPv4 packet on LINKTYPE_IPV4 is not decoded"
    );
}

/// dnscap's frags.pcap: every frame is an IPv4 fragment (checked here by
/// reading the flags by hand); all must end reassembled, and each datagram's
/// UDP header plus payload must be as long as its fragments' payloads summed by hand.
#[test]
fn dnscap_fragments_reassemble_into_whole_udp_datagrams() {
    let frames = read_capture(&format!("{CAPS}dnscap/frags.pcap"));
    assert_eq!(frames.len(), 495, "manifest packet count");
    let mut fragment_frames = 0;
    let mut first_fragments = 0;
    // (src, dst, id) -> summed fragment payload bytes.
    let mut sums: std::collections::HashMap<([u8; 4], [u8; 4], u16), u32> = Default::default();
    let ident = |d: &[u8]| -> ([u8; 4], [u8; 4], u16) {
        (
            d[12..16].try_into().unwrap(),
            d[16..20].try_into().unwrap(),
            u16::from_be_bytes([d[4], d[5]]),
        )
    };
    for (_, link, d) in &frames {
        assert_eq!(*link, LinkType::IPV4);
        let total = u32::from(u16::from_be_bytes([d[2], d[3]]));
        *sums.entry(ident(d)).or_default() += total - u32::from(d[0] & 0x0f) * 4;
        let fo = u16::from_be_bytes([d[6], d[7]]);
        if fo & 0x3fff != 0 {
            fragment_frames += 1;
        }
        if fo & 0x2000 != 0 && fo & 0x1fff == 0 {
            first_fragments += 1;
        }
    }
    let mut dec = Decoder::new(DecodeConfig::default());
    let mut datagrams = 0;
    for (i, (ts, link, d)) in frames.iter().enumerate() {
        dec.decode(*ts, i as u64 + 1, *link, d, &mut |p| {
            datagrams += 1;
            assert_eq!(p.transport, Transport::Udp);
            assert!(p.sport == 53 || p.dport == 53);
            assert_eq!(
                p.number,
                i as u64 + 1,
                "packet carries the completing fragment's number"
            );
            assert_eq!(
                p.payload.len() as u32,
                p.payload_len,
                "whole datagram captured"
            );
            assert_eq!(p.payload_len + 8, sums[&ident(&frames[i].2)]);
            assert_eq!(p.ip_len, p.payload_len + 8 + 20);
        });
    }
    dec.flush();
    let s = dec.stats();
    assert_eq!(s.reassembled, fragment_frames);
    assert_eq!(s.datagrams_reassembled, first_fragments);
    assert_eq!(datagrams, first_fragments);
    assert!(s.not_decoded.is_empty(), "{s:?}");
}

/// The fast path (`fast.rs`) gives what the general path gives on every
/// Ethernet frame of every shared capture, fragments and tunnels included.
#[test]
fn fast_path_agrees_with_the_general_path_on_every_capture() {
    let manifest = std::fs::read_to_string(format!("{CAPS}MANIFEST.tsv")).expect("manifest");
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let c_path = header.iter().position(|h| *h == "path").expect("path");
    let (mut frames, mut taken) = (0, 0);
    for line in lines {
        let Some(rel) = line.split('\t').nth(c_path) else {
            continue;
        };
        let eth: Vec<Vec<u8>> = read_capture(&format!("{CAPS}{rel}"))
            .into_iter()
            .filter(|(_, link, _)| *link == LinkType::ETHERNET)
            .map(|(_, _, d)| d)
            .collect();
        frames += eth.len();
        taken += super::fast::tests::assert_same(&eth);
    }
    assert!(frames > 10_000, "only {frames} Ethernet frames");
    assert!(
        taken * 2 > frames,
        "fast path took only {taken} of {frames}"
    );
}
