//! Role inference on captures built with [`crate::synth`], without an inventory.

use super::*;
use crate::catalogue::Catalogue;
use crate::learn::Learner;
use crate::pipeline::{self, Options};
use crate::read::Source;
use crate::synth::payload::{self, Rdata};
use crate::synth::{Link, TcpSession, Trace, UdpSession};
use std::net::SocketAddr;

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("test address"), port)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

const DC1: &str = "10.0.0.4";
const DC2: &str = "10.0.0.5";
const SYNC: &str = "10.0.1.10";
const WORKSTATION: &str = "10.0.3.50";
const ADFS: &str = "10.0.2.20";
const WAP: &str = "192.168.100.30";
const USER1: &str = "198.51.100.7";
const USER2: &str = "198.51.100.8";
/// Not in the catalogue's ranges: azure only by its learned name.
const ADMIN_SVC: &str = "52.1.2.3";

struct Builder {
    t: Trace,
    port: u16,
    at: i64,
}

impl Builder {
    fn tcp(&mut self, src: &str, dst: &str, dport: u16, req: &[u8], resp: usize) {
        self.port += 1;
        self.at += 1_000_000_000;
        let mut s = TcpSession::new(sa(src, self.port), sa(dst, dport), 11, 22)
            .starting_at(crate::time::Timestamp(crate::synth::START.0 + self.at));
        s.handshake();
        if req.is_empty() {
            s.client_data(200);
        } else {
            s.client_send(req);
        }
        s.server_data(resp).close();
        self.t.add(&s);
    }
}

/// Two DCs, a sync server, AD FS, a WAP with two internet clients, a workstation.
fn deployment() -> Trace {
    let mut b = Builder {
        t: Trace::new(Link::ethernet()),
        port: 50_000,
        at: 0,
    };
    let dns = payload::dns_response(
        3,
        "adminwebservice.microsoftonline.com",
        &[
            (
                "adminwebservice.microsoftonline.com",
                Rdata::Cname("aws.prda.aadg.msidentity.com"),
            ),
            ("aws.prda.aadg.msidentity.com", Rdata::Addr(ip(ADMIN_SVC))),
        ],
    );
    let mut u = UdpSession::new(sa(SYNC, 53_000), sa(DC1, 53));
    u.client_send(&[0; 40]).server_send(&dns);
    b.t.add(&u);
    for dc in [DC1, DC2] {
        for port in [88, 389, 445] {
            b.tcp(SYNC, dc, port, &[], 900);
            b.tcp(WORKSTATION, dc, port, &[], 900);
        }
        b.tcp(SYNC, dc, 3268, &[], 300);
    }
    b.tcp(
        SYNC,
        ADMIN_SVC,
        443,
        &payload::client_hello("adminwebservice.microsoftonline.com"),
        4000,
    );
    b.tcp(
        USER1,
        WAP,
        443,
        &payload::client_hello("sts.contoso.com"),
        5000,
    );
    b.tcp(
        USER2,
        WAP,
        443,
        &payload::client_hello("sts.contoso.com"),
        5000,
    );
    b.tcp(
        USER2,
        WAP,
        49443,
        &payload::client_hello("certauth.sts.contoso.com"),
        3000,
    );
    b.tcp(
        WAP,
        ADFS,
        443,
        &payload::client_hello("sts.contoso.com"),
        4000,
    );
    b.t.sort();
    b.t
}

fn infer(trace: &Trace) -> (Inference, Catalogue) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.pcapng");
    trace.save(&path).expect("write capture");
    let mut learner = Learner::new();
    let mut obs = Observer::new(&Catalogue::embedded().expect("catalogue"));
    pipeline::run_observed(
        &[Source::Path(path)],
        &Options::default(),
        &mut |p| learner.observe(p),
        &mut |c| obs.connection(&c),
    );
    let cat = Catalogue::embedded().expect("catalogue");
    (obs.finish(&learner.finish(), &cat), cat)
}

fn role(inf: &Inference, addr: &str) -> Option<(Role, Confidence)> {
    inf.hosts
        .iter()
        .find(|h| h.addr == ip(addr))
        .map(|h| (h.role, h.confidence))
}

#[test]
fn every_role_of_a_deployment_without_inventory() {
    let (inf, _) = infer(&deployment());
    assert_eq!(role(&inf, DC1), Some((Role::Dc, Confidence::High)));
    assert_eq!(role(&inf, DC2), Some((Role::Dc, Confidence::High)));
    assert_eq!(role(&inf, SYNC), Some((Role::Sync, Confidence::High)));
    assert_eq!(role(&inf, ADMIN_SVC), Some((Role::Azure, Confidence::High)));
    assert_eq!(role(&inf, WAP), Some((Role::Wap, Confidence::High)));
    assert_eq!(role(&inf, ADFS).map(|r| r.0), Some(Role::Adfs));
    assert_eq!(role(&inf, USER1).map(|r| r.0), Some(Role::Users));
    assert_eq!(role(&inf, USER2).map(|r| r.0), Some(Role::Users));
    // A Kerberos/LDAP client without Microsoft traffic is nobody in particular.
    assert_eq!(role(&inf, WORKSTATION), None);
    let azure = inf
        .hosts
        .iter()
        .find(|h| h.addr == ip(ADMIN_SVC))
        .expect("azure");
    assert_eq!(
        azure.name.as_deref(),
        Some("adminwebservice.microsoftonline.com")
    );
    assert!(
        azure.evidence[0].contains("*.microsoftonline.com"),
        "{:?}",
        azure.evidence
    );
    let wap = inf.hosts.iter().find(|h| h.addr == ip(WAP)).expect("wap");
    assert!(
        wap.evidence
            .iter()
            .any(|e| e.contains("certauth.sts.contoso.com"))
    );
    let f = inf.feature_list();
    for want in [
        Feature::PasswordHashSync,
        Feature::SeamlessSso,
        Feature::Adfs,
        Feature::AdfsCertAuth,
    ] {
        assert!(f.contains(&want), "{want} missing from {f:?}");
    }
    assert!(!f.contains(&Feature::Ldaps), "no 636 in the capture");
    assert!(!f.contains(&Feature::AdfsGmsa));
}

#[test]
fn toml_is_an_inventory_that_round_trips() {
    let (inf, _) = infer(&deployment());
    let text = inf.to_toml();
    let parsed = Inventory::parse("roles.toml", &text).expect("the starter inventory parses");
    let direct = inf.inventory();
    assert_eq!(parsed.features, direct.features);
    assert!(!parsed.features_assumed);
    let mut a: Vec<(IpNet, Role)> = parsed.entries.iter().map(|e| (e.net, e.role)).collect();
    let mut b: Vec<(IpNet, Role)> = direct.entries.iter().map(|e| (e.net, e.role)).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(
        a.len(),
        8,
        "two DCs, sync, azure by name, AD FS, WAP, two users"
    );
}

#[test]
fn a_lone_ldap_server_is_only_a_low_guess_and_stays_out_of_the_inventory() {
    let mut b = Builder {
        t: Trace::new(Link::ethernet()),
        port: 50_000,
        at: 0,
    };
    b.tcp(WORKSTATION, DC1, 389, &[], 900);
    let (inf, _) = infer(&b.t);
    assert_eq!(role(&inf, DC1), Some((Role::Dc, Confidence::Low)));
    assert!(inf.inventory().entries.is_empty());
    let text = inf.to_toml();
    assert!(text.contains(&format!("# dc = [\"{DC1}\"]")), "{text}");
    let parsed = Inventory::parse("x.toml", &text).expect("parses");
    assert!(parsed.entries.is_empty());
}

#[test]
fn conflicts_with_the_inventory_are_reported_and_the_inventory_wins() {
    let (inf, _) = infer(&deployment());
    let inv = Inventory::parse(
        "inv.toml",
        &format!(
            "features = [\"password-hash-sync\"]\n[roles]\nsync = [\"{DC2}\"]\ndc = [\"{DC1}\"]\n"
        ),
    )
    .expect("inventory");
    let c = inf.conflicts(&inv);
    let said: Vec<&String> = c.iter().filter(|l| l.contains("inventory says")).collect();
    assert_eq!(said.len(), 1, "{c:?}");
    assert!(
        said[0].contains(DC2) && said[0].contains("is sync") && said[0].contains("looks like dc")
    );
    // Hosts the inventory leaves out are suggested, e.g. the WAP.
    assert!(
        c.iter()
            .any(|l| l.starts_with("not in the inventory: 192.168.100.30") && l.contains("wap"))
    );
    assert!(!c.iter().any(|l| l.contains(&format!("inventory: {DC1} "))));
}

/// Dynamic RPC: one port handed out by the DC's endpoint mapper, one not.
#[test]
fn rpc_ports_confirmed_by_the_endpoint_mapper_or_not() {
    use crate::classify::Classifier;
    let mut b = Builder {
        t: Trace::new(Link::ethernet()),
        port: 50_000,
        at: 0,
    };
    let resp = payload::epm_map_response(
        1,
        &[
            (49670, std::net::Ipv4Addr::new(10, 0, 0, 5)),
            (49671, std::net::Ipv4Addr::new(10, 0, 0, 5)),
        ],
    );
    b.port += 1;
    let mut s = TcpSession::new(sa(SYNC, b.port), sa(DC2, 135), 1, 2);
    s.handshake().client_data(100).server_send(&resp).close();
    b.t.add(&s);
    b.at += 5_000_000_000;
    b.tcp(SYNC, DC2, 49670, &[], 800);
    b.tcp(SYNC, DC1, 49680, &[], 800);
    b.t.sort();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.pcapng");
    b.t.save(&path).expect("write");
    let cat = Catalogue::embedded().expect("catalogue");
    let inv = Inventory::parse(
        "inv.toml",
        &format!("features = [\"password-hash-sync\"]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC1}\", \"{DC2}\"]\n"),
    )
    .expect("inventory");
    let mut learner = Learner::new();
    let mut obs = Observer::new(&Catalogue::embedded().expect("catalogue"));
    let mut cl = Classifier::new(&cat, &inv);
    pipeline::run_observed(
        &[Source::Path(path)],
        &Options::default(),
        &mut |p| learner.observe(p),
        &mut |c| {
            obs.connection(&c);
            cl.connection(&c);
        },
    );
    let learned = learner.finish();
    let mut audit = cl.finish(None);
    annotate(&mut audit, &learned, &obs, &cat);
    let ev: Vec<&String> = audit
        .findings
        .iter()
        .filter(|f| f.ports.as_deref() == Some("49152-65535"))
        .flat_map(|f| f.evidence.iter())
        .collect();
    assert!(
        ev.iter().any(|e| e.starts_with(&format!(
            "port 49670 handed out by the endpoint mapper of {DC2} at "
        ))),
        "{ev:#?}"
    );
    assert!(
        ev.iter().any(|e| e.starts_with(&format!(
            "port 49680 on {DC1} not confirmed by an endpoint mapper"
        ))),
        "{ev:#?}"
    );
    // 49671 was announced but never used: it produces no line.
    assert!(!ev.iter().any(|e| e.contains("49671")));
}

/// DC1 also has an IPv6 address; DNS gives both the same name.
#[test]
fn a_second_address_with_the_same_dns_name_gets_the_role() {
    let mut t = deployment();
    let dns = payload::dns_response(
        4,
        "dc1.contoso.local",
        &[
            ("dc1.contoso.local", Rdata::Addr(ip(DC1))),
            ("dc1.contoso.local", Rdata::Addr(ip("fd00::4"))),
        ],
    );
    let mut u = UdpSession::new(sa(WORKSTATION, 53_001), sa(DC1, 53));
    u.client_send(&[0; 40]).server_send(&dns);
    t.add(&u);
    let mut s = TcpSession::new(sa("fd00::1:10", 50_999), sa("fd00::4", 389), 1, 2);
    s.handshake().client_data(300).server_data(900).close();
    t.add(&s);
    t.sort();
    let (inf, _) = infer(&t);
    assert_eq!(role(&inf, "fd00::4"), Some((Role::Dc, Confidence::Medium)));
    let h = inf
        .hosts
        .iter()
        .find(|h| h.addr == ip("fd00::4"))
        .expect("alias");
    assert_eq!(
        h.evidence,
        vec![format!(
            "DNS gives fd00::4 the name dc1.contoso.local of {DC1} (dc)"
        )]
    );
    // The IPv6 LDAP client has no name and no Microsoft traffic: not inferred.
    assert_eq!(role(&inf, "fd00::1:10"), None);
}

/// A bare TCP connection `client` -> `server`:`port` with the given handshake.
fn conn(client: &str, server: &str, port: u16, handshake: Handshake) -> Connection {
    Connection {
        uid: "Ctest".into(),
        conn_state: "OTH",
        history: Default::default(),
        orig_ip_bytes: 0,
        resp_pkts: 1,
        handshake,
        ..Connection::unanswered_syn(crate::time::Timestamp(0), ip(client), ip(server), port)
    }
}

#[test]
fn repeated_connections_still_count() {
    let mut o = Observer::new(&Catalogue::embedded().expect("catalogue"));
    o.connection(&conn(SYNC, DC1, 389, Handshake::Unanswered));
    assert!(!o.answers(ip(DC1), 389));
    // The same client, server and port again: only the counters may change,
    // and they must.
    o.connection(&conn(SYNC, DC1, 389, Handshake::Established));
    o.connection(&conn(
        &format!("::ffff:{SYNC}"),
        DC1,
        389,
        Handshake::Unanswered,
    ));
    let n = o.counts(ip(DC1), 389).unwrap();
    assert_eq!((n.attempted, n.answered), (3, 1));
    let s = &o.served[&(ip(DC1), 389)];
    assert_eq!(s.clients.iter().copied().collect::<Vec<_>>(), [ip(SYNC)]);
    assert!(o.answers(ip(DC1), 389));
    // Dynamic RPC ports are remembered per port, also for repeats over UDP first.
    let mut udp = conn(SYNC, DC1, 49443, Handshake::Answered);
    udp.proto = Transport::Udp;
    o.connection(&udp);
    assert!(!o.dynamic.contains_key(&(ip(SYNC), ip(DC1))));
    o.connection(&conn(SYNC, DC1, 49443, Handshake::Established));
    o.connection(&conn(SYNC, DC1, 49700, Handshake::Established));
    let ports: Vec<u16> = o.dynamic[&(ip(SYNC), ip(DC1))].iter().copied().collect();
    assert_eq!(ports, [49443, 49700]);
    assert_eq!(o.counts(ip(DC1), 49443).unwrap().attempted, 2);
}

#[test]
fn a_full_observer_keeps_counting_the_hosts_it_has() {
    let mut o = Observer::new(&Catalogue::embedded().expect("catalogue"));
    // Fill the served map to its cap with distinct servers on port 53.
    for i in 0..MAX_HOSTS as u32 {
        let server = std::net::Ipv4Addr::from_bits(0x0a00_0000 | i).to_string();
        let mut c = conn(SYNC, &server, 53, Handshake::Answered);
        c.proto = Transport::Udp;
        o.connection(&c);
    }
    assert_eq!(o.served.len(), MAX_HOSTS);
    let mut first = conn(SYNC, "10.0.0.0", 53, Handshake::Answered);
    first.proto = Transport::Udp;
    o.connection(&first);
    assert_eq!(o.counts(ip("10.0.0.0"), 53).unwrap().attempted, 2);
    // A new server finds no room, now or later.
    o.connection(&conn(SYNC, "172.16.0.1", 389, Handshake::Established));
    o.connection(&conn(SYNC, "172.16.0.1", 389, Handshake::Established));
    assert!(!o.served.contains_key(&(ip("172.16.0.1"), 389)));
    assert!(!o.answers(ip("172.16.0.1"), 389));
}

/// A domain (two DCs) and one more host that talks LDAP to them and HTTPS
/// to login.microsoftonline.com (in the Entra ID range), like every
/// hybrid-joined Windows client; `extra` adds its other traffic.
fn client_of_entra(extra: &dyn Fn(&mut Builder)) -> Trace {
    let mut b = Builder {
        t: Trace::new(Link::ethernet()),
        port: 50_000,
        at: 0,
    };
    for dc in [DC1, DC2] {
        for port in [88, 389, 445] {
            b.tcp(WORKSTATION, dc, port, &[], 900);
        }
    }
    b.tcp(
        WORKSTATION,
        "20.190.128.10",
        443,
        &payload::client_hello("login.microsoftonline.com"),
        4000,
    );
    extra(&mut b);
    b.t.sort();
    b.t
}

/// Issue 20, item 2: LDAP to a DC and HTTPS to login.microsoftonline.com
/// fits every Windows 10/11 client: not enough for the sync server.
#[test]
fn a_hybrid_joined_workstation_is_not_the_sync_server() {
    let (inf, _) = infer(&client_of_entra(&|_| {}));
    assert_eq!(role(&inf, WORKSTATION), Some((Role::Sync, Confidence::Low)));
    assert!(
        inf.inventory().role_of(ip(WORKSTATION)).is_none(),
        "low guesses stay out"
    );
    let h = inf
        .hosts
        .iter()
        .find(|h| h.addr == ip(WORKSTATION))
        .expect("host");
    assert!(
        h.evidence
            .iter()
            .any(|e| e.contains("any domain-joined Windows client")),
        "{:?}",
        h.evidence
    );

    // Teams and Outlook besides: a workstation, whatever else it does.
    let office = |b: &mut Builder| {
        for name in ["outlook.office365.com", "eu.teams.microsoft.com"] {
            b.tcp(
                WORKSTATION,
                "52.97.1.1",
                443,
                &payload::client_hello(name),
                3000,
            );
        }
    };
    let (inf, _) = infer(&client_of_entra(&office));
    assert_eq!(role(&inf, WORKSTATION), Some((Role::Sync, Confidence::Low)));
}

/// What only a sync server does makes it one: the sync engine's endpoint
/// (high), or a directory import over LDAP, or replication over RPC (medium).
#[test]
fn sync_specific_evidence_makes_the_sync_server() {
    let admin = |b: &mut Builder| {
        b.tcp(
            WORKSTATION,
            "20.190.128.11",
            443,
            &payload::client_hello("adminwebservice.microsoftonline.com"),
            4000,
        );
    };
    let (inf, _) = infer(&client_of_entra(&admin));
    assert_eq!(
        role(&inf, WORKSTATION),
        Some((Role::Sync, Confidence::High))
    );

    let import = |b: &mut Builder| b.tcp(WORKSTATION, DC1, 389, &[], 300 * 1024);
    let (inf, _) = infer(&client_of_entra(&import));
    assert_eq!(
        role(&inf, WORKSTATION),
        Some((Role::Sync, Confidence::Medium))
    );

    let drs = |b: &mut Builder| {
        b.tcp(WORKSTATION, DC1, 135, &[], 200);
        b.tcp(WORKSTATION, DC1, 49_668, &[], 2000);
    };
    let (inf, _) = infer(&client_of_entra(&drs));
    assert_eq!(
        role(&inf, WORKSTATION),
        Some((Role::Sync, Confidence::Medium))
    );

    // The sync engine's endpoint, but Outlook too: medium, not high.
    let both = |b: &mut Builder| {
        admin(b);
        b.tcp(
            WORKSTATION,
            "52.97.1.1",
            443,
            &payload::client_hello("outlook.office365.com"),
            3000,
        );
    };
    let (inf, _) = infer(&client_of_entra(&both));
    assert_eq!(
        role(&inf, WORKSTATION),
        Some((Role::Sync, Confidence::Medium))
    );
}

const AGENT: &str = "10.0.1.20";
const LB: &str = "10.0.2.5";
const WAP2: &str = "192.168.100.31";
/// An address outside the catalogue's ranges: the agent's endpoint only by name.
const RELAY: &str = "52.2.3.4";

/// The deployment, plus an agent server that talks to its relay by name
/// (and LDAP to a DC, as a Cloud Sync agent does), a load balancer that
/// probes the AD FS server and the WAPs on 80, and a workstation that opens
/// an application published on msappproxy.net beside Outlook.
fn with_agents() -> Trace {
    let mut t = deployment();
    let mut b = Builder {
        t: Trace::new(Link::ethernet()),
        port: 60_000,
        at: 100_000_000_000,
    };
    let relay = "contoso.connector.his.msappproxy.net";
    b.tcp(AGENT, DC1, 389, &[], 900);
    b.tcp(AGENT, RELAY, 443, &payload::client_hello(relay), 4000);
    b.tcp(
        USER1,
        WAP2,
        443,
        &payload::client_hello("sts.contoso.com"),
        5000,
    );
    b.tcp(
        WAP2,
        ADFS,
        443,
        &payload::client_hello("sts.contoso.com"),
        4000,
    );
    for server in [ADFS, WAP, WAP2] {
        b.tcp(
            LB,
            server,
            80,
            b"GET /adfs/probe HTTP/1.1\r\nHost: sts.contoso.com\r\n\r\n",
            200,
        );
    }
    b.tcp(
        WORKSTATION,
        RELAY,
        443,
        &payload::client_hello("app-contoso.msappproxy.net"),
        4000,
    );
    b.tcp(
        WORKSTATION,
        "52.96.1.1",
        443,
        &payload::client_hello("outlook.office365.com"),
        4000,
    );
    // A host that asks AD FS on 80 once: too little for a load balancer.
    b.tcp("10.0.3.77", ADFS, 80, &[], 200);
    for (ts, frame) in b.t.frames() {
        t.push_frame(*ts, frame.clone());
    }
    t.sort();
    t
}

#[test]
fn agent_servers_and_load_balancers_by_behaviour() {
    let (inf, _) = infer(&with_agents());
    assert_eq!(role(&inf, AGENT), Some((Role::Agent, Confidence::Medium)));
    assert_eq!(role(&inf, LB), Some((Role::Lb, Confidence::Medium)));
    assert_eq!(role(&inf, "10.0.3.77"), Some((Role::Lb, Confidence::Low)));
    // The sync server also talks to the names, and keeps its role; the
    // workstation that uses a published app is no agent server.
    assert_eq!(role(&inf, SYNC), Some((Role::Sync, Confidence::High)));
    assert_ne!(role(&inf, WORKSTATION).map(|r| r.0), Some(Role::Agent));
    let agent = inf.hosts.iter().find(|h| h.addr == ip(AGENT)).unwrap();
    assert!(
        agent.evidence[0].contains("contoso.connector.his.msappproxy.net"),
        "{:?}",
        agent.evidence
    );
    // The starter inventory carries both roles and reads back.
    let text = inf.to_toml();
    let parsed = Inventory::parse("roles.toml", &text).expect("parses");
    assert_eq!(
        parsed.role_of(ip(AGENT)).map(|e| e.role),
        Some(Role::Agent),
        "{text}"
    );
    assert_eq!(
        parsed.role_of(ip(LB)).map(|e| e.role),
        Some(Role::Lb),
        "{text}"
    );
    assert!(
        parsed.role_of(ip("10.0.3.77")).is_none(),
        "low guesses are commented out"
    );
}
