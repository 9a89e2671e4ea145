//! Output of `flowaudit audit`: the findings per role pair, as a terminal
//! table, JSON, Markdown (ready for a ticket) or CSV.

use super::escape;
use super::fit;
use crate::catalogue::Role;
use crate::classify::{Audit, Finding, FindingKind, Severity};
use crate::pipeline::CaptureReport;
use crate::read::Skipped;
use crate::time::Timestamp;
use comfy_table::{Color, Table, presets};
use serde::Serialize;
use std::io::{self, Write};

/// How `audit` writes its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    /// Findings grouped per role pair, for a terminal.
    Table,
    /// One JSON document (`schema_version` 1).
    Json,
    /// Markdown, ready to paste into a ticket.
    Markdown,
    /// One row per finding and host pair.
    Csv,
}

/// What the report says about its inputs besides the findings.
pub struct AuditContext<'a> {
    /// The captures read.
    pub captures: &'a [CaptureReport],
    /// Files found in directories and left out: not captures.
    pub skipped: &'a [Skipped],
    /// Where the inventory came from.
    pub inventory: &'a str,
    /// Where the rules came from.
    pub rules: &'a [String],
    /// Colour the terminal table.
    pub color: bool,
    /// The terminal's width when the report goes to one: tables fit it and
    /// long lines wrap with a hanging indent. `None` otherwise: tables fit
    /// 160 columns and lines are never wrapped, so each evidence sentence and
    /// Wireshark filter stays one line for grep and copy.
    pub terminal: Option<u16>,
}

/// Writes the audit in `format`.
pub fn write_audit(
    w: &mut dyn Write,
    format: AuditFormat,
    audit: &Audit,
    ctx: &AuditContext<'_>,
) -> io::Result<()> {
    match format {
        AuditFormat::Table => write_table(w, audit, ctx),
        AuditFormat::Json => write_json(w, audit, ctx),
        AuditFormat::Markdown => write_markdown(w, audit, ctx),
        AuditFormat::Csv => write_csv(w, audit, ctx),
    }
}

/// The JSON document (documented in `docs/audit-json.md`).
#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    tool: Tool,
    captures: &'a [CaptureReport],
    skipped: &'a [Skipped],
    inventory: &'a str,
    rules: &'a [String],
    features: &'a [crate::catalogue::Feature],
    findings: &'a [Finding],
    summary: &'a crate::classify::Summary,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

fn write_json(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    let doc = Doc {
        schema_version: super::SCHEMA_VERSION,
        tool: Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        captures: ctx.captures,
        skipped: ctx.skipped,
        inventory: ctx.inventory,
        rules: ctx.rules,
        features: &audit.features,
        findings: &audit.findings,
        summary: &audit.summary,
    };
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    w.write_all(b"\n")
}

/// `sync -> dc`, or `? -> dc` for an unknown side.
fn pair(f: &Finding) -> String {
    let r = |r: Option<Role>| r.map_or("unknown", Role::name);
    format!("{} -> {}", r(f.src_role), r(f.dst_role))
}

/// `blocked (rst)`, `missing`, ...
fn what(f: &Finding) -> String {
    match f.how {
        Some(h) => {
            format!("{} ({})", f.kind.name(), h.name())
        }
        None => f.kind.name().to_string(),
    }
}

/// `tcp/3268`, with the rule's range when it is one: `tcp/49670 (49152-65535)`.
fn port(f: &Finding) -> String {
    match &f.ports {
        Some(spec) if spec.contains('-') => format!("{}/{} ({spec})", f.transport.name(), f.port),
        _ => format!("{}/{}", f.transport.name(), f.port),
    }
}

/// `t1-ldap (table 1)`.
fn rule(f: &Finding) -> String {
    match (&f.rule, &f.table) {
        (Some(r), Some(t)) => format!("{r} (table {t})"),
        (Some(r), None) => r.clone(),
        _ => "-".into(),
    }
}

/// Tables fit this many columns when the report does not go to a terminal.
const FILE_WIDTH: usize = 160;

/// One line per host pair, the first few only; `glue` joins the words a
/// table should not wrap apart (`10.0.1.10 ->`, `(3 attempts)`).
fn hosts(f: &Finding, max: usize, glue: char) -> Vec<String> {
    let mut out: Vec<String> = f
        .hosts
        .iter()
        .take(max)
        .map(|h| {
            let n = if h.attempts == 1 {
                "attempt"
            } else {
                "attempts"
            };
            let named = |ip: &std::net::IpAddr, name: &Option<String>| match name {
                Some(name) => format!("{ip} ({name})"),
                None => ip.to_string(),
            };
            format!(
                "{}{glue}-> {} ({}{glue}{n})",
                named(&h.src, &h.src_name),
                named(&h.dst, &h.dst_name),
                h.attempts
            )
        })
        .collect();
    if f.hosts.len() > max {
        let more = (f.hosts.len() - max) as u64;
        out.push(format!(
            "and {}",
            super::count(more, "more host pair", "more host pairs")
        ));
    }
    out
}

/// The healthy findings, in report order.
fn healthy(audit: &Audit) -> Vec<&Finding> {
    audit
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Healthy)
        .collect()
}

/// Findings other than healthy, grouped by role pair in report order.
fn groups(audit: &Audit) -> Vec<(String, Vec<&Finding>)> {
    let mut out: Vec<(String, Vec<&Finding>)> = Vec::new();
    for f in audit
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Healthy)
    {
        let p = pair(f);
        match out.iter_mut().find(|(k, _)| *k == p) {
            Some((_, v)) => v.push(f),
            None => out.push((p, vec![f])),
        }
    }
    out
}

fn healthy_line(f: &Finding) -> String {
    let n = f.hosts.len();
    let pairs = if n == 1 { "host pair" } else { "host pairs" };
    let conns = if f.count == 1 {
        "connection"
    } else {
        "connections"
    };
    format!(
        "{} {} {}: {} {pairs}, {} {conns}",
        pair(f),
        port(f),
        rule(f),
        n,
        f.count
    )
}

fn severity_color(s: Severity) -> Color {
    match s {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Blue,
    }
}

/// Writes `text` after `first`: on a terminal wrapped to its width, every
/// further line indented by `hang`; elsewhere as one line.
fn para(
    w: &mut dyn Write,
    ctx: &AuditContext<'_>,
    first: &str,
    hang: &str,
    text: &str,
) -> io::Result<()> {
    match ctx.terminal {
        Some(width) => {
            for line in fit::hanging(first, hang, text, usize::from(width)) {
                writeln!(w, "{line}")?;
            }
            Ok(())
        }
        None => writeln!(w, "{first}{text}"),
    }
}

/// The table of one role pair's findings, numbered from `first`, fitted to
/// the terminal (or [`FILE_WIDTH`]): hosts get room first, then the finding,
/// the rule, the port; when the columns' words cannot fit, ports lose their
/// rule's range (`tcp/49670`, not `tcp/49670 (49152-65535)`), then rules
/// their table (both are in the evidence below).
fn findings_table(findings: &[&Finding], first: usize, ctx: &AuditContext<'_>) -> Table {
    let mut cols = [
        fit::Column::new("#", 0),
        fit::Column::new("severity", 1),
        fit::Column::new("finding", 4),
        fit::Column::new("port", 2),
        fit::Column::new("rule", 3),
        fit::Column::new("hosts", 5),
    ];
    let mut short_ports = Vec::new();
    let mut rule_ids = Vec::new();
    for (k, f) in findings.iter().enumerate() {
        let hosts: Vec<String> = hosts(f, 5, fit::GLUE)
            .iter()
            .map(|h| escape::terminal(h).into_owned())
            .collect();
        let cells = [
            (first + k).to_string(),
            f.severity.name().to_string(),
            what(f),
            port(f),
            // `(table 1)` is one unit: a lone `1)` says nothing.
            rule(f).replace("(table ", &format!("(table{}", fit::GLUE)),
            hosts.join("\n"),
        ];
        for (c, text) in cols.iter_mut().zip(cells) {
            c.cells.push(text);
        }
        cols[1]
            .colors
            .push(ctx.color.then(|| severity_color(f.severity)));
        short_ports.push(format!("{}/{}", f.transport.name(), f.port));
        rule_ids.push(f.rule.clone().unwrap_or_else(|| "-".into()));
    }
    let width = ctx.terminal.map_or(FILE_WIDTH, usize::from);
    let steps = vec![
        fit::Step::Shorten(3, short_ports),
        fit::Step::Shorten(4, rule_ids),
    ];
    let color = ctx.color;
    fit::table(cols.to_vec(), steps, width, &|t: &mut Table| {
        t.load_style(presets::UTF8_BORDERS_ONLY);
        if color {
            t.enforce_styling();
        }
    })
}

fn write_table(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    header_lines(w, audit, ctx)?;
    // One table per role pair with the short facts, then the evidence of each
    // finding below it, numbered: evidence sentences are long, and a column of
    // them would squeeze everything else on an 80-column terminal.
    let mut n = 0;
    for (p, findings) in groups(audit) {
        writeln!(w)?;
        writeln!(w, "{p}")?;
        writeln!(w, "{}", findings_table(&findings, n + 1, ctx))?;
        for f in &findings {
            n += 1;
            para(
                w,
                ctx,
                &format!("  [{n}] "),
                "      ",
                &format!("{} {}", what(f), port(f)),
            )?;
            for e in &f.evidence {
                para(w, ctx, "      ", "        ", &escape::terminal(e))?;
            }
            if let Some(filter) = &f.wireshark_filter {
                let filter = escape::terminal(filter);
                match ctx.terminal {
                    Some(width) => {
                        let lines = fit::filter(
                            "      wireshark: ",
                            "        ",
                            &filter,
                            usize::from(width),
                        );
                        for line in lines {
                            writeln!(w, "{line}")?;
                        }
                    }
                    None => writeln!(w, "      wireshark: {filter}")?,
                }
            }
        }
    }
    let healthy = healthy(audit);
    if !healthy.is_empty() {
        writeln!(w)?;
        writeln!(w, "Healthy ({}):", healthy.len())?;
        for f in healthy {
            para(w, ctx, "  ", "      ", &escape::terminal(&healthy_line(f)))?;
        }
    }
    writeln!(w)?;
    para(w, ctx, "", "  ", &summary_line(audit))
}

/// `3 errors, 1 warning, 5 info; 40 connections classified, 2 with one
/// unknown end, 1 with no known end`.
fn summary_line(audit: &Audit) -> String {
    use super::count;
    let s = &audit.summary;
    let n = |k: &str| s.severities.get(k).copied().unwrap_or(0);
    format!(
        "{}, {}, {} info; {} classified, {} with one unknown end, {} with no known end",
        count(n("error"), "error", "errors"),
        count(n("warning"), "warning", "warnings"),
        n("info"),
        count(s.classified, "connection", "connections"),
        s.unclassified,
        s.ignored
    )
}

/// The enabled features, or `none` (an inventory may say `features = []`).
fn feature_list(audit: &Audit, quote: impl Fn(&str) -> String) -> String {
    if audit.features.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = audit.features.iter().map(|f| quote(f.name())).collect();
    names.join(", ")
}

/// A span of capture time for people: `0.153 s`, `4.0 s`, `30 min 56 s`,
/// `5 h 3 min`, `3 days 4 h`, `318 days` (units below the largest two
/// dropped, not rounded).
fn duration_text(ns: i64) -> String {
    let secs = ns / 1_000_000_000;
    let plural = |n: i64, one: &str, many: &str| super::count(n.unsigned_abs(), one, many);
    match secs {
        s if s < 1 => format!("{:.3} s", ns as f64 / 1e9),
        s if s < 60 => format!("{:.1} s", ns as f64 / 1e9),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s < 10 * 86_400 => format!(
            "{} {} h",
            plural(s / 86_400, "day", "days"),
            s % 86_400 / 3600
        ),
        s => plural(s / 86_400, "day", "days"),
    }
}

/// `30 min 56 s, 2023-11-14T22:13:20.000000Z to 2023-11-14T22:44:16.000000Z`,
/// or `no packets`.
fn span_text(first: Option<Timestamp>, last: Option<Timestamp>) -> String {
    match (first, last) {
        (Some(a), Some(b)) => format!("{}, {a} to {b}", duration_text(b.since(a).0)),
        _ => "no packets".into(),
    }
}

/// What the captures cover: for one, its span; for several, `3 captures
/// over 318 days, FIRST to LAST`, then each capture's path and span, so a
/// set of short captures months apart does not read as one long one.
fn capture_spans<'a>(ctx: &AuditContext<'a>) -> (String, Vec<(&'a str, String)>) {
    let each: Vec<(&str, String)> = ctx
        .captures
        .iter()
        .map(|c| {
            (
                c.info.path.as_str(),
                span_text(c.info.first_time, c.info.last_time),
            )
        })
        .collect();
    let first = ctx.captures.iter().filter_map(|c| c.info.first_time).min();
    let last = ctx.captures.iter().filter_map(|c| c.info.last_time).max();
    let whole = match (first, last) {
        (Some(a), Some(b)) => format!(
            "{} over {}, {a} to {b}",
            super::count(ctx.captures.len() as u64, "capture", "captures"),
            duration_text(b.since(a).0)
        ),
        _ => span_text(None, None),
    };
    (whole, each)
}

/// Inputs, features, assumptions and capture warnings, before the findings;
/// on a terminal each wrapped under its text (11 columns in).
fn header_lines(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    let esc = |s: &str| escape::terminal(s).into_owned();
    let hang = " ".repeat(11);
    match capture_spans(ctx) {
        (_, each) if each.len() == 1 => {
            for (path, span) in each {
                para(w, ctx, "Captures:  ", &hang, &esc(path))?;
                para(w, ctx, "Span:      ", &hang, &span)?;
            }
        }
        (whole, each) => {
            para(w, ctx, "Captures:  ", &hang, &whole)?;
            for (path, span) in each {
                para(
                    w,
                    ctx,
                    &hang,
                    &format!("{hang}  "),
                    &format!("{}: {span}", esc(path)),
                )?;
            }
        }
    }
    para(w, ctx, "Inventory: ", &hang, &esc(ctx.inventory))?;
    let rules: Vec<String> = ctx.rules.iter().map(|r| esc(r)).collect();
    para(w, ctx, "Rules:     ", &hang, &rules.join(", "))?;
    para(
        w,
        ctx,
        "Features:  ",
        &hang,
        &feature_list(audit, str::to_string),
    )?;
    for a in &audit.summary.assumptions {
        para(w, ctx, "Assumed:   ", &hang, &esc(a))?;
    }
    for c in &audit.summary.capture_warnings {
        para(w, ctx, "Warning:   ", &hang, &esc(c))?;
    }
    for s in ctx.skipped {
        para(
            w,
            ctx,
            "Skipped:   ",
            &hang,
            &format!("{}: {}", esc(&s.path), esc(&s.reason)),
        )?;
    }
    Ok(())
}

fn write_markdown(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    writeln!(w, "## flowaudit report")?;
    writeln!(w)?;
    writeln!(w, "{}", escape::markdown(&summary_line(audit)))?;
    writeln!(w)?;
    match capture_spans(ctx) {
        (_, each) if each.len() == 1 => {
            for (path, span) in each {
                writeln!(w, "- Captures: {} ({span})", escape::markdown_code(path))?;
            }
        }
        (whole, each) => {
            writeln!(w, "- Captures: {whole}")?;
            for (path, span) in each {
                writeln!(w, "  - {}: {span}", escape::markdown_code(path))?;
            }
        }
    }
    writeln!(w, "- Inventory: {}", escape::markdown_code(ctx.inventory))?;
    writeln!(
        w,
        "- Features: {}",
        feature_list(audit, escape::markdown_code)
    )?;
    for a in &audit.summary.assumptions {
        writeln!(w, "- Assumed: {}", escape::markdown(a))?;
    }
    for c in &audit.summary.capture_warnings {
        writeln!(w, "- **Warning:** {}", escape::markdown(c))?;
    }
    for s in ctx.skipped {
        writeln!(
            w,
            "- Skipped: {}: {}",
            escape::markdown_code(&s.path),
            escape::markdown(&s.reason)
        )?;
    }
    for (p, findings) in groups(audit) {
        writeln!(w)?;
        writeln!(w, "### {}", escape::markdown(&p))?;
        writeln!(w)?;
        writeln!(w, "| severity | finding | port | rule | hosts |")?;
        writeln!(w, "|---|---|---|---|---|")?;
        for f in &findings {
            writeln!(
                w,
                "| {} | {} | {} | {} | {} |",
                f.severity.name(),
                escape::markdown(&what(f)),
                escape::markdown(&port(f)),
                escape::markdown(&rule(f)),
                hosts(f, 5, ' ')
                    .iter()
                    .map(|h| escape::markdown(h))
                    .collect::<Vec<_>>()
                    .join("<br>")
            )?;
        }
        writeln!(w)?;
        for f in &findings {
            writeln!(
                w,
                "**{} {} {}**",
                escape::markdown(&what(f)),
                escape::markdown(&port(f)),
                escape::markdown(&rule(f))
            )?;
            writeln!(w)?;
            for e in &f.evidence {
                writeln!(w, "- {}", escape::markdown(e))?;
            }
            if let Some(filter) = &f.wireshark_filter {
                writeln!(w, "- Wireshark: {}", escape::markdown_code(filter))?;
            }
            writeln!(w)?;
        }
    }
    let healthy = healthy(audit);
    if !healthy.is_empty() {
        writeln!(w, "### Healthy")?;
        writeln!(w)?;
        for f in healthy {
            writeln!(w, "- {}", escape::markdown(&healthy_line(f)))?;
        }
    }
    Ok(())
}

const CSV_HEADER: [&str; 20] = [
    "kind",
    "severity",
    "src_role",
    "dst_role",
    "transport",
    "port",
    "ports",
    "rule",
    "table",
    "how",
    "src",
    "dst",
    "attempts",
    "first_ts",
    "last_ts",
    "count",
    "evidence",
    "wireshark_filter",
    "src_name",
    "dst_name",
];

/// CSV rows: one per finding and host pair, then one per capture warning
/// (kind `capture-warning`) and per skipped input (kind `skipped-input`),
/// with the text in `evidence`, so a sheet of findings also says when the
/// capture behind them is cut short or incomplete.
fn write_csv(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(CSV_HEADER)?;
    let notes = audit
        .summary
        .capture_warnings
        .iter()
        .map(|text| ("capture-warning", text.clone()))
        .chain(ctx.skipped.iter().map(|s| ("skipped-input", s.to_string())));
    for (kind, text) in notes {
        let mut row = vec![String::new(); CSV_HEADER.len()];
        row[..2].clone_from_slice(&[kind.to_string(), Severity::Warning.name().to_string()]);
        if let Some(cell) = CSV_HEADER
            .iter()
            .position(|h| *h == "evidence")
            .and_then(|i| row.get_mut(i))
        {
            *cell = text;
        }
        out.write_record(row.iter().map(|c| escape::csv_cell(c).into_owned()))?;
    }
    for f in &audit.findings {
        let role = |r: Option<Role>| r.map(|r| r.name().to_string()).unwrap_or_default();
        let how = f.how.map(|h| h.name().to_string()).unwrap_or_default();
        let evidence = f.evidence.join(" | ");
        let base = [
            f.kind.name().to_string(),
            f.severity.name().to_string(),
            role(f.src_role),
            role(f.dst_role),
            f.transport.name().to_string(),
            f.port.to_string(),
            f.ports.clone().unwrap_or_default(),
            f.rule.clone().unwrap_or_default(),
            f.table.clone().unwrap_or_default(),
            how,
        ];
        let tail = [
            f.count.to_string(),
            evidence,
            f.wireshark_filter.clone().unwrap_or_default(),
        ];
        let mut write = |hostcols: [String; 5], names: [String; 2]| {
            let row: Vec<String> = base
                .iter()
                .chain(hostcols.iter())
                .chain(tail.iter())
                .chain(names.iter())
                .map(|c| escape::csv_cell(c).into_owned())
                .collect();
            out.write_record(&row)
        };
        if f.hosts.is_empty() {
            write(Default::default(), Default::default())?;
        }
        for h in &f.hosts {
            write(
                [
                    h.src.to_string(),
                    h.dst.to_string(),
                    h.attempts.to_string(),
                    h.first_ts.zeek().to_string(),
                    h.last_ts.zeek().to_string(),
                ],
                [
                    h.src_name.clone().unwrap_or_default(),
                    h.dst_name.clone().unwrap_or_default(),
                ],
            )?;
        }
    }
    out.flush()
}
