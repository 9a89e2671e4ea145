//! Text that comes from captures must never steer a terminal, run as a
//! spreadsheet formula or inject markup, in any output format. The capture
//! here carries DNS answers and TLS server names with terminal escape
//! sequences, `=cmd|` prefixes and Markdown/HTML markup, next to a benign name
//! (so the test can see that names do reach the outputs), and the capture's
//! own file name is hostile too.

mod common;

use common::flowaudit;
use flowaudit::synth::payload::{
    CertSpec, KrbErrorSpec, Rdata, client_hello, dns_response, krb_error, server_hello_certificate,
};
use flowaudit::synth::{Link, TcpSession, Trace, UdpSession};

const HOSTILE: [&str; 5] = [
    // A valid host name for DNS, and a formula for a spreadsheet.
    "-cmd.example",
    "\u{1b}[31mred\u{1b}]0;owned\u{7}.example",
    "=cmd|' /C calc'!A0.example",
    "<script>alert(1)</script>.example",
    "*bold*_[link](http://x)_|pipe|.example",
];

fn capture_bytes() -> Vec<u8> {
    let client = "10.0.1.10:53001".parse().unwrap();
    let dns = "10.0.0.4:53".parse().unwrap();
    let mut t = Trace::new(Link::ethernet());
    let mut u = UdpSession::new(client, dns);
    let mut answers: Vec<(&str, Rdata<'_>)> = HOSTILE
        .iter()
        .map(|n| (*n, Rdata::Addr("20.190.128.10".parse().unwrap())))
        .collect();
    answers.push((
        "login.microsoftonline.com",
        Rdata::Addr("20.190.128.11".parse().unwrap()),
    ));
    u.request(30);
    u.server_send(&dns_response(7, "login.microsoftonline.com", &answers));
    t.add(&u);
    for (i, name) in HOSTILE
        .iter()
        .chain(["login.microsoftonline.com"].iter())
        .enumerate()
    {
        let server = if i < HOSTILE.len() {
            "20.190.128.10:443"
        } else {
            "20.190.128.11:443"
        };
        let mut s = TcpSession::new(
            format!("10.0.1.10:{}", 50_000 + i).parse().unwrap(),
            server.parse().unwrap(),
            1,
            2,
        )
        .starting_at(flowaudit::time::Timestamp(
            u.now().0 + (i as i64 + 1) * 1_000_000_000,
        ));
        s.handshake()
            .client_send(&client_hello(name))
            .server_data(100)
            .close();
        t.add(&s);
    }
    // A KDC's error naming a hostile principal (a failed finding quotes it).
    let mut k = UdpSession::new(
        "10.0.1.10:53100".parse().unwrap(),
        "10.0.0.4:88".parse().unwrap(),
    )
    .starting_at(u.now());
    k.request(200).server_send(&krb_error(&KrbErrorSpec {
        code: 6,
        stime: u.now(),
        susec: 0,
        ctime: Some(u.now()),
        crealm: Some("*x*<b>=evil|"),
        cname: Some(&["<script>alert(1)</script>", "\u{1b}[31mred"]),
        realm: "CORP",
        sname: &["krbtgt", "CORP"],
    }));
    t.add(&k);
    // An inspecting proxy whose certificate's issuer is hostile text (a
    // failed finding quotes its O and CN).
    let mut p = TcpSession::new(
        "10.0.1.10:51000".parse().unwrap(),
        "20.190.128.11:443".parse().unwrap(),
        3,
        4,
    )
    .starting_at(u.now());
    p.handshake()
        .client_send(&client_hello("login.microsoftonline.com"))
        .server_send(&server_hello_certificate(
            0x0303,
            &CertSpec {
                issuer_org: "<b>Evil</b> \u{1b}[31m=cmd|*x*",
                issuer_cn: "<script>alert(2)</script>",
                subject_cn: "login.microsoftonline.com",
            },
        ))
        .close();
    t.add(&p);
    t.sort();
    t.to_pcapng()
}

/// The text outside Markdown code spans (`...`).
fn without_code_spans(md: &str) -> String {
    md.lines()
        .map(|l| l.split('`').step_by(2).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(path: &std::path::Path, args: &[&str]) -> String {
    let out = flowaudit()
        .args(args)
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "{args:?}: escape sequence on stderr: {stderr:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hostile_names_are_escaped_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // The file name itself carries an escape sequence and markup.
    let path = dir.path().join("\u{1b}[2J<b>=evil|*x*.pcapng");
    std::fs::write(&path, capture_bytes()).unwrap();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let inv = inv.to_str().unwrap();

    let mut saw_benign_name = false;
    for format in [
        "table",
        "json",
        "markdown",
        "csv",
        "html",
        "firewall-csv",
        "firewall-ps1",
    ] {
        let out = run(
            &path,
            &["audit", "--fail-on", "never", "-i", inv, "-f", format],
        );
        saw_benign_name |= out.contains("login.microsoftonline.com");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{format}: control character in output"
        );
        match format {
            "markdown" => {
                // Code spans show their content literally; everywhere else
                // markup must arrive escaped.
                let prose = without_code_spans(&out);
                assert!(
                    !prose.contains("<script>") && !prose.contains("<b>"),
                    "markdown: raw HTML:\n{out}"
                );
                assert!(
                    !prose.contains(" *x*"),
                    "markdown: unescaped emphasis:\n{out}"
                );
            }
            "csv" => {
                let mut rd = csv::Reader::from_reader(out.as_bytes());
                let mut neutralised = false;
                for rec in rd.records() {
                    for cell in rec.unwrap().iter() {
                        assert!(
                            !cell.starts_with(['=', '+', '-', '@']),
                            "csv: formula cell {cell:?}"
                        );
                        neutralised |= cell.starts_with("'-cmd.example");
                    }
                }
                assert!(
                    neutralised,
                    "csv: the name -cmd.example never reached a cell:\n{out}"
                );
            }
            "html" => {
                // Parsed as a browser parses it: the names are text, never
                // elements, and the page's one script is its own.
                let dom = scraper::Html::parse_document(&out);
                let count = |css: &str| dom.select(&scraper::Selector::parse(css).unwrap()).count();
                assert_eq!(count("script"), 1, "html: injected script:\n{out}");
                assert_eq!(count("b, a[href^=http]"), 0, "html: injected markup");
                // The file name's markup and a learned name arrive as text
                // (names that are not host names are never learned).
                let text: String = dom.root_element().text().collect();
                assert!(
                    text.contains("<b>=evil|*x*.pcapng") && text.contains("(-cmd.example)"),
                    "html: hostile text never reached the page as text:\n{out}"
                );
                assert!(
                    text.contains("<script>alert(1)</script>/?[31mred@*x*<b>=evil|"),
                    "html: the hostile principal never reached the page as text:\n{out}"
                );
                assert!(
                    text.contains(
                        "\"<b>Evil</b> ?[31m=cmd|*x*\" (CN \"<script>alert(2)</script>\")"
                    ),
                    "html: the hostile certificate issuer never reached the page as text:\n{out}"
                );
            }
            "firewall-ps1" => {
                // Nothing is refused here: the script is comments and its
                // two fixed lines, the hostile file name inside a comment.
                for line in out.lines() {
                    assert!(
                        line.is_empty()
                            || line == "#"
                            || line.starts_with("# ")
                            || line == "#Requires -RunAsAdministrator"
                            || line == "$ErrorActionPreference = 'Stop'",
                        "firewall-ps1: a line that is no comment: {line:?}"
                    );
                    assert!(!line.contains("<#") && !line.contains("#>"), "{line:?}");
                }
                assert!(out.contains("=evil|*x*.pcapng"), "the capture is not named");
            }
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
                // JSON keeps the exact text, escaped by the encoder: it must round-trip.
                assert!(
                    v["captures"][0]["path"]
                        .as_str()
                        .unwrap()
                        .contains('\u{1b}')
                );
            }
            _ => {}
        }
    }
    assert!(
        saw_benign_name,
        "names learned from the capture never reached the audit output"
    );

    for format in ["table", "jsonl", "csv", "json", "zeek"] {
        let out = run(&path, &["flows", "-f", format]);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "flows {format}: control character"
        );
        if format == "csv" {
            let mut rd = csv::Reader::from_reader(out.as_bytes());
            for rec in rd.records() {
                for cell in rec.unwrap().iter() {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@']),
                        "flows csv: formula cell {cell:?}"
                    );
                }
            }
            assert!(
                out.contains("'-cmd.example"),
                "flows csv: the learned name never reached a cell:\n{out}"
            );
        }
    }
    for format in ["table", "json"] {
        let out = run(&path, &["info", "-f", format]);
        assert!(!out.contains('\u{1b}'), "info {format}: control character");
    }
    let out = run(&path, &["roles", "-f", "toml"]);
    assert!(!out.contains('\u{1b}'));
}

/// Names from a Zeek dns.log (beside a conn.log, in a directory whose name
/// is hostile too) reach the table and HTML reports escaped: the names that
/// are no host names are never learned, the one that is (`-cmd.example`)
/// arrives in the page as text (the table lists no healthy hosts), and the
/// log's hostile path is listed escaped, in TSV (raw bytes) and in JSON
/// lines (`\u001b`) alike.
#[test]
fn hostile_names_in_a_dns_log_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.pcapng");
    std::fs::write(&capture, capture_bytes()).unwrap();
    let flows = flowaudit()
        .args(["flows", "-f", "zeek"])
        .arg(&capture)
        .output()
        .unwrap();
    assert!(flows.status.success());
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n",
    )
    .unwrap();
    let tsv_rows: String = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!("170000000{i}.5\t10.0.1.10\t5300{i}\t10.0.0.4\t53\t{q}\tA\t0\t20.190.128.10\n")
        })
        .collect();
    let tsv = format!(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n\
         #fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tqtype_name\trcode\tanswers\n{tsv_rows}"
    );
    let json: String = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, q)| {
            serde_json::json!({
                "ts": 1_700_000_000.5 + i as f64, "id.orig_h": "10.0.1.10", "id.orig_p": 53000 + i,
                "id.resp_h": "10.0.0.4", "id.resp_p": 53, "query": q, "qtype_name": "A",
                "rcode": 0, "answers": ["20.190.128.10"],
            })
            .to_string()
                + "\n"
        })
        .collect();
    for (what, dns) in [("tsv", tsv), ("json", json)] {
        let logs = dir.path().join(format!("\u{1b}[2J<b>=evil|*x*-{what}"));
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(logs.join("conn.log"), &flows.stdout).unwrap();
        std::fs::write(logs.join("dns.log"), dns).unwrap();
        let conn = logs.join("conn.log");
        let args = [
            "audit",
            "--fail-on",
            "never",
            "-i",
            inv.to_str().unwrap(),
            "-f",
        ];
        let table = run(&conn, &[&args[..], &["table"]].concat());
        assert!(
            !table.contains('\u{1b}') && !table.contains('\u{7}'),
            "{what}: control character in the table"
        );
        // The log is listed among the inputs, its path escaped.
        assert!(
            table.contains(&format!("\\u{{1b}}[2J<b>=evil|*x*-{what}/dns.log")),
            "{what}: the dns.log is not listed, escaped:\n{table}"
        );
        let html = run(&conn, &[&args[..], &["html"]].concat());
        assert!(
            !html.contains('\u{1b}') && !html.contains('\u{7}'),
            "{what}"
        );
        let dom = scraper::Html::parse_document(&html);
        let count = |css: &str| dom.select(&scraper::Selector::parse(css).unwrap()).count();
        assert_eq!(count("script"), 1, "{what}: injected script:\n{html}");
        assert_eq!(count("b, a[href^=http]"), 0, "{what}: injected markup");
        let text: String = dom.root_element().text().collect();
        assert!(
            text.contains(&format!("<b>=evil|*x*-{what}/dns.log"))
                && text.contains("(-cmd.example)"),
            "{what}: the log and its name never reached the page as text:\n{html}"
        );
        assert!(
            !text.contains("<script>alert(1)</script>.example"),
            "{what}: learned"
        );
    }
}
