//! `audit --format html` in a real browser: the sample's report opened from a
//! `file://` URL in headless Chromium, its DOM after the page's script ran
//! checked against the JSON report of the same audit (one node per role,
//! one edge per role pair with the class its findings give, every finding),
//! with no console message (a script error, a blocked load) and no request
//! the page made, then a screenshot. Without script the same findings are
//! there, the controls that need script stay hidden, and it still renders.
//!
//! Chromium must be installed (`.ci/run` installs Debian's `chromium`);
//! `FLOWAUDIT_NO_CHROMIUM=1` skips these tests with a message.

mod common;

use scraper::{Html, Selector};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser, or `None` (after saying why) when the tests are to be skipped.
fn chromium() -> Option<PathBuf> {
    if std::env::var_os("FLOWAUDIT_NO_CHROMIUM").is_some() {
        eprintln!("FLOWAUDIT_NO_CHROMIUM is set: not opening the HTML report in Chromium");
        return None;
    }
    let found = ["chromium", "chromium-browser"]
        .iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let c = found.unwrap_or_else(|| {
        panic!("Chromium is not installed (.ci/run installs it; FLOWAUDIT_NO_CHROMIUM=1 skips)")
    });
    Some(PathBuf::from(c))
}

/// What the browser made of a page.
struct Rendered {
    /// The DOM after the load event and the page's script.
    dom: Html,
    /// Messages the page wrote to the console (errors, CSP violations, logs).
    console: Vec<String>,
    /// URLs the page asked the network for (not the browser's own background requests).
    requests: Vec<String>,
}

/// Headless Chromium as root in a sandboxless container: the flags keep the
/// browser's own background traffic off (it would fail on a closed network).
fn browser(chrome: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn url(page: &Path) -> String {
    format!("file://{}", page.display())
}

fn render(chrome: &Path, page: &Path, dir: &Path) -> Rendered {
    let netlog = dir.join("net.json");
    let mut c = browser(chrome, &dir.join("profile"));
    c.args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("--log-net-log={}", netlog.display()));
    let out = c.arg(url(page)).output().expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Rendered {
        dom: Html::parse_document(&String::from_utf8(out.stdout).expect("utf-8 DOM")),
        console,
        requests: page_requests(&netlog),
    }
}

/// The URLs of the requests a `file://` page started, from Chromium's net
/// log: those whose network isolation key is the file origin.
fn page_requests(netlog: &Path) -> Vec<String> {
    let log: Value =
        serde_json::from_slice(&std::fs::read(netlog).expect("net log")).expect("net log JSON");
    let start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(start.is_number(), "net log without URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == start)
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s}: {e}"))
}

/// The sample audited in `format` (stdout).
fn sample(format: &str) -> String {
    common::sample_audit(&["-f", format])
}

fn role(v: &Value) -> String {
    v.as_str().unwrap_or("unknown").to_string()
}

/// The class an edge must have, from the JSON findings of its pair, by the
/// rule the page states: the most severe finding of severity warning or
/// above decides (blocked, missing, unexpected, inconclusive among equals);
/// otherwise healthy if a rule works; otherwise the first informational kind.
fn expected_class(findings: &[&Value]) -> &'static str {
    let class = |k: &str| match k {
        "blocked" => (0, "blocked"),
        "missing" => (1, "missing"),
        "unexpected" | "scan" => (2, "unexpected"),
        "inconclusive" | "slow" => (3, "inconclusive"),
        "unclassified" => (4, "unclassified"),
        "healthy" => (5, "healthy"),
        other => panic!("kind {other}"),
    };
    let sev = |s: &str| match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    let serious = findings
        .iter()
        .filter(|f| sev(f["severity"].as_str().unwrap_or("")) < 2)
        .map(|f| {
            (
                sev(f["severity"].as_str().unwrap_or("")),
                class(f["kind"].as_str().unwrap_or("")),
            )
        })
        .min();
    if let Some((_, (_, c))) = serious {
        return c;
    }
    if findings.iter().any(|f| f["kind"] == "healthy") {
        return "healthy";
    }
    findings
        .iter()
        .map(|f| class(f["kind"].as_str().unwrap_or("")))
        .min()
        .map_or("none", |(_, c)| c)
}

#[test]
fn the_sample_report_renders_in_chromium_as_the_json_says() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, sample("html")).expect("write report");
    let json: Value = serde_json::from_str(&sample("json")).expect("JSON report");
    let findings = json["findings"].as_array().expect("findings");

    let r = render(&chrome, &page, dir.path());
    assert!(r.console.is_empty(), "console: {:#?}", r.console);
    assert!(r.requests.is_empty(), "the page loaded {:?}", r.requests);
    let dom = &r.dom;
    assert_eq!(
        dom.select(&sel("html[data-script=ran]")).count(),
        1,
        "the page's script did not run to its end"
    );

    // One node per role: those seen and those the findings name.
    let mut roles: BTreeSet<String> = json["summary"]["roles_seen"]
        .as_array()
        .expect("roles_seen")
        .iter()
        .map(role)
        .collect();
    for f in findings {
        roles.insert(role(&f["src_role"]));
        roles.insert(role(&f["dst_role"]));
    }
    let nodes: Vec<String> = dom
        .select(&sel("svg g.node"))
        .filter_map(|n| n.value().attr("data-role").map(str::to_string))
        .collect();
    let unique: BTreeSet<String> = nodes.iter().cloned().collect();
    assert_eq!(unique.len(), nodes.len(), "a role drawn twice: {nodes:?}");
    assert_eq!(unique, roles);

    // One edge per role pair, with the class its findings give.
    let mut by_pair: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for f in findings {
        let p = format!("{} -> {}", role(&f["src_role"]), role(&f["dst_role"]));
        by_pair.entry(p).or_default().push(f);
    }
    let mut edges: BTreeMap<String, String> = BTreeMap::new();
    for a in dom.select(&sel("svg a.edge")) {
        let pair = a.value().attr("data-pair").expect("data-pair").to_string();
        let class: Vec<&str> = a.value().classes().filter(|c| *c != "edge").collect();
        assert_eq!(class.len(), 1, "{pair}: classes {class:?}");
        assert!(
            edges.insert(pair.clone(), class[0].to_string()).is_none(),
            "two edges for {pair}"
        );
        let href = a.value().attr("href").expect("href");
        let target = dom
            .select(&sel(&format!("tr{href}")))
            .next()
            .unwrap_or_else(|| panic!("{pair}: the edge links to {href}, which is not there"));
        assert_eq!(target.value().attr("data-pair"), Some(pair.as_str()));
    }
    let want: BTreeMap<String, String> = by_pair
        .iter()
        .map(|(p, fs)| (p.clone(), expected_class(fs).to_string()))
        .collect();
    assert_eq!(edges, want);
    assert!(
        want.values().any(|c| c == "blocked") && want.values().any(|c| c == "healthy"),
        "the sample should show blocked and healthy pairs: {want:?}"
    );

    // Every finding, in the JSON's order, with its evidence and filter.
    let rows: Vec<_> = dom.select(&sel("#findings tbody.finding")).collect();
    assert_eq!(rows.len(), findings.len());
    let li = sel("ul.evidence li");
    let code = sel(".filter code");
    for (row, f) in rows.iter().zip(findings) {
        let v = row.value();
        assert_eq!(v.attr("data-kind"), f["kind"].as_str());
        assert_eq!(v.attr("data-severity"), f["severity"].as_str());
        assert_eq!(v.attr("data-port"), Some(f["port"].to_string().as_str()));
        assert_eq!(v.attr("data-rule"), Some(f["rule"].as_str().unwrap_or("")));
        let evidence: Vec<String> = row.select(&li).map(|l| l.text().collect()).collect();
        let want: Vec<String> = f["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .map(|e| e.as_str().expect("text").to_string())
            .collect();
        assert_eq!(evidence, want);
        let filter: Option<String> = row.select(&code).next().map(|c| c.text().collect());
        assert_eq!(filter.as_deref(), f["wireshark_filter"].as_str());
    }
    // With script, the controls and copy buttons are shown.
    assert!(
        dom.select(&sel("#controls[hidden], button.copy[hidden]"))
            .next()
            .is_none(),
        "script ran but controls stayed hidden"
    );
    assert!(dom.select(&sel("button.copy")).count() > 0);

    // A screenshot, for people (the README's comes from the same command).
    let shot = std::env::var_os("FLOWAUDIT_HTML_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report.png"));
    let out = browser(&chrome, &dir.path().join("profile-shot"))
        .args(["--window-size=1280,1000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url(&page))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(is_png(&png, 1280, 1000), "not a 1280x1000 PNG");
    eprintln!("screenshot: {}", shot.display());
}

/// Without script (a mail client's preview, a locked-down browser): the
/// same page with its policy forbidding script (`--dump-dom` itself needs
/// script, so the browser's own switch cannot be used) shows every finding
/// and hides the controls that need script.
#[test]
fn the_report_reads_without_script() {
    let html = sample("html");
    let json: Value = serde_json::from_str(&sample("json")).expect("JSON report");
    let locked = html.replacen("script-src 'unsafe-inline'", "script-src 'none'", 1);
    assert_ne!(locked, html, "the page's policy allows inline script");
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &locked).expect("write report");
    let r = render(&chrome, &page, dir.path());
    // The one message is the browser refusing the script.
    assert_eq!(r.console.len(), 1, "{:#?}", r.console);
    assert!(
        r.console[0].contains("Content Security Policy"),
        "{:?}",
        r.console
    );
    assert!(r.requests.is_empty(), "the page loaded {:?}", r.requests);
    let dom = &r.dom;
    assert_eq!(dom.select(&sel("html[data-script]")).count(), 0);
    assert_eq!(
        dom.select(&sel("#findings tbody.finding")).count(),
        json["findings"].as_array().expect("findings").len()
    );
    assert_eq!(dom.select(&sel("form#controls[hidden]")).count(), 1);
    let copies = dom.select(&sel("button.copy")).count();
    assert!(copies > 0);
    assert_eq!(dom.select(&sel("button.copy[hidden]")).count(), copies);
    assert_eq!(
        dom.select(&sel("th button[data-sort]")).count(),
        dom.select(&sel("th button[data-sort][hidden]")).count()
    );
}

/// `png` is a PNG image of `w` x `h` pixels (its IHDR says so).
fn is_png(png: &[u8], w: u32, h: u32) -> bool {
    let dim = |at: usize| {
        png.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    png.starts_with(b"\x89PNG\r\n\x1a\n") && dim(16) == Some(w) && dim(20) == Some(h)
}

/// The page names no resource outside itself: every link is to a fragment,
/// nothing has a `src`, and style references only the page's own markers.
#[test]
fn the_report_refers_to_nothing_outside_itself() {
    let html = sample("html");
    let dom = Html::parse_document(&html);
    for el in dom.select(&sel("[href]")) {
        let href = el.value().attr("href").unwrap_or("");
        assert!(href.starts_with('#'), "link to {href}");
    }
    assert_eq!(
        dom.select(&sel("[src], link, iframe, object, embed, img"))
            .count(),
        0
    );
    for (i, _) in html.match_indices("url(") {
        assert!(html[i..].starts_with("url(#arrow-"), "{}", &html[i..i + 40]);
    }
    let csp = dom
        .select(&sel("meta[http-equiv=Content-Security-Policy]"))
        .next()
        .and_then(|m| m.value().attr("content"))
        .expect("a Content-Security-Policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}
