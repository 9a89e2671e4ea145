//! Verdicts that must hold through the CLI, on captures the synth builder
//! writes so that what really happened on the wire is known: late replies
//! are slow (not blocked), stray packets after a close are no connection of
//! their own, overlapping captures are merged by time, and so on.

mod common;

use common::flowaudit;
use flowaudit::synth::{Conversation, Link, TcpSession, Trace, UdpSession};
use flowaudit::time::{Duration, Timestamp};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

const SYNC: &str = "10.0.1.10";
const DC1: &str = "10.0.0.4";
const DC2: &str = "10.0.0.5";

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("address"), port)
}

fn secs(s: f64) -> Duration {
    Duration((s * 1e9) as i64)
}

/// The inventory of these tests: one sync server, two DCs, password hash sync.
fn inventory(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("inventory.toml");
    std::fs::write(
        &p,
        format!(
            "features = [\"password-hash-sync\"]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC1}\", \"{DC2}\"]\n"
        ),
    )
    .expect("write inventory");
    p
}

/// `flowaudit audit --format json` over the files, with the inventory.
fn audit(dir: &Path, files: &[&Path]) -> Value {
    let out = flowaudit()
        .arg("audit")
        .args(files)
        .arg("--inventory")
        .arg(inventory(dir))
        .args(["--format", "json", "--fail-on", "never"])
        .output()
        .expect("run flowaudit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// `flowaudit flows --format jsonl` rows.
fn flows(files: &[&Path]) -> Vec<Value> {
    let out = flowaudit()
        .args(["flows", "--format", "jsonl"])
        .args(files)
        .output()
        .expect("run flowaudit");
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect()
}

fn findings<'a>(doc: &'a Value, kind: &str, proto: &str, port: u64) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == kind && f["transport"] == proto && f["port"] == port)
        .collect()
}

fn write(dir: &Path, name: &str, t: &Trace) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, t.to_pcap()).expect("write capture");
    p
}

/// Traffic that keeps every other password-hash-sync flow present, so the
/// flows under test are the only ones judged.
fn background(t: &mut Trace, start: Timestamp) {
    for (i, port) in [389u16, 88, 135, 49670, 3268].into_iter().enumerate() {
        let mut s = TcpSession::new(sa(SYNC, 40_000 + i as u16), sa(DC1, port), 1, 2)
            .starting_at(Timestamp(start.0 + i as i64 * 1_000_000_000));
        s.handshake().client_data(200).server_data(300).close();
        t.add(&s);
    }
}

/// Issue 19, item 1: a DNS reply 12 s after its query lands in a record of
/// its own (the tracker, like Zeek, closes the query's record after 10 s);
/// a final ACK 12 s after an LDAP connection closed does too. The audit must
/// call the first slow, not blocked, and the second no connection at all.
#[test]
fn late_replies_are_slow_and_stray_acks_are_no_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Trace::new(Link::ethernet());
    let t0 = flowaudit::synth::START;
    background(&mut t, t0);
    let mut dns = UdpSession::new(sa(SYNC, 55_000), sa(DC2, 53)).starting_at(t0);
    dns.request(40).wait(secs(12.0)).response(120);
    let query = dns.packets()[0].ts;
    let reply = dns.packets()[1].ts;
    let mut ldap = TcpSession::new(sa(SYNC, 50_100), sa(DC2, 389), 7, 9).starting_at(t0);
    ldap.handshake()
        .client_data(100)
        .server_data(900)
        // Both FINs, then the last ACK only 12 s later.
        .segment(true, 0x11, &[])
        .segment(false, 0x11, &[])
        .wait(secs(12.0))
        .ack();
    t.add(&dns).add(&ldap).sort();
    let cap = write(dir.path(), "late.pcap", &t);

    // The records keep Zeek's semantics: two rows each.
    let rows = flows(&[&cap]);
    let on = |proto: &str, port: u64| {
        rows.iter()
            .filter(|r| r["proto"] == proto && r["id.resp_p"] == port && r["id.resp_h"] == DC2)
            .count()
    };
    assert_eq!(on("udp", 53), 2, "{rows:#?}");
    assert_eq!(on("tcp", 389), 2, "{rows:#?}");

    let doc = audit(dir.path(), &[&cap]);
    assert!(findings(&doc, "blocked", "udp", 53).is_empty(), "{doc:#}");
    let slow = findings(&doc, "slow", "udp", 53);
    assert_eq!(slow.len(), 1, "{doc:#}");
    assert_eq!(slow[0]["severity"], "warning");
    assert_eq!(slow[0]["count"], 1);
    let delay = reply.since(query).as_secs_f64();
    let said = format!("answered only {delay:.1} s after the last request");
    assert!(
        slow[0]["evidence"][0]
            .as_str()
            .is_some_and(|e| e.contains(&said)),
        "want {said:?} in {:#}",
        slow[0]["evidence"]
    );
    assert!(
        findings(&doc, "inconclusive", "tcp", 389).is_empty(),
        "{doc:#}"
    );
    let healthy = findings(&doc, "healthy", "tcp", 389);
    assert_eq!(healthy.len(), 1);
    // The background's LDAP connection and this one: the stray ACK is not a third.
    assert_eq!(healthy[0]["count"], 2);
    assert_eq!(doc["summary"]["severities"].get("error"), None, "{doc:#}");
}

/// The same connection captured at two vantage points: the sync server's
/// own capture, and a SPAN at the DC that tags frames with VLAN 100 and
/// sees each packet 0.3 ms later. The DC capture also starts earlier, so
/// reading the files one after the other would show the tracker packets
/// older than its clock.
fn two_sensors() -> (Trace, Trace, TcpSession) {
    let t0 = flowaudit::synth::START;
    let mut krb = TcpSession::new(sa(SYNC, 50_200), sa(DC1, 88), 11, 22)
        .starting_at(Timestamp(t0.0 + 5_000_000_000));
    krb.handshake().client_data(1400).server_data(1600).close();
    let mut at_sync = Trace::new(Link::ethernet());
    background(&mut at_sync, Timestamp(t0.0 + 8_000_000_000));
    at_sync.add(&krb).sort();
    let mut at_dc = Trace::new(Link::Ethernet(vec![100]));
    let mut early = UdpSession::new(sa(DC1, 55_001), sa(DC2, 53)).starting_at(t0);
    early.request(40).response(80);
    at_dc.add(&early);
    for p in krb.packets() {
        at_dc.push_ip(Timestamp(p.ts.0 + 300_000), &p.ip);
    }
    at_dc.sort();
    (at_sync, at_dc, krb)
}

/// Issue 20, item 1: captures of the same time window are merged by time
/// (as mergecap does), and a packet both show counts once.
#[test]
fn overlapping_captures_merge_by_time_and_count_a_packet_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (at_sync, at_dc, krb) = two_sensors();
    let a = write(dir.path(), "sync.pcap", &at_sync);
    let b = write(dir.path(), "dc.pcap", &at_dc);
    for files in [[&a, &b], [&b, &a]] {
        let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        let rows = flows(&files);
        let kerberos: Vec<&Value> = rows
            .iter()
            .filter(|r| r["proto"] == "tcp" && r["id.orig_p"] == 50_200)
            .collect();
        assert_eq!(kerberos.len(), 1, "one connection: {kerberos:#?}");
        let k = kerberos[0];
        assert_eq!(k["conn_state"], "SF");
        assert_eq!(k["history"], "ShADadFf");
        assert_eq!(
            k["syn_attempts"], 1,
            "the DC's copy of the SYN is no retransmission"
        );
        assert_eq!(k["orig_pkts"], krb.client_packets());
        assert_eq!(k["resp_pkts"], krb.server_packets());

        let doc = audit(dir.path(), &files);
        assert!(findings(&doc, "blocked", "tcp", 88).is_empty(), "{doc:#}");
        let healthy = findings(&doc, "healthy", "tcp", 88);
        assert_eq!(healthy.len(), 1);
        assert_eq!(
            healthy[0]["count"], 2,
            "this connection and the background's"
        );
        let dups: u64 = doc["captures"]
            .as_array()
            .expect("captures")
            .iter()
            .map(|c| c["duplicates"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(dups, krb.packets().len() as u64, "each copy dropped once");
        let said = doc["summary"]["capture_warnings"].to_string();
        assert!(
            said.contains("overlap"),
            "the report says the inputs overlap: {said}"
        );
    }
}

/// Ring-buffer files named out of time order give the connections of the
/// whole trace, the ground truth the test wrote.
#[test]
fn files_out_of_time_order_give_the_whole_traces_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (at_sync, _, _) = two_sensors();
    let frames = at_sync.frames();
    let half = frames.len() / 2;
    let part = |range: std::ops::Range<usize>| {
        let mut t = Trace::new(Link::ethernet());
        for (ts, f) in &frames[range] {
            t.push_frame(*ts, f.clone());
        }
        t
    };
    let whole = write(dir.path(), "whole.pcap", &at_sync);
    let first = write(dir.path(), "b-first.pcap", &part(0..half));
    let second = write(dir.path(), "a-second.pcap", &part(half..frames.len()));
    let want = flows(&[&whole]);
    assert!(want.len() >= 6, "{want:#?}");
    assert_eq!(flows(&[&second, &first]), want);
    // A directory is read in name order: a-second before b-first.
    let ring = dir.path().join("ring");
    std::fs::create_dir(&ring).expect("mkdir");
    std::fs::copy(&first, ring.join("b-first.pcap")).expect("copy");
    std::fs::copy(&second, ring.join("a-second.pcap")).expect("copy");
    assert_eq!(flows(&[&ring]), want);
}

/// Issue 20, item 3: LDAPS to a DC without a certificate: the handshake
/// completes, the client sends its ClientHello, the DC resets. Blocked,
/// with the catalogue's explanation, never healthy; LDAPS to the other DC
/// works.
#[test]
fn ldaps_reset_after_the_client_hello_is_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, t0);
    let hello = flowaudit::synth::payload::client_hello("dc2.contoso.com");
    let mut bad = TcpSession::new(sa(SYNC, 50_300), sa(DC2, 636), 3, 4).starting_at(t0);
    bad.handshake().client_send(&hello).server_rst();
    let mut good = TcpSession::new(sa(SYNC, 50_301), sa(DC1, 636), 5, 6).starting_at(t0);
    good.handshake()
        .client_send(&hello)
        .server_data(2000)
        .close();
    t.add(&bad).add(&good).sort();
    let cap = write(dir.path(), "ldaps.pcap", &t);
    let inv = dir.path().join("ldaps.toml");
    std::fs::write(
        &inv,
        format!(
            "features = [\"password-hash-sync\", \"ldaps\"]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC1}\", \"{DC2}\"]\n"
        ),
    )
    .expect("write inventory");
    let out = flowaudit()
        .arg("audit")
        .arg(&cap)
        .arg("--inventory")
        .arg(&inv)
        .args(["--format", "json"])
        .output()
        .expect("run flowaudit");
    assert_eq!(out.status.code(), Some(1), "an error finding: exit 1");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let blocked = findings(&doc, "blocked", "tcp", 636);
    assert_eq!(blocked.len(), 1, "{doc:#}");
    let b = blocked[0];
    assert_eq!(b["how"], "reset-after-handshake");
    assert_eq!(b["severity"], "error");
    assert_eq!(b["hosts"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["hosts"][0]["dst"], DC2);
    let ev = b["evidence"].to_string();
    assert!(ev.contains("works to 10.0.0.4, fails to 10.0.0.5"), "{ev}");
    assert!(
        ev.contains("certificate"),
        "the catalogue's on_reset note: {ev}"
    );
    let healthy = findings(&doc, "healthy", "tcp", 636);
    assert_eq!(healthy.len(), 1);
    assert_eq!(healthy[0]["count"], 1, "only the good DC's connection");
}

/// Issue 20, item 5: a capture of one direction only (everything the sync
/// server sent, nothing it received): its UDP Kerberos requests are not
/// "blocked", and the report says why.
#[test]
fn a_one_direction_capture_does_not_block_udp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut both = Trace::new(Link::ethernet());
    for i in 0..3u16 {
        let mut krb = UdpSession::new(sa(SYNC, 51_000 + i), sa(DC1, 88))
            .starting_at(Timestamp(t0.0 + i64::from(i) * 5_000_000_000));
        krb.request(300).response(1200);
        both.add(&krb);
    }
    both.sort();
    let mut sent = Trace::new(Link::ethernet());
    for (ts, frame) in both.frames() {
        // The sync server's own frames: source address at bytes 26..30.
        if frame.get(26..30) == Some(&[10, 0, 1, 10][..]) {
            sent.push_frame(*ts, frame.clone());
        }
    }
    assert_eq!(sent.frames().len(), 3, "three requests, no replies");
    let cap = write(dir.path(), "sent-only.pcap", &sent);
    let doc = audit(dir.path(), &[&cap]);
    assert!(findings(&doc, "blocked", "udp", 88).is_empty(), "{doc:#}");
    // Two for the one-sided capture, one for the last request, too close to
    // the end for a retry to follow.
    let inc = findings(&doc, "inconclusive", "udp", 88);
    let n: u64 = inc.iter().map(|f| f["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(n, 3, "{doc:#}");
    let warned = doc["summary"]["capture_warnings"].to_string();
    assert!(warned.contains("one direction only"), "{warned}");
    // With the replies the same requests are healthy: the verdict above
    // comes from the missing direction, not from the flows.
    let cap = write(dir.path(), "both.pcap", &both);
    let doc = audit(dir.path(), &[&cap]);
    assert_eq!(findings(&doc, "healthy", "udp", 88).len(), 1, "{doc:#}");
}

/// Issue 20, item 4: a Kerberos-only capture whose span is stretched to
/// over two hours by one stray packet covers a few seconds of traffic, and
/// holds one service only: nothing it lacks is an error.
#[test]
fn absence_is_judged_on_the_time_covered_and_not_in_a_one_service_capture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut t = Trace::new(Link::ethernet());
    for i in 0..3u16 {
        let mut krb = TcpSession::new(sa(SYNC, 52_000 + i), sa(DC1, 88), 1, 2)
            .starting_at(Timestamp(t0.0 + i64::from(i) * 2_000_000_000));
        krb.handshake().client_data(1400).server_data(1500).close();
        t.add(&krb);
    }
    // One stray packet 2.3 hours later.
    let mut late = UdpSession::new(sa(SYNC, 52_100), sa(DC1, 88))
        .starting_at(Timestamp(t0.0 + 8_280_000_000_000));
    late.request(300).response(900);
    t.add(&late).sort();
    let cap = write(dir.path(), "kerberos-only.pcap", &t);
    let doc = audit(dir.path(), &[&cap]);
    let span = doc["summary"]["span_seconds"].as_f64().unwrap_or(0.0);
    let covered = doc["summary"]["covered_seconds"]
        .as_f64()
        .unwrap_or(f64::MAX);
    assert!(span > 8000.0, "span {span}");
    assert!(covered < 60.0, "covered {covered}");
    let missing: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "missing")
        .collect();
    assert!(!missing.is_empty(), "the absences are still listed");
    for m in &missing {
        assert_eq!(m["severity"], "info", "{m:#}");
        assert!(
            m["evidence"]
                .to_string()
                .contains("filtered to one service"),
            "{m:#}"
        );
    }
    // The same capture with other services in it: absences are judged on
    // the few seconds covered, not on the span: warnings, not errors.
    let mut ldap = TcpSession::new(sa(SYNC, 52_200), sa(DC1, 389), 1, 2).starting_at(t0);
    ldap.handshake().client_data(100).server_data(900).close();
    t.add(&ldap).sort();
    let cap = write(dir.path(), "two-services.pcap", &t);
    let doc = audit(dir.path(), &[&cap]);
    let sev = doc["summary"]["severities"].clone();
    assert_eq!(sev.get("error"), None, "{doc:#}");
    let said = doc["summary"]["capture_warnings"].to_string();
    assert!(said.contains("covers only"), "{said}");
}

/// Issue 20, item 6: what every Windows network does is not "unexpected":
/// the sync server's Group Policy over SMB, replication between two DCs,
/// NetBIOS and LLMNR name queries a DC answers.
#[test]
fn ordinary_windows_traffic_is_tolerated_not_unexpected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, t0);
    let mut tcp = |client: (&str, u16), server: (&str, u16), at: i64| {
        let mut s = TcpSession::new(sa(client.0, client.1), sa(server.0, server.1), 9, 8)
            .starting_at(Timestamp(t0.0 + at * 1_000_000_000));
        s.handshake().client_data(300).server_data(700).close();
        t.add(&s);
    };
    // Group Policy: SYSVOL over SMB, without Seamless SSO or writeback enabled.
    tcp((SYNC, 53_000), (DC1, 445), 6);
    // DC2 replicates from DC1.
    for (i, port) in [135u16, 389, 49_670, 88, 53, 445].into_iter().enumerate() {
        tcp((DC2, 53_100 + i as u16), (DC1, port), 7 + i as i64);
    }
    for (port, at) in [(137u16, 14i64), (5355, 15)] {
        let mut u = UdpSession::new(sa(SYNC, 53_200 + port % 100), sa(DC1, port))
            .starting_at(Timestamp(t0.0 + at * 1_000_000_000));
        u.request(50).response(90);
        t.add(&u);
    }
    t.sort();
    let cap = write(dir.path(), "windows.pcap", &t);
    let doc = audit(dir.path(), &[&cap]);
    let unexpected: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "unexpected")
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let healthy = |src: &str, dst: &str, port: u64| {
        doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| {
                f["kind"] == "healthy"
                    && f["src_role"] == src
                    && f["dst_role"] == dst
                    && f["port"] == port
                    && f["rule"].as_str().is_some()
            })
    };
    assert!(healthy("sync", "dc", 445));
    assert!(healthy("sync", "dc", 137));
    assert!(healthy("sync", "dc", 5355));
    for port in [135, 389, 49_670, 88, 53, 445] {
        assert!(healthy("dc", "dc", port), "dc -> dc on {port}: {doc:#}");
    }
}

/// Issue 20, item 7: a SYN scan of a DC from a host of no known role, 1,000
/// ports, most reset: one finding, and a report that stays small.
#[test]
fn a_syn_scan_is_one_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut t = Trace::new(Link::ethernet());
    background(&mut t, t0);
    let scanner = "10.0.9.99";
    for port in 1..=1000u16 {
        let ts = Timestamp(t0.0 + 10_000_000_000 + i64::from(port) * 1_000_000);
        let mut s = TcpSession::new(sa(scanner, 40_000), sa(DC1, port), u32::from(port), 0)
            .starting_at(ts)
            .gap(Duration(100_000));
        if port % 100 == 0 {
            s.syn().syn_ack().segment(true, 0x04, &[]);
        } else {
            s.reject();
        }
        t.add(&s);
    }
    t.sort();
    let cap = write(dir.path(), "scan.pcap", &t);
    let doc = audit(dir.path(), &[&cap]);
    let all = doc["findings"].as_array().expect("findings");
    let scans: Vec<&Value> = all.iter().filter(|f| f["kind"] == "scan").collect();
    assert_eq!(scans.len(), 1, "{doc:#}");
    assert_eq!(scans[0]["count"], 1000);
    assert_eq!(scans[0]["ports"], "1-1000");
    assert!(
        scans[0]["evidence"][1].as_str().is_some_and(
            |e| e.starts_with("of the attempts, 10 answered with a SYN-ACK (open: 100, 200,")
        ),
        "{:#}",
        scans[0]["evidence"]
    );
    let about_scanner = all
        .iter()
        .filter(|f| f["kind"] != "scan")
        .filter(|f| f["hosts"].to_string().contains(scanner))
        .count();
    assert_eq!(about_scanner, 0, "{doc:#}");
    assert!(all.len() < 30, "{} findings", all.len());
}

/// Issue 20, item 8: without an inventory, the audit and `roles` do not
/// contradict each other or the capture.
#[test]
fn without_an_inventory_nothing_contradicts_the_capture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = flowaudit::synth::START;
    let mut t = Trace::new(Link::ethernet());
    // A domain controller that a workstation uses, no sync server, and HTTPS
    // to an Entra ID address (in the catalogue's ranges).
    let ws = "10.0.3.50";
    for (i, port) in [88u16, 389, 445, 389].into_iter().enumerate() {
        let mut s = TcpSession::new(sa(ws, 54_000 + i as u16), sa(DC1, port), 1, 2)
            .starting_at(Timestamp(t0.0 + i as i64 * 1_000_000_000));
        s.handshake().client_data(200).server_data(900).close();
        t.add(&s);
    }
    let mut https = TcpSession::new(sa(ws, 54_100), sa("20.190.128.10", 443), 1, 2)
        .starting_at(Timestamp(t0.0 + 5_000_000_000));
    https.handshake().client_data(500).server_data(3000).close();
    t.add(&https).sort();
    let cap = write(dir.path(), "workstation.pcap", &t);

    let out = flowaudit()
        .args(["audit", "--format", "json", "--fail-on", "never"])
        .arg(&cap)
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = doc.to_string();
    assert!(
        !text.contains("hosts in the inventory"),
        "no inventory was given: {doc:#}"
    );
    for m in doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "missing")
    {
        assert_eq!(m["severity"], "info", "{m:#}");
        assert!(
            m["evidence"]
                .to_string()
                .contains("inferred from the capture"),
            "{m:#}"
        );
    }

    let out = flowaudit().arg("roles").arg(&cap).output().expect("run");
    let roles = String::from_utf8_lossy(&out.stdout);
    assert!(!roles.contains("No roles inferred"), "{roles}");
    assert!(
        roles.contains("20.190.128.10"),
        "the azure address: {roles}"
    );
    assert!(roles.contains("Microsoft cloud addresses"), "{roles}");

    // With an inventory that names the DC and a sync server that is not in
    // the capture, the workstation's LDAP is no "missing" error either.
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        format!(
            "features = [\"password-hash-sync\"]\n[roles]\nsync = [\"{SYNC}\"]\ndc = [\"{DC1}\"]\n"
        ),
    )
    .expect("write");
    let out = flowaudit()
        .args([
            "audit",
            "--format",
            "json",
            "--fail-on",
            "never",
            "--inventory",
        ])
        .arg(&inv)
        .arg(&cap)
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ldap: Vec<&Value> = findings(&doc, "missing", "tcp", 389);
    assert_eq!(ldap.len(), 1, "{doc:#}");
    assert_eq!(ldap[0]["severity"], "info");
    assert!(
        ldap[0]["evidence"]
            .to_string()
            .contains("hosts of no known role"),
        "{:#}",
        ldap[0]
    );
}

/// Issue 13, acceptance 2: the real endpoint-mapper exchange of
/// `zeek-nobaseline/mapi.pcap` hands out ports outside 49152-65535; the
/// connections to them are dynamic RPC, with the mapper as evidence, not
/// "unexpected". Zeek's dce_rpc.log for the trace names the ports.
#[test]
fn ports_an_endpoint_mapper_hands_out_are_dynamic_rpc_whatever_the_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = common::shared_captures().join("zeek-nobaseline");
    let log = std::fs::read_to_string(base.join("mapi.dce_rpc.log")).expect("dce_rpc.log");
    let ports: std::collections::BTreeSet<u64> = log
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(5)?.parse().ok())
        .filter(|&p| p != 135)
        .collect();
    assert!(ports.contains(&4997) && ports.contains(&1032), "{ports:?}");
    let inv = dir.path().join("mapi.toml");
    std::fs::write(
        &inv,
        "features = [\"password-hash-sync\"]\n[roles]\nsync = [\"192.168.0.173\"]\ndc = [\"192.168.0.2\"]\n",
    )
    .expect("write");
    let out = flowaudit()
        .arg("audit")
        .arg(base.join("mapi.pcap"))
        .arg("--inventory")
        .arg(&inv)
        .args(["--format", "json", "--fail-on", "never"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let all = doc["findings"].as_array().expect("findings");
    for &p in &ports {
        assert!(
            !all.iter()
                .any(|f| f["kind"] == "unexpected" && f["port"] == p),
            "tcp/{p} unexpected: {doc:#}"
        );
        let said = format!("port {p} handed out by the endpoint mapper of 192.168.0.2");
        let rpc = all.iter().find(|f| {
            f["kind"] == "healthy"
                && f["rule"] == "t1-rpc-dynamic"
                && f["evidence"].to_string().contains(&said)
        });
        assert!(rpc.is_some(), "{said}: {doc:#}");
    }
}
