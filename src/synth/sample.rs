//! The bundled sample: a small hybrid-identity deployment seen from the Entra
//! Connect sync server's switch port, with a few faults of different kinds.
//!
//! `samples/hybrid-identity.pcapng` is exactly [`hybrid_identity`] written as
//! pcapng; a test keeps the two identical (`FLOWAUDIT_BLESS=1 cargo test` rewrites
//! the file after a deliberate change). [`FAULTS`] lists what the capture holds
//! that an engineer should be told about, so tests can check reports against it.

use super::payload::{self, Rdata, padded};
use super::{Conversation, Link, START, TcpSession, Trace, UdpSession, icmp_error};
use crate::time::{Duration, Timestamp};
use std::net::{IpAddr, SocketAddr};

/// The Entra Connect (Azure AD Connect) sync server.
pub const SYNC: &str = "10.0.1.10";
/// The sync server's IPv6 address.
pub const SYNC6: &str = "fd00::1:10";
/// First domain controller (healthy).
pub const DC1: &str = "10.0.0.4";
/// First domain controller's IPv6 address.
pub const DC1_6: &str = "fd00::4";
/// Second domain controller (behind a firewall that drops some ports).
pub const DC2: &str = "10.0.0.5";
/// AD FS federation server.
pub const ADFS: &str = "10.0.2.20";
/// Web Application Proxy in the perimeter network.
pub const WAP: &str = "192.168.100.30";
/// An internet client of the WAP.
pub const USER: &str = "203.0.113.50";
/// login.microsoftonline.com-style Entra ID endpoint (20.190.128.0/18).
pub const AZURE_LOGIN: &str = "20.190.128.10";
/// Another Entra ID endpoint (40.126.0.0/18).
pub const AZURE_ADMIN: &str = "40.126.0.20";
/// A Service Bus endpoint for the Connect Health agent (not in the Entra ranges).
pub const SERVICE_BUS: &str = "52.168.10.20";
/// The name the Connect Health agent resolves and connects to for Service Bus.
pub const SERVICE_BUS_NAME: &str = "contoso-health.servicebus.windows.net";
/// The federation service name (AD FS, published by the WAP).
pub const FS_NAME: &str = "sts.contoso.com";
/// The router between the server VLAN and the DC VLAN, which sends ICMP prohibitions.
pub const ROUTER: &str = "10.0.1.1";

/// One fault the sample holds: who tried what, and what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Originator address.
    pub src: &'static str,
    /// Responder address.
    pub dst: &'static str,
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Responder port.
    pub port: u16,
    /// flowaudit's handshake verdict for it.
    pub handshake: &'static str,
    /// Why it is in the sample.
    pub what: &'static str,
}

/// The faults in the sample, in the order they happen.
pub const FAULTS: [Fault; 6] = [
    Fault {
        src: SYNC,
        dst: DC2,
        proto: "tcp",
        port: 3268,
        handshake: "rejected",
        what: "Global Catalog works on DC1 but DC2 answers SYN with RST",
    },
    Fault {
        src: SYNC,
        dst: DC2,
        proto: "tcp",
        port: 445,
        handshake: "unanswered",
        what: "SMB to DC2 silently dropped: SYN retransmitted twice",
    },
    Fault {
        src: SYNC,
        dst: DC2,
        proto: "tcp",
        port: 636,
        handshake: "icmp-unreachable",
        what: "LDAPS to DC2 refused by the router with ICMP 3/13",
    },
    Fault {
        src: SYNC,
        dst: DC2,
        proto: "udp",
        port: 53,
        handshake: "unanswered",
        what: "DNS queries to DC2 never answered",
    },
    Fault {
        src: SYNC,
        dst: SERVICE_BUS,
        proto: "tcp",
        port: 5671,
        handshake: "unanswered",
        what: "Connect Health agent cannot reach Service Bus on 5671 (falls back to 443)",
    },
    Fault {
        src: USER,
        dst: WAP,
        proto: "tcp",
        port: 49443,
        handshake: "rejected",
        what: "certificate authentication port closed on the WAP",
    },
];

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(
        ip.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        port,
    )
}

/// Builds the sample trace (Ethernet, about 450 packets over 31 minutes, never
/// silent for more than 100 s).
pub fn hybrid_identity() -> Trace {
    let mut t = Trace::new(Link::ethernet());
    let mut at = START;
    let mut next_port = 49_800u16;
    let mut step = |secs: i64| {
        at = Timestamp(at.0 + secs * 1_000_000_000);
        at
    };
    let mut port = || {
        next_port += 1;
        next_port
    };
    let ms = |n: i64| Duration(n * 1_000_000);

    // A healthy TCP exchange: handshake, request, response, close.
    let ok = |t: &mut Trace,
              ts: Timestamp,
              src: &str,
              sport: u16,
              dst: &str,
              dport: u16,
              req: usize,
              resp: usize| {
        let mut s = TcpSession::new(
            sa(src, sport),
            sa(dst, dport),
            u32::from(sport).wrapping_mul(7919),
            u32::from(dport).wrapping_mul(104_729),
        )
        .starting_at(ts)
        .gap(ms(2));
        s.handshake().client_data(req).server_data(resp).close();
        t.add(&s);
    };
    // Like `ok`, with a crafted request (padded to `req` bytes) and, when
    // given, a crafted response instead of `resp` deterministic bytes.
    let ok_payload = |t: &mut Trace,
                      ts: Timestamp,
                      (src, sport): (&str, u16),
                      (dst, dport): (&str, u16),
                      req: (Vec<u8>, usize),
                      resp: Result<Vec<u8>, usize>| {
        let mut s = TcpSession::new(
            sa(src, sport),
            sa(dst, dport),
            u32::from(sport).wrapping_mul(7919),
            u32::from(dport).wrapping_mul(104_729),
        )
        .starting_at(ts)
        .gap(ms(2));
        s.handshake().client_send(&padded(req.0, req.1));
        match resp {
            Ok(r) => s.server_send(&r),
            Err(n) => s.server_data(n),
        };
        s.close();
        t.add(&s);
    };
    // A DNS query from the sync server; `answer` is the response (padded to 120 bytes).
    let dns = |t: &mut Trace, ts: Timestamp, sport: u16, dst: &str, answer: Option<Vec<u8>>| {
        let mut u = UdpSession::new(sa(SYNC, sport), sa(dst, 53))
            .starting_at(ts)
            .gap(ms(1));
        u.request(41);
        match answer {
            Some(a) => u.server_send(&padded(a, 120)),
            None => u.wait(Duration::from_secs(1)).request(41),
        };
        t.add(&u);
    };
    let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let service_bus_answer = payload::dns_response(
        0x5b01,
        SERVICE_BUS_NAME,
        &[(SERVICE_BUS_NAME, Rdata::Addr(ip(SERVICE_BUS)))],
    );
    let login_answer = payload::dns_response(
        0x5b02,
        "login.microsoftonline.com",
        &[
            (
                "login.microsoftonline.com",
                Rdata::Cname("ak.msidentity.com"),
            ),
            ("ak.msidentity.com", Rdata::Addr(ip(AZURE_LOGIN))),
        ],
    );
    // The endpoint mapper of DC1 hands out 49668 (DRSUAPI, password hash sync).
    let epm = || payload::epm_map_response(2, &[(49_668, std::net::Ipv4Addr::new(10, 0, 0, 4))]);
    let hello = |name: &str, n: usize| (payload::client_hello(name), n);

    // Sync cycle 1: DNS, Kerberos, LDAP import from DC1, RPC for password hash sync.
    dns(&mut t, step(1), port(), DC1, Some(service_bus_answer));
    ok(&mut t, step(1), SYNC, port(), DC1, 88, 1400, 1500);
    ok(&mut t, step(1), SYNC, port(), DC1, 389, 900, 12_000);
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        (DC1, 135),
        (Vec::new(), 160),
        Ok(epm()),
    );
    ok(&mut t, step(1), SYNC, port(), DC1, 49_668, 600, 9_000);
    ok(&mut t, step(1), SYNC, port(), DC1, 3268, 300, 2_000);
    ok(&mut t, step(1), SYNC, port(), DC1, 445, 500, 800);
    ok(&mut t, step(1), SYNC6, port(), DC1_6, 389, 700, 5_000);
    // Export to Entra ID, CRL check.
    ok_payload(
        &mut t,
        step(2),
        (SYNC, port()),
        (AZURE_LOGIN, 443),
        hello("login.microsoftonline.com", 2_000),
        Err(6_000),
    );
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        (AZURE_ADMIN, 443),
        hello("adminwebservice.microsoftonline.com", 30_000),
        Err(4_000),
    );
    let crl = payload::http_request(
        "GET",
        "/pki/crl/products/MicRooCerAut2011_2011_03_22.crl",
        "crl.microsoft.com",
    );
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        ("93.184.220.29", 80),
        (crl, 200),
        Err(900),
    );
    // AD FS management and the WAP path.
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        (ADFS, 443),
        hello(FS_NAME, 800),
        Err(3_000),
    );
    ok(&mut t, step(1), SYNC, port(), ADFS, 5985, 1_200, 900);
    ok_payload(
        &mut t,
        step(1),
        (WAP, 50_100),
        (ADFS, 443),
        hello(FS_NAME, 1_500),
        Err(4_000),
    );
    ok_payload(
        &mut t,
        step(1),
        (USER, 61_000),
        (WAP, 443),
        hello(FS_NAME, 1_000),
        Err(5_000),
    );
    // Someone RDPs from the sync server to DC1: not a catalogue flow.
    ok(&mut t, step(1), SYNC, port(), DC1, 3389, 4_000, 40_000);

    // Faults (see FAULTS). DC2: Global Catalog rejected, while LDAP works.
    ok(&mut t, step(5), SYNC, port(), DC2, 389, 900, 8_000);
    let mut gc = TcpSession::new(sa(SYNC, port()), sa(DC2, 3268), 4242, 0).starting_at(step(1));
    gc.reject();
    t.add(&gc);
    let mut smb = TcpSession::new(sa(SYNC, port()), sa(DC2, 445), 5151, 0).starting_at(step(1));
    smb.unanswered(2, Duration::from_secs(3));
    t.add(&smb);
    let mut ldaps = TcpSession::new(sa(SYNC, port()), sa(DC2, 636), 6363, 0).starting_at(step(10));
    ldaps.syn();
    t.add(&ldaps);
    if let (Some(first), Ok(router)) = (ldaps.packets().first(), ROUTER.parse::<IpAddr>()) {
        t.push_ip(
            Timestamp(first.ts.0 + 400_000),
            &icmp_error(router, 3, 13, &first.ip),
        );
    }
    dns(&mut t, step(2), port(), DC2, None);
    let mut hb =
        TcpSession::new(sa(SYNC, port()), sa(SERVICE_BUS, 5671), 5671, 0).starting_at(step(2));
    hb.unanswered(2, Duration::from_secs(3));
    t.add(&hb);
    ok_payload(
        &mut t,
        step(10),
        (SYNC, port()),
        (SERVICE_BUS, 443),
        hello(SERVICE_BUS_NAME, 3_000),
        Err(500),
    );
    let mut cert =
        TcpSession::new(sa(USER, 61_001), sa(WAP, 49_443), 9_443, 0).starting_at(step(1));
    cert.reject();
    t.add(&cert);

    // Between the cycles, password hash sync polls DC1 for changes every
    // couple of minutes (MS-DRSR over the RPC port the endpoint mapper gave).
    for _ in 0..18 {
        ok(&mut t, step(100), SYNC, port(), DC1, 49_668, 300, 1_200);
    }
    // Sync cycle 2, 30 minutes later: the same healthy flows to DC1 and Entra ID.
    dns(&mut t, step(1), port(), DC1, Some(login_answer));
    ok(&mut t, step(1), SYNC, port(), DC1, 88, 1400, 1500);
    ok(&mut t, step(1), SYNC, port(), DC1, 389, 900, 6_000);
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        (DC1, 135),
        (Vec::new(), 160),
        Ok(epm()),
    );
    ok(&mut t, step(1), SYNC, port(), DC1, 49_668, 600, 3_000);
    ok_payload(
        &mut t,
        step(2),
        (SYNC, port()),
        (AZURE_LOGIN, 443),
        hello("login.microsoftonline.com", 2_000),
        Err(6_000),
    );
    ok_payload(
        &mut t,
        step(1),
        (SYNC, port()),
        (AZURE_ADMIN, 443),
        hello("adminwebservice.microsoftonline.com", 8_000),
        Err(2_000),
    );
    t.sort();
    t
}
