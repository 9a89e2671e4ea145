//! flowaudit in a real terminal (issue 19, item 6): the binary runs in a
//! tmux pane, and what the pane shows is checked. The progress bar counts a
//! gzip file's compressed bytes, and stdin gets a spinner with bytes and
//! packets. Expectations come from the files the tests write.
//!
//! tmux is required: CI installs it (`.ci/run`). Without it these tests
//! fail, unless `FLOWAUDIT_NO_TMUX=1` says to skip them (with a message).

mod common;

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
