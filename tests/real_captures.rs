//! Verdicts on the real captures of `../shared/captures/`, each audited with
//! the inventory beside it in `tests/real/` (built by one rule, stated in
//! each file, and checked by hand), checked against tshark as the
//! independent oracle: every `blocked` finding (any severity) and every
//! `missing` error must be what tshark sees in the same file.
//!
//! tshark must be installed (`.ci/run` installs it); `FLOWAUDIT_NO_TSHARK=1`
//! skips the test with a message, for machines without it.

mod common;

use common::{audit_json, shared_captures};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Frames of `capture` that match the display filter `filter`, by tshark.
fn tshark_count(capture: &Path, filter: &str) -> usize {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap_or_else(|e| panic!("tshark: {e}"));
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "tshark failed on {} with {filter}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// `ip.src==a` or `ipv6.src==a`.
fn addr(field: &str, a: &str) -> String {
    let v6 = a.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6());
    format!("{}.{field}=={a}", if v6 { "ipv6" } else { "ip" })
}

/// Every inventory under `tests/real/`, with the capture it is for.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/real");
    let mut invs = Vec::new();
    walk(&root, &mut invs);
    invs.into_iter()
        .map(|inv| {
            let rel = inv
                .strip_prefix(&root)
                .unwrap_or(&inv)
                .with_extension("")
                .to_path_buf();
            (shared_captures().join(rel), inv)
        })
        .collect()
}

/// The host pairs (src, dst) of the healthy findings on this transport and port.
fn healthy_pairs(doc: &Value, proto: &str, port: u64) -> Vec<(String, String)> {
    doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "healthy" && f["transport"] == proto && f["port"] == port)
        .flat_map(|f| f["hosts"].as_array().cloned().unwrap_or_default())
        .map(|h| {
            (
                h["src"].as_str().unwrap_or("").to_string(),
                h["dst"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// What tshark must see for a failed finding: the KRB-ERROR or DNS error
/// code it names between its hosts, or for a lookup without response,
/// queries tshark pairs with no response; `Err` says how tshark contradicts it.
fn check_failed(cap: &Path, f: &Value) -> Result<String, String> {
    let how = f["how"].as_str().unwrap_or("");
    let name_of = |e: &str| {
        e.split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches(':')
            .to_string()
    };
    let names: Vec<String> = f["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        // A failed lookup's line: `<name> <TYPE>: answered ...` or `... sent ...`.
        .filter(|e| {
            let w: Vec<&str> = e.split_whitespace().take(3).collect();
            w.len() == 3 && w[1].ends_with(':') && (w[2] == "answered" || w[2] == "sent")
        })
        .map(name_of)
        .collect();
    let mut seen = Vec::new();
    for h in f["hosts"].as_array().into_iter().flatten() {
        let (c, s) = (
            h["src"].as_str().unwrap_or(""),
            h["dst"].as_str().unwrap_or(""),
        );
        let back = format!("{} && {}", addr("src", s), addr("dst", c));
        let fwd = format!("{} && {}", addr("src", c), addr("dst", s));
        let filters: Vec<String> = match how {
            "kerberos-clock-skew" => vec![format!("{back} && kerberos.error_code==37")],
            "kerberos-principal-unknown" => vec![format!(
                "{back} && (kerberos.error_code==6 || kerberos.error_code==7)"
            )],
            "kerberos-tcp-blocked" => vec![format!("{back} && kerberos.error_code==52")],
            "dns-nxdomain" | "dns-servfail" | "dns-no-answer" => names
                .iter()
                .map(|n| match how {
                    "dns-nxdomain" => format!("{back} && dns.qry.name==\"{n}\" && dns.flags.rcode==3"),
                    "dns-servfail" => format!(
                        "{back} && dns.qry.name==\"{n}\" && (dns.flags.rcode==2 || dns.flags.rcode==5)"
                    ),
                    _ => format!(
                        "{fwd} && dns.qry.name==\"{n}\" && dns.flags.response==0 && !dns.response_in"
                    ),
                })
                .collect(),
            other => return Err(format!("unknown how {other}")),
        };
        if filters.is_empty() {
            return Err(format!("{how}: no name in the evidence"));
        }
        for filter in filters {
            match tshark_count(cap, &filter) {
                0 => return Err(format!("tshark sees none of: {filter}")),
                n => seen.push(format!("{filter}: {n}")),
            }
        }
    }
    Ok(format!("{how}: {}", seen.join("; ")))
}

/// What tshark must see for one host pair of a blocked finding; `Err` says
/// how tshark contradicts it.
fn check_blocked(
    cap: &Path,
    how: &str,
    proto: &str,
    port: u64,
    (s, d): (&str, &str),
    also_works: bool,
) -> Result<String, String> {
    let fwd = format!("{} && {}", addr("src", s), addr("dst", d));
    let back = format!("{} && {}", addr("src", d), addr("dst", s));
    let count = |f: &str| tshark_count(cap, f);
    let req = if proto == "tcp" {
        format!("{fwd} && tcp.dstport=={port} && tcp.flags.syn==1 && tcp.flags.ack==0")
    } else {
        format!("{fwd} && udp.dstport=={port}")
    };
    let sent = count(&req);
    if sent == 0 {
        return Err(format!("tshark sees no request: {req}"));
    }
    let check = |filter: String, want_some: bool| -> Result<String, String> {
        let n = count(&filter);
        match (want_some, n) {
            (true, 0) => Err(format!("tshark sees none of: {filter}")),
            (false, n) if n > 0 && !also_works => {
                Err(format!("tshark sees {n} frames of: {filter}"))
            }
            _ => Ok(format!("{filter}: {n}")),
        }
    };
    match how {
        "rst" => check(
            format!("{back} && tcp.srcport=={port} && tcp.flags.reset==1"),
            true,
        ),
        "no-synack" => check(
            format!("{back} && tcp.srcport=={port} && tcp.flags.syn==1 && tcp.flags.ack==1"),
            false,
        ),
        "no-reply" => check(format!("{back} && udp.srcport=={port}"), false),
        "icmp" => check(
            format!(
                "(icmp.type==3 || icmp.type==11 || icmpv6.type==1 || icmpv6.type==3) && {} && {proto}.dstport=={port}",
                addr("dst", s)
            ),
            true,
        ),
        "reset-after-handshake" => {
            check(
                format!("{back} && tcp.srcport=={port} && tcp.flags.reset==1"),
                true,
            )?;
            check(format!("{back} && tcp.srcport=={port} && tcp.len>0"), false)
        }
        other => Err(format!("unknown how {other}")),
    }
}

#[test]
fn blocked_findings_and_errors_agree_with_tshark() {
    if std::env::var_os("FLOWAUDIT_NO_TSHARK").is_some() {
        eprintln!("FLOWAUDIT_NO_TSHARK is set: not checking the real captures against tshark");
        return;
    }
    let has_tshark = Command::new("tshark").arg("-v").output().is_ok();
    assert!(
        has_tshark,
        "tshark is not installed (.ci/run installs it; FLOWAUDIT_NO_TSHARK=1 skips this test)"
    );
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "{} inventories under tests/real",
        cases.len()
    );
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for (cap, inv) in &cases {
        assert!(
            cap.exists(),
            "{} names a capture that is not there",
            inv.display()
        );
        let doc = audit_json(&[cap], inv);
        let name = cap
            .strip_prefix(shared_captures())
            .unwrap_or(cap)
            .display()
            .to_string();
        for f in doc["findings"].as_array().into_iter().flatten() {
            let kind = f["kind"].as_str().unwrap_or("");
            let proto = f["transport"].as_str().unwrap_or("");
            let port = f["port"].as_u64().unwrap_or(0);
            match kind {
                "blocked" => {
                    let how = f["how"].as_str().unwrap_or("");
                    let works = healthy_pairs(&doc, proto, port);
                    for h in f["hosts"].as_array().into_iter().flatten() {
                        let s = h["src"].as_str().unwrap_or("");
                        let d = h["dst"].as_str().unwrap_or("");
                        let also = works.iter().any(|(a, b)| a == s && b == d);
                        match check_blocked(cap, how, proto, port, (s, d), also) {
                            Ok(what) => checked
                                .push(format!("{name}: {how} {proto}/{port} {s} -> {d}: {what}")),
                            Err(why) => wrong.push(format!(
                                "{name}: blocked {how} {proto}/{port} {s} -> {d}: {why}"
                            )),
                        }
                    }
                }
                "failed" => match check_failed(cap, f) {
                    Ok(what) => checked.push(format!("{name}: failed {what}")),
                    Err(why) => wrong.push(format!("{name}: failed: {why}")),
                },
                "missing" if f["severity"] == "error" => {
                    // The rule's roles, by the inventory's hosts.
                    let text = std::fs::read_to_string(inv).expect("inventory");
                    let table: toml::Table = text.parse().expect("inventory TOML");
                    let hosts = |role: &Value| -> Vec<String> {
                        role.as_str()
                            .and_then(|r| table.get("roles")?.get(r)?.as_array().cloned())
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    };
                    let (srcs, dsts) = (hosts(&f["src_role"]), hosts(&f["dst_role"]));
                    let ports = f["ports"].as_str().unwrap_or("0");
                    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
                    for s in &srcs {
                        for d in &dsts {
                            let filter = format!(
                                "{} && {} && ((tcp.dstport>={lo} && tcp.dstport<={hi}) || (udp.dstport>={lo} && udp.dstport<={hi}))",
                                addr("src", s),
                                addr("dst", d)
                            );
                            let n = tshark_count(cap, &filter);
                            if n == 0 {
                                checked.push(format!("{name}: missing {ports}: {filter}: 0"));
                            } else {
                                wrong.push(format!("{name}: missing {ports} {s} -> {d}: tshark sees {n} frames of {filter}"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!("checked against tshark ({}):", checked.len());
    for c in &checked {
        eprintln!("  {c}");
    }
    assert!(
        wrong.is_empty(),
        "tshark contradicts:\n{}",
        wrong.join("\n")
    );
    assert!(
        !checked.is_empty(),
        "nothing to check: the oracle must be able to fail"
    );
}

/// Fields tshark prints for the frames of `capture` matching `filter`, one
/// row per frame, tab-separated.
fn tshark_rows(capture: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("tshark: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Every DNS error response and KRB-ERROR tshark finds in the real captures,
/// judged independently of the audit: a failed finding is due exactly when
/// the catalogue watches the name (DNS) or the code is one that breaks a
/// deployment (Kerberos: 6, 7, 37; 52 only with TCP failing after), and the
/// client has a role in the inventory beside the capture.
#[test]
fn protocol_errors_in_the_real_captures_are_judged_as_tshark_sees_them() {
    if std::env::var_os("FLOWAUDIT_NO_TSHARK").is_some()
        || Command::new("tshark").arg("-v").output().is_err()
    {
        eprintln!("no tshark: not checking the real captures' protocol errors");
        return;
    }
    let catalogue = flowaudit::catalogue::Catalogue::embedded().expect("catalogue");
    let (mut errors, mut due, mut reported) = (Vec::new(), 0usize, 0usize);
    for (cap, inv) in &cases() {
        let text = std::fs::read_to_string(inv).expect("inventory");
        let table: toml::Table = text.parse().expect("inventory TOML");
        let listed: Vec<String> = table
            .get("roles")
            .and_then(|r| r.as_table())
            .into_iter()
            .flat_map(|t| t.values())
            .filter_map(|v| v.as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let in_inventory = |a: &str| listed.iter().any(|l| l == a);
        let mut expect = 0;
        let dns = tshark_rows(
            cap,
            "dns.flags.response==1 && (dns.flags.rcode==2 || dns.flags.rcode==3 || dns.flags.rcode==5)",
            &["ip.dst", "ipv6.dst", "dns.flags.rcode", "dns.qry.name"],
        );
        for r in &dns {
            let client = if r[0].is_empty() { &r[1] } else { &r[0] };
            let name = r.get(3).map(String::as_str).unwrap_or("");
            let watched = catalogue.watched(name).is_some();
            errors.push(format!(
                "{}: rcode {} for {name} to {client}: watched {watched}",
                cap.display(),
                r[2]
            ));
            if watched && in_inventory(client) {
                expect += 1;
            }
        }
        let krb = tshark_rows(
            cap,
            "kerberos.error_code",
            &["ip.dst", "ipv6.dst", "kerberos.error_code"],
        );
        for r in &krb {
            let client = if r[0].is_empty() { &r[1] } else { &r[0] };
            errors.push(format!("{}: KRB-ERROR {} to {client}", cap.display(), r[2]));
            if matches!(r[2].as_str(), "6" | "7" | "37") && in_inventory(client) {
                expect += 1;
            }
        }
        // TLS: every ClientHello, fatal alert and certificate tshark sees.
        // A handshake to a catalogue endpoint from a host of the inventory
        // would need judging here; the corpus has none, so none may be reported.
        let hellos = tshark_rows(
            cap,
            "tls.handshake.type==1",
            &["ip.src", "ipv6.src", "tls.handshake.extensions_server_name"],
        );
        for r in &hellos {
            let client = if r[0].is_empty() { &r[1] } else { &r[0] };
            let sni = r.get(2).map(String::as_str).unwrap_or("");
            let watched = catalogue.watched(sni).is_some();
            errors.push(format!(
                "{}: ClientHello for {sni:?} from {client}: watched {watched}",
                cap.display()
            ));
            assert!(
                !(watched && in_inventory(client)),
                "{}: a TLS handshake to a catalogue endpoint: judge it in this test",
                cap.display()
            );
        }
        for (filter, what) in [
            ("tls.alert_message.level==2", "fatal TLS alert"),
            ("tls.handshake.type==11", "TLS certificate"),
        ] {
            for _ in tshark_rows(cap, filter, &["frame.number"]) {
                errors.push(format!("{}: {what}", cap.display()));
            }
        }
        // Resolved endpoints: every answer giving addresses for a catalogue
        // endpoint to a host of the inventory, and whether tshark sees the
        // host send anything to them. Never reached is said only where it
        // sends nothing.
        let answers = tshark_rows(
            cap,
            "dns.flags.response==1 && dns.flags.rcode==0 && (dns.a || dns.aaaa)",
            &["ip.dst", "ipv6.dst", "dns.qry.name", "dns.a", "dns.aaaa"],
        );
        let (mut silent, mut reached) = (
            std::collections::BTreeSet::new(),
            std::collections::BTreeSet::new(),
        );
        for r in &answers {
            let client = if r[0].is_empty() { &r[1] } else { &r[0] };
            let name = r.get(2).map(String::as_str).unwrap_or("");
            let endpoint = matches!(
                catalogue.watched(name),
                Some(flowaudit::catalogue::Watched::Endpoint(_))
            );
            if !endpoint || !in_inventory(client) {
                continue;
            }
            let to: Vec<String> = r[3..]
                .iter()
                .flat_map(|v| v.split(','))
                .filter(|a| !a.is_empty())
                .map(|a| addr("dst", a))
                .collect();
            let n = tshark_count(
                cap,
                &format!("{} && ({})", addr("src", client), to.join(" || ")),
            );
            errors.push(format!(
                "{}: {name} resolved for {client}: {n} frames from it to the answer",
                cap.display()
            ));
            let set = if n == 0 { &mut silent } else { &mut reached };
            set.insert((client.clone(), name.to_string()));
        }
        let doc = audit_json(&[cap], inv);
        // Never reached: tshark sees nothing from the client to the answer;
        // reached late: it sees something.
        for f in doc["findings"].as_array().into_iter().flatten() {
            let (set, sep) = match f["how"].as_str() {
                Some("resolved-never-reached") => (&silent, " resolved to "),
                Some("reached-after-retry") => (&reached, ": first reached "),
                _ => continue,
            };
            let client = f["hosts"][0]["src"].as_str().unwrap_or("").to_string();
            let mut named = 0;
            for e in f["evidence"].as_array().into_iter().flatten() {
                let e = e.as_str().unwrap_or("");
                if let Some((name, _)) = e.split_once(sep) {
                    named += 1;
                    assert!(
                        set.contains(&(client.clone(), name.to_string())),
                        "{}: tshark contradicts {e}",
                        cap.display()
                    );
                }
            }
            assert!(named > 0, "{}: no name in {f:#}", cap.display());
        }
        let got: usize = doc["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| {
                let how = f["how"].as_str().unwrap_or("");
                f["kind"] == "failed" && !how.starts_with("dns-no") && !how.contains("reached")
            })
            .map(|f| f["count"].as_u64().unwrap_or(0) as usize)
            .sum();
        assert_eq!(
            got,
            expect,
            "{}: failed errors, against tshark",
            cap.display()
        );
        due += expect;
        reported += got;
    }
    eprintln!(
        "protocol errors tshark sees ({}), {due} due as findings, {reported} reported:",
        errors.len()
    );
    for e in &errors {
        eprintln!("  {e}");
    }
    assert!(
        !errors.is_empty(),
        "the corpus has DNS errors to judge: the check must be able to fail"
    );
}
