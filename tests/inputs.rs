//! What the report says about its inputs (issue 19, items 3 and 8): a cut
//! capture's warning (record, byte offset) is in every audit format, not only
//! on stderr; a file inside a directory that is not a capture is skipped with
//! one warning and listed in the report, while one named on the command line
//! still fails the run. Expectations come from the bytes the test writes.

mod common;

use common::run;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.pcapng")
}

fn inventory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.toml")
}

fn audit(inputs: &[&Path], format: &str) -> (Option<i32>, String, String) {
    let mut args: Vec<std::ffi::OsString> = vec!["audit".into()];
    args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    args.extend(["--fail-on", "never", "--format", format].map(Into::into));
    args.extend(["--inventory".into(), inventory().into_os_string()]);
    run(&args)
}

/// The sample as a little-endian pcap, cut in the middle of its record
/// `k`: returns the file, `k` and the byte offset of that record's header.
fn cut_capture(dir: &Path) -> (PathBuf, u64, usize) {
    let bytes = flowaudit::synth::sample::hybrid_identity().to_pcap();
    let caplen = |o: usize| u32::from_le_bytes(bytes[o + 8..o + 12].try_into().unwrap()) as usize;
    let mut starts = vec![];
    let mut off = 24;
    while off + 16 <= bytes.len() {
        starts.push(off);
        off += 16 + caplen(off);
    }
    let k = starts.len() / 2;
    let start = starts[k - 1];
    let path = dir.join("cut.pcap");
    std::fs::write(&path, &bytes[..start + 16 + caplen(start) / 2]).unwrap();
    (path, k as u64, start)
}

#[test]
fn a_cut_capture_is_said_in_every_audit_format() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, record, offset) = cut_capture(dir.path());
    let said = |text: &str| {
        text.contains("truncated")
            && text.contains(&format!("record {record} at byte offset {offset}"))
    };
    let (code, json, stderr) = audit(&[&cut], "json");
    assert_eq!(code, Some(0), "a truncated file is a warning: {stderr}");
    let doc: Value = serde_json::from_str(&json).unwrap();
    let warnings = doc["summary"]["capture_warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| said(w.as_str().unwrap())),
        "summary.capture_warnings: {warnings:#?}"
    );
    let (_, table, _) = audit(&[&cut], "table");
    let header: Vec<&str> = table.lines().take_while(|l| !l.is_empty()).collect();
    assert!(
        header.iter().any(|l| l.starts_with("Warning:") && said(l)),
        "table header:\n{}",
        header.join("\n")
    );
    let (_, md, _) = audit(&[&cut], "markdown");
    let first_heading = md.find("\n### ").unwrap_or(md.len());
    assert!(
        md[..first_heading]
            .lines()
            .any(|l| l.starts_with("- **Warning:**") && said(l)),
        "markdown header:\n{}",
        &md[..first_heading]
    );
    let (_, csv, _) = audit(&[&cut], "csv");
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert!(
        rows.iter()
            .any(|row| row[col("kind")] == *"capture-warning" && said(&row[col("evidence")])),
        "no capture-warning row in\n{csv}"
    );
    // A complete capture has no such row.
    let (_, csv, _) = audit(&[&sample()], "csv");
    assert!(!csv.contains("truncated"), "{csv}");
}

/// `not a pcap or pcapng file (magic ..)` for a file's first four bytes.
fn not_a_capture(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("not a pcap or pcapng file (magic {})", hex.join(" "))
}

#[test]
fn non_captures_in_a_directory_are_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("captures");
    std::fs::create_dir(&d).unwrap();
    std::fs::copy(sample(), d.join("sync.pcapng")).unwrap();
    // A Zeek log the audit does not read (it reads conn.log, dns.log,
    // ssl.log and http.log beside captures: tests/zeek_logs.rs) and a text file.
    let stray: [(&str, &[u8]); 2] = [
        (
            "files.log",
            b"#separator \\x09\n#path\tfiles\n#fields\tts\tuid\n",
        ),
        ("notes.txt", b"captured on the sync server\n"),
    ];
    for (name, bytes) in stray {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let want: Vec<(String, String)> = vec![
        (
            d.join("files.log").display().to_string(),
            "a Zeek files log: only conn.log (connections) and dns.log, ssl.log, http.log (names) are read"
                .to_string(),
        ),
        (
            d.join("notes.txt").display().to_string(),
            not_a_capture(stray[1].1),
        ),
    ];

    let (code, json, stderr) = audit(&[&d], "json");
    assert_eq!(code, Some(0), "{stderr}");
    // One warning each, naming the file and why.
    for (path, reason) in &want {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(path.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "{path}: {stderr}");
        assert!(lines[0].starts_with("flowaudit: warning:") && lines[0].contains(reason));
    }
    let doc: Value = serde_json::from_str(&json).unwrap();
    let got: Vec<(String, String)> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().into(),
                s["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(doc["captures"].as_array().unwrap().len(), 1);
    // The audit is the one of the capture alone.
    let (_, alone, _) = audit(&[&d.join("sync.pcapng")], "json");
    let alone: Value = serde_json::from_str(&alone).unwrap();
    assert_eq!(doc["findings"], alone["findings"]);

    let (_, table, _) = audit(&[&d], "table");
    let (_, md, _) = audit(&[&d], "markdown");
    let (_, csv, _) = audit(&[&d], "csv");
    for (path, reason) in &want {
        let file = Path::new(path).file_name().unwrap().to_str().unwrap();
        assert!(
            table.lines().any(|l| l.starts_with("Skipped:")
                && l.contains(path.as_str())
                && l.contains(reason.as_str())),
            "table:\n{table}"
        );
        assert!(
            md.lines()
                .any(|l| l.starts_with("- Skipped:") && l.contains(file)),
            "markdown:\n{md}"
        );
        assert!(
            csv.lines()
                .any(|l| l.starts_with("skipped-input,") && l.contains(path.as_str())),
            "csv:\n{csv}"
        );
    }

    // info lists them too, in both formats.
    let (code, info, _) = run(&["info".as_ref(), d.as_os_str()]);
    assert_eq!(code, Some(0));
    for (path, reason) in &want {
        assert!(info.contains(&format!("{path}: {reason}")), "{info}");
    }
    let (_, info, _) = run(&[
        "info".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        d.as_os_str(),
    ]);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["skipped"].as_array().unwrap().len(), want.len());
}

#[test]
fn a_non_capture_named_on_the_command_line_still_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    std::fs::write(&log, b"#fields\tts\n").unwrap();
    let (code, _, stderr) = audit(&[&sample(), &log], "json");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("flowaudit: error:")
            && l.contains(&log.display().to_string())
            && l.contains(&not_a_capture(b"#fie"))),
        "{stderr}"
    );
    // A directory with no capture at all is an error naming it.
    let d = dir.path().join("logs");
    std::fs::create_dir(&d).unwrap();
    std::fs::copy(&log, d.join("conn.log")).unwrap();
    let (code, out, stderr) = run(&["info".as_ref(), d.as_os_str()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        stderr.contains(&format!("{}: no capture files found", d.display())),
        "{stderr}"
    );
}

/// Fragment frames and distinct datagrams (source, destination, id,
/// protocol) in a LINKTYPE_IPV4 pcap, from the IPv4 headers themselves.
fn fragments_and_datagrams(bytes: &[u8]) -> (u64, u64) {
    let caplen = |o: usize| u32::from_le_bytes(bytes[o + 8..o + 12].try_into().unwrap()) as usize;
    let mut off = 24;
    let (mut frags, mut keys) = (0, std::collections::BTreeSet::new());
    while off + 16 <= bytes.len() {
        let ip = &bytes[off + 16..off + 16 + caplen(off)];
        let flags_offset = u16::from_be_bytes([ip[6], ip[7]]);
        if flags_offset & 0x3fff != 0 {
            frags += 1;
            keys.insert((&ip[12..20], &ip[4..6], ip[9]));
        }
        off += 16 + caplen(off);
    }
    (frags, keys.len() as u64)
}

#[test]
fn info_shows_reassembled_fragments_and_datagrams() {
    let path = common::shared_captures().join("dnscap/frags.pcap");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes[20..24], 228u32.to_le_bytes(), "LINKTYPE_IPV4");
    let (frags, datagrams) = fragments_and_datagrams(&bytes);
    assert!(frags > 0 && datagrams > 0);
    let (code, table, _) = run(&["info".as_ref(), path.as_os_str()]);
    assert_eq!(code, Some(0));
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("Reassembled"))
        .unwrap_or_else(|| panic!("no Reassembled row:\n{table}"));
    assert!(
        line.contains(&format!("{frags} fragments into {datagrams} datagrams")),
        "{line}"
    );
    let (_, json, _) = run(&[
        "info".as_ref(),
        "-f".as_ref(),
        "json".as_ref(),
        path.as_os_str(),
    ]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let d = &doc["captures"][0]["decode"];
    assert_eq!(d["reassembled"], frags);
    assert_eq!(d["datagrams_reassembled"], datagrams);
    // Every frame counted once, as docs/output-formats.md says.
    let not_decoded: u64 = d["not_decoded"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let sum = ["decoded", "reassembled", "fragments_buffered"]
        .iter()
        .map(|k| d[*k].as_u64().unwrap())
        .sum::<u64>()
        + not_decoded;
    assert_eq!(d["frames"], sum);
    assert_eq!(doc["captures"][0]["packets"], sum);
}
