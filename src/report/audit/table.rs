//! The terminal table: findings per role pair, fitted to the terminal's width.

use super::*;

/// The terminal table.
pub(super) struct TableExporter;

impl Exporter for TableExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        write_table(w, audit, ctx)
    }
}

fn severity_color(s: Severity) -> Color {
    match s {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Blue,
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
