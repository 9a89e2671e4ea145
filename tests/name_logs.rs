//! Zeek's dns.log, ssl.log and http.log as audit input beside a conn.log:
//! built here from tshark's decoding of the bundled sample capture (an
//! oracle independent of flowaudit's DNS, TLS and HTTP parsers), in Zeek's
//! TSV and in JSON lines, they give the audit of the sample's conn.log the
//! names the audit of the capture learns: the same assumptions (the
//! unlisted crl.microsoft.com host audited as azure by its HTTP Host), the
//! same findings with the same host names and name evidence. Without them
//! those results differ, and the report says no names were learned.
//!
//! tshark is installed in CI by `.ci/run`; without it (or with
//! `FLOWAUDIT_NO_TSHARK=1`) these tests say so and check nothing.

mod common;

use common::flowaudit;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample capture.
fn sample() -> PathBuf {
    root().join("samples/hybrid-identity.pcapng")
}

/// Whether tshark can be run; says why not when it cannot.
fn have_tshark() -> bool {
    if std::env::var_os("FLOWAUDIT_NO_TSHARK").is_some() {
        eprintln!(
            "FLOWAUDIT_NO_TSHARK is set: name logs are not built from tshark, nothing checked"
        );
        return false;
    }
    let ok = Command::new("tshark").arg("-v").output().is_ok();
    if !ok {
        eprintln!(
            "tshark is not installed (.ci/run installs it): name logs cannot be built, nothing checked"
        );
    }
    ok
}

/// The rows tshark gives for the frames of the sample matching `filter`,
/// one `-e` field per column (repeated fields joined by `,`).
fn tshark(filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(sample())
        .args(["-Y", filter, "-T", "fields", "-E", "occurrence=a"])
        .args(["-E", "aggregator=,", "-E", "separator=/t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {filter}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The first non-empty of `cols` (IPv4 or IPv6, UDP or TCP).
fn either(row: &[String], cols: &[usize]) -> String {
    cols.iter()
        .map(|&i| row[i].clone())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("none of {cols:?} in {row:?}"))
}

/// One log: Zeek's field names and each row's values (`None`: unset),
/// vectors as lists.
struct Log {
    path: &'static str,
    fields: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
}

/// dns.log, ssl.log and http.log of the sample, as Zeek would write them,
/// from tshark. Times are the frames' (a response's, a ClientHello's, a
/// request's), as the packet learner stamps what it learns.
fn name_logs() -> Vec<Log> {
    let id = ["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"];
    let dns = tshark(
        "dns.flags.response==1",
        &[
            "frame.time_epoch",
            "ip.dst",
            "ipv6.dst",
            "udp.dstport",
            "tcp.dstport",
            "ip.src",
            "ipv6.src",
            "udp.srcport",
            "tcp.srcport",
            "dns.qry.name",
            "dns.qry.type",
            "dns.flags.rcode",
            "dns.cname",
            "dns.a",
            "dns.aaaa",
        ],
    );
    let dns_rows = dns
        .iter()
        .map(|r| {
            let answers: Vec<Value> = r[12..15]
                .iter()
                .filter(|v| !v.is_empty())
                .flat_map(|v| v.split(','))
                .map(|v| json!(v))
                .collect();
            let qtype = match r[10].as_str() {
                "1" => "A".to_string(),
                "28" => "AAAA".to_string(),
                "5" => "CNAME".to_string(),
                n => n.to_string(),
            };
            vec![
                json!(r[0]),
                json!(either(r, &[1, 2])),
                json!(either(r, &[3, 4])),
                json!(either(r, &[5, 6])),
                json!(either(r, &[7, 8])),
                json!(if r[8].is_empty() { "udp" } else { "tcp" }),
                json!(r[9]),
                json!(qtype),
                json!(r[11]),
                Value::Array(answers),
            ]
        })
        .collect();
    let conn = [
        "frame.time_epoch",
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "ip.dst",
        "ipv6.dst",
        "tcp.dstport",
    ];
    let ends = |r: &[String]| {
        vec![
            json!(r[0]),
            json!(either(r, &[1, 2])),
            json!(r[3]),
            json!(either(r, &[4, 5])),
            json!(r[6]),
        ]
    };
    let ssl = tshark(
        "tls.handshake.type==1 && tls.handshake.extensions_server_name",
        &[&conn[..], &["tls.handshake.extensions_server_name"]].concat(),
    );
    let ssl_rows = ssl
        .iter()
        .map(|r| {
            let mut v = ends(r);
            v.push(json!(r[7]));
            v
        })
        .collect();
    let http = tshark(
        "http.request",
        &[
            &conn[..],
            &["http.request.method", "http.host", "http.request.uri"],
        ]
        .concat(),
    );
    let http_rows = http
        .iter()
        .map(|r| {
            let mut v = ends(r);
            v.push(json!(1));
            for x in &r[7..10] {
                v.push(if x.is_empty() { Value::Null } else { json!(x) });
            }
            v
        })
        .collect();
    let with_id = |rest: &[&'static str]| [&["ts"][..], &id[..], rest].concat();
    vec![
        Log {
            path: "dns",
            fields: with_id(&["proto", "query", "qtype_name", "rcode", "answers"]),
            rows: dns_rows,
        },
        Log {
            path: "ssl",
            fields: with_id(&["server_name"]),
            rows: ssl_rows,
        },
        Log {
            path: "http",
            fields: with_id(&["trans_depth", "method", "host", "uri"]),
            rows: http_rows,
        },
    ]
}

impl Log {
    /// Zeek's ASCII form: the header, `-` unset, `(empty)` an empty vector.
    fn tsv(&self) -> String {
        let mut s = format!(
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{}\n#open\t2023-11-14-22-13-20\n#fields\t{}\n",
            self.path,
            self.fields.join("\t")
        );
        for r in &self.rows {
            let cells: Vec<String> = r
                .iter()
                .map(|v| match v {
                    Value::Null => "-".to_string(),
                    Value::String(s) => s.clone(),
                    Value::Array(a) if a.is_empty() => "(empty)".to_string(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    v => v.to_string(),
                })
                .collect();
            s.push_str(&cells.join("\t"));
            s.push('\n');
        }
        s.push_str("#close\t2023-11-14-22-44-20\n");
        s
    }

    /// Zeek's JSON lines: unset fields left out, numbers as numbers.
    fn jsonl(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            let mut o = serde_json::Map::new();
            for (k, v) in self.fields.iter().zip(r) {
                let v = match (k, v) {
                    (_, Value::Null) => continue,
                    (&("ts" | "id.orig_p" | "id.resp_p" | "rcode"), Value::String(n)) => {
                        serde_json::from_str(n).expect("a number")
                    }
                    (_, v) => v.clone(),
                };
                o.insert(k.to_string(), v);
            }
            s.push_str(&Value::Object(o).to_string());
            s.push('\n');
        }
        s
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// `flowaudit flows --format FORMAT` of the sample: its conn.log.
fn conn_log(format: &str) -> Vec<u8> {
    let out = flowaudit()
        .current_dir(root())
        .args(["flows", "-f", format, "samples/hybrid-identity.pcapng"])
        .output()
        .expect("run flowaudit");
    assert!(out.status.success());
    out.stdout
}

/// `flowaudit audit` of `inputs` with the sample's inventory, as JSON.
fn audit(inputs: &[&Path]) -> Value {
    common::audit_json(inputs, &root().join("samples/hybrid-identity.toml"))
}

/// What of a finding depends on names, and what it concludes: kind,
/// severity, rule, roles, port, count, the hosts' learned names, the
/// evidence that cites a learned name. (`how` is left out: the capture's
/// blocked (icmp) is the log's no-synack, which `tests/zeek_logs.rs` covers.)
fn judged(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let names: Vec<String> = f["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| format!("{} {}", h["src_name"], h["dst_name"]))
                .collect();
            let by_name: Vec<&str> = f["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|e| {
                    ["(dns at ", "(sni at ", "(http-host at "]
                        .iter()
                        .any(|s| e.contains(s))
                })
                .collect();
            format!(
                "{} {} {} {}->{} {} x{} names {names:?} evidence {by_name:?}",
                f["kind"],
                f["severity"],
                f["rule"],
                f["src_role"],
                f["dst_role"],
                f["port"],
                f["count"]
            )
        })
        .collect();
    v.sort();
    v
}

/// The report's sentence on what its connection logs cannot show.
fn limits(report: &Value) -> String {
    report["summary"]["capture_warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .find(|w| w.contains("a connection log holds no packets"))
        .unwrap_or_else(|| panic!("no limits sentence in {report}"))
        .to_string()
}

/// The inputs a report lists (`captures`): (file name, format).
fn listed(report: &Value) -> Vec<(String, String)> {
    report["captures"]
        .as_array()
        .expect("captures")
        .iter()
        .map(|c| {
            let p = PathBuf::from(c["path"].as_str().expect("path"));
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                c["format"].as_str().expect("format").to_string(),
            )
        })
        .collect()
}

#[test]
fn name_logs_from_tshark_give_a_log_audit_the_captures_names() {
    if !have_tshark() {
        return;
    }
    let logs = name_logs();
    // Something to learn: the sample's DNS answers (one with a CNAME),
    // server names and its one HTTP request.
    let rows: Vec<usize> = logs.iter().map(|l| l.rows.len()).collect();
    assert!(rows[0] >= 2 && rows[1] >= 5 && rows[2] >= 1, "{rows:?}");

    let from_capture = audit(&[&sample()]);
    let want = judged(&from_capture);
    let assumed = from_capture["summary"]["assumptions"].clone();
    // The result that depends on a name: crl.microsoft.com, not in the
    // inventory, audited as azure by its HTTP Host.
    assert!(
        assumed
            .to_string()
            .contains("(crl.microsoft.com) is not in the inventory; audited as azure by its name"),
        "{assumed}"
    );
    assert!(
        want.iter()
            .any(|f| f.contains("\"healthy\" \"info\" \"t2-http-crl\"")),
        "{want:#?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    // Zeek's TSV, plain names: conn.log named, the rest found beside it.
    let tsv = dir.path().join("tsv");
    std::fs::create_dir(&tsv).expect("mkdir");
    std::fs::write(tsv.join("conn.log"), conn_log("zeek")).expect("write");
    for l in &logs {
        std::fs::write(tsv.join(format!("{}.log", l.path)), l.tsv()).expect("write");
    }
    // JSON lines, rotated and gzip'd (the ssl.log left plain): found beside
    // the conn.log by its rotation suffix.
    let json = dir.path().join("json");
    std::fs::create_dir(&json).expect("mkdir");
    let suffix = "10:00:00-11:00:00.log";
    std::fs::write(
        json.join(format!("conn.{suffix}.gz")),
        gzip(&conn_log("jsonl")),
    )
    .expect("write");
    for l in &logs {
        let (name, bytes) = match l.path {
            "ssl" => (format!("ssl.{suffix}"), l.jsonl().into_bytes()),
            p => (format!("{p}.{suffix}.gz"), gzip(l.jsonl().as_bytes())),
        };
        std::fs::write(json.join(name), bytes).expect("write");
    }
    // Another hour's logs beside them, not the conn.log's: never read.
    std::fs::write(
        json.join("dns.11:00:00-12:00:00.log"),
        "#separator \\x09\n#path\tdns\n#fields\tts\tquery\tanswers\n1700000000\tlogin.microsoftonline.com\t10.0.1.10\n",
    )
    .expect("write");
    // Named one by one, from a directory where they are not beside the conn.log.
    let named = dir.path().join("named");
    std::fs::create_dir_all(named.join("conn")).expect("mkdir");
    std::fs::write(named.join("conn/conn.log"), conn_log("zeek")).expect("write");
    let mut explicit = vec![named.join("conn/conn.log")];
    for l in &logs {
        let p = named.join(format!("zeek-{}.txt", l.path));
        std::fs::write(&p, l.tsv()).expect("write");
        explicit.push(p);
    }
    let explicit: Vec<&Path> = explicit.iter().map(PathBuf::as_path).collect();

    let (tsv_conn, json_conn) = (tsv.join("conn.log"), json.join(format!("conn.{suffix}.gz")));
    let cases: [(&str, Vec<&Path>); 4] = [
        ("tsv beside", vec![&tsv_conn]),
        ("tsv directory", vec![&tsv]),
        ("json rotated beside", vec![&json_conn]),
        ("named", explicit),
    ];
    for (what, inputs) in &cases {
        let report = audit(inputs);
        assert_eq!(report["summary"]["assumptions"], assumed, "{what}");
        assert_eq!(judged(&report), want, "{what}");
        let said = limits(&report);
        assert!(!said.contains("no names are learned"), "{what}: {said}");
        // All three read: nothing is said to be missing for want of one.
        assert!(!said.contains("was read"), "{what}: {said}");
        assert!(said.contains("ICMP errors are not tied"), "{what}: {said}");
        // Every name log read is listed among the inputs, with its rows.
        let inputs = listed(&report);
        assert_eq!(inputs.len(), 4, "{what}: {inputs:?}");
        for (kind, n) in [("dns", rows[0]), ("ssl", rows[1]), ("http", rows[2])] {
            assert!(
                inputs
                    .iter()
                    .any(|(_, f)| f.contains(&format!("{kind}.log"))
                        && f.ends_with(&format!(", {n} rows"))),
                "{what}: no {kind}.log of {n} rows in {inputs:?}"
            );
        }
    }

    // The conn.log alone: no names, and the results that need them differ.
    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone).expect("mkdir");
    std::fs::write(alone.join("conn.log"), conn_log("zeek")).expect("write");
    let report = audit(&[&alone.join("conn.log")]);
    assert_eq!(report["summary"]["assumptions"], json!([]));
    let got = judged(&report);
    assert_ne!(got, want);
    assert!(
        !got.iter()
            .any(|f| f.contains("\"healthy\" \"info\" \"t2-http-crl\"")),
        "{got:#?}"
    );
    assert!(limits(&report).contains("no names are learned"));
    assert_eq!(listed(&report).len(), 1);

    // Only the dns.log beside it: the report names what is still missing.
    std::fs::write(alone.join("dns.log"), logs[0].tsv()).expect("write");
    let report = audit(&[&alone.join("conn.log")]);
    let said = limits(&report);
    assert!(
        said.contains("no TLS server names, HTTP Host names or proxy CONNECT targets are learned (no ssl.log or http.log was read)"),
        "{said}"
    );
}

/// `roles` of the sample's logs learns the capture's names (the `names`
/// the report lists) and places the hosts they name as the capture does.
#[test]
fn roles_of_logs_use_the_name_logs() {
    if !have_tshark() {
        return;
    }
    let roles = common::roles_json;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("conn.log"), conn_log("zeek")).expect("write");
    let without = roles(&dir.path().join("conn.log"));
    for l in name_logs() {
        std::fs::write(dir.path().join(format!("{}.log", l.path)), l.tsv()).expect("write");
    }
    let from_capture = roles(&sample());
    let from_logs = roles(&dir.path().join("conn.log"));
    assert_eq!(from_logs["names"], from_capture["names"]);
    assert_eq!(without["names"], json!([]));
    let placed = |v: &Value| -> Vec<(String, String, String)> {
        let mut h: Vec<_> = v["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| {
                (
                    h["addr"].to_string(),
                    h["role"].to_string(),
                    h["name"].to_string(),
                )
            })
            .collect();
        h.sort();
        h
    };
    assert_eq!(placed(&from_logs), placed(&from_capture));
    assert_ne!(placed(&without), placed(&from_capture));
}
