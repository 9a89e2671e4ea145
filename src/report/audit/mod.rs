//! Output of `flowaudit audit`: the findings per role pair, in one of the
//! formats of [`AuditFormat`], each written by one [`Exporter`] in a file of
//! its own; what they share (how a finding's pair, port, rule and hosts
//! read, the header lines) is here.

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

mod csv;
mod firewall;
mod firewall_csv;
mod firewall_ps1;
mod html;
mod json;
mod markdown;
mod table;

/// How `audit` writes its report (also the values of `--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Findings grouped per role pair, for a terminal.
    Table,
    /// One JSON document (`schema_version` 1).
    Json,
    /// Markdown, ready to paste into a ticket.
    Markdown,
    /// One row per finding and host pair.
    Csv,
    /// One self-contained page: verdict, role diagram, matrix, findings.
    Html,
    /// A firewall change request: one row per rule to open (proven blocked, required).
    FirewallCsv,
    /// Windows Defender Firewall rules for the blocks a host's own RST proves.
    FirewallPs1,
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
    format.exporter().write(w, audit, ctx)
}

/// One report format of `flowaudit audit` (as hyperfine's exporters are):
/// adding a format is a file with one of these, and a variant of
/// [`AuditFormat`].
pub trait Exporter {
    /// Writes the whole report to `w`.
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()>;
}

impl AuditFormat {
    /// Every format, in `--format`'s order (clap's value enum: the CLI, the
    /// docs test and the fuzz target list the same).
    pub fn all() -> &'static [AuditFormat] {
        <AuditFormat as clap::ValueEnum>::value_variants()
    }

    /// True for the change requests, which list every host pair unless
    /// told otherwise: a host left out of one is a rule nobody opens.
    pub fn lists_every_host(self) -> bool {
        matches!(self, AuditFormat::FirewallCsv | AuditFormat::FirewallPs1)
    }

    /// The exporter that writes this format.
    pub fn exporter(self) -> &'static dyn Exporter {
        match self {
            AuditFormat::Table => &table::TableExporter,
            AuditFormat::Json => &json::JsonExporter,
            AuditFormat::Markdown => &markdown::MarkdownExporter,
            AuditFormat::Csv => &csv::CsvExporter,
            AuditFormat::Html => &html::HtmlExporter,
            AuditFormat::FirewallCsv => &firewall_csv::FirewallCsvExporter,
            AuditFormat::FirewallPs1 => &firewall_ps1::FirewallPs1Exporter,
        }
    }
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

/// The notes about the inputs that a sheet carries as rows of their own:
/// each capture warning (`capture-warning`), then each skipped input
/// (`skipped-input`), with its text.
fn input_notes<'a>(
    audit: &'a Audit,
    ctx: &'a AuditContext<'_>,
) -> impl Iterator<Item = (&'static str, String)> + 'a {
    audit
        .summary
        .capture_warnings
        .iter()
        .map(|text| ("capture-warning", text.clone()))
        .chain(ctx.skipped.iter().map(|s| ("skipped-input", s.to_string())))
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
        .map(|h| host_pair(h, "->", glue))
        .collect();
    if f.hosts.len() > max {
        let more = (f.hosts.len() - max) as u64;
        out.push(format!(
            "and {}",
            crate::report::count(more, "more host pair", "more host pairs")
        ));
    }
    out
}

/// `10.0.1.10 (sync1.corp) -> 10.0.0.5 (3 attempts)`, with `arrow` between
/// the hosts and `glue` where a table should not wrap.
fn host_pair(h: &crate::classify::HostPair, arrow: &str, glue: char) -> String {
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
        "{}{glue}{arrow} {} ({}{glue}{n})",
        named(&h.src, &h.src_name),
        named(&h.dst, &h.dst_name),
        h.attempts
    )
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

/// `3 errors, 1 warning, 5 info; 40 connections classified, 2 with one
/// unknown end, 1 with no known end`.
fn summary_line(audit: &Audit) -> String {
    use crate::report::count;
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
    let plural = |n: i64, one: &str, many: &str| crate::report::count(n.unsigned_abs(), one, many);
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
            crate::report::count(ctx.captures.len() as u64, "capture", "captures"),
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
