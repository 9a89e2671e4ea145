//! Markdown, ready to paste into a ticket.

use super::*;

/// Markdown, ready to paste into a ticket.
pub(super) struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        write_markdown(w, audit, ctx)
    }
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
