//! Why a flow fails, not only where (issue 17): Kerberos errors, failed
//! DC locator lookups and failed TLS handshakes audited end to end on captures the synth builder
//! writes, so what happened on the wire is known. Each failure has a
//! negative beside it: the normal error, the name nobody needs, the
//! locator's fallback that worked. Expected values come from RFC 4120's
//! error codes, the catalogue's `[[lookup]]` entries and the test's own
//! inventory, never from a previous run.

mod common;

use flowaudit::synth::payload::{
    CertSpec, KrbErrorSpec, Rdata, client_hello, client_hello_versions, dns_failure, dns_query,
    dns_response, krb_error, server_alert, server_hello_certificate,
};
use flowaudit::synth::{Link, TcpSession, Trace, UdpSession};
use flowaudit::time::{Duration, Timestamp};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

const SYNC: &str = "10.0.1.10";
const DC: &str = "10.0.0.4";
/// A host no inventory lists.
const STRANGER: &str = "10.9.9.9";
const LOCATOR: &str = "_ldap._tcp.dc._msdcs.corp.example";
const SRV: u16 = 33;

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("address"), port)
}

fn at(secs: i64) -> Timestamp {
    Timestamp(flowaudit::synth::START.0 + secs * 1_000_000_000)
}

/// One working TCP connection from `c` to `s:port`, `secs` into the capture.
fn works(t: &mut Trace, c: &str, cport: u16, s: &str, port: u16, secs: i64) {
    let mut x = TcpSession::new(sa(c, cport), sa(s, port), 1, 2).starting_at(at(secs));
    x.handshake().client_data(300).server_data(900).close();
    t.add(&x);
}

/// The sync server's LDAP and cloud flows for two minutes, with Kerberos
/// over TCP working when `kerberos_tcp`.
fn background(t: &mut Trace, kerberos_tcp: bool) {
    for i in 0..5u16 {
        let (p, secs) = (40_000 + i * 10, i64::from(i) * 30);
        works(t, SYNC, p, DC, 389, secs);
        works(t, SYNC, p + 3, "20.190.151.7", 443, secs);
        if kerberos_tcp {
            works(t, SYNC, p + 1, DC, 88, secs);
        }
    }
}

/// A KDC's error to the sync server's request, over UDP, `secs` in.
fn udp_krb_error(t: &mut Trace, cport: u16, secs: i64, spec: &KrbErrorSpec<'_>) {
    let mut u = UdpSession::new(sa(SYNC, cport), sa(DC, 88)).starting_at(at(secs));
    u.request(220).server_send(&krb_error(spec));
    t.add(&u);
}

/// A KRB-ERROR as a Windows KDC sends it, to the sync server's account.
fn spec(code: i32, secs: i64) -> KrbErrorSpec<'static> {
    KrbErrorSpec {
        code,
        stime: at(secs),
        susec: 0,
        ctime: Some(at(secs)),
        crealm: Some("CORP.EXAMPLE"),
        cname: Some(&["MSOL_0123abcd4567"]),
        realm: "CORP.EXAMPLE",
        sname: &["krbtgt", "CORP.EXAMPLE"],
    }
}

/// One lookup of `name` from the sync server to the DC: `rcode` answers it
/// with an error, `None` with one address.
fn lookup(t: &mut Trace, cport: u16, id: u16, name: &str, secs: i64, rcode: Option<u8>) {
    let mut u = UdpSession::new(sa(SYNC, cport), sa(DC, 53)).starting_at(at(secs));
    u.client_send(&dns_query(id, name, SRV));
    match rcode {
        Some(rc) => u.server_send(&dns_failure(id, name, SRV, rc)),
        None => u.server_send(&dns_response(
            id,
            name,
            &[(name, Rdata::Addr(DC.parse().expect("address")))],
        )),
    };
    t.add(&u);
}

fn inventory() -> String {
    format!("features = [\"password-hash-sync\"]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC}\"]\n")
}

/// `flowaudit audit --format <format>` of the trace with the test's inventory.
fn run(dir: &Path, t: &mut Trace, format: &str) -> String {
    t.sort();
    let (cap, inv) = (dir.join("capture.pcap"), dir.join("inventory.toml"));
    std::fs::write(&cap, t.to_pcap()).expect("write capture");
    std::fs::write(&inv, inventory()).expect("write inventory");
    let out = common::flowaudit()
        .args(["audit", "--fail-on", "never", "-f", format, "-i"])
        .arg(&inv)
        .arg(&cap)
        .env("NO_COLOR", "1")
        .output()
        .expect("run flowaudit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The JSON report, checked against the documented schema.
fn audit(t: &mut Trace) -> Value {
    audit_kept(t).0
}

/// [`audit`], with the directory holding `capture.pcap` kept for tshark.
fn audit_kept(t: &mut Trace) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc: Value = serde_json::from_str(&run(dir.path(), t, "json")).expect("JSON report");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    (doc, dir)
}

fn failed(doc: &Value) -> Vec<&Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "failed")
        .collect()
}

/// The one failed finding, checked against its how, rule and transport.
fn the_failure<'a>(doc: &'a Value, how: &str, rule: &str, transport: &str) -> &'a Value {
    let f = failed(doc);
    assert_eq!(f.len(), 1, "one failed finding: {f:#?}");
    let f = f[0];
    assert_eq!(f["how"], how, "{f:#}");
    assert_eq!(f["rule"], rule, "{f:#}");
    assert_eq!(f["transport"], transport, "{f:#}");
    assert_eq!(f["src_role"], "sync", "{f:#}");
    assert_eq!(f["dst_role"], "dc", "{f:#}");
    f
}

fn evidence(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| e.as_str().expect("text"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn clock_skew_names_the_offset_and_the_clock() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // The DC is 7 minutes ahead of the time the sync server's request gave,
    // twice.
    for (i, secs) in [10, 70].into_iter().enumerate() {
        let s = KrbErrorSpec {
            stime: at(secs + 420),
            ctime: Some(at(secs)),
            ..spec(37, secs)
        };
        udp_krb_error(&mut t, 50_000 + i as u16, secs, &s);
    }
    let doc = audit(&mut t);
    let f = the_failure(&doc, "kerberos-clock-skew", "t1-kerberos", "udp");
    assert_eq!(f["count"], 2);
    assert_eq!(f["port"], 88);
    let ev = evidence(f);
    assert!(ev.contains("7 min 0 s ahead of the client's clock"), "{ev}");
    assert!(ev.contains("more than the 5 minutes"), "{ev}");
    assert!(ev.contains("W32Time"), "advice: {ev}");
    let filter = f["wireshark_filter"].as_str().expect("filter");
    assert!(filter.contains("kerberos.error_code==37"), "{filter}");
    assert!(filter.contains(&format!("ip.addr=={SYNC}")), "{filter}");
}

#[test]
fn skew_without_the_clients_time_is_measured_against_the_capture() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    let s = KrbErrorSpec {
        stime: at(10 - 3600),
        ctime: None,
        ..spec(37, 10)
    };
    udp_krb_error(&mut t, 50_000, 10, &s);
    let doc = audit(&mut t);
    let f = the_failure(&doc, "kerberos-clock-skew", "t1-kerberos", "udp");
    let ev = evidence(f);
    assert!(ev.contains("60 min 0 s behind the capture's clock"), "{ev}");
}

#[test]
fn the_connector_account_unknown_to_the_kdc() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // Over TCP: the record's length comes first.
    let mut x = TcpSession::new(sa(SYNC, 50_100), sa(DC, 88), 7, 9).starting_at(at(20));
    let body = krb_error(&spec(6, 20));
    let mut rec = (body.len() as u32).to_be_bytes().to_vec();
    rec.extend_from_slice(&body);
    x.handshake().client_data(250).server_send(&rec).close();
    t.add(&x);
    let doc = audit(&mut t);
    let f = the_failure(&doc, "kerberos-principal-unknown", "t1-kerberos", "tcp");
    let ev = evidence(f);
    assert!(
        ev.contains("KDC_ERR_C_PRINCIPAL_UNKNOWN MSOL_0123abcd4567@CORP.EXAMPLE"),
        "{ev}"
    );
    assert!(ev.contains("AD DS connector account"), "advice: {ev}");
}

#[test]
fn an_unknown_service_names_the_service_principal() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    let s = KrbErrorSpec {
        sname: &["ldap", "dc9.corp.example"],
        ..spec(7, 30)
    };
    udp_krb_error(&mut t, 50_000, 30, &s);
    let doc = audit(&mut t);
    let f = the_failure(&doc, "kerberos-principal-unknown", "t1-kerberos", "udp");
    let ev = evidence(f);
    assert!(
        ev.contains("KDC_ERR_S_PRINCIPAL_UNKNOWN ldap/dc9.corp.example@CORP.EXAMPLE"),
        "{ev}"
    );
}

#[test]
fn normal_kerberos_errors_are_not_failures() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // Pre-authentication required: every Windows logon starts with it.
    udp_krb_error(&mut t, 50_000, 10, &spec(25, 10));
    // A KRB-ERROR to a host outside the inventory is not the deployment's.
    let mut u = UdpSession::new(sa(STRANGER, 50_001), sa(DC, 88)).starting_at(at(20));
    u.request(200).server_send(&krb_error(&spec(37, 20)));
    t.add(&u);
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new());
}

#[test]
fn response_too_big_then_tcp_88_blocked() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, false);
    udp_krb_error(&mut t, 50_000, 10, &spec(52, 10));
    // The client retries over TCP, and the SYN is never answered.
    let mut x = TcpSession::new(sa(SYNC, 50_001), sa(DC, 88), 7, 9).starting_at(at(10));
    x.unanswered(2, Duration::from_secs(1));
    t.add(&x);
    let doc = audit(&mut t);
    let f = the_failure(&doc, "kerberos-tcp-blocked", "t1-kerberos", "tcp");
    let ev = evidence(f);
    assert!(ev.contains("KRB_ERR_RESPONSE_TOO_BIG"), "{ev}");
    assert!(ev.contains("UDP 88 works, TCP 88 is blocked"), "{ev}");
    let filter = f["wireshark_filter"].as_str().expect("filter");
    assert!(filter.contains("kerberos.error_code==52"), "{filter}");
    // The blocked handshake is its own finding too.
    let blocked = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|b| b["kind"] == "blocked" && b["port"] == 88 && b["transport"] == "tcp");
    assert!(blocked, "{doc:#}");
}

#[test]
fn response_too_big_then_tcp_88_working_is_no_failure() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    udp_krb_error(&mut t, 50_000, 10, &spec(52, 10));
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new());
}

#[test]
fn locator_nxdomain_and_servfail_break_the_rules_they_serve() {
    for (rcode, how) in [
        (3, "dns-nxdomain"),
        (2, "dns-servfail"),
        (5, "dns-servfail"),
    ] {
        let mut t = Trace::new(Link::ethernet());
        background(&mut t, true);
        lookup(&mut t, 50_000, 1, LOCATOR, 10, Some(rcode));
        lookup(&mut t, 50_001, 2, LOCATOR, 40, Some(rcode));
        let doc = audit(&mut t);
        let f = the_failure(&doc, how, "t1-ldap", "udp");
        assert_eq!(f["port"], 53);
        assert_eq!(f["count"], 2, "{f:#}");
        let ev = evidence(f);
        assert!(ev.contains(&format!("{LOCATOR} SRV")), "{ev}");
        assert!(ev.contains("DC locator"), "the lookup's meaning: {ev}");
        let filter = f["wireshark_filter"].as_str().expect("filter");
        assert!(
            filter.contains(&format!("dns.qry.name==\"{LOCATOR}\"")),
            "{filter}"
        );
        assert!(
            filter.contains(&format!("dns.flags.rcode=={rcode}")),
            "{filter}"
        );
    }
}

#[test]
fn locator_queries_without_response() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    for (i, secs) in [10, 11, 13].into_iter().enumerate() {
        let mut u = UdpSession::new(sa(SYNC, 50_000 + i as u16), sa(DC, 53)).starting_at(at(secs));
        u.client_send(&dns_query(9 + i as u16, "_kerberos._tcp.corp.example", SRV));
        t.add(&u);
    }
    let doc = audit(&mut t);
    let f = the_failure(&doc, "dns-no-answer", "t1-kerberos", "udp");
    assert_eq!(f["count"], 3, "{f:#}");
    assert!(evidence(f).contains("no response"), "{f:#}");
}

#[test]
fn a_query_the_capture_ends_on_is_not_unanswered() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // The last packet of the capture: its answer may come after the end.
    let end = 4 * 30 + 3;
    let mut u = UdpSession::new(sa(SYNC, 50_000), sa(DC, 53)).starting_at(at(end));
    u.client_send(&dns_query(9, LOCATOR, SRV));
    t.add(&u);
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new());
}

#[test]
fn lookups_that_do_not_matter_are_not_failures() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // A name the catalogue does not care about.
    lookup(&mut t, 50_000, 1, "wpad.corp.example", 10, Some(3));
    // The locator asks for the site's DCs first, then the domain's: the
    // site record missing is normal when the second answer comes.
    let site = "_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs.corp.example";
    lookup(&mut t, 50_001, 2, site, 20, Some(3));
    lookup(&mut t, 50_002, 3, LOCATOR, 20, None);
    // An empty answer (no AAAA for a name) is not an error.
    let mut u = UdpSession::new(sa(SYNC, 50_003), sa(DC, 53)).starting_at(at(30));
    u.client_send(&dns_query(4, LOCATOR, 28))
        .server_send(&dns_response(4, LOCATOR, &[]));
    t.add(&u);
    // A host outside the inventory failing a locator lookup is not the deployment's.
    let mut u = UdpSession::new(sa(STRANGER, 50_004), sa(DC, 53)).starting_at(at(40));
    u.client_send(&dns_query(5, LOCATOR, SRV))
        .server_send(&dns_failure(5, LOCATOR, SRV, 3));
    t.add(&u);
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new());
}

#[test]
fn every_format_shows_the_failure() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    lookup(&mut t, 50_000, 1, LOCATOR, 10, Some(3));
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["table", "markdown", "html", "csv"] {
        let out = run(dir.path(), &mut t, format);
        assert!(out.contains(LOCATOR), "{format}: {out}");
    }
    let text = run(dir.path(), &mut t, "table");
    assert!(text.contains("failed"), "{text}");
}

// ---------------------------------------------------------------------------
// TLS to the catalogue's endpoints. The server flights are the synth
// builder's, and tshark (an independent dissector) confirms both what the
// capture holds and that each finding's Wireshark filter finds its packets.
// ---------------------------------------------------------------------------

/// An Entra ID address (endpoint set 56) and its sign-in name.
const ENTRA: &str = "20.190.151.7";
const LOGIN: &str = "login.microsoftonline.com";
/// A site the catalogue knows nothing of.
const ELSEWHERE: &str = "93.184.216.34";

const MICROSOFT: CertSpec<'static> = CertSpec {
    issuer_org: "Microsoft Corporation",
    issuer_cn: "Microsoft Azure RSA TLS Issuing CA 03",
    subject_cn: "stamp2.login.microsoftonline.com",
};

const ZSCALER: CertSpec<'static> = CertSpec {
    issuer_org: "Zscaler Inc.",
    issuer_cn: "Zscaler Intermediate Root CA (zscaler.net)",
    subject_cn: "stamp2.login.microsoftonline.com",
};

/// A TLS connection from the sync server: `script` writes what follows the
/// TCP handshake.
fn tls(t: &mut Trace, cport: u16, server: &str, secs: i64, script: impl FnOnce(&mut TcpSession)) {
    let mut x = TcpSession::new(sa(SYNC, cport), sa(server, 443), 11, 13).starting_at(at(secs));
    x.handshake();
    script(&mut x);
    t.add(&x);
}

/// A TLS 1.2 session that works: hello, the server's flight with `cert`,
/// the client's key exchange, application data, close.
fn healthy(x: &mut TcpSession, sni: &str, cert: &CertSpec<'_>) {
    x.client_send(&client_hello(sni))
        .server_send(&server_hello_certificate(0x0303, cert))
        .client_send(&[20, 3, 3, 0, 1, 1])
        .server_send(&[20, 3, 3, 0, 1, 1])
        .client_data(600)
        .server_data(2000)
        .close();
}

/// The rows tshark prints for `filter` on the test's capture.
fn tshark(dir: &Path, filter: &str, field: &str) -> Vec<String> {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(dir.join("capture.pcap"))
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark {filter}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The one TLS failure: its how, the sync server's rule to Entra ID, and
/// a Wireshark filter that tshark finds packets with.
fn the_tls_failure<'a>(doc: &'a Value, dir: &Path, how: &str) -> &'a Value {
    let f = failed(doc);
    assert_eq!(f.len(), 1, "one failed finding: {f:#?}");
    let f = f[0];
    assert_eq!(f["how"], how, "{f:#}");
    assert_eq!(f["rule"], "t2-https", "{f:#}");
    assert_eq!(f["transport"], "tcp", "{f:#}");
    assert_eq!(f["port"], 443, "{f:#}");
    assert_eq!(f["src_role"], "sync", "{f:#}");
    assert_eq!(f["dst_role"], "azure", "{f:#}");
    let filter = f["wireshark_filter"].as_str().expect("filter");
    assert!(
        !tshark(dir, filter, "frame.number").is_empty(),
        "tshark finds nothing with {filter}"
    );
    f
}

#[test]
fn a_client_offering_only_tls_1_0_and_1_1() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    for (i, secs) in [10, 40].into_iter().enumerate() {
        tls(&mut t, 51_000 + i as u16, ENTRA, secs, |x| {
            x.client_send(&client_hello_versions(LOGIN, 0x0302, &[0x0302, 0x0301]))
                .server_send(&server_alert(2, 70))
                .server_close();
        });
    }
    let (doc, dir) = audit_kept(&mut t);
    // tshark reads the same offer: TLS 1.1 at most, and the alert.
    let offered = tshark(
        dir.path(),
        "tls.handshake.type==1",
        "tls.handshake.extensions.supported_version",
    );
    assert_eq!(offered, vec!["0x0302,0x0301"; 2]);
    let hows: Vec<&Value> = failed(&doc).iter().map(|f| &f["how"]).collect();
    assert_eq!(hows, ["tls-legacy-version", "tls-alert"], "{doc:#}");
    let legacy = failed(&doc)
        .into_iter()
        .find(|f| f["how"] == "tls-legacy-version")
        .expect("legacy");
    assert_eq!(legacy["count"], 2);
    let ev = evidence(legacy);
    assert!(
        ev.contains(&format!("{LOGIN}: offered at most TLS 1.1")),
        "{ev}"
    );
    assert!(ev.contains("SchUseStrongCrypto"), "advice: {ev}");
    let alert = failed(&doc)
        .into_iter()
        .find(|f| f["how"] == "tls-alert")
        .expect("alert");
    assert!(evidence(alert).contains("protocol_version (70) from the server side"));
}

#[test]
fn a_handshake_failure_alert() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    tls(&mut t, 51_000, ENTRA, 10, |x| {
        x.client_send(&client_hello(LOGIN))
            .server_send(&server_alert(2, 40))
            .server_close();
    });
    let (doc, dir) = audit_kept(&mut t);
    let f = the_tls_failure(&doc, dir.path(), "tls-alert");
    assert_eq!(
        tshark(dir.path(), "tls.alert_message", "tls.alert_message.desc"),
        ["40"]
    );
    let ev = evidence(f);
    assert!(
        ev.contains("handshake_failure (40) from the server side"),
        "{ev}"
    );
    assert!(ev.contains(&format!("{SYNC} to {ENTRA} port 443")), "{ev}");
}

#[test]
fn a_certificate_from_an_inspecting_proxy() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    tls(&mut t, 51_000, ENTRA, 10, |x| healthy(x, LOGIN, &ZSCALER));
    // The same proxy, rejected by a client that does not trust its CA.
    tls(&mut t, 51_001, ENTRA, 20, |x| {
        x.client_send(&client_hello(LOGIN))
            .server_send(&server_hello_certificate(0x0303, &ZSCALER))
            .client_send(&server_alert(2, 48))
            .client_rst();
    });
    let (doc, dir) = audit_kept(&mut t);
    // tshark sees the leaf and the intermediate, both from the proxy's issuer.
    let orgs = tshark(
        dir.path(),
        "tls.handshake.type==11",
        "x509sat.printableString",
    );
    assert_eq!(orgs.len(), 2, "{orgs:?}");
    assert!(orgs.iter().all(|o| o.contains("Zscaler Inc.")), "{orgs:?}");
    let hows: Vec<&Value> = failed(&doc).iter().map(|f| &f["how"]).collect();
    assert_eq!(hows, ["tls-alert", "tls-intercepted"], "{doc:#}");
    let f = failed(&doc)
        .into_iter()
        .find(|f| f["how"] == "tls-intercepted")
        .expect("intercepted");
    assert_eq!(f["count"], 2);
    let ev = evidence(f);
    assert!(
        ev.contains("certificate issued by \"Zscaler Inc.\" (CN \"Zscaler Intermediate Root CA (zscaler.net)\")"),
        "{ev}"
    );
    assert!(ev.contains("TLS inspection"), "advice: {ev}");
    let alert = failed(&doc)
        .into_iter()
        .find(|f| f["how"] == "tls-alert")
        .expect("alert");
    assert!(evidence(alert).contains("unknown_ca (48) from the client"));
}

#[test]
fn a_reset_right_after_the_client_hello() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    tls(&mut t, 51_000, ENTRA, 10, |x| {
        x.client_send(&client_hello(LOGIN)).server_rst();
    });
    let (doc, dir) = audit_kept(&mut t);
    let f = the_tls_failure(&doc, dir.path(), "tls-reset-after-hello");
    let ev = evidence(f);
    assert!(
        ev.contains(&format!("{LOGIN}: reset by the server side")),
        "{ev}"
    );
    assert!(ev.contains("SNI"), "advice: {ev}");
}

#[test]
fn healthy_tls_and_other_sites_are_not_failures() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // TLS 1.2 to Microsoft with Microsoft's and DigiCert's certificates.
    tls(&mut t, 51_000, ENTRA, 10, |x| healthy(x, LOGIN, &MICROSOFT));
    let digicert = CertSpec {
        issuer_org: "DigiCert Inc",
        issuer_cn: "DigiCert SHA2 Secure Server CA",
        ..MICROSOFT
    };
    tls(&mut t, 51_001, ENTRA, 12, |x| healthy(x, LOGIN, &digicert));
    // TLS 1.3: the certificate is encrypted, nothing to judge.
    tls(&mut t, 51_002, ENTRA, 14, |x| {
        x.client_send(&client_hello_versions(LOGIN, 0x0303, &[0x0304, 0x0303]))
            .server_send(&server_hello_certificate(0x0304, &ZSCALER))
            .client_data(300)
            .close();
    });
    // A reset after the server's hello is the TCP tracker's, not SNI blocking.
    tls(&mut t, 51_003, ENTRA, 16, |x| {
        x.client_send(&client_hello(LOGIN))
            .server_send(&server_hello_certificate(0x0303, &MICROSOFT))
            .server_rst();
    });
    // Sites the catalogue does not care about: old TLS, a proxy's
    // certificate, an alert, a reset after the hello.
    tls(&mut t, 51_004, ELSEWHERE, 18, |x| {
        x.client_send(&client_hello_versions("example.org", 0x0301, &[]))
            .server_send(&server_hello_certificate(0x0301, &ZSCALER))
            .close();
    });
    tls(&mut t, 51_005, ELSEWHERE, 20, |x| {
        x.client_send(&client_hello("example.org"))
            .server_send(&server_alert(2, 40))
            .close();
    });
    tls(&mut t, 51_006, ELSEWHERE, 22, |x| {
        x.client_send(&client_hello("example.org")).server_rst();
    });
    // A warning alert is not a refusal.
    tls(&mut t, 51_007, ENTRA, 24, |x| {
        x.client_send(&client_hello(LOGIN))
            .server_send(&server_alert(1, 112))
            .server_send(&server_hello_certificate(0x0303, &MICROSOFT))
            .client_send(&[20, 3, 3, 0, 1, 1])
            .close();
    });
    let (doc, dir) = audit_kept(&mut t);
    // The capture holds what the negatives claim: 5 certificates, 4 resets/alerts.
    assert_eq!(
        tshark(dir.path(), "tls.handshake.type==11", "frame.number").len(),
        5
    );
    assert_eq!(failed(&doc), Vec::<&Value>::new(), "{doc:#}");
}

// ---------------------------------------------------------------------------
// Names resolved, then never reached or reached only after a long retry.
// The sync server's background flows go to the internet, so the capture is
// on its way out; tshark confirms the answers and the absence of packets.
// ---------------------------------------------------------------------------

/// The sync server's own cloud endpoint.
const ADMIN: &str = "adminwebservice.microsoftonline.com";

/// Two Entra ID addresses the resolver hands out for the sign-in name.
const ANSWER: [&str; 2] = ["20.190.151.20", "20.190.151.21"];

/// The DC answers the sync server's A query for `name` with `addrs`, `secs` in.
fn resolve(t: &mut Trace, cport: u16, id: u16, name: &str, addrs: &[&str], secs: i64) {
    let mut u = UdpSession::new(sa(SYNC, cport), sa(DC, 53)).starting_at(at(secs));
    let answers: Vec<(&str, Rdata<'_>)> = addrs
        .iter()
        .map(|a| (name, Rdata::Addr(a.parse().expect("address"))))
        .collect();
    u.client_send(&dns_query(id, name, 1))
        .server_send(&dns_response(id, name, &answers));
    t.add(&u);
}

#[test]
fn an_endpoint_resolved_and_never_reached() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    resolve(&mut t, 52_001, 72, LOGIN, &ANSWER, 70);
    let (doc, dir) = audit_kept(&mut t);
    let f = failed(&doc);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = f[0];
    assert_eq!(f["how"], "resolved-never-reached", "{f:#}");
    assert_eq!(f["rule"], "t2-https", "{f:#}");
    assert_eq!(f["severity"], "error", "{f:#}");
    assert_eq!(
        (&f["src_role"], f["count"].as_u64()),
        (&Value::from("sync"), Some(2))
    );
    let ev = evidence(f);
    assert!(
        ev.contains(&format!(
            "{LOGIN} resolved to {} and {}",
            ANSWER[0], ANSWER[1]
        )),
        "{ev}"
    );
    assert!(ev.contains("Windows Firewall"), "advice: {ev}");
    // tshark: the filter shows the two answers and nothing sent to them.
    let filter = f["wireshark_filter"].as_str().expect("filter");
    assert_eq!(tshark(dir.path(), filter, "dns.a").len(), 2, "{filter}");
    let to_them = format!("ip.dst=={} || ip.dst=={}", ANSWER[0], ANSWER[1]);
    assert!(tshark(dir.path(), &to_them, "frame.number").is_empty());
}

#[test]
fn resolved_endpoints_that_were_reached_or_could_not_be_seen_are_not_failures() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // Reached on the second address of the answer, at once.
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    works(&mut t, SYNC, 52_100, ANSWER[1], 443, 10);
    // Named in a ClientHello to an address of an older answer.
    resolve(&mut t, 52_001, 72, ADMIN, &["20.190.151.30"], 12);
    tls(&mut t, 52_101, "20.190.151.31", 12, |x| {
        healthy(x, ADMIN, &MICROSOFT)
    });
    // Resolved in the capture's last seconds: no time to connect was seen.
    let end = 4 * 30 + 5;
    resolve(
        &mut t,
        52_002,
        73,
        "login.windows.net",
        &["20.190.151.40"],
        end,
    );
    // A host outside the inventory, and a name the catalogue does not list.
    let mut u = UdpSession::new(sa(STRANGER, 52_003), sa(DC, 53)).starting_at(at(20));
    let a = Rdata::Addr(ANSWER[0].parse().expect("address"));
    u.client_send(&dns_query(74, LOGIN, 1))
        .server_send(&dns_response(74, LOGIN, &[(LOGIN, a)]));
    t.add(&u);
    resolve(&mut t, 52_004, 75, "example.org", &["93.184.216.34"], 20);
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new(), "{doc:#}");

    // A capture on the DNS server: the lookups, none of the sync server's
    // way out, so its absence there says nothing.
    let mut t = Trace::new(Link::ethernet());
    for i in 0..5u16 {
        works(&mut t, SYNC, 40_000 + i, DC, 389, i64::from(i) * 30);
    }
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    let doc = audit(&mut t);
    assert_eq!(failed(&doc), Vec::<&Value>::new(), "{doc:#}");
}

#[test]
fn an_endpoint_reached_only_after_a_long_retry() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    // Windows' three SYNs to the first address (0, 3, 9 s), then a retry of
    // the service on the same address, then the second address works.
    for (i, secs) in [10, 31].into_iter().enumerate() {
        let mut x = TcpSession::new(sa(SYNC, 52_100 + i as u16), sa(ANSWER[0], 443), 5, 6)
            .starting_at(at(secs));
        x.unanswered(2, Duration::from_secs(3));
        t.add(&x);
    }
    works(&mut t, SYNC, 52_102, ANSWER[1], 443, 52);
    let (doc, dir) = audit_kept(&mut t);
    let f = failed(&doc);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = f[0];
    assert_eq!(f["how"], "reached-after-retry", "{f:#}");
    assert_eq!(f["rule"], "t2-https", "{f:#}");
    // It got through: a warning, where never reaching it is an error.
    assert_eq!(f["severity"], "warning", "{f:#}");
    let ev = evidence(f);
    assert!(
        ev.contains(&format!(
            "{LOGIN}: first reached 42.0 s after it was resolved, on {} port 443; the attempts before, to {}, failed (no-synack)",
            ANSWER[1], ANSWER[0]
        )),
        "{ev}"
    );
    // The failed attempts are a blocked finding of their own.
    let blocked = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "blocked" && f["how"] == "no-synack")
        .count();
    assert_eq!(blocked, 1, "{doc:#}");
    // tshark: six SYNs to the first address, and one to the second.
    let filter = f["wireshark_filter"].as_str().expect("filter");
    let syns = tshark(
        dir.path(),
        &format!("({filter}) && tcp.flags.syn==1 && tcp.flags.ack==0"),
        "ip.dst",
    );
    let mut want = vec![ANSWER[0]; 6];
    want.push(ANSWER[1]);
    assert_eq!(syns, want);

    // Reached at once, or late without a failure in between: not failures.
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    works(&mut t, SYNC, 52_102, ANSWER[1], 443, 50);
    resolve(&mut t, 52_001, 72, ADMIN, &["20.190.151.30"], 20);
    let mut x =
        TcpSession::new(sa(SYNC, 52_103), sa("20.190.151.30", 443), 5, 6).starting_at(at(20));
    x.unanswered(0, Duration::from_secs(3));
    t.add(&x);
    works(&mut t, SYNC, 52_104, "20.190.151.30", 443, 21);
    // A fallback to another port, late: Service Bus from 5671 to 443.
    let bus = "contoso.servicebus.windows.net";
    resolve(&mut t, 52_005, 76, bus, &["52.168.10.20"], 30);
    let mut x =
        TcpSession::new(sa(SYNC, 52_105), sa("52.168.10.20", 5671), 5, 6).starting_at(at(30));
    x.unanswered(2, Duration::from_secs(3));
    t.add(&x);
    works(&mut t, SYNC, 52_106, "52.168.10.20", 443, 60);
    let doc = audit(&mut t);
    let hows: Vec<&Value> = failed(&doc).iter().map(|f| &f["how"]).collect();
    assert!(hows.is_empty(), "{doc:#}");
}

/// The audit of logs finds what the audit of the capture finds: the
/// capture's conn.log (`flowaudit flows -f zeek`) and a dns.log row per
/// answer, as Zeek writes them in JSON lines, give the same finding.
#[test]
fn a_log_audit_finds_the_endpoint_never_reached_too() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    resolve(&mut t, 52_000, 71, LOGIN, &ANSWER, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = run(dir.path(), &mut t, "json");
    let from_capture: Value = serde_json::from_str(&capture).expect("JSON");
    let conn = common::flowaudit()
        .args(["flows", "-f", "zeek"])
        .arg(dir.path().join("capture.pcap"))
        .output()
        .expect("flows");
    assert!(conn.status.success());
    std::fs::write(dir.path().join("conn.log"), &conn.stdout).expect("conn.log");
    let secs = at(10).0 as f64 / 1e9;
    let row = serde_json::json!({
        "ts": secs, "uid": "Cdns1", "id.orig_h": SYNC, "id.orig_p": 52_000,
        "id.resp_h": DC, "id.resp_p": 53, "proto": "udp", "trans_id": 71,
        "query": LOGIN, "qtype": 1, "qtype_name": "A", "rcode": 0, "rcode_name": "NOERROR",
        "answers": ANSWER, "TTLs": [300.0, 300.0],
    });
    std::fs::write(dir.path().join("dns.log"), format!("{row}\n")).expect("dns.log");
    let out = common::flowaudit()
        .args(["audit", "--fail-on", "never", "-f", "json", "-i"])
        .arg(dir.path().join("inventory.toml"))
        .arg(dir.path().join("conn.log"))
        .arg(dir.path().join("dns.log"))
        .output()
        .expect("audit logs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_logs: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Zeek's ts is the query's, the capture's the answer's: times aside.
    let judged = |doc: &Value| -> Vec<(Value, Value, Value, Value)> {
        failed(doc)
            .iter()
            .map(|f| {
                let h = &f["hosts"][0];
                let ends = (h["src"].clone(), h["dst"].clone());
                (f["how"].clone(), f["rule"].clone(), ends.0, ends.1)
            })
            .collect()
    };
    assert_eq!(judged(&from_capture).len(), 1, "{from_capture:#}");
    assert_eq!(judged(&from_logs), judged(&from_capture));
}

// ---------------------------------------------------------------------------
// An explicit proxy cutting idle tunnels: the sync server's CONNECTs to
// the sign-in endpoint through 10.0.0.8:8080, closed by the proxy a fixed
// time after their last byte.
// ---------------------------------------------------------------------------

const PROXY: &str = "10.0.0.8";

/// A tunnel through the proxy to `host`, `secs` in: CONNECT, 200, a TLS
/// exchange, the last payload from the client when `waiting`, then `idle`
/// seconds of silence and a close by the proxy (else by the client).
fn tunnel(
    t: &mut Trace,
    cport: u16,
    host: &str,
    secs: i64,
    waiting: bool,
    idle: i64,
    proxy_closes: bool,
) {
    let mut x = TcpSession::new(sa(SYNC, cport), sa(PROXY, 8080), 21, 23).starting_at(at(secs));
    x.handshake()
        .client_send(format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes())
        .server_send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .client_send(&client_hello(host))
        .server_send(&server_hello_certificate(0x0303, &MICROSOFT))
        .client_data(700);
    if !waiting {
        x.server_data(1500);
    }
    x.wait(Duration::from_secs(idle));
    if proxy_closes {
        x.server_close();
    } else {
        x.close();
    }
    t.add(&x);
}

#[test]
fn a_proxy_cutting_idle_tunnels_after_a_fixed_time() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    // Three tunnels cut 60 s after their last byte; the second was waiting
    // for its answer (an export the cloud was still working on).
    for (i, (secs, waiting)) in [(5, false), (10, true), (20, false)]
        .into_iter()
        .enumerate()
    {
        tunnel(&mut t, 53_000 + i as u16, LOGIN, secs, waiting, 60, true);
    }
    let (doc, dir) = audit_kept(&mut t);
    let f = failed(&doc);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = f[0];
    assert_eq!(f["how"], "proxy-idle-cut", "{f:#}");
    assert_eq!(f["rule"], "t2-https", "{f:#}");
    assert_eq!(
        (&f["src_role"], &f["dst_role"]),
        (&Value::from("sync"), &Value::from("azure"))
    );
    // A request was cut in flight: the rule is broken, not merely at risk.
    assert_eq!(f["severity"], "error", "{f:#}");
    assert_eq!(f["count"], 3);
    let ev = evidence(f);
    assert!(
        ev.contains(&format!(
            "the proxy {PROXY} (port 8080) closed 3 tunnels to {LOGIN} after 60.0 s idle each, 1 of them while {SYNC} waited for an answer"
        )),
        "{ev}"
    );
    // tshark measures the same silence: each proxy FIN comes 60 s after the
    // tunnel's previous payload.
    let filter = f["wireshark_filter"].as_str().expect("filter");
    let fins = tshark(
        dir.path(),
        &format!("({filter}) && ip.src=={PROXY} && tcp.flags.fin==1"),
        "tcp.time_delta",
    );
    assert_eq!(fins.len(), 3, "{filter}");
    let rows = tshark(
        dir.path(),
        &format!("ip.src=={PROXY} && tcp.flags.fin==1"),
        "tcp.stream",
    );
    for stream in rows {
        let times = tshark(
            dir.path(),
            &format!(
                "tcp.stream=={stream} && (tcp.len>0 || (ip.src=={PROXY} && tcp.flags.fin==1))"
            ),
            "frame.time_epoch",
        );
        let t: Vec<f64> = times.iter().map(|s| s.parse().expect("time")).collect();
        let gap = t[t.len() - 1] - t[t.len() - 2];
        // (The synth builder spaces packets 10 ms apart.)
        assert!(
            (gap - 60.0).abs() < 0.05,
            "stream {stream}: {gap} s of silence"
        );
    }
}

#[test]
fn proxies_that_close_tunnels_as_they_should_are_not_failures() {
    // Each on its own: idle times that are no fixed timeout, a timeout
    // beyond five minutes, a client that closes its own idle tunnels, and
    // tunnels to a site the catalogue does not list cut at a fixed time.
    let scenarios: [&[(&str, i64, bool)]; 4] = [
        &[(LOGIN, 8, true), (LOGIN, 40, true), (LOGIN, 200, true)],
        &[(LOGIN, 400, true), (LOGIN, 400, true)],
        &[(LOGIN, 60, false), (LOGIN, 60, false)],
        &[("example.org", 60, true), ("example.org", 60, true)],
    ];
    for tunnels in scenarios {
        let mut t = Trace::new(Link::ethernet());
        background(&mut t, true);
        for (i, &(host, idle, proxy_closes)) in tunnels.iter().enumerate() {
            tunnel(
                &mut t,
                53_000 + i as u16,
                host,
                5 + 5 * i as i64,
                false,
                idle,
                proxy_closes,
            );
        }
        let doc = audit(&mut t);
        assert_eq!(failed(&doc), Vec::<&Value>::new(), "{tunnels:?}: {doc:#}");
    }
}

// ---------------------------------------------------------------------------
// Kerberos replies lost as IP fragments, as a capture on the KDC's side of
// a fragment-dropping firewall shows them: the reply leaves in fragments,
// the client asks again.
// ---------------------------------------------------------------------------

/// A UDP Kerberos exchange from the sync server, `secs` in: each request
/// of `requests` (its bytes) answered by a reply of `reply` bytes in
/// `frags` IP fragments (1: whole), or not at all when `None`.
fn kdc_exchange(
    t: &mut Trace,
    cport: u16,
    secs: i64,
    requests: &[(&[u8], Option<usize>)],
    frags: usize,
) {
    use flowaudit::synth::Conversation;
    let mut u = UdpSession::new(sa(SYNC, cport), sa(DC, 88)).starting_at(at(secs));
    for &(req, reply) in requests {
        u.client_send(req);
        if let Some(n) = reply {
            // An AS-REP's outer tag and length, then its body.
            let mut rep = vec![0x6b, 0x82, (n >> 8) as u8, n as u8];
            rep.resize(n + 4, 0x30);
            u.server_send(&rep);
        }
        u.wait(Duration::from_secs(1));
    }
    for p in u.packets() {
        if p.from_client || frags < 2 {
            t.push_ip(p.ts, &p.ip);
        } else {
            for (i, f) in flowaudit::synth::fragment(&p.ip, frags).iter().enumerate() {
                t.push_ip(Timestamp(p.ts.0 + i as i64 * 100_000), f);
            }
        }
    }
}

const AS_REQ: &[u8] = &[0x6a, 0x81, 0xc0, 0x30, 1, 2, 3, 4, 5, 6, 7, 8];
const TGS_REQ: &[u8] = &[0x6c, 0x81, 0xc0, 0x30, 8, 7, 6, 5, 4, 3, 2, 1];

#[test]
fn a_kerberos_reply_lost_as_ip_fragments() {
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, true);
    kdc_exchange(
        &mut t,
        54_000,
        10,
        &[(AS_REQ, Some(3900)), (AS_REQ, Some(3900)), (AS_REQ, None)],
        3,
    );
    let (doc, dir) = audit_kept(&mut t);
    let f = the_failure(&doc, "kerberos-fragments-lost", "t1-kerberos", "udp");
    assert_eq!(f["count"], 2, "{f:#}");
    let ev = evidence(f);
    assert!(
        ev.contains("the KDC's 3904-byte reply came in 3 IP fragments and the client sent the same request again"),
        "{ev}"
    );
    assert!(ev.contains("udp_preference_limit"), "advice: {ev}");
    // tshark: two replies of three fragments each, three identical requests.
    let filter = f["wireshark_filter"].as_str().expect("filter");
    assert_eq!(
        tshark(
            dir.path(),
            &format!("({filter}) && ip.flags.mf==1"),
            "frame.number"
        )
        .len(),
        4
    );
    let reqs = tshark(
        dir.path(),
        &format!("({filter}) && udp.dstport==88"),
        "udp.payload",
    );
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs.iter().all(|r| r == &reqs[0]), "{reqs:?}");

    // Not lost: the client went on to its next request, or asked again
    // after a reply in one frame (a loss of another kind).
    for (requests, frags) in [
        (&[(AS_REQ, Some(3900)), (TGS_REQ, Some(3900))][..], 3),
        (&[(AS_REQ, Some(1200)), (AS_REQ, Some(1200))][..], 1),
    ] {
        let mut t = Trace::new(Link::ethernet());
        background(&mut t, true);
        kdc_exchange(&mut t, 54_000, 10, requests, frags);
        let doc = audit(&mut t);
        assert_eq!(failed(&doc), Vec::<&Value>::new(), "{doc:#}");
    }
}
