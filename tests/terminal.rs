//! flowaudit in a real terminal (issue 19, items 4 and 6): the binary runs in
//! a tmux pane 80 and 120 columns wide, and what the pane shows is checked.
//! Audit tables and `flows` fit the width (no line wider than the terminal),
//! words are not split, evidence and Wireshark filters wrap at word
//! boundaries and still read as themselves when their lines are joined; the
//! progress bar counts a gzip file's compressed bytes, and stdin gets a
//! spinner with bytes and packets. Expectations come from the JSON reports
//! of the same captures and from the files the tests write.
//!
//! tmux is required: CI installs it (`.ci/run`). Without it these tests
//! fail, unless `FLOWAUDIT_NO_TMUX=1` says to skip them (with a message).

mod common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    /// Keeps the socket's directory alive.
    dir: tempfile::TempDir,
}

/// Printed by the pane's shell once the command is done.
const DONE: &str = "__flowaudit_test_done__";

impl Tmux {
    /// A private tmux server, or `None` when tmux is missing and
    /// `FLOWAUDIT_NO_TMUX=1` allows skipping; panics when it is missing otherwise.
    fn new() -> Option<Tmux> {
        let present = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            if std::env::var("FLOWAUDIT_NO_TMUX").as_deref() == Ok("1") {
                eprintln!("SKIPPED: tmux is not installed and FLOWAUDIT_NO_TMUX=1");
                return None;
            }
            panic!(
                "tmux is required for the terminal tests (.ci/run installs it); \
                 set FLOWAUDIT_NO_TMUX=1 to skip them"
            );
        }
        Some(Tmux {
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(self.dir.path().join("socket"));
        c
    }

    /// Starts `shell` (a `sh -c` command line) in a detached pane `width`
    /// columns wide.
    fn start(&self, width: u16, shell: &str) {
        let script = format!("{shell}; printf '\\n{DONE}\\n'; sleep 3600");
        let ok = self
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                "40",
            ])
            .args(["sh", "-c", &script])
            .status()
            .expect("run tmux");
        assert!(ok.success(), "tmux new-session failed");
    }

    /// Everything the pane has shown, scrollback included, lines that the
    /// terminal wrapped joined back (so a line too wide shows as one), trailing
    /// blanks dropped.
    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
            .output()
            .expect("capture-pane");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (up to two minutes) for the command to end; the pane's text
    /// before the end marker.
    fn finished(&self) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if let Some(at) = s.find(&format!("\n{DONE}")) {
                return s[..at].to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "timed out:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `shell` at `width` columns and returns what it showed.
    fn run(width: u16, shell: &str) -> Option<String> {
        let t = Tmux::new()?;
        t.start(width, shell);
        Some(t.finished())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// The binary, quoted for `sh`.
fn bin() -> String {
    format!("'{}'", assert_cmd::cargo::cargo_bin("flowaudit").display())
}

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// Display width: characters (the reports are ASCII but for box drawing).
fn cols(line: &str) -> usize {
    line.chars().count()
}

fn assert_fits(screen: &str, width: u16, what: &str) {
    for line in screen.lines() {
        assert!(
            cols(line) <= usize::from(width),
            "{what} at {width} columns: a line of {} columns:\n{line}\n\n{screen}",
            cols(line)
        );
    }
}

/// Whitespace runs as one space.
fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sample's audit as JSON (stdout is a pipe here).
fn sample_json() -> Value {
    serde_json::from_str(&common::sample_audit(&[])).expect("a piped report is JSON")
}

/// The detail block of finding `n`: its lines from `[n]` to the next `[`,
/// table or blank line.
fn detail(screen: &str, n: usize) -> Vec<&str> {
    let mut lines = screen
        .lines()
        .skip_while(|l| !l.starts_with(&format!("  [{n}] ")));
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.take_while(|l| l.starts_with("      ")));
    out
}

#[test]
fn the_audit_fits_80_and_120_columns_and_wraps_at_words() {
    let doc = sample_json();
    // The table numbers findings per role pair, the pairs in the order they
    // first appear in the report (docs/audit.md), healthy ones apart.
    let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
    for f in doc["findings"].as_array().unwrap() {
        if f["kind"] == "healthy" {
            continue;
        }
        let pair = format!("{} -> {}", f["src_role"], f["dst_role"]);
        match groups.iter_mut().find(|(p, _)| *p == pair) {
            Some((_, v)) => v.push(f),
            None => groups.push((pair, vec![f])),
        }
    }
    let findings: Vec<&Value> = groups.into_iter().flat_map(|(_, v)| v).collect();
    for width in [80, 120] {
        let Some(screen) = Tmux::run(
            width,
            &format!(
                "cd '{}' && {} -q audit samples/hybrid-identity.pcapng --inventory \
                 samples/hybrid-identity.toml --fail-on never",
                root(),
                bin()
            ),
        ) else {
            return;
        };
        assert!(
            screen.contains("sync -> dc\n┌"),
            "the table format on a terminal:\n{screen}"
        );
        assert_fits(&screen, width, "audit");
        for (i, f) in findings.iter().enumerate() {
            let n = i + 1;
            // Rule ids, no longer than a column can be, are never split.
            if let Some(rule) = f["rule"].as_str() {
                let in_table = screen
                    .lines()
                    .filter(|l| l.starts_with('│'))
                    .any(|l| l.split_whitespace().any(|w| w == rule));
                assert!(in_table, "{width}: rule {rule} split or missing:\n{screen}");
            }
            let block = detail(&screen, n);
            assert!(!block.is_empty(), "{width}: no detail for [{n}]:\n{screen}");
            let (filter_at, text) = match block
                .iter()
                .position(|l| l.starts_with("      wireshark: "))
            {
                Some(at) => (at, &block[..at]),
                None => (block.len(), &block[..]),
            };
            // Evidence, wrapped with a hanging indent: each sentence starts a
            // line six columns in; its continuation lines are indented deeper;
            // joined at the breaks, they give the sentence back.
            let joined = norm(&text[1..].join("\n"));
            for e in f["evidence"].as_array().unwrap() {
                let e = e.as_str().unwrap();
                let longest = e.split(' ').map(cols).max().unwrap_or(0);
                if longest + 8 <= usize::from(width) {
                    assert!(
                        joined.contains(&norm(e)),
                        "{width}: [{n}] {e:?} not whole in\n{joined}"
                    );
                } else {
                    // A word longer than a line (a URL) must break; nothing is lost.
                    let bare = |s: &str| s.split_whitespace().collect::<String>();
                    assert!(bare(&joined).contains(&bare(e)), "{width}: [{n}] {e:?}");
                }
            }
            for l in &text[1..] {
                assert!(l.starts_with("      "), "{width}: [{n}] indent: {l:?}");
            }
            // The filter: its lines joined are the filter, so a paste works.
            if let Some(want) = f["wireshark_filter"].as_str() {
                let lines = &block[filter_at..];
                assert!(!lines.is_empty(), "{width}: [{n}] no filter");
                let mut got = lines.join(" ");
                got = got.replacen("wireshark: ", "", 1);
                assert_eq!(norm(&got), norm(want), "{width}: [{n}]");
                for l in &lines[1..] {
                    let t = l.trim_start();
                    assert!(
                        t.starts_with("|| ") || t.starts_with("&& "),
                        "{width}: [{n}] a filter line breaks only before || or &&: {l:?}"
                    );
                }
            }
        }
    }
}

/// `flows` of the sample at `width` columns: (screen, its header line).
fn flows_at(width: u16) -> Option<(String, String)> {
    let screen = Tmux::run(
        width,
        &format!(
            "cd '{}' && {} -q flows samples/hybrid-identity.pcapng",
            root(),
            bin()
        ),
    )?;
    let header = screen.lines().next().unwrap_or_default().to_string();
    Some((screen, header))
}

#[test]
fn flows_drops_columns_to_fit_the_terminal() {
    let (code, jsonl, _) = common::run(&["flows", "samples/hybrid-identity.pcapng"]);
    assert_eq!(code, Some(0));
    let conns: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines when piped"))
        .collect();
    for width in [80, 120, 250] {
        let Some((screen, header)) = flows_at(width) else {
            return;
        };
        assert_fits(&screen, width, "flows");
        for col in ["originator", "responder", "handshake"] {
            assert!(header.contains(col), "{width}: no {col} in {header:?}");
        }
        assert!(
            screen.contains(&format!("\n{} connections", conns.len())),
            "{width}: {screen}"
        );
        // Every connection's originator is on the screen: whole, or, when
        // the column is narrower than it, broken after the `:` before the port.
        for c in &conns {
            let host = c["id.orig_h"].as_str().unwrap();
            let port = c["id.orig_p"].to_string();
            let orig = match host.contains(':') {
                true => format!("[{host}]:{}", c["id.orig_p"]),
                false => format!("{host}:{}", c["id.orig_p"]),
            };
            let whole = screen.contains(&orig);
            let split = screen.contains(&orig[..=orig.rfind(':').unwrap()])
                && screen
                    .lines()
                    .any(|l| l.split_whitespace().any(|w| w == port));
            assert!(whole || split, "{width}: {orig} missing:\n{screen}");
        }
        // Wide enough, nothing is dropped; at 80 columns the least useful go.
        let has = |col: &str| header.contains(col);
        match width {
            250 => assert!(
                has("duration") && has("bytes o/r") && has("history"),
                "{header}"
            ),
            80 => assert!(!has("duration") && !has("bytes o/r"), "{header}"),
            _ => {}
        }
    }
}

/// A capture of `n` small UDP datagrams (many flows), pcap bytes.
fn many_packets(n: u32) -> Vec<u8> {
    use flowaudit::synth::{Link, PcapOptions, PcapWriter, udp};
    let mut w = PcapWriter::new(Vec::new(), PcapOptions::default()).expect("pcap header");
    let link = Link::ethernet();
    for i in 0..n {
        let src = format!("10.0.1.10:{}", 1024 + i % 30_000).parse().unwrap();
        let dst = "10.0.0.4:53".parse().unwrap();
        let frame = link.frame(&udp(src, dst, &[0u8; 20]));
        let ts = flowaudit::time::Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 1_000_000);
        w.write_packet(ts, &frame, None).expect("write");
    }
    w.into_inner().expect("finish")
}

/// Polls the pane until `seen` accepts a line of it (the progress line),
/// returning that line; `None` if the command ended first.
fn watch(t: &Tmux, seen: impl Fn(&str) -> bool) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let s = t.screen();
        if let Some(l) = s.lines().find(|l| seen(l)) {
            return Some(l.to_string());
        }
        if s.contains(DONE) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn the_progress_bar_counts_compressed_bytes_of_a_gzip_file() {
    let Some(t) = Tmux::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("big.pcap.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(&many_packets(400_000)).unwrap();
        e.finish().unwrap();
    }
    let total = indicatif::HumanBytes(std::fs::metadata(&gz).unwrap().len()).to_string();
    t.start(
        120,
        &format!("{} flows -f jsonl '{}' > /dev/null", bin(), gz.display()),
    );
    // `12.0 MiB/59.8 MiB`: bytes read of the file's size, more than 0.
    let bar = watch(&t, |l| {
        l.contains(&format!("/{total}")) && !l.contains(&format!(" 0 B/{total}"))
    });
    let bar = bar.unwrap_or_else(|| panic!("no progress line with a count of {total}"));
    assert!(bar.contains('[') && bar.contains("ETA"), "{bar}");
    t.finished();
}

#[test]
fn stdin_gets_a_spinner_with_bytes_and_packets() {
    let Some(t) = Tmux::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fifo: PathBuf = dir.path().join("in.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let bytes = many_packets(20_000);
    let half = bytes.len() / 2;
    t.start(
        120,
        &format!(
            "{} flows -f jsonl - < '{}' > /dev/null",
            bin(),
            fifo.display()
        ),
    );
    // Half the capture, then hold the pipe open while the pane is read.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let fifo = fifo.clone();
        let bytes = bytes.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(&bytes[..half]).unwrap();
            f.flush().unwrap();
            let _ = rx.recv_timeout(Duration::from_secs(120));
            f.write_all(&bytes[half..]).unwrap();
        })
    };
    let line = watch(&t, |l| l.contains(" packets (") && l.contains(" read, "));
    let _ = tx.send(());
    writer.join().unwrap();
    let line = line.unwrap_or_else(|| panic!("no spinner line"));
    // `⠁ 0s 128.00 KiB read, 3072 packets (0.1 M/s), file 1/1`: no total to
    // show a bar against, so no `x/y`, and both counts above zero.
    let read = line.split(" read,").next().unwrap_or_default();
    assert!(!read.contains('/') && !read.ends_with(" 0 B"), "{line}");
    let packets: u64 = line
        .split(" read, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((1024..=20_000).contains(&packets), "{line}");
    let screen = t.finished();
    assert!(!screen.contains(" 0 B/0 B"), "{screen}");
}
