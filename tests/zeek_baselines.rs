//! Connection tracking against Zeek's own baselines: for every trace in
//! `../shared/captures/zeek/` with a `conn.log`, `flowaudit flows` must give the
//! same connections (matched on proto and 5-tuple as multisets) with the same
//! `conn_state` and packet counts. Zeek is the independent oracle here;
//! `docs/zeek-differences.md` explains every remaining difference.

mod common;

use common::{flowaudit, shared_captures};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The fields compared, from either side.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    conn_state: String,
    history: String,
    orig_pkts: u64,
    resp_pkts: u64,
}

/// (proto, orig_h, orig_p, resp_h, resp_p)
type Key = (String, IpAddr, u16, IpAddr, u16);

fn parse_conn_log(text: &str) -> Vec<(Key, Row)> {
    let mut fields: Vec<&str> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let cols: BTreeMap<&str, &str> = fields.iter().copied().zip(line.split('\t')).collect();
        let key = (
            cols["proto"].to_string(),
            cols["id.orig_h"].parse().expect("orig_h"),
            cols["id.orig_p"].parse().expect("orig_p"),
            cols["id.resp_h"].parse().expect("resp_h"),
            cols["id.resp_p"].parse().expect("resp_p"),
        );
        let history = match cols["history"] {
            "-" => String::new(),
            h => h.to_string(),
        };
        rows.push((
            key,
            Row {
                conn_state: cols["conn_state"].to_string(),
                history,
                orig_pkts: cols["orig_pkts"].parse().expect("orig_pkts"),
                resp_pkts: cols["resp_pkts"].parse().expect("resp_pkts"),
            },
        ));
    }
    rows
}

fn ours(trace: &std::path::Path) -> Vec<(Key, Row)> {
    let out = flowaudit()
        .args(["flows", "--format", "jsonl"])
        .arg(trace)
        .output()
        .expect("run flowaudit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("jsonl row");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
            (
                (
                    s("proto"),
                    s("id.orig_h").parse().expect("addr"),
                    n("id.orig_p") as u16,
                    s("id.resp_h").parse().expect("addr"),
                    n("id.resp_p") as u16,
                ),
                Row {
                    conn_state: s("conn_state"),
                    history: s("history"),
                    orig_pkts: n("orig_pkts"),
                    resp_pkts: n("resp_pkts"),
                },
            )
        })
        .collect()
}

/// Agreement counts for one trace.
#[derive(Default, Debug)]
struct Tally {
    zeek_rows: usize,
    our_rows: usize,
    matched: usize,
    state: usize,
    pkts: usize,
    history: usize,
}

/// Pairs rows with the same key as multisets: identical rows first, then the
/// rest in order, so that a repeated 5-tuple (port reuse) is not penalised for
/// the order in which the two tools emit its rows.
fn compare(zeek: &[(Key, Row)], ours: &[(Key, Row)], tcp_udp_only: bool) -> (Tally, Vec<String>) {
    let keep = |k: &Key| !tcp_udp_only || k.0 == "tcp" || k.0 == "udp";
    let mut theirs: BTreeMap<&Key, Vec<&Row>> = BTreeMap::new();
    for (k, r) in zeek.iter().filter(|(k, _)| keep(k)) {
        theirs.entry(k).or_default().push(r);
    }
    let mut mine: BTreeMap<&Key, Vec<&Row>> = BTreeMap::new();
    for (k, r) in ours.iter().filter(|(k, _)| keep(k)) {
        mine.entry(k).or_default().push(r);
    }
    let mut t = Tally {
        zeek_rows: theirs.values().map(Vec::len).sum(),
        our_rows: mine.values().map(Vec::len).sum(),
        ..Tally::default()
    };
    let mut diffs = Vec::new();
    for (k, zrows) in &theirs {
        let mut orows: Vec<&Row> = mine.get(k).cloned().unwrap_or_default();
        let mut pending = Vec::new();
        for z in zrows {
            if let Some(i) = orows.iter().position(|o| o == z) {
                orows.remove(i);
                t.matched += 1;
                t.state += 1;
                t.pkts += 1;
                t.history += 1;
            } else {
                pending.push(*z);
            }
        }
        for z in pending {
            if orows.is_empty() {
                diffs.push(format!("  only in Zeek: {k:?} {z:?}"));
                continue;
            }
            let o = orows.remove(0);
            t.matched += 1;
            t.state += usize::from(o.conn_state == z.conn_state);
            t.pkts += usize::from(o.orig_pkts == z.orig_pkts && o.resp_pkts == z.resp_pkts);
            t.history += usize::from(o.history == z.history);
            diffs.push(format!("  differs: {k:?}\n    zeek {z:?}\n    ours {o:?}"));
        }
        for o in orows {
            diffs.push(format!("  only in flowaudit: {k:?} {o:?}"));
        }
    }
    for (k, orows) in &mine {
        if !theirs.contains_key(k) {
            for o in orows {
                diffs.push(format!("  only in flowaudit: {k:?} {o:?}"));
            }
        }
    }
    (t, diffs)
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        100.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

#[test]
fn connections_agree_with_zeek_baselines() {
    let dir = shared_captures().join("zeek");
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("zeek dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".conn.log"))
        .collect();
    logs.sort();
    assert!(
        logs.len() >= 24,
        "expected 24 baselines, found {}",
        logs.len()
    );

    let mut total = Tally::default();
    let mut all_total = Tally::default();
    let mut table = String::from(
        "| trace | zeek rows | ours | conn_state | pkts | history |\n|---|---|---|---|---|---|\n",
    );
    let mut details = String::new();
    for log in &logs {
        let base = log
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".conn.log")
            .to_string();
        let trace = ["pcap", "pcapng"]
            .iter()
            .map(|ext| dir.join(format!("{base}.{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no trace for {base}"));
        let zeek = parse_conn_log(&std::fs::read_to_string(log).expect("read baseline"));
        let mine = ours(&trace);
        let (t, diffs) = compare(&zeek, &mine, true);
        let (a, _) = compare(&zeek, &mine, false);
        table.push_str(&format!(
            "| {base} | {} | {} | {}/{} | {}/{} | {}/{} |\n",
            t.zeek_rows,
            t.our_rows,
            t.state,
            t.zeek_rows,
            t.pkts,
            t.zeek_rows,
            t.history,
            t.zeek_rows
        ));
        if !diffs.is_empty() {
            details.push_str(&format!("{base}:\n{}\n", diffs.join("\n")));
        }
        for (acc, x) in [(&mut total, &t), (&mut all_total, &a)] {
            acc.zeek_rows += x.zeek_rows;
            acc.our_rows += x.our_rows;
            acc.matched += x.matched;
            acc.state += x.state;
            acc.pkts += x.pkts;
            acc.history += x.history;
        }
    }
    let summary = format!(
        "TCP+UDP rows: {} in Zeek, {} ours; conn_state {:.1} %, orig/resp pkts {:.1} %, history {:.1} %\n\
         all rows (incl. ICMP, unknown_transport): {} in Zeek, {} ours; conn_state {:.1} %, pkts {:.1} %, history {:.1} %",
        total.zeek_rows,
        total.our_rows,
        pct(total.state, total.zeek_rows),
        pct(total.pkts, total.zeek_rows),
        pct(total.history, total.zeek_rows),
        all_total.zeek_rows,
        all_total.our_rows,
        pct(all_total.state, all_total.zeek_rows),
        pct(all_total.pkts, all_total.zeek_rows),
        pct(all_total.history, all_total.zeek_rows),
    );
    println!("{table}\n{summary}\n\n{details}");
    assert!(
        pct(total.state, total.zeek_rows) >= 99.0,
        "conn_state agreement below 99 %\n{table}\n{summary}\n{details}"
    );
    assert!(
        pct(total.pkts, total.zeek_rows) >= 99.0,
        "packet count agreement below 99 %\n{table}\n{summary}\n{details}"
    );
}

/// Zeek's traces shipped in `tests/zeek-traces/` (see its README): 802.11
/// with radiotap and from a monitor interface, NTP's role flip, and Aruba's
/// GRE. Each of Zeek's rows must come out the same, and no other.
#[test]
fn shipped_zeek_traces_agree_row_for_row() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zeek-traces");
    let baseline = |base: &str| {
        parse_conn_log(
            &std::fs::read_to_string(dir.join(format!("{base}.conn.log"))).expect("baseline"),
        )
    };
    for base in ["radiotap", "wlanmon", "misordered-ntp"] {
        let zeek = baseline(base);
        let mine = ours(&dir.join(format!("{base}.pcap")));
        let (t, diffs) = compare(&zeek, &mine, false);
        assert!(!zeek.is_empty(), "{base}: empty baseline");
        assert_eq!(
            (t.our_rows, t.matched, t.state, t.pkts, t.history),
            (
                t.zeek_rows,
                t.zeek_rows,
                t.zeek_rows,
                t.zeek_rows,
                t.zeek_rows
            ),
            "{base}: {diffs:#?}\nzeek {zeek:#?}\nours {mine:#?}"
        );
    }
    // Zeek ran the A-MSDU trace in bare mode (no likely server ports), so its
    // row keeps the direction of the first packet, from port 443; flowaudit
    // flips it as Zeek with its scripts does, which adds `^` and swaps the
    // history's case and the packet counts.
    let zeek: Vec<(Key, Row)> = baseline("gre-aruba-amsdu")
        .into_iter()
        .map(|((proto, oh, op, rh, rp), r)| {
            // Only the port-443 side sent packets: every letter is upper case.
            assert!(r.history.chars().all(|c| c.is_ascii_uppercase()), "{r:?}");
            let swapped = r.history.to_ascii_lowercase();
            (
                (proto, rh, rp, oh, op),
                Row {
                    history: format!("^{swapped}"),
                    orig_pkts: r.resp_pkts,
                    resp_pkts: r.orig_pkts,
                    ..r
                },
            )
        })
        .collect();
    let mine = ours(&dir.join("gre-aruba-amsdu.pcap"));
    assert_eq!(mine, zeek, "gre-aruba-amsdu");
    // Encrypted 802.11 in Aruba's GRE: Zeek logs no connection.
    assert_eq!(ours(&dir.join("gre-aruba-ccmp.pcap")), vec![]);
}
