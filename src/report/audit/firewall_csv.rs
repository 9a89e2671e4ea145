//! Firewall CSV: a change request for the network team, one row per rule
//! to open (see [`super::firewall`] for which findings are rules to open).

use super::firewall::{self, Block, Reason};
use super::*;

/// Firewall change request as CSV.
pub(super) struct FirewallCsvExporter;

impl Exporter for FirewallCsvExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        write_firewall_csv(w, audit, ctx)
    }
}

const HEADER: [&str; 21] = [
    "action",
    "kind",
    "severity",
    "source",
    "destination",
    "protocol",
    "port",
    "rule",
    "table",
    "src_role",
    "dst_role",
    "how",
    "enforced_at",
    "why",
    "attempts",
    "first_seen",
    "last_seen",
    "first_ts",
    "last_ts",
    "src_names",
    "dst_names",
];

/// Rows: capture warnings (`capture-warning`) and skipped inputs
/// (`skipped-input`) first, with their text in `why`, so a request built
/// on a cut-short capture says so; then one `open` row per block of host
/// pairs of each rule to open; then `investigate` rows for what needs a
/// look but is no rule to open. Every cell through [`escape::csv_cell`].
fn write_firewall_csv(w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
    let mut out = ::csv::Writer::from_writer(w);
    out.write_record(HEADER)?;
    for (action, text) in input_notes(audit, ctx) {
        let mut row: [String; HEADER.len()] = Default::default();
        row[0] = action.to_string();
        if let Some(cell) = HEADER
            .iter()
            .position(|h| *h == "why")
            .and_then(|i| row.get_mut(i))
        {
            *cell = text;
        }
        write_row(&mut out, &row)?;
    }
    let selection = firewall::select(audit);
    for o in &selection.open {
        for b in &o.blocks {
            write_row(&mut out, &row("open", o.finding, b, None))?;
        }
    }
    let none = Block {
        src: None,
        dst: None,
        pairs: Vec::new(),
    };
    for i in &selection.investigate {
        let blocks = if i.blocks.is_empty() {
            std::slice::from_ref(&none)
        } else {
            &i.blocks[..]
        };
        for b in blocks {
            write_row(&mut out, &row("investigate", i.finding, b, Some(&i.reason)))?;
        }
    }
    out.flush()
}

/// Writes `cells`, each through [`escape::csv_cell`].
fn write_row<W: Write>(out: &mut ::csv::Writer<W>, cells: &[String]) -> io::Result<()> {
    out.write_record(cells.iter().map(|c| escape::csv_cell(c).into_owned()))?;
    Ok(())
}

/// One row of `f` for block `b`, unescaped.
fn row(action: &str, f: &Finding, b: &Block<'_>, reason: Option<&Reason>) -> [String; 21] {
    let net = |n: Option<ipnet::IpNet>| n.map(|n| n.to_string()).unwrap_or_default();
    let role = |r: Option<Role>| r.map(|r| r.name().to_string()).unwrap_or_default();
    let time = |t: Option<Timestamp>, iso: bool| match t {
        Some(t) if iso => t.to_string(),
        Some(t) => t.zeek().to_string(),
        None => String::new(),
    };
    let (attempts, first, last) = match b.pairs.is_empty() {
        true => (String::new(), None, None),
        false => (b.attempts().to_string(), b.first(), b.last()),
    };
    [
        action.to_string(),
        f.kind.name().to_string(),
        f.severity.name().to_string(),
        net(b.src),
        net(b.dst),
        f.transport.name().to_string(),
        firewall::port_or_range(f),
        f.rule.clone().unwrap_or_default(),
        f.table.clone().unwrap_or_default(),
        role(f.src_role),
        role(f.dst_role),
        f.how.map(|h| h.name().to_string()).unwrap_or_default(),
        f.how
            .map(|h| firewall::enforced_at(h).to_string())
            .unwrap_or_default(),
        firewall::why(f, reason),
        attempts,
        time(first, true),
        time(last, true),
        time(first, false),
        time(last, false),
        b.names(true).join("; "),
        b.names(false).join("; "),
    ]
}
