//! Times (issue 19, item 9): one human form, UTC ISO 8601 at microsecond
//! precision, in every text format (table, Markdown, CSV evidence); epoch
//! seconds in JSON numbers; nanosecond captures rounded, not truncated.
//! Expected strings come from `date -u` and the capture bytes, not from
//! flowaudit.

mod common;

use common::{flowaudit, iso_utc, shared_captures};
use flowaudit::synth::payload::{self, Rdata};
use flowaudit::synth::{Link, TcpSession, Trace, UdpSession};
use flowaudit::time::{Duration, Timestamp};

/// A sync server that learns the Service Bus address from a DNS answer at a
/// chosen time, then fails to reach it on 5671: the evidence names the answer
/// and its time. Returns the capture and the answer's time.
fn capture_with_a_learned_name(dir: &std::path::Path) -> (std::path::PathBuf, i64) {
    let name = "contoso-health.servicebus.windows.net";
    let mut t = Trace::new(Link::ethernet());
    let mut dns = UdpSession::new(
        "10.0.1.10:50001".parse().unwrap(),
        "10.0.0.4:53".parse().unwrap(),
    )
    .starting_at(Timestamp(1_700_000_001_000_000_000))
    .gap(Duration(1_000_400)); // the answer 1.0004 ms later: rounds up
    dns.request(41);
    let answered = dns.now();
    let answer = payload::dns_response(
        7,
        name,
        &[(name, Rdata::Addr("52.168.10.20".parse().unwrap()))],
    );
    dns.server_send(&answer);
    t.add(&dns);
    let mut amqp = TcpSession::new(
        "10.0.1.10:50002".parse().unwrap(),
        "52.168.10.20:5671".parse().unwrap(),
        1,
        2,
    )
    .starting_at(Timestamp(1_700_000_002_000_000_000));
    amqp.unanswered(2, Duration::from_secs(3));
    t.add(&amqp);
    t.sort();
    let path = dir.join("learned.pcap");
    t.save(&path).unwrap();
    (path, answered.0)
}

fn audit(capture: &std::path::Path, inventory: &std::path::Path, format: &str) -> String {
    let out = flowaudit()
        .args(["audit", "--fail-on", "never", "--format", format])
        .arg(capture)
        .arg("--inventory")
        .arg(inventory)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `1700000001.001000`-like epoch seconds in running text.
fn epoch_in(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.len() == 17 && w.as_bytes()[10] == b'.' && w.starts_with("17"))
}

#[test]
fn evidence_times_are_utc_iso_8601_in_every_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, answered) = capture_with_a_learned_name(dir.path());
    let inventory = dir.path().join("inv.toml");
    std::fs::write(
        &inventory,
        "features = [\"health-agent\"]\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let want = format!("dns at {}", iso_utc(answered));
    assert!(want.ends_with(".001000Z"), "{want}: rounded from 1.0004 ms");
    for format in ["table", "markdown", "csv", "json"] {
        let out = audit(&capture, &inventory, format);
        assert!(out.contains(&want), "{format}: no `{want}` in\n{out}");
        let text = match format {
            // CSV's first_ts/last_ts columns are epoch seconds, like JSON's numbers.
            "csv" => {
                let mut r = csv::Reader::from_reader(out.as_bytes());
                let col = r.headers().unwrap().iter().position(|h| h == "evidence");
                r.records()
                    .map(|rec| rec.unwrap()[col.unwrap()].to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => out.clone(),
        };
        assert_eq!(epoch_in(&text), None, "{format}: epoch seconds in text");
    }
    // JSON numbers stay epoch seconds.
    let doc: serde_json::Value =
        serde_json::from_str(&audit(&capture, &inventory, "json")).unwrap();
    assert_eq!(doc["captures"][0]["first_ts"], 1_700_000_001.0);
}

/// (seconds, nanoseconds) of the first and last records of a little-endian
/// nanosecond pcap, read straight from the record headers.
fn first_and_last_nanos(path: &std::path::Path) -> ((u32, u32), (u32, u32)) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], &[0x4d, 0x3c, 0xb2, 0xa1], "LE nanosecond pcap");
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let mut off = 24;
    let mut stamps = Vec::new();
    while off + 16 <= b.len() {
        stamps.push((u32_at(off), u32_at(off + 4)));
        off += 16 + u32_at(off + 8) as usize;
    }
    (stamps[0], *stamps.last().unwrap())
}

#[test]
fn info_rounds_nanosecond_timestamps_to_the_microsecond() {
    // vntag: .729856830 rounds up to .729857; tcp-handshake-nano ends at
    // .052115157, which float seconds turned into .052114.
    for name in ["zeek/vntag.pcap", "tcpdump/tcp-handshake-nano.pcap"] {
        let path = shared_captures().join(name);
        let ((s0, n0), (s1, n1)) = first_and_last_nanos(&path);
        let ns = |s: u32, n: u32| i64::from(s) * 1_000_000_000 + i64::from(n);
        let (first, last) = (iso_utc(ns(s0, n0)), iso_utc(ns(s1, n1)));
        let out = flowaudit().arg("info").arg(&path).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let line = |label: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("{name}: no {label} in\n{text}"))
                .to_string()
        };
        assert!(
            line("First packet").contains(&first),
            "{name}: {first}\n{text}"
        );
        assert!(
            line("Last packet").contains(&last),
            "{name}: {last}\n{text}"
        );
        // JSON says the same time in epoch seconds.
        let out = flowaudit()
            .args(["info", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let micros = (ns(s0, n0) + 500).div_euclid(1000);
        assert_eq!(
            doc["captures"][0]["first_ts"].as_f64(),
            Some(micros as f64 / 1e6),
            "{name}"
        );
    }
}

#[test]
fn several_captures_read_as_captures_over_days_each_with_its_span() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_672_567_200_i64; // 2023-01-01T10:00:00Z
    let day = 86_400;
    let mut spans = Vec::new();
    let mut paths = Vec::new();
    for (i, at) in [start, start + 100 * day, start + 318 * day + 5 * 3600]
        .into_iter()
        .enumerate()
    {
        let mut s = TcpSession::new(
            "10.0.1.10:50000".parse().unwrap(),
            "10.0.0.4:389".parse().unwrap(),
            1,
            2,
        )
        .starting_at(Timestamp(at * 1_000_000_000))
        .gap(Duration(250_000_000));
        s.handshake().client_data(10).server_data(10).close();
        let mut t = Trace::new(Link::ethernet());
        t.add(&s);
        let times: Vec<i64> = t.frames().iter().map(|(ts, _)| ts.0).collect();
        let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        let path = dir.path().join(format!("ring-{i}.pcap"));
        t.save(&path).unwrap();
        spans.push((path.display().to_string(), first, last));
        paths.push(path);
    }
    let inventory = dir.path().join("inv.toml");
    std::fs::write(
        &inventory,
        "[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let days = (spans[2].2 - spans[0].1) / 1_000_000_000 / day;
    for format in ["table", "markdown"] {
        let out = flowaudit()
            .args(["audit", "--fail-on", "never", "-f", format, "-i"])
            .arg(&inventory)
            .args(&paths)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let head: String = text.lines().take(8).collect::<Vec<_>>().join("\n");
        let whole = format!(
            "3 captures over {days} days, {} to {}",
            iso_utc(spans[0].1),
            iso_utc(spans[2].2)
        );
        assert!(head.contains(&whole), "{format}: want {whole:?} in\n{head}");
        for (path, first, last) in &spans {
            let line = head
                .lines()
                .find(|l| l.contains(path.as_str()))
                .unwrap_or_else(|| panic!("{format}: no line for {path} in\n{head}"));
            assert!(
                line.contains(&format!("{} to {}", iso_utc(*first), iso_utc(*last))),
                "{format}: {line}"
            );
        }
        assert!(
            !head.contains("Span:"),
            "{format}: one span for all\n{head}"
        );
    }
}
