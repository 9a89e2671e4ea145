//! The payload parsers' fuzz target body (`fuzz_payload`), shared by the
//! cargo-fuzz binary and the stable corpus replay.
//!
//! Input: a selector byte, then the payload. The selector's low two bits pick
//! the port the payload arrives on (UDP 88 from a KDC, TCP 88 from a KDC, UDP
//! 53 from a resolver, UDP 53 to one); the parsers run on it directly, and a
//! learner watching the embedded catalogue's names sees it as a packet, then
//! its answer-less twin ten seconds on. Invariants: no panic, what a parser
//! prints is bounded and printable, and failures stay within their caps.

use flowaudit::catalogue::Catalogue;
use flowaudit::decode::{Packet, Transport};
use flowaudit::learn::{Learner, dns, failure, kerberos};
use flowaudit::time::Timestamp;
use std::net::IpAddr;
use std::sync::OnceLock;

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(|| Catalogue::embedded().expect("embedded catalogue"))
}

fn printable_and_bounded(s: &str, max: usize) {
    assert!(s.len() <= max, "{} bytes: {s:?}", s.len());
    assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s:?}");
}

/// Checks a KRB-ERROR the parser read: principals print bounded and plain.
fn check_krb(msg: &[u8]) {
    if let Some(e) = kerberos::krb_error(msg) {
        // 128 bytes per component and realm, and at most the components
        // the bytes could hold.
        let max = (msg.len() + 1) * 129;
        if let Some(c) = e.cname {
            printable_and_bounded(&c.display(e.crealm), max);
        }
        if let Some(s) = e.sname {
            printable_and_bounded(&s.display(e.realm), max);
        }
    }
}

/// See the module doc.
pub fn payload_bytes(data: &[u8]) {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    check_krb(payload);
    if let Some(m) = kerberos::tcp_record(payload) {
        assert!(m.len() + 4 <= payload.len());
        check_krb(m);
    }
    if let Some(q) = dns::question(payload) {
        assert!(q.name.as_bytes().len() <= 255, "{:?}", q.name.as_bytes());
    }
    let (kdc, client): (IpAddr, IpAddr) = ([10, 0, 0, 4].into(), [10, 0, 1, 10].into());
    let (transport, (src, sport), (dst, dport)) = match sel & 3 {
        0 => (Transport::Udp, (kdc, 88), (client, 50_000)),
        1 => (Transport::Tcp, (kdc, 88), (client, 50_000)),
        2 => (Transport::Udp, (kdc, 53), (client, 50_000)),
        _ => (Transport::Udp, (client, 50_000), (kdc, 53)),
    };
    let mut learner = Learner::watching(catalogue().name_watch());
    for (i, p) in [payload, &payload[..payload.len() / 2]]
        .into_iter()
        .enumerate()
    {
        let packet = Packet {
            ts: Timestamp(1_700_000_000_000_000_000 + i as i64 * 10_000_000_000),
            number: 1 + i as u64,
            transport,
            src,
            dst,
            sport,
            dport,
            ip_len: 0,
            payload_len: p.len() as u32,
            payload: p,
            tcp: None,
            icmp: None,
            vlan: None,
            inner_vlan: None,
            tunnel_depth: 0,
            input: 0,
            copy: false,
            header_only: false,
            ntp_mode: 0,
        };
        learner.observe(&packet);
    }
    learner.capture_ended(Timestamp(1_700_000_100_000_000_000));
    let learned = learner.finish();
    assert!(learned.failures.len() <= failure::MAX_FAILURES);
    for f in &learned.failures {
        assert!(f.count >= 1 && f.first <= f.last, "{f:?}");
        assert!(f.detail.len() <= 2048, "{}", f.detail.len());
    }
}
