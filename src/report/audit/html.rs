//! HTML: one self-contained page for the incident channel. The verdict, the
//! counts and a role diagram (inline SVG) first, then a role-pair x port
//! matrix and every finding with its evidence and Wireshark filter.
//!
//! The page loads nothing: no fonts, images, stylesheets or scripts from
//! anywhere (a Content-Security-Policy of `default-src 'none'` says so to
//! the browser), so it opens from a `file://` URL, an e-mail attachment or
//! an air-gapped laptop alike. Everything is in the markup; the few lines of
//! inline script only sort, filter and copy, so the page reads the same
//! without script and when printed. Capture text goes through
//! [`escape::html`] wherever it lands, attribute or text.

use super::*;
use crate::catalogue::Proto;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// HTML.
pub(super) struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        w.write_all(page(audit, ctx).as_bytes())
    }
}

/// What an edge of the role diagram (and a cell of the matrix) shows: the
/// kinds of finding folded into the five colours of the issue, plus traffic
/// with hosts of no known role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Blocked,
    Missing,
    Unexpected,
    Inconclusive,
    Unclassified,
    Healthy,
}

impl Status {
    fn of(kind: FindingKind) -> Status {
        match kind {
            FindingKind::Blocked | FindingKind::Failed => Status::Blocked,
            FindingKind::Missing => Status::Missing,
            FindingKind::Unexpected | FindingKind::Scan => Status::Unexpected,
            FindingKind::Inconclusive | FindingKind::Slow => Status::Inconclusive,
            FindingKind::Unclassified => Status::Unclassified,
            FindingKind::Healthy => Status::Healthy,
        }
    }

    /// The CSS class (and the word in the legend).
    fn name(self) -> &'static str {
        match self {
            Status::Blocked => "blocked",
            Status::Missing => "missing",
            Status::Unexpected => "unexpected",
            Status::Inconclusive => "inconclusive",
            Status::Unclassified => "unclassified",
            Status::Healthy => "healthy",
        }
    }

    /// The matrix cell's mark: readable in print and without colour.
    fn mark(self) -> &'static str {
        match self {
            Status::Blocked => "\u{2718}",
            Status::Missing => "\u{25cb}",
            Status::Unexpected => "!",
            Status::Inconclusive => "?",
            Status::Unclassified => "\u{00b7}",
            Status::Healthy => "\u{2714}",
        }
    }
}

/// The status of a set of findings (one role pair's, one matrix cell's):
/// the most severe finding of severity warning or above decides, blocked
/// before missing before unexpected among equals; with none, a working rule
/// makes it healthy (an absence that is normal, such as a setup-only flow,
/// does not paint a working pair); otherwise the first of its info findings.
fn status<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> Option<Status> {
    let all: Vec<&Finding> = findings.into_iter().collect();
    let worst = all
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| (Reverse(f.severity), Status::of(f.kind)))
        .min();
    if let Some((_, s)) = worst {
        return Some(s);
    }
    if all.iter().any(|f| f.kind == FindingKind::Healthy) {
        return Some(Status::Healthy);
    }
    all.iter().map(|f| Status::of(f.kind)).min()
}

/// A node of the diagram: a role, or the hosts of no known role.
type Node = Option<Role>;

/// `sync`, or `unknown`: the name in ids, classes and `data-` attributes.
fn node_name(n: Node) -> &'static str {
    n.map_or("unknown", Role::name)
}

/// What a node is, in words.
fn node_title(n: Node) -> &'static str {
    match n {
        Some(Role::Sync) => "Entra Connect sync",
        Some(Role::Dc) => "domain controllers",
        Some(Role::Azure) => "Microsoft cloud",
        Some(Role::Adfs) => "AD FS",
        Some(Role::Wap) => "Web Application Proxy",
        Some(Role::Users) => "users' devices",
        Some(Role::Agent) => "Entra agents",
        Some(Role::Lb) => "load balancer",
        None => "hosts of no known role",
    }
}

/// Where a node sits (centre, in the SVG's user units). Fixed places, so
/// every report of every deployment draws the same picture: the sign-in
/// path (users, WAP, AD FS) along the top, the sync server and its domain
/// controllers along the bottom, the cloud on the right with the agent
/// servers above it (they talk to it and to the domain controllers), the
/// load balancer under the WAP it probes.
fn node_at(n: Node) -> (f64, f64) {
    match n {
        Some(Role::Agent) => (835.0, 60.0),
        Some(Role::Lb) => (345.0, 200.0),
        Some(Role::Users) => (85.0, 60.0),
        Some(Role::Wap) => (345.0, 60.0),
        Some(Role::Adfs) => (605.0, 60.0),
        Some(Role::Azure) => (835.0, 200.0),
        Some(Role::Sync) => (605.0, 340.0),
        Some(Role::Dc) => (345.0, 340.0),
        None => (85.0, 200.0),
    }
}

/// A node's box, and the drawing (SVG user units, pixels at 100 %).
const NODE_W: f64 = 150.0;
const NODE_H: f64 = 58.0;
const SVG_W: f64 = 920.0;
const SVG_H: f64 = 400.0;

/// Characters of host addresses a node shows before "+N" (the box is
/// `NODE_W` wide).
const NODE_HOST_CHARS: usize = 22;

/// Host pairs shown in a finding's row before the rest fold away.
const ROW_HOSTS: usize = 3;

/// `sync -> dc` as used in `data-pair` and the pair filter.
fn pair_key(f: &Finding) -> (Node, Node) {
    (f.src_role, f.dst_role)
}

fn pair_text((s, d): (Node, Node)) -> String {
    format!("{} -> {}", node_name(s), node_name(d))
}

/// `sync → dc`, for people.
fn pair_words(k: (Node, Node)) -> String {
    pair_text(k).replace("->", "\u{2192}")
}

fn pair_id((s, d): (Node, Node)) -> String {
    format!("pair-{}-{}", node_name(s), node_name(d))
}

/// Text for an attribute or an element: escaped, capture text included.
fn e(s: &str) -> String {
    escape::html(s)
}

fn page(audit: &Audit, ctx: &AuditContext<'_>) -> String {
    let mut h = String::with_capacity(64 * 1024 + audit.findings.len() * 2048);
    let title = match ctx.captures {
        [one] => format!("flowaudit: {}", one.info.path),
        many => format!("flowaudit: {} captures", many.len()),
    };
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may load from anywhere: the browser enforces what the markup promises.
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
    );
    h.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    let _ = writeln!(h, "<title>{}</title>", e(&title));
    let _ = writeln!(
        h,
        "<meta name=\"generator\" content=\"{} {}\">",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    h.push_str("<style>\n");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<main>\n");
    heading(&mut h, audit);
    inputs(&mut h, audit, ctx);
    diagram(&mut h, audit);
    matrix(&mut h, audit);
    findings(&mut h, audit);
    h.push_str("</main>\n<script>\n");
    h.push_str(SCRIPT);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

/// The verdict in one line and the counts by severity.
fn heading(h: &mut String, audit: &Audit) {
    let s = &audit.summary;
    let n = |k: &str| s.severities.get(k).copied().unwrap_or(0);
    let (class, verdict) = verdict(audit);
    h.push_str("<header>\n<h1>flowaudit audit</h1>\n");
    let _ = writeln!(h, "<p class=\"verdict {class}\">{}</p>", e(&verdict));
    h.push_str("<p class=\"counts\">");
    for (k, label) in [
        ("error", ("error", "errors")),
        ("warning", ("warning", "warnings")),
        ("info", ("info", "info")),
    ] {
        let _ = write!(
            h,
            "<span class=\"badge {k}\">{}</span> ",
            e(&crate::report::count(n(k), label.0, label.1))
        );
    }
    let _ = writeln!(
        h,
        "<span class=\"summary\">{}</span></p>",
        e(&summary_line(audit))
    );
    h.push_str("</header>\n");
}

/// `4 required flows fail: 3 blocked, 1 missing (sync -> dc, users -> wap)`,
/// `No required flow fails; 2 warnings to review`, ...
fn verdict(audit: &Audit) -> (&'static str, String) {
    use crate::report::count;
    let errors: Vec<&Finding> = audit
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let warnings = audit
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count() as u64;
    if !errors.is_empty() {
        let mut kinds: Vec<(FindingKind, u64)> = Vec::new();
        let mut pairs: Vec<String> = Vec::new();
        for f in &errors {
            match kinds.iter_mut().find(|(k, _)| *k == f.kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((f.kind, 1)),
            }
            let p = pair_words(pair_key(f));
            if !pairs.contains(&p) {
                pairs.push(p);
            }
        }
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        let what = count(
            errors.len() as u64,
            "required flow fails",
            "required flows fail",
        );
        let mut s = format!("{what}: {} ({})", kinds.join(", "), pairs.join(", "));
        if warnings > 0 {
            s.push_str(&format!(
                "; {} to review",
                count(warnings, "warning", "warnings")
            ));
        }
        ("error", s)
    } else if warnings > 0 {
        (
            "warning",
            format!(
                "No required flow fails; {} to review",
                count(warnings, "warning", "warnings")
            ),
        )
    } else if audit.summary.classified == 0 {
        (
            "info",
            "Nothing to judge: no connection between hosts of known roles".to_string(),
        )
    } else {
        (
            "healthy",
            "No required flow fails: every flow the capture shows works".to_string(),
        )
    }
}

/// Captures, inventory, rules, features, assumptions and warnings.
fn inputs(h: &mut String, audit: &Audit, ctx: &AuditContext<'_>) {
    h.push_str("<section id=\"inputs\">\n<dl>\n");
    let row = |h: &mut String, term: &str, class: &str, value: &str| {
        let _ = writeln!(h, "<dt>{term}</dt><dd class=\"{class}\">{value}</dd>");
    };
    match capture_spans(ctx) {
        (_, each) if each.len() == 1 => {
            for (path, span) in each {
                row(
                    h,
                    "Capture",
                    "",
                    &format!("<code>{}</code>, {}", e(path), e(&span)),
                );
            }
        }
        (whole, each) => {
            let mut v = format!("{}<ul>", e(&whole));
            for (path, span) in each {
                let _ = write!(v, "<li><code>{}</code>: {}</li>", e(path), e(&span));
            }
            v.push_str("</ul>");
            row(h, "Captures", "", &v);
        }
    }
    row(
        h,
        "Inventory",
        "",
        &format!("<code>{}</code>", e(ctx.inventory)),
    );
    let rules: Vec<String> = ctx
        .rules
        .iter()
        .map(|r| format!("<code>{}</code>", e(r)))
        .collect();
    row(h, "Rules", "", &rules.join(", "));
    row(h, "Features", "", &e(&feature_list(audit, str::to_string)));
    for a in &audit.summary.assumptions {
        row(h, "Assumed", "", &e(a));
    }
    for c in &audit.summary.capture_warnings {
        row(h, "Warning", "warning", &e(c));
    }
    for s in ctx.skipped {
        row(
            h,
            "Skipped",
            "warning",
            &format!("<code>{}</code>: {}", e(&s.path), e(&s.reason)),
        );
    }
    h.push_str("</dl>\n</section>\n");
}

/// The nodes present: the roles seen in the capture and those the findings
/// name (a missing flow names a role the capture may not show), in
/// [`Role::ALL`] order, then the hosts of no known role when a finding has one.
fn nodes(audit: &Audit) -> Vec<Node> {
    let mut roles: BTreeSet<Role> = audit.summary.roles_seen.iter().copied().collect();
    let mut unknown = false;
    for f in &audit.findings {
        for r in [f.src_role, f.dst_role] {
            match r {
                Some(r) => {
                    roles.insert(r);
                }
                None => unknown = true,
            }
        }
    }
    let mut out: Vec<Node> = Role::ALL
        .into_iter()
        .filter(|r| roles.contains(r))
        .map(Some)
        .collect();
    if unknown {
        out.push(None);
    }
    out
}

/// A role pair's findings, each with its number in the report (from 1).
type PairFindings<'a> = Vec<(usize, &'a Finding)>;

/// Role pairs in report order (of their first finding), each with its findings.
fn pairs(audit: &Audit) -> Vec<((Node, Node), PairFindings<'_>)> {
    let mut out: Vec<((Node, Node), PairFindings<'_>)> = Vec::new();
    for (i, f) in audit.findings.iter().enumerate() {
        let k = pair_key(f);
        match out.iter_mut().find(|(p, _)| *p == k) {
            Some((_, v)) => v.push((i + 1, f)),
            None => out.push((k, vec![(i + 1, f)])),
        }
    }
    out
}

/// The hosts the findings show in each node's role.
fn node_hosts(audit: &Audit) -> BTreeMap<Node, BTreeSet<IpAddr>> {
    let mut out: BTreeMap<Node, BTreeSet<IpAddr>> = BTreeMap::new();
    for f in &audit.findings {
        for p in &f.hosts {
            out.entry(f.src_role).or_default().insert(p.src);
            out.entry(f.dst_role).or_default().insert(p.dst);
        }
    }
    out
}

/// Where the edge from `a` to `b` leaves `a`'s box towards `toward`.
fn box_exit((cx, cy): (f64, f64), (tx, ty): (f64, f64), gap: f64) -> (f64, f64) {
    let (dx, dy) = (tx - cx, ty - cy);
    let len = dx.hypot(dy).max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let t = f64::min(
        if ux.abs() > 1e-9 {
            (NODE_W / 2.0) / ux.abs()
        } else {
            f64::INFINITY
        },
        if uy.abs() > 1e-9 {
            (NODE_H / 2.0) / uy.abs()
        } else {
            f64::INFINITY
        },
    );
    (cx + ux * (t + gap), cy + uy * (t + gap))
}

/// The role diagram: one node per role, one edge per role pair coloured by
/// [`status`], each linking to the pair's row of the matrix (and, with
/// script, filtering the findings to it).
fn diagram(h: &mut String, audit: &Audit) {
    let nodes = nodes(audit);
    let hosts = node_hosts(audit);
    h.push_str("<section id=\"diagram\">\n<h2>Role diagram</h2>\n");
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {SVG_W} {SVG_H}\" role=\"img\" aria-labelledby=\"diagram-title\">"
    );
    h.push_str(
        "<title id=\"diagram-title\">Roles seen in the capture and the flows between them</title>\n",
    );
    h.push_str("<defs>");
    for s in [
        Status::Blocked,
        Status::Missing,
        Status::Unexpected,
        Status::Inconclusive,
        Status::Unclassified,
        Status::Healthy,
    ] {
        let _ = write!(
            h,
            "<marker id=\"arrow-{0}\" class=\"arrow {0}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker>",
            s.name()
        );
    }
    h.push_str("</defs>\n");
    // Edges under the nodes.
    for (k @ (src, dst), findings) in pairs(audit) {
        let Some(st) = status(findings.iter().map(|(_, f)| *f)) else {
            continue;
        };
        let (a, b) = (node_at(src), node_at(dst));
        // Bend every edge to its right: the two directions of a pair part.
        let (mx, my) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = dx.hypot(dy).max(1e-9);
        let bend = 22.0;
        let c = (mx - dy / len * bend, my + dx / len * bend);
        let p0 = box_exit(a, c, 2.0);
        let p2 = box_exit(b, c, 4.0);
        // The label sits just outside the bend, clear of the line.
        let mid = (
            0.25 * p0.0 + 0.5 * c.0 + 0.25 * p2.0,
            0.25 * p0.1 + 0.5 * c.1 + 0.25 * p2.1,
        );
        let label_at = (mid.0 - dy / len * 12.0, mid.1 + dx / len * 12.0 + 4.0);
        let mut by: Vec<(Status, u64)> = Vec::new();
        for (_, f) in &findings {
            let s = Status::of(f.kind);
            match by.iter_mut().find(|(x, _)| *x == s) {
                Some((_, n)) => *n += 1,
                None => by.push((s, 1)),
            }
        }
        by.sort();
        let tip: Vec<String> = by
            .iter()
            .map(|(s, n)| format!("{n} {}", s.name()))
            .collect();
        // Marks, not words: an edge between neighbours has room for little.
        let label: Vec<String> = by.iter().map(|(s, n)| format!("{}{n}", s.mark())).collect();
        let _ = writeln!(
            h,
            "<a class=\"edge {st}\" href=\"#{id}\" data-pair=\"{pair}\"><title>{pair}: {tip}</title>\
             <path d=\"M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}\" marker-end=\"url(#arrow-{st})\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{label}</text></a>",
            p0.0,
            p0.1,
            c.0,
            c.1,
            p2.0,
            p2.1,
            label_at.0,
            label_at.1,
            st = st.name(),
            id = pair_id(k),
            pair = e(&pair_text(k)),
            tip = e(&tip.join(", ")),
            label = e(&label.join(" ")),
        );
    }
    for n in nodes {
        let (x, y) = node_at(n);
        let seen = hosts.get(&n);
        let mut listed: Vec<String> = Vec::new();
        for ip in seen.into_iter().flatten() {
            let ip = ip.to_string();
            let width: usize = listed.iter().map(|l| l.len() + 2).sum::<usize>() + ip.len();
            if !listed.is_empty() && width > NODE_HOST_CHARS {
                break;
            }
            listed.push(ip);
        }
        let total = seen.map_or(0, BTreeSet::len);
        let mut line = listed.join(", ");
        if total > listed.len() {
            let _ = write!(line, " +{}", total - listed.len());
        }
        let all: Vec<String> = seen
            .map(|s| s.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<g class=\"node{unk}\" data-role=\"{name}\"><title>{name}: {what}{hosts}</title>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"8\"/>\
             <text class=\"role\" x=\"{x:.1}\" y=\"{:.1}\">{name}</text>\
             <text class=\"what\" x=\"{x:.1}\" y=\"{:.1}\">{what}</text>\
             <text class=\"hosts\" x=\"{x:.1}\" y=\"{:.1}\">{line}</text></g>",
            x - NODE_W / 2.0,
            y - NODE_H / 2.0,
            y - 9.0,
            y + 7.0,
            y + 22.0,
            unk = if n.is_none() { " unknown" } else { "" },
            name = node_name(n),
            what = e(node_title(n)),
            hosts = if all.is_empty() {
                String::new()
            } else {
                format!(" ({})", e(&all.join(", ")))
            },
            line = e(&line),
        );
    }
    h.push_str("</svg>\n<p class=\"legend\">");
    for s in [
        Status::Healthy,
        Status::Blocked,
        Status::Missing,
        Status::Unexpected,
        Status::Inconclusive,
        Status::Unclassified,
    ] {
        let _ = write!(
            h,
            "<span class=\"key {0}\"><span class=\"mark\">{1}</span> {0}</span> ",
            s.name(),
            s.mark()
        );
    }
    h.push_str(
        "</p>\n<p class=\"note\">An edge takes the colour of its most severe finding (errors, then warnings); \
         a pair whose findings are all informational is healthy when a rule works on it.</p>\n</section>\n",
    );
}

/// The matrix column of a finding: `tcp/445`.
fn column(f: &Finding) -> (Proto, u16) {
    (f.transport, f.port)
}

/// One row per role pair, one column per port any finding names; each cell
/// links to its findings.
fn matrix(h: &mut String, audit: &Audit) {
    let pairs = pairs(audit);
    let cols: BTreeSet<(Proto, u16)> = audit.findings.iter().map(column).collect();
    h.push_str("<section id=\"matrix\">\n<h2>Role pairs and ports</h2>\n<div class=\"scroll\">\n<table class=\"matrix\">\n<thead><tr><th scope=\"col\">role pair</th>");
    for (p, port) in &cols {
        let _ = write!(h, "<th scope=\"col\">{}<br>{port}</th>", p.name());
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (k, findings) in &pairs {
        let st = status(findings.iter().map(|(_, f)| *f)).map_or("", Status::name);
        let _ = write!(
            h,
            "<tr id=\"{}\" data-pair=\"{}\"><th scope=\"row\" class=\"{st}\">{}</th>",
            pair_id(*k),
            e(&pair_text(*k)),
            e(&pair_words(*k))
        );
        for c in &cols {
            let here: Vec<(usize, &Finding)> = findings
                .iter()
                .copied()
                .filter(|(_, f)| column(f) == *c)
                .collect();
            match status(here.iter().map(|(_, f)| *f)) {
                None => h.push_str("<td></td>"),
                Some(s) => {
                    h.push_str(&format!("<td class=\"{}\">", s.name()));
                    for (n, f) in &here {
                        let _ = write!(
                            h,
                            "<a href=\"#f-{n}\" title=\"#{n} {}\">{}</a>",
                            e(&format!("{} {} {}", what(f), port(f), rule(f))),
                            Status::of(f.kind).mark()
                        );
                    }
                    h.push_str("</td>");
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// Every finding, one `tbody` each (its row and its evidence), in report
/// order; the controls above it appear only with script.
fn findings(h: &mut String, audit: &Audit) {
    h.push_str("<section id=\"findings-section\">\n<h2>Findings</h2>\n");
    // The controls: hidden until the script shows them, since without it they do nothing.
    h.push_str("<form id=\"controls\" hidden>\n<fieldset><legend>severity</legend>");
    let sevs: BTreeSet<Reverse<Severity>> =
        audit.findings.iter().map(|f| Reverse(f.severity)).collect();
    for Reverse(s) in sevs {
        let _ = write!(
            h,
            "<label><input type=\"checkbox\" name=\"severity\" value=\"{0}\" checked> {0}</label>",
            s.name()
        );
    }
    h.push_str("</fieldset>\n<fieldset><legend>kind</legend>");
    let kinds: BTreeSet<(u8, &str)> = audit
        .findings
        .iter()
        .map(|f| (f.kind.rank(), f.kind.name()))
        .collect();
    for (_, k) in kinds {
        let _ = write!(
            h,
            "<label><input type=\"checkbox\" name=\"kind\" value=\"{k}\" checked> {k}</label>"
        );
    }
    h.push_str("</fieldset>\n<fieldset><legend>role pair</legend><select id=\"pair\"><option value=\"\">all</option>");
    for (k, _) in pairs(audit) {
        let _ = write!(h, "<option>{}</option>", e(&pair_text(k)));
    }
    h.push_str("</select></fieldset>\n<fieldset><legend>text</legend><input id=\"text\" type=\"search\" placeholder=\"host, rule, port...\"></fieldset>\n<output id=\"shown\"></output>\n</form>\n");
    h.push_str("<table id=\"findings\">\n<thead><tr>");
    for (key, label) in [
        ("n", "#"),
        ("sev", "severity"),
        ("kind", "finding"),
        ("pair", "role pair"),
        ("port", "port"),
        ("rule", "rule"),
        ("hosts", "hosts"),
        ("count", "connections"),
    ] {
        let _ = write!(
            h,
            "<th scope=\"col\"><button type=\"button\" data-sort=\"{key}\" hidden>{label}</button><span class=\"plain\">{label}</span></th>"
        );
    }
    h.push_str("</tr></thead>\n");
    for (i, f) in audit.findings.iter().enumerate() {
        finding(h, i + 1, f);
    }
    h.push_str("</table>\n</section>\n");
}

/// One finding's `tbody`: the `data-` attributes are what the script sorts
/// and filters by.
fn finding(h: &mut String, n: usize, f: &Finding) {
    let sev_rank = match f.severity {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    };
    let status = Status::of(f.kind).name();
    let _ = writeln!(
        h,
        "<tbody class=\"finding {status}\" id=\"f-{n}\" data-n=\"{n}\" data-severity=\"{sev}\" data-sev=\"{sev_rank}\" \
         data-kind=\"{kind}\" data-pair=\"{pair}\" data-port=\"{port}\" data-rule=\"{rule}\" data-hosts=\"{hosts}\" data-count=\"{count}\">",
        sev = f.severity.name(),
        kind = f.kind.name(),
        pair = e(&pair_text(pair_key(f))),
        port = f.port,
        rule = e(f.rule.as_deref().unwrap_or("")),
        hosts = f.hosts_total,
        count = f.count,
    );
    let mut hosts = String::new();
    let lines: Vec<String> = f
        .hosts
        .iter()
        .map(|p| host_pair(p, "\u{2192}", ' '))
        .collect();
    for l in lines.iter().take(ROW_HOSTS) {
        let _ = write!(hosts, "<div>{}</div>", e(l));
    }
    if lines.len() > ROW_HOSTS {
        let _ = write!(
            hosts,
            "<details><summary>{} more</summary>",
            lines.len() - ROW_HOSTS
        );
        for l in &lines[ROW_HOSTS..] {
            let _ = write!(hosts, "<div>{}</div>", e(l));
        }
        hosts.push_str("</details>");
    }
    if f.hosts_total > f.hosts.len() as u64 {
        let _ = write!(
            hosts,
            "<div class=\"more\">{} listed of {} (the busiest; <code>flowaudit flows</code> has every connection)</div>",
            f.hosts.len(),
            crate::report::count(f.hosts_total, "host pair", "host pairs")
        );
    }
    let _ = writeln!(
        h,
        "<tr class=\"head\"><td><a href=\"#f-{n}\">{n}</a></td><td><span class=\"badge {sev}\">{sev}</span></td>\
         <td class=\"what\">{what}</td><td>{pair}</td><td>{port}</td><td>{rule}</td><td class=\"hosts\">{hosts}</td><td class=\"num\">{count}</td></tr>",
        sev = f.severity.name(),
        what = e(&what(f)),
        pair = e(&pair_words(pair_key(f))),
        port = e(&port(f)),
        rule = e(&rule(f)),
        count = f.count,
    );
    h.push_str("<tr class=\"body\"><td></td><td colspan=\"7\"><ul class=\"evidence\">");
    for line in &f.evidence {
        let _ = write!(h, "<li>{}</li>", e(line));
    }
    h.push_str("</ul>");
    if let Some(filter) = &f.wireshark_filter {
        let _ = write!(
            h,
            "<p class=\"filter\">Wireshark: <code>{}</code> <button type=\"button\" class=\"copy\" hidden>copy</button></p>",
            e(filter)
        );
    }
    h.push_str("</td></tr>\n</tbody>\n");
}

/// The page's style: light by default, dark when the system asks for it,
/// colours kept when printed.
const STYLE: &str = r#":root {
  --bg: #ffffff; --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --blocked: #cf222e; --missing: #8250df; --unexpected: #bc4c00; --inconclusive: #4d7ea8;
  --unclassified: #8c959f; --healthy: #1a7f37;
  --error-bg: #ffebe9; --warning-bg: #fff8c5; --info-bg: #ddf4ff; --healthy-bg: #dafbe1;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23;
    --blocked: #ff7b72; --missing: #d2a8ff; --unexpected: #ffa657; --inconclusive: #79c0ff;
    --unclassified: #8b949e; --healthy: #56d364;
    --error-bg: #5a1e22; --warning-bg: #4b3a0c; --info-bg: #0c2d4f; --healthy-bg: #12361f;
  }
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.verdict { font-size: 17px; font-weight: 600; margin: 4px 0 8px; padding: 8px 12px; border-radius: 6px; border-left: 5px solid; }
.verdict.error { background: var(--error-bg); border-color: var(--blocked); }
.verdict.warning { background: var(--warning-bg); border-color: var(--unexpected); }
.verdict.info { background: var(--info-bg); border-color: var(--inconclusive); }
.verdict.healthy { background: var(--healthy-bg); border-color: var(--healthy); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12.5px; font-weight: 600; white-space: nowrap; }
.badge.error { background: var(--error-bg); color: var(--blocked); }
.badge.warning { background: var(--warning-bg); color: var(--unexpected); }
.badge.info { background: var(--info-bg); color: var(--inconclusive); }
.summary { color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 12px 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
dd ul { margin: 2px 0; padding-left: 18px; }
dd.warning { background: var(--warning-bg); padding: 0 6px; border-radius: 4px; }
svg { width: 100%; max-width: 920px; height: auto; display: block; }
.node rect { fill: var(--panel); stroke: var(--fg); stroke-width: 1.4; }
.node.unknown rect { stroke-dasharray: 5 4; stroke: var(--muted); }
.node text { text-anchor: middle; fill: var(--fg); }
.node .role { font-weight: 700; font-size: 14px; }
.node .what { font-size: 11px; fill: var(--muted); }
.node .hosts { font: 10.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.edge path { fill: none; stroke-width: 2.6; }
.edge text { font-size: 13px; font-weight: 600; text-anchor: middle; paint-order: stroke; stroke: var(--bg); stroke-width: 4px; stroke-linejoin: round; }
.edge:hover path, .edge:focus path { stroke-width: 4.5; }
.arrow path { stroke: none; }
.edge.blocked path, .arrow.blocked path { stroke: var(--blocked); } .arrow.blocked path, .edge.blocked text { fill: var(--blocked); }
.edge.missing path { stroke: var(--missing); stroke-dasharray: 7 5; } .arrow.missing path, .edge.missing text { fill: var(--missing); }
.edge.unexpected path { stroke: var(--unexpected); } .arrow.unexpected path, .edge.unexpected text { fill: var(--unexpected); }
.edge.inconclusive path { stroke: var(--inconclusive); stroke-dasharray: 2 4; } .arrow.inconclusive path, .edge.inconclusive text { fill: var(--inconclusive); }
.edge.unclassified path { stroke: var(--unclassified); stroke-dasharray: 4 4; } .arrow.unclassified path, .edge.unclassified text { fill: var(--unclassified); }
.edge.healthy path { stroke: var(--healthy); } .arrow.healthy path, .edge.healthy text { fill: var(--healthy); }
.legend .key { margin-right: 12px; white-space: nowrap; }
.legend .mark, .matrix td a { font-weight: 700; }
.key.blocked, td.blocked a, th.blocked { color: var(--blocked); } .key.missing, td.missing a, th.missing { color: var(--missing); }
.key.unexpected, td.unexpected a, th.unexpected { color: var(--unexpected); } .key.inconclusive, td.inconclusive a, th.inconclusive { color: var(--inconclusive); }
.key.unclassified, td.unclassified a, th.unclassified { color: var(--unclassified); } .key.healthy, td.healthy a, th.healthy { color: var(--healthy); }
.note { color: var(--muted); font-size: 12.5px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 2px 6px; text-align: center; white-space: nowrap; }
.matrix th[scope=row] { text-align: left; }
.matrix thead th { font: 11.5px/1.2 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; padding: 3px 4px; }
.matrix td a { text-decoration: none; padding: 0 2px; }
td.blocked { background: var(--error-bg); } td.healthy { background: var(--healthy-bg); } td.unexpected, td.missing { background: var(--warning-bg); }
#findings { width: 100%; }
#findings th { text-align: left; border-bottom: 2px solid var(--line); padding: 4px 6px; font-weight: 600; white-space: nowrap; }
#findings th button { font: inherit; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
#findings th button[aria-sort=ascending]::after { content: " \25b2"; } #findings th button[aria-sort=descending]::after { content: " \25bc"; }
html.js #findings th .plain { display: none; }
#findings td { padding: 3px 6px; vertical-align: top; }
#findings tbody { border-top: 1px solid var(--line); }
#findings tbody:target { outline: 2px solid var(--inconclusive); }
#findings tr.body td { padding-top: 0; padding-bottom: 8px; }
#findings td.what { font-weight: 600; white-space: nowrap; }
#findings tbody.blocked td.what { color: var(--blocked); } #findings tbody.missing td.what { color: var(--missing); }
#findings tbody.unexpected td.what { color: var(--unexpected); } #findings tbody.healthy td.what { color: var(--healthy); }
td.hosts { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
td.num { text-align: right; }
.more { color: var(--muted); font-family: system-ui, sans-serif; }
ul.evidence { margin: 0; padding-left: 18px; }
.filter { margin: 4px 0 0; }
.filter code { background: var(--panel); padding: 1px 4px; border-radius: 4px; }
button.copy { font-size: 11.5px; padding: 0 6px; cursor: pointer; }
#controls { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; margin: 8px 0 12px; }
#controls fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 2px 8px 6px; margin: 0; }
#controls label { margin-right: 8px; white-space: nowrap; }
#shown { color: var(--muted); }
a { color: inherit; }
@media print {
  main { max-width: none; padding: 0; }
  #controls, button.copy { display: none !important; }
  #findings tbody { break-inside: avoid; }
}
"#;

/// Sorting, filtering, copying; the page is complete without it.
const SCRIPT: &str = r#"(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var table = document.getElementById("findings");
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody.finding"));
  var form = document.getElementById("controls");
  var pair = document.getElementById("pair");
  var text = document.getElementById("text");
  var shown = document.getElementById("shown");
  form.hidden = false;
  function apply() {
    var off = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[type=checkbox]"), function (b) {
      if (!b.checked) { off[b.name + ":" + b.value] = true; }
    });
    var p = pair.value, q = text.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = !off["severity:" + r.dataset.severity] && !off["kind:" + r.dataset.kind] &&
        (!p || r.dataset.pair === p) && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " findings shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });
  var buttons = table.querySelectorAll("th button[data-sort]");
  Array.prototype.forEach.call(buttons, function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var key = b.dataset.sort;
      var dir = b.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      Array.prototype.forEach.call(buttons, function (o) { o.removeAttribute("aria-sort"); });
      b.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      rows.sort(function (a, c) {
        var x = a.dataset[key], y = c.dataset[key];
        var nx = Number(x), ny = Number(y);
        var d = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return d * dir || Number(a.dataset.n) - Number(c.dataset.n);
      });
      rows.forEach(function (r) { table.appendChild(r); });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var code = b.parentNode.querySelector("code");
      var done = function () { b.textContent = "copied"; setTimeout(function () { b.textContent = "copy"; }, 1500); };
      var fallback = function () {
        var range = document.createRange();
        range.selectNodeContents(code);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { if (document.execCommand("copy")) { done(); } } catch (e) { /* selected: Ctrl+C works */ }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(code.textContent).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
  // An edge of the diagram shows its pair's findings.
  Array.prototype.forEach.call(document.querySelectorAll("a.edge"), function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      pair.value = a.dataset.pair;
      apply();
      table.scrollIntoView();
    });
  });
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
  apply();
  root.dataset.script = "ran";
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind, severity: Severity) -> Finding {
        Finding {
            kind,
            severity,
            src_role: Some(Role::Sync),
            dst_role: Some(Role::Dc),
            transport: Proto::Tcp,
            port: 445,
            ports: None,
            rule: None,
            table: None,
            page: None,
            section: None,
            also_rules: Vec::new(),
            how: None,
            hosts: Vec::new(),
            hosts_total: 0,
            count: 1,
            evidence: Vec::new(),
            wireshark_filter: None,
            inputs: Vec::new(),
            input_mask: 0,
        }
    }

    #[test]
    fn the_most_severe_finding_colours_a_pair() {
        use FindingKind::*;
        let f = |k, s| finding(k, s);
        let pair = [
            f(Healthy, Severity::Info),
            f(Unexpected, Severity::Warning),
            f(Blocked, Severity::Error),
        ];
        assert_eq!(status(&pair), Some(Status::Blocked));
        // A warning-level block outranks nothing of error severity.
        let pair = [f(Blocked, Severity::Warning), f(Missing, Severity::Error)];
        assert_eq!(status(&pair), Some(Status::Missing));
        // A normal absence does not paint a working pair.
        let pair = [f(Missing, Severity::Info), f(Healthy, Severity::Info)];
        assert_eq!(status(&pair), Some(Status::Healthy));
        assert_eq!(status(&[f(Missing, Severity::Info)]), Some(Status::Missing));
        assert_eq!(status(&[]), None);
    }

    #[test]
    fn edges_leave_the_box_on_its_border() {
        let c = (100.0, 100.0);
        let (x, y) = box_exit(c, (400.0, 100.0), 0.0);
        assert!((x - (100.0 + NODE_W / 2.0)).abs() < 1e-6 && (y - 100.0).abs() < 1e-6);
        let (x, y) = box_exit(c, (100.0, 0.0), 0.0);
        assert!((x - 100.0).abs() < 1e-6 && (y - (100.0 - NODE_H / 2.0)).abs() < 1e-6);
    }

    #[test]
    fn every_node_has_its_own_place() {
        let mut at: Vec<(i64, i64)> = Role::ALL
            .into_iter()
            .map(Some)
            .chain([None])
            .map(node_at)
            .map(|(x, y)| (x as i64, y as i64))
            .collect();
        for (x, y) in &at {
            assert!(*x as f64 - NODE_W / 2.0 >= 0.0 && *x as f64 + NODE_W / 2.0 <= SVG_W);
            assert!(*y as f64 - NODE_H / 2.0 >= 0.0 && *y as f64 + NODE_H / 2.0 <= SVG_H);
        }
        at.sort_unstable();
        at.dedup();
        assert_eq!(at.len(), Role::ALL.len() + 1);
    }
}
