//! `--threads 1` and the default (parallel) pipeline give byte-identical
//! output: `flows --format json` and `audit --format json` over every capture
//! of the shared corpus, over all of them at once (one continuous trace), and
//! over synthetic captures large enough to span many batches between threads.

mod common;

use common::{flowaudit, manifest, shared_captures};
use flowaudit::synth::{Conversation, Link, TcpSession, Trace, UdpSession};
use flowaudit::time::{Duration, Timestamp};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The sample inventory, so audits classify real roles where addresses match.
fn inventory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.toml")
}

/// Runs flowaudit with `threads` (None: the default) and returns (status, stdout).
fn run(threads: Option<&str>, args: &[OsString]) -> (Option<i32>, Vec<u8>) {
    let mut cmd = flowaudit();
    cmd.arg("--quiet").args(args);
    // After the command: --threads belongs to the commands that track.
    if let Some(t) = threads {
        cmd.args(["--threads", t]);
    }
    let out = cmd.output().expect("run flowaudit");
    (out.status.code(), out.stdout)
}

/// Asserts that one, two and the default number of threads agree on `args`.
fn same_for_all_thread_counts(args: &[OsString]) {
    let one = run(Some("1"), args);
    assert!(
        matches!(one.0, Some(0..=2)),
        "unexpected exit {:?} for {args:?}",
        one.0
    );
    for t in [Some("2"), Some("3"), None] {
        let other = run(t, args);
        assert!(
            one == other,
            "--threads {t:?} differs from --threads 1 for {args:?}"
        );
    }
}

/// `flows` and `audit` argument lists over `captures`.
fn commands(captures: &[PathBuf]) -> [Vec<OsString>; 2] {
    let caps = captures.iter().map(|p| p.clone().into_os_string());
    let mut flows: Vec<OsString> = vec!["flows".into(), "--format".into(), "json".into()];
    flows.extend(caps.clone());
    let mut audit: Vec<OsString> = vec![
        "audit".into(),
        "--format".into(),
        "json".into(),
        "--fail-on".into(),
        "never".into(),
        "--inventory".into(),
        inventory().into_os_string(),
    ];
    audit.extend(caps);
    [flows, audit]
}

#[test]
fn every_shared_capture_gives_the_same_output_with_any_thread_count() {
    let paths: Vec<PathBuf> = manifest()
        .iter()
        .map(|row| shared_captures().join(&row["path"]))
        .collect();
    assert!(paths.len() >= 50, "manifest lists {} captures", paths.len());
    for p in &paths {
        for args in commands(std::slice::from_ref(p)) {
            same_for_all_thread_counts(&args);
        }
    }
    // All of them as one trace: state carries across inputs in both pipelines.
    for args in commands(&paths) {
        same_for_all_thread_counts(&args);
    }
}

/// `n` interleaved conversations of every kind, about 8 packets each: many
/// thousands of packets, so they cross many 4096-packet batches, and
/// connections span batch boundaries.
fn synthetic(n: u32, v6: bool) -> (Trace, u64) {
    let host = |net: u32, i: u32| -> String {
        if v6 {
            format!("fd00::{net:x}:{:x}", i % 200 + 2)
        } else {
            format!("10.0.{net}.{}", i % 200 + 2)
        }
    };
    let sa = |ip: String, port: u16| SocketAddr::new(ip.parse().unwrap(), port);
    let mut t = Trace::new(Link::Ethernet(if v6 { vec![] } else { vec![100] }));
    let mut packets = 0;
    for i in 0..n {
        let start = Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 3_000_000);
        let c = sa(host(1, i), 10_000 + (i % 50_000) as u16);
        match i % 5 {
            0 | 1 => {
                let mut s =
                    TcpSession::new(c, sa(host(0, i / 3), 389), i, i * 7).starting_at(start);
                s.handshake()
                    .client_data(100 + (i % 300) as usize)
                    .server_data(1000)
                    .close();
                packets += s.client_packets() + s.server_packets();
                t.add(&s);
            }
            2 => {
                let mut s = TcpSession::new(c, sa(host(0, i), 3268), i, 0).starting_at(start);
                s.reject();
                packets += s.client_packets() + s.server_packets();
                t.add(&s);
            }
            3 => {
                let mut s = TcpSession::new(c, sa(host(0, i), 445), i, 0).starting_at(start);
                s.unanswered(2, Duration::from_secs(1));
                packets += s.client_packets() + s.server_packets();
                t.add(&s);
            }
            _ => {
                let mut s = UdpSession::new(c, sa(host(0, i), 53)).starting_at(start);
                s.request(40);
                if i % 2 == 0 {
                    s.response(120);
                }
                packets += s.client_packets() + s.server_packets();
                t.add(&s);
            }
        }
    }
    t.sort();
    (t, packets)
}

#[test]
fn synthetic_captures_give_the_same_output_with_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (name, trace) in [
        ("v4-vlan.pcap", synthetic(4000, false)),
        ("v6.pcap", synthetic(3000, true)),
    ] {
        let (trace, packets) = trace;
        let path = dir.path().join(name);
        trace.save(&path).unwrap();
        assert!(packets > 3 * 4096, "{name}: only {packets} packets");
        for args in commands(std::slice::from_ref(&path)) {
            same_for_all_thread_counts(&args);
        }
        all.push(path);
    }
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.pcapng");
    all.push(sample);
    for args in commands(&all) {
        same_for_all_thread_counts(&args);
    }
}
