//! Two sensors on either side of a firewall, the sync server's and the
//! DC's, capture the same conversations: the audit of both counts each
//! connection once and says which sensor showed each finding. The captures
//! are built here, so the truth is known: the LDAP session and the rejected
//! GC attempt cross the firewall (both sensors see every packet), the LDAPS
//! SYNs are dropped on the way (only the sync server's sensor sees them).

mod common;

use flowaudit::synth::{Conversation, PcapOptions, PcapWriter, Sent, TcpSession, ethernet};
use flowaudit::time::{Duration, Timestamp};
use serde_json::Value;
use std::path::{Path, PathBuf};

const T0: i64 = 1_700_000_000_000_000_000;
/// How much later the DC's sensor sees a packet that crossed the firewall.
const DELAY: i64 = 300_000;

fn inventory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.toml")
}

fn session(port: u16, sport: u16, at_ms: i64) -> TcpSession {
    TcpSession::new(
        format!("10.0.1.10:{sport}").parse().unwrap(),
        format!("10.0.0.4:{port}").parse().unwrap(),
        1000 + u32::from(sport),
        9000 + u32::from(port),
    )
    .starting_at(Timestamp(T0 + at_ms * 1_000_000))
}

/// Writes `(time, IP datagram)` as Ethernet frames, earliest first.
fn write(path: &Path, mut packets: Vec<(Timestamp, Vec<u8>)>) {
    packets.sort_by_key(|p| p.0);
    let file = std::fs::File::create(path).expect("create");
    let mut w =
        PcapWriter::new(std::io::BufWriter::new(file), PcapOptions::default()).expect("header");
    for (ts, ip) in &packets {
        w.write_packet(*ts, &ethernet(ip, &[]), None)
            .expect("write");
    }
    w.into_inner().expect("flush");
}

/// The packets each sensor captured: the sync server's, the DC's.
type Seen = (Vec<(Timestamp, Vec<u8>)>, Vec<(Timestamp, Vec<u8>)>);

/// What each sensor captured.
fn traffic() -> Seen {
    let mut ldap = session(389, 50001, 0);
    ldap.handshake().client_data(300).server_data(900).close();
    let mut gc = session(3268, 50002, 500);
    gc.reject();
    let mut ldaps = session(636, 50003, 1000);
    ldaps.unanswered(2, Duration::from_secs(1));
    let crossing: Vec<&Sent> = ldap.packets().iter().chain(gc.packets()).collect();
    let near: Vec<(Timestamp, Vec<u8>)> = crossing
        .iter()
        .map(|p| (p.ts, p.ip.clone()))
        .chain(ldaps.packets().iter().map(|p| (p.ts, p.ip.clone())))
        .collect();
    let far: Vec<(Timestamp, Vec<u8>)> = crossing
        .iter()
        .map(|p| (Timestamp(p.ts.0 + DELAY), p.ip.clone()))
        .collect();
    (near, far)
}

/// The two captures and how many packets the DC's sensor holds.
fn captures(dir: &Path) -> (PathBuf, PathBuf, usize) {
    let (near, far) = traffic();
    let (a, b) = (dir.join("sync-side.pcap"), dir.join("dc-side.pcap"));
    let n = far.len();
    write(&a, near);
    write(&b, far);
    (a, b, n)
}

fn audit(inputs: &[&Path]) -> Value {
    audit_with(inputs, &[])
}

fn audit_with(inputs: &[&Path], extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["audit".into(), "--format".into(), "json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["-i".into(), inventory().display().to_string()]);
    let (code, out, err) = common::run(&args);
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {err}");
    serde_json::from_str(&out).expect("json")
}

/// (kind, rule) -> (count, SYN attempts over its host pairs, inputs named).
fn findings(v: &Value) -> Vec<(String, String, u64, u64, Vec<String>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] != "missing")
        .map(|f| {
            let attempts = f["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["attempts"].as_u64().unwrap())
                .sum();
            let inputs = f["inputs"]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (
                f["kind"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap_or("").to_string(),
                f["count"].as_u64().unwrap(),
                attempts,
                inputs,
            )
        })
        .collect()
}

#[test]
fn two_vantage_points_count_once_and_name_the_sensor_that_saw_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, far_packets) = captures(dir.path());
    let (an, bn) = (a.display().to_string(), b.display().to_string());

    let alone = findings(&audit(&[&a]));
    let both_v = audit(&[&a, &b]);
    // Copies reach the tracker shards as they reach one table.
    for threads in ["1", "3"] {
        assert_eq!(
            audit_with(&[&a, &b], &["--threads", threads]),
            both_v,
            "{threads}"
        );
    }
    let both = findings(&both_v);

    // The same findings with the same counts as the near sensor alone:
    // every packet the far sensor has is a copy of one the near one has.
    let strip = |f: &[(String, String, u64, u64, Vec<String>)]| -> Vec<_> {
        f.iter()
            .map(|(k, r, c, n, _)| (k.clone(), r.clone(), *c, *n))
            .collect()
    };
    assert_eq!(strip(&both), strip(&alone));
    assert!(alone.iter().all(|f| f.4.is_empty()), "one input names none");
    let dups: Vec<u64> = both_v["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duplicates"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(dups, vec![0, far_packets as u64]);

    let find = |kind: &str, rule: &str| {
        both.iter()
            .find(|f| f.0 == kind && f.1 == rule)
            .unwrap_or_else(|| panic!("no {kind} {rule} in {both:?}"))
            .clone()
    };
    // Rejected by the DC, seen on both sides: one connection, one SYN.
    let gc = find("blocked", "t1-gc");
    assert_eq!((gc.2, gc.3, gc.4), (1, 1, vec![an.clone(), bn.clone()]));
    let ldap = find("healthy", "t1-ldap");
    assert_eq!((ldap.2, ldap.4), (1, vec![an.clone(), bn.clone()]));
    // Dropped between the sensors: only the sync server's side saw the three SYNs.
    let ldaps = find("blocked", "t1-ldaps");
    assert_eq!((ldaps.2, ldaps.3, ldaps.4), (1, 3, vec![an.clone()]));
    let f = both_v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "t1-ldaps" && f["kind"] == "blocked")
        .unwrap();
    let ev: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        ev.contains(&format!("seen only in {an}; not in {bn}").as_str()),
        "{ev:?}"
    );

    // The far sensor alone never saw LDAPS at all: no blocked finding for it.
    let far = findings(&audit(&[&b]));
    assert!(
        !far.iter().any(|f| f.1 == "t1-ldaps" && f.0 == "blocked"),
        "{far:?}"
    );

    // Named in the other order, the inputs are listed in that order and the
    // findings are otherwise the same.
    let swapped = findings(&audit(&[&b, &a]));
    assert_eq!(strip(&swapped), strip(&alone));
    let gc = swapped
        .iter()
        .find(|f| f.0 == "blocked" && f.1 == "t1-gc")
        .unwrap();
    assert_eq!(gc.4, vec![bn.clone(), an.clone()]);
}

#[test]
fn parts_of_one_trace_are_one_vantage_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (near, far) = traffic();
    // The sync server's sensor as a ring buffer of two files (LDAP and GC
    // in the first, the LDAPS attempts in the second), in a directory of
    // its own; the DC's sensor in another.
    let cut = Timestamp(T0 + 900_000_000);
    let (first, second): (Vec<_>, Vec<_>) = near.into_iter().partition(|p| p.0 < cut);
    let (sa, sb) = (dir.path().join("sensor-sync"), dir.path().join("sensor-dc"));
    std::fs::create_dir(&sa).unwrap();
    std::fs::create_dir(&sb).unwrap();
    let (a1, a2) = (sa.join("ring_00001.pcap"), sa.join("ring_00002.pcap"));
    write(&a1, first);
    write(&a2, second);
    write(&sb.join("dc.pcap"), far);

    // The ring buffer's files named one by one follow each other in time:
    // one trace, no finding names an input.
    let ring = findings(&audit(&[&a1, &a2]));
    assert!(
        ring.iter().any(|f| f.0 == "blocked" && f.1 == "t1-ldaps"),
        "{ring:?}"
    );
    assert!(ring.iter().all(|f| f.4.is_empty()), "{ring:?}");

    // A directory per sensor: findings name the directories.
    let (an, bn) = (sa.display().to_string(), sb.display().to_string());
    let both = findings(&audit(&[&sa, &sb]));
    let find = |rule: &str| {
        both.iter()
            .find(|f| f.0 == "blocked" && f.1 == rule)
            .unwrap()
    };
    assert_eq!(find("t1-ldaps").4, vec![an.clone()]);
    assert_eq!(find("t1-gc").4, vec![an, bn]);
    assert_eq!(
        find("t1-gc").2,
        1,
        "the DC's copy of the rejected attempt is not a second one"
    );
}

/// `flowaudit flows --format zeek` of a capture: the conn.log Zeek-style
/// sensor software at that vantage point would have written.
fn conn_log(capture: &Path, to: &Path) {
    let (code, out, err) = common::run(&[
        "flows".to_string(),
        capture.display().to_string(),
        "--format".into(),
        "zeek".into(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(to, out).expect("write log");
}

#[test]
fn logs_of_two_vantage_points_count_once_as_their_captures_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, _) = captures(dir.path());
    let (la, lb) = (
        dir.path().join("sync-side.log"),
        dir.path().join("dc-side.log"),
    );
    conn_log(&a, &la);
    conn_log(&b, &lb);
    let name = |p: &Path| p.display().to_string();
    let captures = findings(&audit(&[&a, &b]));
    // The inputs named are the logs (or the capture and the log) instead.
    let renamed = |f: &[(String, String, u64, u64, Vec<String>)], from: &[&Path], to: &[&Path]| {
        f.iter()
            .map(|(k, r, c, n, inputs)| {
                let inputs: Vec<String> = inputs
                    .iter()
                    .map(|i| {
                        let at = from.iter().position(|p| name(p) == *i).unwrap();
                        name(to[at])
                    })
                    .collect();
                (k.clone(), r.clone(), *c, *n, inputs)
            })
            .collect::<Vec<_>>()
    };
    let logs_v = audit(&[&la, &lb]);
    assert_eq!(
        findings(&logs_v),
        renamed(&captures, &[&a, &b], &[&la, &lb])
    );
    // Every row of the DC side's log is a connection the sync side's shows.
    let rows = std::fs::read_to_string(&lb)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let warnings = logs_v["summary"]["capture_warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "{rows} connections that a log and another input both show counted once"
        )),
        "{warnings}"
    );
    assert!(
        !warnings.contains("packets that two of them show"),
        "{warnings}"
    );
    let dups: Vec<u64> = logs_v["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duplicates"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(dups, vec![0, rows as u64]);
    let mixed = findings(&audit(&[&a, &lb]));
    assert_eq!(mixed, renamed(&captures, &[&a, &b], &[&a, &lb]));

    // A sensor's capture and its own conn.log in one directory: one vantage
    // point, each connection once, no input named.
    let own = dir.path().join("sensor");
    std::fs::create_dir(&own).unwrap();
    std::fs::copy(&a, own.join("a.pcap")).unwrap();
    std::fs::copy(&la, own.join("conn.log")).unwrap();
    let alone = findings(&audit(&[&a]));
    assert_eq!(findings(&audit(&[&own])), alone);
}
