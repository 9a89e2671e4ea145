//! `audit --interface` (cargo feature `live`) on a real interface: the
//! loopback of a network namespace the test makes, two addresses on it (a
//! sync server and a DC), and traffic the test generates itself: one LDAP
//! connection to a listening port, one attempt at a closed LDAPS port. The
//! report must show exactly those: one healthy flow, one blocked (rst); the
//! packets written with `--write` (rotated by `--rotate-size`) audit the same; a report every interval
//! comes before the last. Bad interface, bad filter and no permission exit 2
//! with a message that says what to do.
//!
//! Needs root, `ip` (iproute2), `setpriv` (util-linux) and python3, as on
//! the CI machine; `FLOWAUDIT_NO_LIVE=1` skips with a message.
#![cfg(feature = "live")]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_flowaudit");

/// A network namespace, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("fa-{tag}-{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?} failed");
        };
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.0, "addr", "add", "10.99.0.1/32", "dev", "lo"]);
        ip(&["-n", &ns.0, "addr", "add", "10.99.0.2/32", "dev", "lo"]);
        ns
    }

    /// `program args` run inside the namespace.
    fn run(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn can_run() -> bool {
    if std::env::var_os("FLOWAUDIT_NO_LIVE").is_some() {
        eprintln!("FLOWAUDIT_NO_LIVE is set: not capturing live");
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    assert!(
        root,
        "the live tests need root to make a network namespace (FLOWAUDIT_NO_LIVE=1 skips them)"
    );
    true
}

/// After a second: a listener on 10.99.0.2:389 answering one LDAP-ish
/// exchange from 10.99.0.1, and one connection from 10.99.0.1 to the
/// closed 10.99.0.2:636 (refused: RST).
const TRAFFIC: &str = r#"
import socket, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.99.0.2", 389)); srv.listen(4)
def serve():
    c, _ = srv.accept(); c.recv(100); c.sendall(b"ok"); c.close()
threading.Thread(target=serve, daemon=True).start()
time.sleep(1.0)
s = socket.socket(); s.bind(("10.99.0.1", 0)); s.connect(("10.99.0.2", 389)); s.sendall(b"bind"); s.recv(10); s.close()
s = socket.socket(); s.bind(("10.99.0.1", 0))
try:
    s.connect(("10.99.0.2", 636)); raise SystemExit("636 answered")
except ConnectionRefusedError:
    pass
"#;

const INVENTORY: &str =
    "features = [\"ldaps\"]\n[roles]\nsync = [\"10.99.0.1\"]\ndc = [\"10.99.0.2\"]\n";

/// (kind, how, port, connections) of the blocked and healthy findings.
fn judged(report: &Value) -> Vec<(String, String, u64, u64)> {
    let mut v: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "blocked" || f["kind"] == "healthy")
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_string(),
                f["how"].as_str().unwrap_or("-").to_string(),
                f["port"].as_u64().unwrap_or(0),
                f["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_live_capture_shows_the_blocked_and_the_healthy_flow() {
    if !can_run() {
        return;
    }
    let ns = Netns::new("live");
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv.toml");
    std::fs::write(&inv, INVENTORY).expect("inventory");
    let written = dir.path().join("live.pcap");
    let mut traffic = ns
        .run("python3", &["-c", TRAFFIC])
        .spawn()
        .expect("start the traffic");
    let out = ns
        .run(
            BIN,
            &[
                "audit",
                "--interface",
                "lo",
                "--filter",
                "tcp",
                "--duration",
                "4",
                "--every",
                "1",
                "--write",
                written.to_str().expect("path"),
                // Every commit of records fills a file: a new one each time.
                "--rotate-size",
                "64",
                "--fail-on",
                "never",
                "-f",
                "json",
                "-i",
                inv.to_str().expect("path"),
            ],
        )
        .output()
        .expect("run flowaudit");
    assert!(
        traffic.wait().expect("traffic").success(),
        "the traffic failed"
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let reports: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("JSON documents");
    // Reports at 1, 2 and 3 s, then the last one (a slow machine may miss one).
    assert!(reports.len() >= 3, "{} reports", reports.len());
    let want = vec![
        ("blocked".to_string(), "rst".to_string(), 636, 1),
        ("healthy".to_string(), "-".to_string(), 389, 1),
    ];
    let last = reports.last().expect("a report");
    assert_eq!(judged(last), want, "{last:#}");
    let blocked = &last["findings"][0];
    assert_eq!(
        (blocked["severity"].as_str(), blocked["rule"].as_str()),
        (Some("error"), Some("t1-ldaps"))
    );
    // A report made while capturing names the file being written, not
    // the pipe it was read through.
    let paths: Vec<String> = reports[0]["captures"]
        .as_array()
        .expect("captures")
        .iter()
        .map(|c| c["path"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        paths.iter().all(|p| !p.starts_with("/dev/fd/")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with(" (so far)")), "{paths:?}");
    // What was audited is in the --write files (live.pcap, live.pcap.1,
    // ...), and audits the same.
    let mut files = vec![written.clone()];
    while let Some(next) =
        Some(dir.path().join(format!("live.pcap.{}", files.len()))).filter(|p| p.exists())
    {
        files.push(next);
    }
    assert!(files.len() >= 2, "no rotation: {files:?}");
    let again = Command::new(BIN)
        .args(["audit", "--fail-on", "never", "-f", "json", "-i"])
        .arg(&inv)
        .args(&files)
        .output()
        .expect("run flowaudit");
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(judged(&again), want);
    assert!(
        stderr(&out).contains("flowaudit: captured "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn live_errors_say_what_to_do() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = |o: Output, says: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    };
    let audit = ["audit", "--duration", "1", "--interface"];
    let o = Command::new(BIN)
        .args(audit)
        .arg("nope0")
        .output()
        .expect("run");
    fail(o, "no interface named \"nope0\" (interfaces here: ");
    let ns = Netns::new("err");
    let o = ns
        .run(BIN, &[&audit[..], &["lo", "--filter", "tcp port"]].concat())
        .output()
        .expect("run");
    fail(o, "bad capture filter \"tcp port\": ");
    let o = Command::new(BIN)
        .args(["audit", "--interface", "lo"])
        .output()
        .expect("run");
    fail(o, "--interface needs --duration TIME or --until-signal");
    // An unprivileged user: the binary copied where that user can run it.
    let bin = dir.path().join("flowaudit");
    std::fs::copy(BIN, &bin).expect("copy");
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), bin.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(audit)
        .arg("lo")
        .current_dir(Path::new("/"))
        .output()
        .expect("run setpriv");
    fail(o, "no permission to capture on lo: ");
}
