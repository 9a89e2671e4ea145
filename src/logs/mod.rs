//! Logs as an input: Zeek's `conn.log` (TSV with its `#fields` header, or
//! JSON lines, plain or gzip) and flowaudit's own `flows --format
//! jsonl|zeek`, read into the [`Connection`](crate::track::Connection)
//! records the tracker would have made, for the audit to classify as it
//! classifies a capture's; and Zeek's `dns.log`, `ssl.log` and `http.log`,
//! read into the [`Learner`](crate::learn::Learner) for the names, server
//! names and proxy CONNECT targets a capture's packets would have taught.
//! Both go through one reader of Zeek's formats (`zeek.rs`).
//!
//! A log is a summary of packets that are gone, so it cannot show all a
//! capture shows: an ICMP error is its own row, not tied to the connection it
//! quotes (flowaudit's own JSON lines keep the tie); names come only from the
//! name logs read beside it; no endpoint-mapper port is learned; SYN
//! retransmission times are known only as the first and the last (`ts`,
//! `ts + duration`). [`limits`] says so in the report.

mod conn_log;
mod dedup;
mod names;
mod zeek;

pub use conn_log::read_conn_log;
pub use dedup::HeldRows;
pub use names::{read_name_log, read_name_logs};
pub use zeek::{LogFormat, LogKind, sniff, sniff_kind, sniff_source, sniff_start};

/// What a report says a connection log cannot show whatever else was read.
pub const LIMITS: &str = "a connection log holds no packets: ICMP errors are not tied to the \
    connections they quote (unless the log is flowaudit's own JSON lines), no ports handed out \
    by endpoint mappers are learned, and SYN retransmissions are known only by count and their \
    first and last time";

/// What a report says about its connection logs, once per audit, given the
/// kinds of the name logs read beside them: [`LIMITS`], and which names are
/// not learned for want of a dns.log, ssl.log or http.log (nothing about
/// names when all three were read).
pub fn limits(names_read: &[LogKind]) -> String {
    let what: [(LogKind, &[&str], &str); 3] = [
        (LogKind::Dns, &["DNS answers"], "dns.log"),
        (LogKind::Ssl, &["TLS server names"], "ssl.log"),
        (
            LogKind::Http,
            &["HTTP Host names", "proxy CONNECT targets"],
            "http.log",
        ),
    ];
    let missing: Vec<&(LogKind, &[&str], &str)> = what
        .iter()
        .filter(|(k, _, _)| !names_read.contains(k))
        .collect();
    let list = |parts: Vec<&str>| match parts.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let names = match missing.len() {
        0 => return LIMITS.to_string(),
        3 => "no names are learned (DNS, TLS server names, HTTP Host, proxy CONNECT: no dns.log, \
              ssl.log or http.log was read)"
            .to_string(),
        _ => format!(
            "no {} are learned (no {} was read)",
            list(missing.iter().flat_map(|m| m.1.iter().copied()).collect()),
            list(missing.iter().map(|m| m.2).collect()),
        ),
    };
    LIMITS.replacen(
        "no ports handed out",
        &format!("{names}, no ports handed out"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report names exactly what is missing: every name when no name
    /// log was read, those of the kinds not read, none when all were; the
    /// ICMP and SYN sentences stay in every case.
    #[test]
    fn limits_say_which_names_are_missing() {
        let none = limits(&[]);
        assert!(none.contains("no names are learned"), "{none}");
        let dns = limits(&[LogKind::Dns]);
        assert!(!dns.contains("no names are learned"), "{dns}");
        assert!(
            dns.contains(
                "no TLS server names, HTTP Host names or proxy CONNECT targets are learned \
                 (no ssl.log or http.log was read)"
            ),
            "{dns}"
        );
        let all = limits(&[LogKind::Http, LogKind::Ssl, LogKind::Dns]);
        assert_eq!(all, LIMITS);
        assert!(!all.contains("names"), "{all}");
        for s in [none, dns, all] {
            assert!(s.contains("ICMP errors are not tied to the connections they quote"));
            assert!(s.contains("SYN retransmissions are known only by count"));
        }
    }
}
