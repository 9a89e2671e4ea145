//! CSV: one row per finding and host pair.

use super::*;

/// CSV.
pub(super) struct CsvExporter;

impl Exporter for CsvExporter {
    fn write(&self, w: &mut dyn Write, audit: &Audit, ctx: &AuditContext<'_>) -> io::Result<()> {
        write_csv(w, audit, ctx)
    }
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
    let mut out = ::csv::Writer::from_writer(w);
    out.write_record(CSV_HEADER)?;
    for (kind, text) in input_notes(audit, ctx) {
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
