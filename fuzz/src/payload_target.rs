//! The payload parsers' fuzz target body (`fuzz_payload`), shared by the
//! cargo-fuzz binary and the stable corpus replay.
//!
//! Input: a selector byte, then the payload. The selector's low three bits
//! pick the port the payload arrives on (UDP 88 from a KDC, TCP 88 from a
//! KDC, UDP 53 from a resolver, UDP 53 to one, and for 4 to 7 a TLS
//! conversation on TCP 443); the parsers run on it directly, and a learner
//! watching the embedded catalogue's names sees it as a packet, then its
//! answer-less twin ten seconds on. For TLS the payload is split in two at
//! the big-endian u16 that starts it: the client's segment to an Entra ID
//! address, then the server's answer, then the answer's first half again
//! (bit 0 set: the server resets instead). Invariants: no panic, what a
//! parser prints is bounded and printable, and failures stay within their
//! caps.

use flowaudit::catalogue::Catalogue;
use flowaudit::decode::{Packet, TcpInfo, Transport};
use flowaudit::learn::{Learner, dns, failure, kerberos, tls};
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

/// Runs the TLS parsers on `p`: what they return lies within the bytes.
fn check_tls(p: &[u8]) {
    if let Some(h) = tls::client_hello(p) {
        assert!(h.sni.is_none_or(|s| s.len() < p.len()));
        assert!(!tls::version_name(h.max_version).is_empty());
    }
    let mut n = 0;
    tls::messages(p, &mut |m| {
        n += 1;
        if let tls::Message::Certificate { issuer: Some(i) } = m {
            for s in [i.organization, i.common_name].into_iter().flatten() {
                assert!(s.len() < p.len());
            }
        }
    });
    // At most one message per five bytes (a record header and a type).
    assert!(n <= p.len() / 5 + 1, "{n} messages from {} bytes", p.len());
}

/// See the module doc.
pub fn payload_bytes(data: &[u8]) {
    payload_failures(data);
}

/// [`payload_bytes`], returning the failures the learner found (for the
/// corpus replay to check that each seed reaches the path it was made for).
pub fn payload_failures(data: &[u8]) -> Vec<failure::Failure> {
    let Some((&sel, payload)) = data.split_first() else {
        return Vec::new();
    };
    check_tls(payload);
    if sel & 4 != 0 {
        return tls_conversation(sel & 1 != 0, payload);
    }
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
        let packet = packet(i, transport, (src, sport), (dst, dport), p, None);
        learner.observe(&packet);
    }
    check_learned(learner)
}

/// A client's segment and the server's answers through a learner.
fn tls_conversation(reset: bool, payload: &[u8]) -> Vec<failure::Failure> {
    let Some((split, rest)) = payload.split_first_chunk::<2>() else {
        return Vec::new();
    };
    let at = usize::from(u16::from_be_bytes(*split)).min(rest.len());
    let (hello, answer) = rest.split_at(at);
    let client: (IpAddr, u16) = ([10, 0, 1, 10].into(), 50_000);
    let server: (IpAddr, u16) = ([20, 190, 151, 7].into(), 443);
    let tcp = |flags| TcpInfo {
        flags,
        seq: 1,
        ack: 1,
        window: 512,
    };
    let (ack, rst) = (tcp(0x18), tcp(0x14));
    let mut learner = Learner::watching(catalogue().name_watch());
    let segments = [
        (client, server, hello, ack),
        (server, client, answer, ack),
        (
            server,
            client,
            &answer[..answer.len() / 2],
            if reset { rst } else { ack },
        ),
    ];
    for (i, (src, dst, p, t)) in segments.into_iter().enumerate() {
        learner.observe(&packet(i, Transport::Tcp, src, dst, p, Some(t)));
    }
    check_learned(learner)
}

/// The `i`th packet of a conversation, ten seconds after the one before.
fn packet<'a>(
    i: usize,
    transport: Transport,
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    p: &'a [u8],
    tcp: Option<TcpInfo>,
) -> Packet<'a> {
    Packet {
        number: 1 + i as u64,
        tcp,
        ..Packet::new(
            Timestamp(1_700_000_000_000_000_000 + i as i64 * 10_000_000_000),
            transport,
            (src, sport),
            (dst, dport),
            p,
        )
    }
}

/// The learner's failures stay within their caps and print bounded.
fn check_learned(mut learner: Learner) -> Vec<failure::Failure> {
    learner.capture_ended(Timestamp(1_700_000_100_000_000_000));
    let learned = learner.finish();
    assert!(learned.failures.len() <= failure::MAX_FAILURES);
    for f in &learned.failures {
        assert!(f.count >= 1 && f.first <= f.last, "{f:?}");
        assert!(f.detail.len() <= 2048, "{}", f.detail.len());
    }
    learned.failures
}
