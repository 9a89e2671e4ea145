//! Fuzz body for the whole audit: untrusted capture bytes through read,
//! decode, learning, tracking, inference and classification, then every
//! audit format, as `flowaudit audit` runs them (replayed on stable by
//! `tests/fuzz_corpus.rs`).
//!
//! The same for `flowaudit flows` in every format. Besides "no panic", it
//! checks what a user relies on for any input: JSON (and each JSON line) is
//! valid JSON; a Zeek log's rows are as wide as its `#fields` line; the text
//! formats carry no control characters (text from captures, such as learned
//! names, is escaped before it reaches a terminal, a spreadsheet or a
//! Markdown page); and two threads give the same reports as one.
//!
//! Included by path beside `targets.rs`, whose limits it shares.

use flowaudit::catalogue::Catalogue;
use flowaudit::inventory::Inventory;
use flowaudit::pipeline::Options;
use flowaudit::read::Source;
use flowaudit::report::{self, AuditContext, AuditFormat, FlowFormat};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bundled sample's inventory: roles for the addresses the seeds use.
const SAMPLE_INVENTORY: &str = include_str!("../../samples/hybrid-identity.toml");

/// The embedded catalogue, parsed once per process.
fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::embedded().expect("the embedded catalogue loads"))
}

/// The reports of one run: the audit in every format, with its format, and
/// the flows in every format (JSON, JSON lines, Zeek, table, CSV).
type Reports = (Vec<(AuditFormat, Vec<u8>)>, Vec<Vec<u8>>);

/// The audit of `path` with `threads` in every format, then its flows.
fn reports(path: &std::path::Path, threads: usize, inventory: Option<&Inventory>) -> Reports {
    let opts = Options {
        threads,
        ..crate::targets::small_limits()
    };
    let sources = [Source::Path(path.to_path_buf())];
    let cat = catalogue();
    let run = flowaudit::audit::run(&sources, &opts, cat, inventory);
    let Some(audit) = run.audit else {
        return (Vec::new(), Vec::new());
    };
    let captures: Vec<_> = run.results.into_iter().flatten().collect();
    let ctx = AuditContext {
        captures: &captures,
        skipped: &[],
        inventory: &run.inventory_path,
        rules: &cat.origin,
        color: false,
        // As on an 80-column terminal: tables fitted, lines wrapped.
        terminal: Some(80),
    };
    let mut audits = Vec::new();
    for &format in AuditFormat::all() {
        let mut text = Vec::new();
        report::write_audit(&mut text, format, &audit, &ctx).expect("writing to memory");
        audits.push((format, text));
    }
    let mut out = Vec::new();
    let flows = flowaudit::pipeline::flows(&sources, &opts);
    let captures: Vec<_> = flows.results.into_iter().flatten().collect();
    for format in [
        FlowFormat::Json,
        FlowFormat::Jsonl,
        FlowFormat::Zeek,
        FlowFormat::Table,
        FlowFormat::Csv,
    ] {
        let mut text = Vec::new();
        report::write_flows(
            &mut text,
            format,
            &captures,
            &[],
            &flows.connections,
            &|c| flowaudit::infer::conn_names(&flows.learned, c),
            // Fitted to a terminal: the wrapping is where slicing happens.
            Some(80),
        )
        .expect("writing to memory");
        out.push(text);
    }
    (audits, out)
}

/// Panics unless `text` is UTF-8 without control characters other than line
/// ends (and `allowed`).
fn plain(text: &[u8], allowed: char) -> &str {
    let text = std::str::from_utf8(text).expect("text reports are UTF-8");
    if let Some(c) = text
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != allowed)
    {
        panic!("a text report holds the control character {c:?}");
    }
    text
}

/// Panics unless `text` parses as JSON.
fn json(text: &[u8]) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(text) {
        panic!("a JSON report does not parse: {e}");
    }
}

/// First byte: bit 0 audits with the sample's inventory (otherwise roles are
/// inferred), bit 1 also runs two threads and compares; the rest is the capture.
pub fn audit_bytes(data: &[u8]) {
    let Some((&selector, capture)) = data.split_first() else {
        return;
    };
    let inventory = (selector & 1 == 1).then(|| {
        Inventory::parse("hybrid-identity.toml", SAMPLE_INVENTORY)
            .expect("the sample inventory parses")
            .with_cloud_ranges(&catalogue().azure_ranges)
    });
    // The CLI's path reads files: a file per run, named apart from any other
    // process's or thread's.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let name = format!("flowaudit-fuzz-audit-{}-{run}.cap", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, capture).expect("writing the capture to a temporary file");
    let one = reports(&path, 1, inventory.as_ref());
    for (format, text) in &one.0 {
        match format {
            AuditFormat::Json => json(text),
            _ => {
                plain(text, '\n');
            }
        }
    }
    if let [flows_json, flows_jsonl, zeek, flows_table, flows_csv] = &one.1[..] {
        json(flows_json);
        for line in plain(flows_jsonl, '\n').lines() {
            json(line.as_bytes());
        }
        // A Zeek log: tab-separated, every row as wide as the #fields line.
        let mut width = None;
        for line in plain(zeek, '\t').lines() {
            if let Some(fields) = line.strip_prefix("#fields\t") {
                width = Some(fields.split('\t').count());
            } else if !line.starts_with('#') {
                let n = line.split('\t').count();
                assert_eq!(Some(n), width, "a Zeek row of {n} fields: {line:?}");
            }
        }
        for text in [flows_table, flows_csv] {
            plain(text, '\n');
        }
    }
    if selector & 2 == 2 {
        let two = reports(&path, 2, inventory.as_ref());
        assert!(one == two, "two threads gave other reports than one");
    }
    let _ = std::fs::remove_file(&path);
}
