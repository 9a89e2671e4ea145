//! JSON: one document, `schema_version` 1, documented in docs/audit.md.

use super::*;

/// JSON.
pub(super) struct JsonExporter;

impl Exporter for JsonExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        write_json(w, audit, ctx)
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
        schema_version: crate::report::SCHEMA_VERSION,
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
