//! Output formats for connections (`flows`) and capture summaries (`info`).
//!
//! Machine formats (JSON, JSON lines, CSV, Zeek TSV) use Zeek's conn.log field
//! names so that users' existing `jq`/`zeek-cut` habits carry over; the table is
//! for people. Every format is written to a `Write` the caller chose (stdout or
//! a file); messages never go there.

mod audit;
mod conn;
pub mod escape;
mod fit;
pub mod output;
mod table;
mod zeek;

pub use audit::{AuditContext, AuditFormat, write_audit};
pub use conn::{ConnJson, ConnNames, NameLookup};

use crate::pipeline::CaptureReport;
use crate::read::Skipped;
use crate::track::Connection;
use serde::Serialize;
use std::io::{self, Write};

/// Version of the JSON documents; changes only when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// How `flows` writes connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowFormat {
    /// A terminal table, most interesting connections first.
    Table,
    /// One JSON object per connection per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON document with captures and connections.
    Json,
    /// A Zeek conn.log (tab-separated, `#fields` header).
    Zeek,
}

/// How `info` writes capture summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoFormat {
    /// A terminal table.
    Table,
    /// One JSON document `{"schema_version", "captures"}`.
    Json,
}

/// Writes connections in `format`; `captures` and `skipped` describe the
/// inputs (used by `json`), `names` what the capture taught about each
/// connection's ends (shown in every format but Zeek's conn.log, whose
/// columns are fixed); the table fits `terminal` columns when it goes to a
/// terminal that wide (`None`: as wide as its content).
pub fn write_flows(
    w: &mut dyn Write,
    format: FlowFormat,
    captures: &[CaptureReport],
    skipped: &[Skipped],
    conns: &[Connection],
    names: &NameLookup<'_>,
    terminal: Option<u16>,
) -> io::Result<()> {
    match format {
        FlowFormat::Table => table::write_flows(w, conns, names, terminal),
        FlowFormat::Jsonl => {
            for c in conns {
                serde_json::to_writer(&mut *w, &ConnJson(c, names(c)))?;
                w.write_all(b"\n")?;
            }
            Ok(())
        }
        FlowFormat::Csv => conn::write_csv(w, conns, names),
        FlowFormat::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                schema_version: u32,
                captures: &'a [CaptureReport],
                skipped: &'a [Skipped],
                connections: Vec<ConnJson<'a>>,
            }
            let doc = Doc {
                schema_version: SCHEMA_VERSION,
                captures,
                skipped,
                connections: conns.iter().map(|c| ConnJson(c, names(c))).collect(),
            };
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            w.write_all(b"\n")
        }
        FlowFormat::Zeek => zeek::write_conn_log(w, conns),
    }
}

/// Writes capture summaries in `format`, and the files found in directories
/// that were skipped as not captures.
pub fn write_info(
    w: &mut dyn Write,
    format: InfoFormat,
    captures: &[CaptureReport],
    skipped: &[Skipped],
) -> io::Result<()> {
    match format {
        InfoFormat::Table => table::write_info(w, captures, skipped),
        InfoFormat::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                schema_version: u32,
                captures: &'a [CaptureReport],
                skipped: &'a [Skipped],
            }
            serde_json::to_writer_pretty(
                &mut *w,
                &Doc {
                    schema_version: SCHEMA_VERSION,
                    captures,
                    skipped,
                },
            )?;
            w.write_all(b"\n")
        }
    }
}

/// The width of the terminal stdout goes to, if it is one (what comfy-table
/// reads: the `TIOCGWINSZ` of stdout, via crossterm).
pub fn terminal_width() -> Option<u16> {
    comfy_table::Table::new().width().filter(|&w| w > 0)
}

/// `1 warning`, `2 warnings`, `0 warnings`: a count with its noun.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Orders connections for people: failed handshakes first, then by start time.
pub fn interest_rank(c: &Connection) -> u8 {
    use crate::track::Handshake::*;
    match c.handshake {
        Rejected | Unanswered | IcmpUnreachable => 0,
        ClosedEarly => 1,
        Midstream => 2,
        Established | Answered | None => 3,
    }
}
