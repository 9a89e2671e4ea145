//! Connection logs as an input: Zeek's `conn.log` (TSV with its `#fields`
//! header, or JSON lines, plain or gzip) and flowaudit's own `flows --format
//! jsonl|zeek`, read into the [`Connection`](crate::track::Connection) records the tracker would have
//! made, for the audit to classify as it classifies a capture's.
//!
//! A log is a summary of packets that are gone, so it cannot show all a
//! capture shows: an ICMP error is its own row, not tied to the connection it
//! quotes (flowaudit's own JSON lines keep the tie); no DNS answer, TLS server
//! name or HTTP `CONNECT` is learned; SYN retransmission times are known only
//! as the first and the last (`ts`, `ts + duration`). [`LIMITS`] says so in
//! the report.

mod conn_log;
mod dedup;

pub use conn_log::{LogFormat, read_conn_log, sniff, sniff_source, sniff_start};
pub use dedup::HeldRows;

/// What a report says about a connection log input, once per audit.
pub const LIMITS: &str = "a connection log holds no packets: ICMP errors are not tied to the \
    connections they quote (unless the log is flowaudit's own JSON lines), no names are learned \
    (DNS, TLS server names, HTTP Host, proxy CONNECT), and SYN retransmissions are known only by \
    count and their first and last time";
