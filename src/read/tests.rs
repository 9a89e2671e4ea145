//! Tests of the capture reader against the shared capture corpus (its manifest
//! is the independent oracle) and against hand-built byte buffers.

use super::*;
use std::io::Write;
use std::path::Path;

/// The shared capture directory.
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/captures/");

/// Path of a shared capture.
fn capture(rel: &str) -> PathBuf {
    Path::new(CAPTURES).join(rel)
}

/// Bytes of a shared capture.
fn capture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(capture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One record, owned, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owned {
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    number: u64,
    offset: u64,
}

/// Reads in-memory bytes as a capture named `name`, collecting the records.
fn read_bytes(name: &str, bytes: &[u8]) -> (Result<CaptureInfo, ReadError>, Vec<Owned>) {
    let mut recs = Vec::new();
    let res = read_stream(name, Box::new(std::io::Cursor::new(bytes.to_vec())), &mut |r| {
        recs.push(Owned {
            ts: r.ts,
            link: r.link,
            data: r.data.to_vec(),
            orig_len: r.orig_len,
            number: r.number,
            offset: r.offset,
        })
    });
    (res, recs)
}

/// Reads a file from disk, collecting the records.
fn read_path(p: &Path) -> (Result<CaptureInfo, ReadError>, Vec<Owned>) {
    let mut recs = Vec::new();
    let res = read_capture(&Source::Path(p.to_path_buf()), &mut |r| {
        recs.push(Owned {
            ts: r.ts,
            link: r.link,
            data: r.data.to_vec(),
            orig_len: r.orig_len,
            number: r.number,
            offset: r.offset,
        })
    });
    (res, recs)
}

/// One row of MANIFEST.tsv, by column name.
struct Row {
    path: String,
    format: String,
    link_types: String,
    packets: String,
    notes: String,
}

/// Parses MANIFEST.tsv using its header row for column positions.
fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(capture("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (p, f, l, n, o) = (col("path"), col("format"), col("link_types"), col("packets"), col("notes"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| c.get(i).copied().unwrap_or("").to_string();
            Row {
                path: get(p),
                format: get(f),
                link_types: get(l),
                packets: get(n),
                notes: get(o),
            }
        })
        .collect()
}

#[test]
fn manifest_packet_counts_link_types_and_formats() {
    let rows = manifest();
    assert!(rows.len() >= 79, "manifest has {} rows", rows.len());
    let mut checked = 0;
    for row in &rows {
        let path = capture(&row.path);
        let (res, recs) = read_path(&path);
        if let Some(why) = row.packets.strip_prefix("unreadable:") {
            match res {
                Err(e) => assert!(e.to_string().contains(&row.path), "{e} should name the file"),
                Ok(info) => assert!(
                    info.truncated && !info.warnings.is_empty(),
                    "{}: capinfos says{why}, but we read it cleanly",
                    row.path
                ),
            }
            continue;
        }
        let want: u64 = row.packets.parse().unwrap_or_else(|_| panic!("{}: packets", row.path));
        let info = res.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.packets, want, "{}", row.path);
        assert_eq!(recs.len() as u64, want, "{}", row.path);
        assert!(!info.truncated, "{}: {:?}", row.path, info.warnings);
        // Numbers are 1..=n in order and offsets strictly increase.
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.number, i as u64 + 1, "{}", row.path);
        }
        assert!(recs.windows(2).all(|w| w[0].offset < w[1].offset), "{}", row.path);
        assert_eq!(info.bytes, recs.iter().map(|r| r.data.len() as u64).sum::<u64>());

        // The manifest lists link types sorted by number, each once.
        let mut ours = info.link_types.clone();
        ours.sort();
        ours.dedup();
        assert_eq!(ours.len(), info.link_types.len(), "{}: duplicates", row.path);
        let ours: Vec<String> = ours.iter().map(|l| l.to_string()).collect();
        let want_lt: Vec<String> = if row.link_types == "-" {
            vec![]
        } else {
            row.link_types.split(',').map(str::to_string).collect()
        };
        assert_eq!(ours, want_lt, "{}", row.path);
        // Every record's link type is one the capture declared.
        assert!(recs.iter().all(|r| info.link_types.contains(&r.link)), "{}", row.path);

        check_format(row, &info);

        // Out-of-range timestamp fractions give exactly one warning; clean files none.
        let ts_issue = row.notes.contains("ts fraction");
        let ts_warnings = info.warnings.iter().filter(|w| w.contains("timestamp fraction")).count();
        assert_eq!(ts_warnings, usize::from(ts_issue), "{}: {:?}", row.path, info.warnings);
        assert_eq!(info.warnings.len(), ts_warnings, "{}: {:?}", row.path, info.warnings);

        // For classic pcap the file size is fully explained by headers + caplens.
        if row.format.starts_with("pcap v") || row.format.starts_with("pcap-modified") {
            let rec_hdr = if row.format.starts_with("pcap-modified") { 24 } else { 16 };
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(size, 24 + rec_hdr * info.packets + info.bytes, "{}", row.path);
        }
        checked += 1;
    }
    assert!(checked >= 75, "only {checked} readable rows checked");
}

/// Checks what the manifest's `format` column says against our format string.
fn check_format(row: &Row, info: &CaptureInfo) {
    let f = &row.format;
    let ours = &info.format;
    if let Some(rest) = f.strip_prefix("pcapng ") {
        // "LE v1.0+BE v1.0+LE v1.0 SHB=3 ..." -> one byte order per section.
        let orders: Vec<&str> = rest
            .split(" SHB=")
            .next()
            .unwrap_or("")
            .split('+')
            .map(|s| s.split(' ').next().unwrap_or(""))
            .collect();
        let n = orders.len();
        let plural = if n == 1 { "" } else { "s" };
        let shown = if orders.iter().all(|o| *o == orders[0]) {
            orders[0].to_string()
        } else {
            orders.join("+")
        };
        assert_eq!(ours, &format!("pcapng ({n} section{plural}, {shown})"), "{}", row.path);
    } else if f.starts_with("pcap v") || f.starts_with("pcap-modified") {
        let prefix = if f.starts_with("pcap-modified") { "pcap-modified (" } else { "pcap (" };
        assert!(ours.starts_with(prefix), "{}: {ours}", row.path);
        let endian = if f.contains(" BE ") { "BE" } else { "LE" };
        assert!(f.contains(&format!(" {endian} ")), "{}: {f}", row.path);
        let res = if f.contains(" nsec") { "nsec" } else { "usec" };
        assert!(f.contains(&format!(" {res}")), "{}: {f}", row.path);
        assert!(ours.ends_with(&format!("{endian}, {res})")), "{}: {ours} vs {f}", row.path);
    } else {
        panic!("{}: unexpected manifest format {f}", row.path);
    }
}

#[test]
#[ignore]
fn dump_infos() {
    for row in manifest() {
        let (res, recs) = read_path(&capture(&row.path));
        match res {
            Ok(i) => println!("{} | {} | {:?} | {} | {:?} {:?} | {:?} | first={:?}", row.path, i.format, i.link_types, i.packets, i.first_ts, i.last_ts, i.warnings, recs.first().map(|r| (r.ts, r.offset))),
            Err(e) => println!("ERR {e}"),
        }
    }
}
