//! Issue 14, the firewall change requests: `--format firewall-csv` opens
//! exactly the blocked findings of severity error (an enabled feature
//! requires them and the capture proves them), expected sets taken from the
//! JSON report of the same run; `--format firewall-ps1` has a
//! `New-NetFirewallRule` for exactly the RST errors, and parses (with
//! PowerShell's own parser when `pwsh` is installed, always with the
//! tokenizer below for the subset the exporter writes); host pairs become
//! the smallest CIDRs that cover exactly the hosts the capture built here
//! refused; hostile names stay inert in both.

mod common;

use flowaudit::synth::payload::{Rdata, dns_response};
use flowaudit::synth::{Link, START, TcpSession, Trace, UdpSession};
use flowaudit::time::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

type Row = BTreeMap<String, String>;

/// `flowaudit audit` with `args`; stdout, after checking the exit status
/// is 0 or 1 (findings reached `--fail-on`).
fn audit(args: &[&str]) -> String {
    let (code, out, err) = common::run(&[&["audit"][..], args].concat());
    assert!(matches!(code, Some(0 | 1)), "{args:?}: {err}");
    out
}

fn sample(format: &str) -> String {
    audit(&[
        "samples/hybrid-identity.pcapng",
        "--inventory",
        "samples/hybrid-identity.toml",
        "--format",
        format,
    ])
}

/// The CSV's rows keyed by the header.
fn csv_rows(text: &str) -> Vec<Row> {
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    rd.records()
        .map(|r| {
            let r = r.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// Every address of a CIDR, network and broadcast included (what a rule opens).
fn addresses(cidr: &str) -> Vec<IpAddr> {
    let net: ipnet::IpNet = cidr
        .parse()
        .unwrap_or_else(|_| panic!("not a CIDR: {cidr}"));
    match net {
        ipnet::IpNet::V4(n) => (u32::from(n.network())..=u32::from(n.broadcast()))
            .map(|a| IpAddr::from(std::net::Ipv4Addr::from(a)))
            .collect(),
        ipnet::IpNet::V6(n) => {
            assert!(n.prefix_len() >= 112, "too large to list: {cidr}");
            (u128::from(n.network())..=u128::from(n.broadcast()))
                .map(|a| IpAddr::from(std::net::Ipv6Addr::from(a)))
                .collect()
        }
    }
}

/// The port a change request should name for a JSON finding: the rule's
/// range when its `ports` is one holding the port, else the port.
fn expected_port(f: &Value) -> String {
    let port = f["port"].as_u64().unwrap();
    if let Some((lo, hi)) = f["ports"].as_str().and_then(|p| p.split_once('-')) {
        let (lo, hi): (u64, u64) = (lo.parse().unwrap(), hi.parse().unwrap());
        if (lo..=hi).contains(&port) {
            return format!("{lo}-{hi}");
        }
    }
    port.to_string()
}

/// (rule, src, dst, port) of every host pair of the JSON findings `keep` takes.
fn json_pairs(
    doc: &Value,
    keep: impl Fn(&Value) -> bool,
) -> BTreeSet<(String, IpAddr, IpAddr, String)> {
    let mut out = BTreeSet::new();
    for f in doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| keep(f))
    {
        for h in f["hosts"].as_array().unwrap() {
            out.insert((
                f["rule"].as_str().unwrap().to_string(),
                h["src"].as_str().unwrap().parse().unwrap(),
                h["dst"].as_str().unwrap().parse().unwrap(),
                expected_port(f),
            ));
        }
    }
    out
}

/// (rule, src, dst, port) of every host pair the `open` rows open.
fn opened(rows: &[Row]) -> BTreeSet<(String, IpAddr, IpAddr, String)> {
    let mut out = BTreeSet::new();
    for r in rows.iter().filter(|r| r["action"] == "open") {
        for s in addresses(&r["source"]) {
            for d in addresses(&r["destination"]) {
                out.insert((r["rule"].clone(), s, d, r["port"].clone()));
            }
        }
    }
    out
}

fn is_blocked_error(f: &Value) -> bool {
    f["kind"] == "blocked" && f["severity"] == "error"
}

/// What the change requests list to investigate: errors that are not
/// blocked, inconclusive findings of a required rule (warning).
fn needs_a_look(f: &Value) -> bool {
    (f["severity"] == "error" && f["kind"] != "blocked")
        || (f["kind"] == "inconclusive" && f["severity"] == "warning")
}

/// ns since the epoch of a JSON time (float seconds, microsecond precision).
fn ns(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 1e6).round() as i64 * 1000
}

/// Checks the CSV against the JSON report of the same capture: the open rows
/// open exactly the host pairs of the blocked errors, each pair once, with
/// their attempts and times; the investigate rows name exactly the findings
/// that need a look; nothing else is a row but capture warnings.
fn check_csv_against_json(csv: &str, doc: &Value) -> Vec<Row> {
    let rows = csv_rows(csv);
    assert_eq!(opened(&rows), json_pairs(doc, is_blocked_error), "{csv}");
    let findings = doc["findings"].as_array().unwrap();
    let mut pairs_seen = 0;
    for r in &rows {
        match r["action"].as_str() {
            "open" => {
                assert_eq!(
                    (r["kind"].as_str(), r["severity"].as_str()),
                    ("blocked", "error")
                );
                // The row's attempts and times are those of the pairs it covers.
                let f = findings
                    .iter()
                    .find(|f| {
                        is_blocked_error(f)
                            && f["rule"] == r["rule"].as_str()
                            && f["how"] == r["how"].as_str()
                    })
                    .expect("a finding for the row");
                let src: Vec<IpAddr> = addresses(&r["source"]);
                let dst: Vec<IpAddr> = addresses(&r["destination"]);
                let covered: Vec<&Value> = f["hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| {
                        src.contains(&h["src"].as_str().unwrap().parse().unwrap())
                            && dst.contains(&h["dst"].as_str().unwrap().parse().unwrap())
                    })
                    .collect();
                // Complete bipartite: every pair the row opens was seen.
                assert_eq!(covered.len(), src.len() * dst.len(), "{r:?}");
                pairs_seen += covered.len();
                let attempts: u64 = covered
                    .iter()
                    .map(|h| h["attempts"].as_u64().unwrap())
                    .sum();
                assert_eq!(r["attempts"], attempts.to_string(), "{r:?}");
                let first = covered.iter().map(|h| ns(&h["first_ts"])).min().unwrap();
                let last = covered.iter().map(|h| ns(&h["last_ts"])).max().unwrap();
                assert_eq!(r["first_seen"], common::iso_utc(first), "{r:?}");
                assert_eq!(r["last_seen"], common::iso_utc(last), "{r:?}");
                let enforced = match r["how"].as_str() {
                    "rst" => "host",
                    "proxy-refused" => "proxy",
                    "reset-after-handshake" => "inspection",
                    _ => "network",
                };
                assert_eq!(r["enforced_at"], enforced, "{r:?}");
            }
            "investigate" => {}
            "capture-warning" | "skipped-input" => assert!(!r["why"].is_empty()),
            other => panic!("unexpected action {other:?}: {r:?}"),
        }
    }
    // Each listed pair of a blocked error is in exactly one row.
    let listed: usize = findings
        .iter()
        .filter(|f| is_blocked_error(f))
        .map(|f| f["hosts"].as_array().unwrap().len())
        .sum();
    assert_eq!(pairs_seen, listed);
    let investigated: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r["action"] == "investigate" && !r["why"].contains("not listed"))
        .map(|r| (r["kind"].clone(), r["rule"].clone()))
        .collect();
    let want: BTreeSet<(String, String)> = findings
        .iter()
        .filter(|f| needs_a_look(f))
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(investigated, want, "{csv}");
    let warnings = doc["summary"]["capture_warnings"].as_array().unwrap().len();
    assert_eq!(
        rows.iter()
            .filter(|r| r["action"] == "capture-warning")
            .count(),
        warnings
    );
    rows
}

#[test]
fn firewall_csv_opens_exactly_the_blocked_errors_of_the_sample() {
    let doc: Value = serde_json::from_str(&sample("json")).unwrap();
    let csv = sample("firewall-csv");
    let rows = check_csv_against_json(&csv, &doc);
    // The sample has blocked errors, a blocked warning (the optional Service
    // Bus port), a missing info and an unexpected warning: only the first
    // are rows.
    assert!(rows.iter().any(|r| r["action"] == "open"));
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "t7a-servicebus" && f["severity"] == "warning")
    );
    assert!(!csv.contains("t7a-servicebus"), "{csv}");
    for r in &rows {
        assert!(
            !matches!(r["kind"].as_str(), "missing" | "unexpected" | "healthy"),
            "{r:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// PowerShell: the subset the exporter writes, tokenized as PowerShell does.

/// A parameter's value.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// One or more single-quoted literals (a comma list), unquoted.
    Quoted(Vec<String>),
    /// A bare word or integer (`Inbound`, `TCP`, `3268`).
    Bare(String),
}

/// One `New-NetFirewallRule` command, with the host of the `# On HOST`
/// comment above it.
#[derive(Debug)]
struct Command {
    host: Option<IpAddr>,
    params: BTreeMap<String, Arg>,
}

impl Command {
    fn quoted(&self, name: &str) -> Vec<String> {
        match self.params.get(name) {
            Some(Arg::Quoted(v)) => v.clone(),
            other => panic!("-{name} is {other:?}"),
        }
    }

    fn bare(&self, name: &str) -> String {
        match self.params.get(name) {
            Some(Arg::Bare(v)) => v.clone(),
            other => panic!("-{name} is {other:?}"),
        }
    }
}

/// PowerShell's single quotes: ASCII and U+2018..U+201B.
fn is_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}')
}

/// A single-quoted literal at `chars[*i]` as PowerShell reads it: a quote
/// followed by another quote stands for the second, a lone quote ends it.
fn literal(chars: &[char], i: &mut usize) -> Result<String, String> {
    if !chars.get(*i).copied().is_some_and(is_quote) {
        return Err(format!("no literal at {i}"));
    }
    *i += 1;
    let mut out = String::new();
    loop {
        match chars.get(*i).copied() {
            None => return Err("unterminated literal".into()),
            Some(c) if is_quote(c) => {
                if chars.get(*i + 1).copied().is_some_and(is_quote) {
                    out.push(chars[*i + 1]);
                    *i += 2;
                } else {
                    *i += 1;
                    return Ok(out);
                }
            }
            Some(c) => {
                out.push(c);
                *i += 1;
            }
        }
    }
}

/// One command line: `New-NetFirewallRule (-Name VALUE)*`, a value being a
/// comma list of literals or a bare word of letters and digits.
fn command(line: &str, host: Option<IpAddr>) -> Result<Command, String> {
    let rest = line
        .strip_prefix("New-NetFirewallRule")
        .ok_or_else(|| format!("not a command this script writes: {line}"))?;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let mut params = BTreeMap::new();
    while i < chars.len() {
        if chars[i] != ' ' || chars.get(i + 1) != Some(&'-') {
            return Err(format!("expected ' -Name' at {i}: {line}"));
        }
        i += 2;
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.is_empty() || chars.get(i) != Some(&' ') {
            return Err(format!("bad parameter name at {start}: {line}"));
        }
        i += 1;
        let value = if chars.get(i).copied().is_some_and(is_quote) {
            let mut list = vec![literal(&chars, &mut i)?];
            while chars.get(i) == Some(&',') {
                i += 1;
                list.push(literal(&chars, &mut i)?);
            }
            Arg::Quoted(list)
        } else {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                i += 1;
            }
            if start == i {
                return Err(format!("no value for -{name}: {line}"));
            }
            Arg::Bare(chars[start..i].iter().collect())
        };
        if params.insert(name.clone(), value).is_some() {
            return Err(format!("-{name} twice: {line}"));
        }
    }
    Ok(Command { host, params })
}

/// Tokenizes a script of the shape the exporter writes; every line must
/// be a comment, `#Requires -RunAsAdministrator`, `$ErrorActionPreference =
/// 'Stop'` or a `New-NetFirewallRule` command.
fn tokenize(script: &str) -> Result<Vec<Command>, String> {
    let mut out = Vec::new();
    let mut host = None;
    let (mut requires, mut stop) = (false, false);
    for line in script.split('\n') {
        if let Some(c) = line
            .chars()
            .find(|&c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
        {
            return Err(format!("control character {c:?} in {line:?}"));
        }
        if line.is_empty() {
            continue;
        }
        if line == "#Requires -RunAsAdministrator" {
            requires = true;
        } else if line == "#" || line.starts_with("# ") {
            if line.contains("<#") || line.contains("#>") {
                return Err(format!("block comment marker in {line:?}"));
            }
            if let Some(rest) = line.strip_prefix("# On ") {
                let addr = rest.split(' ').next().unwrap_or("");
                host = Some(addr.parse().map_err(|_| format!("bad host in {line:?}"))?);
            }
        } else if line.starts_with('#') {
            return Err(format!("comment without a space (a directive?): {line:?}"));
        } else if line == "$ErrorActionPreference = 'Stop'" {
            stop = true;
        } else {
            out.push(command(line, host)?);
        }
    }
    if !(requires && stop) {
        return Err("no #Requires or $ErrorActionPreference line".into());
    }
    Ok(out)
}

/// Parses the script with PowerShell's own parser when `pwsh` is installed.
fn pwsh_parses(script: &str) {
    let found = std::process::Command::new("pwsh")
        .args(["-NoProfile", "-Command", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.ps1");
    std::fs::write(&path, script).unwrap();
    let code = format!(
        "$t = $null; $e = $null; [System.Management.Automation.Language.Parser]::ParseFile('{}', [ref]$t, [ref]$e) | Out-Null; if ($e.Count) {{ $e | ForEach-Object {{ $_.ToString() }}; exit 1 }}",
        path.display().to_string().replace('\'', "''")
    );
    let out = std::process::Command::new("pwsh")
        .args(["-NoProfile", "-Command", &code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PowerShell does not parse the script: {}\n{script}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The script's commands, after checking that it parses.
fn commands(script: &str) -> Vec<Command> {
    pwsh_parses(script);
    tokenize(script).unwrap_or_else(|e| panic!("{e}\n{script}"))
}

/// (host, rule, port, source) of every pair the commands open.
fn ps1_opened(cmds: &[Command]) -> BTreeSet<(IpAddr, String, String, IpAddr)> {
    let mut out = BTreeSet::new();
    for c in cmds {
        assert_eq!(c.bare("Direction"), "Inbound");
        assert_eq!(c.bare("Action"), "Allow");
        assert_eq!(c.bare("Profile"), "Any");
        assert_eq!(c.quoted("Group"), ["flowaudit"]);
        assert_eq!(c.bare("Protocol"), "TCP");
        // 'flowaudit RULE tcp/PORT from ROLE'
        let display = c.quoted("DisplayName").concat();
        let rule = display.split(' ').nth(1).unwrap().to_string();
        let port = match c.params.get("LocalPort") {
            Some(Arg::Bare(p)) => p.clone(),
            Some(Arg::Quoted(p)) => p.concat(),
            None => panic!("no -LocalPort"),
        };
        for cidr in c.quoted("RemoteAddress") {
            for s in addresses(&cidr) {
                out.insert((c.host.expect("a host above"), rule.clone(), port.clone(), s));
            }
        }
    }
    out
}

/// The same from the JSON report: every host pair of the RST errors.
fn json_rst(doc: &Value) -> BTreeSet<(IpAddr, String, String, IpAddr)> {
    json_pairs(doc, |f| is_blocked_error(f) && f["how"] == "rst")
        .into_iter()
        .map(|(rule, s, d, port)| (d, rule, port, s))
        .collect()
}

#[test]
fn firewall_ps1_has_a_rule_for_exactly_the_rst_errors_of_the_sample() {
    let doc: Value = serde_json::from_str(&sample("json")).unwrap();
    let script = sample("firewall-ps1");
    let cmds = commands(&script);
    let want = json_rst(&doc);
    assert!(!want.is_empty(), "the sample has RST errors");
    assert_eq!(ps1_opened(&cmds), want, "{script}");
    // The other blocked errors are named in comments, never as commands.
    let (_, after) = script
        .split_once("# Not a host firewall case")
        .expect("a section for the other blocks");
    for f in doc["findings"].as_array().unwrap() {
        let rule = f["rule"].as_str().unwrap_or("-");
        if is_blocked_error(f) && f["how"] != "rst" {
            assert!(
                after.contains(&format!(" {rule} ")),
                "{rule} not named:\n{script}"
            );
        }
        if f["rule"] == "t7a-servicebus" {
            assert!(!script.contains(rule), "the optional rule is in the script");
        }
    }
    assert!(script.contains("REVIEW BEFORE RUNNING"));
}

// ---------------------------------------------------------------------------
// Captures built here: the hosts refused are known.

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

const DC: &str = "10.0.0.5";

/// Each source's SYN to the DC's LDAP port (t1-ldap: every deployment, every
/// sync cycle) answered by a RST from the DC, and DNS answers naming the DC
/// (`name`, or dc2.corp.example); with `long` over 31 minutes, so the
/// capture covers a sync cycle and the flows it lacks are missing errors.
fn refused(sources: &[String], long: bool, name: Option<&str>) -> Trace {
    let mut t = Trace::new(Link::ethernet());
    for (i, s) in sources.iter().enumerate() {
        let mut c = TcpSession::new(sa(s, 50_000 + i as u16), sa(DC, 389), 1, 2)
            .starting_at(Timestamp(START.0 + i as i64 * 1_000_000_000));
        c.reject();
        t.add(&c);
    }
    // With `long`, a DNS exchange a minute for 31 minutes: silences of more
    // than 2 minutes do not count as covered time.
    let minutes = if long { 1..=31 } else { 1..=1 };
    for m in minutes {
        let mut u = UdpSession::new(sa(&sources[0], 53_000 + m as u16), sa(DC, 53))
            .starting_at(Timestamp(START.0 + m * 60_000_000_000));
        let owner = name.unwrap_or("dc2.corp.example");
        u.request(40).server_send(&dns_response(
            7,
            owner,
            &[(owner, Rdata::Addr(DC.parse().unwrap()))],
        ));
        t.add(&u);
    }
    t.sort();
    t
}

/// Writes the capture and an inventory listing `sources` as sync servers.
fn setup(dir: &Path, file: &str, t: &Trace, sources: &[String]) -> (String, String) {
    let cap = dir.join(file);
    std::fs::write(&cap, t.to_pcapng()).unwrap();
    let inv = dir.join("inventory.toml");
    let list: Vec<String> = sources.iter().map(|s| format!("\"{s}\"")).collect();
    std::fs::write(
        &inv,
        format!(
            "features = [\"password-hash-sync\"]\n[roles]\nsync = [{}]\ndc = [\"{DC}\"]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    (cap.to_str().unwrap().into(), inv.to_str().unwrap().into())
}

fn hosts(last_octets: impl IntoIterator<Item = u8>) -> Vec<String> {
    last_octets
        .into_iter()
        .map(|o| format!("10.0.1.{o}"))
        .collect()
}

#[test]
fn contiguous_sources_become_the_smallest_cidrs_that_do_not_widen() {
    let dir = tempfile::tempdir().unwrap();
    // 10.0.1.8 to .11 fill a /30; .13 stands alone (.12 was not seen).
    let sources = hosts([8, 9, 10, 11, 13]);
    let (cap, inv) = setup(
        dir.path(),
        "refused.pcapng",
        &refused(&sources, true, None),
        &sources,
    );
    let run = |format: &str, extra: &[&str]| {
        audit(&[&[cap.as_str(), "-i", &inv, "-f", format][..], extra].concat())
    };
    let doc: Value = serde_json::from_str(&run("json", &[])).unwrap();
    let csv = run("firewall-csv", &[]);
    let rows = check_csv_against_json(&csv, &doc);
    let open: BTreeSet<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["action"] == "open")
        .map(|r| {
            (
                r["source"].as_str(),
                r["destination"].as_str(),
                r["port"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        open,
        BTreeSet::from([
            ("10.0.1.8/30", "10.0.0.5/32", "389"),
            ("10.0.1.13/32", "10.0.0.5/32", "389"),
        ]),
        "{csv}"
    );
    // The capture spans a sync cycle: the required flows it lacks are
    // missing errors, listed to investigate, not opened.
    assert!(
        rows.iter()
            .any(|r| r["action"] == "investigate" && r["kind"] == "missing"),
        "{csv}"
    );

    let script = run("firewall-ps1", &[]);
    let cmds = commands(&script);
    assert_eq!(cmds.len(), 1, "{script}");
    assert_eq!(cmds[0].host, Some(DC.parse().unwrap()));
    assert_eq!(
        cmds[0].quoted("RemoteAddress"),
        ["10.0.1.8/30", "10.0.1.13/32"]
    );
    assert_eq!(ps1_opened(&cmds), json_rst(&doc));
    assert!(script.contains("# To investigate"), "{script}");

    // A cap the user asked for is honoured, and said: never a silent drop.
    let capped = run("firewall-csv", &["--max-hosts", "2"]);
    let capped_rows = csv_rows(&capped);
    let open: Vec<&Row> = capped_rows
        .iter()
        .filter(|r| r["action"] == "open")
        .collect();
    let pairs: usize = open.iter().map(|r| addresses(&r["source"]).len()).sum();
    assert_eq!(pairs, 2, "{capped}");
    assert!(
        capped_rows.iter().any(|r| r["action"] == "investigate"
            && r["rule"] == "t1-ldap"
            && r["why"].starts_with("3 host pairs")
            && r["why"].contains("--max-hosts 0")),
        "{capped}"
    );
    let script = run("firewall-ps1", &["--max-hosts", "2"]);
    commands(&script);
    assert!(
        script.contains("3 host pairs of this finding not listed"),
        "{script}"
    );
}

#[test]
fn firewall_formats_list_every_host_pair_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    // More sources than a finding lists by default.
    let sources = hosts(32..57);
    let (cap, inv) = setup(
        dir.path(),
        "many.pcapng",
        &refused(&sources, false, None),
        &sources,
    );
    let doc: Value = serde_json::from_str(&audit(&[&cap, "-i", &inv, "-f", "json"])).unwrap();
    let ldap = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "t1-ldap" && f["kind"] == "blocked")
        .expect("the blocked LDAP finding");
    assert_eq!(ldap["hosts_total"], 25);
    let listed = ldap["hosts"].as_array().unwrap().len();
    assert!(
        listed < 25,
        "the JSON report lists {listed}: the test needs a cap to beat"
    );

    let csv = audit(&[&cap, "-i", &inv, "-f", "firewall-csv"]);
    let rows = csv_rows(&csv);
    let opened: BTreeSet<IpAddr> = rows
        .iter()
        .filter(|r| r["action"] == "open")
        .flat_map(|r| addresses(&r["source"]))
        .collect();
    let want: BTreeSet<IpAddr> = sources.iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(opened, want, "{csv}");
    assert!(!csv.contains("not listed"), "{csv}");
    let cmds = commands(&audit(&[&cap, "-i", &inv, "-f", "firewall-ps1"]));
    let remote: BTreeSet<IpAddr> = cmds
        .iter()
        .flat_map(|c| c.quoted("RemoteAddress"))
        .flat_map(|c| addresses(&c))
        .collect();
    assert_eq!(remote, want);
}

// ---------------------------------------------------------------------------
// Hostile text.

/// Names a capture cannot carry (the learner keeps only host-name
/// characters) but the library's types can: the exporters must not rely on
/// the learner.
const HOSTILE: [&str; 6] = [
    "o'brien'; Remove-Item C:\\ -Recurse; '",
    "smart\u{2018}quotes\u{2019}\u{201a}\u{201b}.example",
    "$(Invoke-Expression calc)`n.example",
    "#> <# block.example",
    "=cmd|' /C calc'!A0",
    "two\nlines\r\u{2028}.example",
];

fn hostile_audit() -> flowaudit::classify::Audit {
    use flowaudit::catalogue::{Proto, Role};
    use flowaudit::classify::{Audit, Finding, FindingKind, HostPair, How, Severity};
    let hosts: Vec<HostPair> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, name)| HostPair {
            src: format!("10.0.1.{}", 20 + i).parse().unwrap(),
            dst: DC.parse().unwrap(),
            attempts: 1,
            first_ts: START,
            last_ts: START,
            src_name: Some(name.to_string()),
            dst_name: Some(HOSTILE[(i + 1) % HOSTILE.len()].to_string()),
        })
        .collect();
    let finding = |how, kind| Finding {
        kind,
        severity: Severity::Error,
        src_role: Some(Role::Sync),
        dst_role: Some(Role::Dc),
        transport: Proto::Tcp,
        port: 389,
        ports: Some("389".into()),
        rule: Some("t1-'ldap\n".into()),
        table: Some("1".into()),
        page: None,
        section: None,
        also_rules: vec![],
        how,
        hosts_total: hosts.len() as u64 + 1,
        hosts: hosts.clone(),
        count: 6,
        evidence: HOSTILE.iter().map(|s| s.to_string()).collect(),
        wireshark_filter: None,
        inputs: Vec::new(),
        input_mask: 0,
    };
    let summary = flowaudit::classify::Summary {
        capture_warnings: HOSTILE.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Audit {
        features: vec![],
        findings: vec![
            finding(Some(How::Rst), FindingKind::Blocked),
            finding(Some(How::NoSynack), FindingKind::Blocked),
            finding(None, FindingKind::Missing),
        ],
        summary,
    }
}

/// What a PowerShell literal holding `s` must read back as: `s` itself,
/// but control characters and line separators as `\u{..}` text.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                format!("\\u{{{:x}}}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn hostile_names_stay_text_in_the_change_requests() {
    use flowaudit::report::{AuditContext, AuditFormat, write_audit};
    let audit = hostile_audit();
    let ctx = AuditContext {
        captures: &[],
        skipped: &[],
        inventory: "inv'\n#> <#.toml",
        rules: &["rules\u{2019}\r\n$(x).toml".to_string()],
        color: false,
        terminal: None,
    };
    let mut out = Vec::new();
    write_audit(&mut out, AuditFormat::FirewallPs1, &audit, &ctx).unwrap();
    let script = String::from_utf8(out).unwrap();
    let cmds = commands(&script);
    assert_eq!(cmds.len(), 1, "{script}");
    // Every source name reaches the description as exactly the text it was.
    let description = cmds[0].quoted("Description").concat();
    for name in HOSTILE {
        assert!(
            description.contains(&one_line(name)),
            "{name:?} not in {description:?}"
        );
    }
    assert!(
        cmds[0]
            .quoted("DisplayName")
            .concat()
            .contains(&one_line("t1-'ldap\n"))
    );

    let mut out = Vec::new();
    write_audit(&mut out, AuditFormat::FirewallCsv, &audit, &ctx).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let rows = csv_rows(&csv);
    for r in &rows {
        for cell in r.values() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?}"
            );
        }
    }
    // The formula-leading warning arrives neutralised, whole.
    assert!(
        rows.iter().any(|r| r["why"] == "'=cmd|' /C calc'!A0"),
        "{csv}"
    );
    assert!(
        rows.iter()
            .any(|r| r["src_names"].contains("o'brien'; Remove-Item"))
    );
}

#[test]
fn hostile_capture_names_stay_text_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let sources = hosts([10]);
    // The learner keeps host-name characters only; a leading `-` is one.
    let t = refused(&sources, false, Some("-cmd.example"));
    let file = "cap'\u{2019}$(calc)`\n#> <#.pcapng";
    let (cap, inv) = setup(dir.path(), file, &t, &sources);
    // The rules file's free text (the protocol name) reaches the evidence.
    let rules = dir.path().join("rules.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/hybrid-identity.toml"),
    )
    .unwrap();
    let hostile_protocol = "protocol = \"LDAP\\n#> <# '; Remove-Item C:\\\\ \u{2019}\"";
    let patched = text.replacen("protocol = \"LDAP\"", hostile_protocol, 1);
    assert_ne!(patched, text, "the rules file no longer names LDAP so");
    std::fs::write(&rules, patched).unwrap();
    let rules = rules.to_str().unwrap();

    let doc: Value =
        serde_json::from_str(&audit(&[&cap, "-i", &inv, "--rules", rules, "-f", "json"])).unwrap();
    assert_eq!(doc["captures"][0]["path"], cap.as_str());
    let script = audit(&[&cap, "-i", &inv, "--rules", rules, "-f", "firewall-ps1"]);
    let cmds = commands(&script);
    assert_eq!(ps1_opened(&cmds), json_rst(&doc));
    assert!(
        script.contains("(dc, -cmd.example)"),
        "the learned name is not shown:\n{script}"
    );
    assert!(
        script.contains("Remove-Item"),
        "the rules' text is not shown:\n{script}"
    );
    assert!(script.contains("Capture: "), "{script}");

    let csv = audit(&[&cap, "-i", &inv, "--rules", rules, "-f", "firewall-csv"]);
    let rows = check_csv_against_json(&csv, &doc);
    let open: Vec<&Row> = rows.iter().filter(|r| r["action"] == "open").collect();
    assert_eq!(open.len(), 1, "{csv}");
    assert_eq!(open[0]["dst_names"], "'-cmd.example", "{csv}");
}
