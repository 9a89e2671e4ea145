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

impl Owned {
    /// A copy of a record the reader lent.
    fn of(r: &Record<'_>) -> Self {
        Owned {
            ts: r.ts,
            link: r.link,
            data: r.data.to_vec(),
            orig_len: r.orig_len,
            number: r.number,
            offset: r.offset,
        }
    }
}

/// Reads in-memory bytes as a capture named `name`, collecting the records.
fn read_bytes(name: &str, bytes: &[u8]) -> (Result<CaptureInfo, ReadError>, Vec<Owned>) {
    read_from(name, Box::new(std::io::Cursor::new(bytes.to_vec())))
}

/// Reads a byte stream as a capture named `name`, collecting the records.
fn read_from(
    name: &str,
    rd: Box<dyn std::io::Read>,
) -> (Result<CaptureInfo, ReadError>, Vec<Owned>) {
    let mut recs = Vec::new();
    let res = read_stream(name, rd, &mut |r| recs.push(Owned::of(r)));
    (res, recs)
}

/// Reads a file from disk, collecting the records.
fn read_path(p: &Path) -> (Result<CaptureInfo, ReadError>, Vec<Owned>) {
    let mut recs = Vec::new();
    let res = read_capture(&Source::Path(p.to_path_buf()), &mut |r| {
        recs.push(Owned::of(r))
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
    let (p, f, l, n, o) = (
        col("path"),
        col("format"),
        col("link_types"),
        col("packets"),
        col("notes"),
    );
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
                Err(e) => assert!(
                    e.to_string().contains(&row.path),
                    "{e} should name the file"
                ),
                Ok(info) => assert!(
                    info.truncated && !info.warnings.is_empty(),
                    "{}: capinfos says{why}, but we read it cleanly",
                    row.path
                ),
            }
            continue;
        }
        let want: u64 = row
            .packets
            .parse()
            .unwrap_or_else(|_| panic!("{}: packets", row.path));
        let info = res.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.packets, want, "{}", row.path);
        assert_eq!(recs.len() as u64, want, "{}", row.path);
        assert!(!info.truncated, "{}: {:?}", row.path, info.warnings);
        // Numbers are 1..=n in order and offsets strictly increase.
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.number, i as u64 + 1, "{}", row.path);
        }
        assert!(
            recs.windows(2).all(|w| w[0].offset < w[1].offset),
            "{}",
            row.path
        );
        assert_eq!(
            info.bytes,
            recs.iter().map(|r| r.data.len() as u64).sum::<u64>()
        );

        // The manifest lists link types sorted by number, each once.
        let mut ours = info.link_types.clone();
        ours.sort();
        ours.dedup();
        assert_eq!(
            ours.len(),
            info.link_types.len(),
            "{}: duplicates",
            row.path
        );
        let ours: Vec<String> = ours.iter().map(|l| l.to_string()).collect();
        let want_lt: Vec<String> = if row.link_types == "-" {
            vec![]
        } else {
            row.link_types.split(',').map(str::to_string).collect()
        };
        assert_eq!(ours, want_lt, "{}", row.path);
        // Every record's link type is one the capture declared.
        assert!(
            recs.iter().all(|r| info.link_types.contains(&r.link)),
            "{}",
            row.path
        );

        check_format(row, &info);

        // Out-of-range timestamp fractions give exactly one warning; clean files none.
        let ts_issue = row.notes.contains("ts fraction");
        let ts_warnings = info
            .warnings
            .iter()
            .filter(|w| w.contains("timestamp fraction"))
            .count();
        assert_eq!(
            ts_warnings,
            usize::from(ts_issue),
            "{}: {:?}",
            row.path,
            info.warnings
        );
        assert_eq!(
            info.warnings.len(),
            ts_warnings,
            "{}: {:?}",
            row.path,
            info.warnings
        );

        // For classic pcap the file size is fully explained by headers + caplens.
        if row.format.starts_with("pcap v") || row.format.starts_with("pcap-modified") {
            let rec_hdr = if row.format.starts_with("pcap-modified") {
                24
            } else {
                16
            };
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(
                size,
                24 + rec_hdr * info.packets + info.bytes,
                "{}",
                row.path
            );
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
        assert_eq!(
            ours,
            &format!("pcapng ({n} section{plural}, {shown})"),
            "{}",
            row.path
        );
    } else if f.starts_with("pcap v") || f.starts_with("pcap-modified") {
        let prefix = if f.starts_with("pcap-modified") {
            "pcap-modified ("
        } else {
            "pcap ("
        };
        assert!(ours.starts_with(prefix), "{}: {ours}", row.path);
        let endian = if f.contains(" BE ") { "BE" } else { "LE" };
        assert!(f.contains(&format!(" {endian} ")), "{}: {f}", row.path);
        let res = if f.contains(" nsec") { "nsec" } else { "usec" };
        assert!(f.contains(&format!(" {res}")), "{}: {f}", row.path);
        assert!(
            ours.ends_with(&format!("{endian}, {res})")),
            "{}: {ours} vs {f}",
            row.path
        );
    } else {
        panic!("{}: unexpected manifest format {f}", row.path);
    }
}

/// Where each record (pcap) or block (pcapng) starts and ends, found by walking
/// the raw bytes here in the test, plus whether it holds a packet.
struct Unit {
    start: usize,
    end: usize,
    packet: bool,
}

/// Walks a classic LE/BE pcap's records from their headers.
fn pcap_units(b: &[u8]) -> Vec<Unit> {
    let be = b[..4] == [0xa1, 0xb2, 0xc3, 0xd4] || b[..4] == [0xa1, 0xb2, 0x3c, 0x4d];
    let rd = |at: usize| {
        let w: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if be {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let mut units = vec![];
    let mut off = 24;
    while off + 16 <= b.len() {
        let end = off + 16 + rd(off + 8) as usize;
        units.push(Unit {
            start: off,
            end,
            packet: true,
        });
        off = end;
    }
    assert_eq!(off, b.len(), "walker must consume the whole file");
    units
}

/// Walks a pcapng's blocks, switching byte order at each section header.
fn pcapng_units(b: &[u8]) -> Vec<Unit> {
    let mut units = vec![];
    let mut off = 0;
    let mut be = false;
    while off + 12 <= b.len() {
        if b[off..off + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            be = b[off + 8..off + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
        }
        let rd = |at: usize| {
            let w: [u8; 4] = b[at..at + 4].try_into().unwrap();
            if be {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        let (t, len) = (rd(off), rd(off + 4) as usize);
        units.push(Unit {
            start: off,
            end: off + len,
            packet: matches!(t, 2 | 3 | 6),
        });
        off += len;
    }
    assert_eq!(off, b.len(), "walker must consume the whole file");
    units
}

/// Reads `bytes[..cut]` and checks the outcome against the walked `units`:
/// every complete packet before the cut, and a warning naming the file and the
/// offset of the unit the cut fell into, unless the cut is on a boundary.
fn check_cut(name: &str, bytes: &[u8], units: &[Unit], header_len: usize, cut: usize) {
    let (res, recs) = read_bytes(name, &bytes[..cut]);
    if cut < header_len {
        let err = res.expect_err("a cut file header is not a capture");
        assert!(err.to_string().starts_with(name), "{err}");
        if cut == 0 {
            assert!(err.reason.contains("empty file"), "{err}");
        }
        return;
    }
    let info = res.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
    let complete = units.iter().filter(|u| u.packet && u.end <= cut).count() as u64;
    assert_eq!(info.packets, complete, "cut at {cut}");
    assert_eq!(recs.len() as u64, complete, "cut at {cut}");
    let full: Vec<&Unit> = units.iter().filter(|u| u.packet).collect();
    for (r, u) in recs.iter().zip(&full) {
        assert_eq!(r.offset, u.start as u64, "cut at {cut}");
        assert_eq!(
            r.data.len(),
            r.data.len().min(u.end - u.start),
            "cut at {cut}"
        );
    }
    let inside = units.iter().find(|u| u.start < cut && cut < u.end);
    // A cut within the 8-byte frame of a pcapng block, or the file header, is a cut too.
    let on_boundary = cut == header_len || units.iter().any(|u| u.end == cut);
    assert_eq!(
        info.truncated, !on_boundary,
        "cut at {cut}: {:?}",
        info.warnings
    );
    if let Some(u) = inside {
        assert_eq!(info.warnings.len(), 1, "cut at {cut}: {:?}", info.warnings);
        let w = &info.warnings[0];
        assert!(w.starts_with(&format!("{name}: truncated: ")), "{w}");
        assert!(
            w.contains(&format!("at byte offset {} needs", u.start)),
            "cut at {cut}: {w}"
        );
        assert!(
            w.contains(&format!("only {} left", cut - u.start)),
            "cut at {cut}: {w}"
        );
        // Until the 8-byte frame of a pcapng block is complete its type is unknown.
        if u.packet && (!name.ends_with(".pcapng") || cut - u.start >= 8) {
            assert!(
                w.contains(&format!("record {} at", complete + 1)),
                "cut at {cut}: {w}"
            );
        }
    } else {
        assert!(
            info.warnings.is_empty(),
            "cut at {cut}: {:?}",
            info.warnings
        );
    }
}

#[test]
fn pcap_truncated_at_every_offset_of_first_4k_and_every_record_boundary() {
    let bytes = capture_bytes("zeek/wikipedia.pcap");
    let units = pcap_units(&bytes);
    assert_eq!(units.len(), 136, "manifest count");
    for cut in 0..=4096 {
        check_cut("wiki.pcap", &bytes, &units, 24, cut);
    }
    for u in &units {
        check_cut("wiki.pcap", &bytes, &units, 24, u.end);
        check_cut("wiki.pcap", &bytes, &units, 24, u.end - 1);
    }
}

#[test]
fn big_endian_pcap_truncated_everywhere() {
    let bytes = capture_bytes("tcpdump/pptp.pcap");
    let units = pcap_units(&bytes);
    for cut in 0..=bytes.len() {
        check_cut("pptp.pcap", &bytes, &units, 24, cut);
    }
}

#[test]
fn pcapng_truncated_at_every_offset() {
    // Mixed byte order, every block type; then the head of a large plain file.
    let bytes = capture_bytes("pcapng-test-generator/test202-le.pcapng");
    let units = pcapng_units(&bytes);
    let shb = units[0].end;
    for cut in 0..=bytes.len() {
        check_cut("t202.pcapng", &bytes, &units, shb, cut);
    }
    let bytes = capture_bytes("zeek/irc-dcc-send.pcapng");
    let units = pcapng_units(&bytes);
    assert_eq!(
        units.iter().filter(|u| u.packet).count(),
        1184,
        "manifest count"
    );
    for cut in 0..=4096 {
        check_cut("irc.pcapng", &bytes, &units, units[0].end, cut);
    }
}

#[test]
fn gzip_round_trip_equals_plain_read() {
    use flate2::{Compression, write::GzEncoder};
    let dir = tempfile::tempdir().unwrap();
    for rel in ["zeek/ssh.pcap", "pcapng-test-generator/test202-le.pcapng"] {
        let plain = capture_bytes(rel);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        // A misleading name: detection goes by magic.
        let gz_path = dir.path().join("capture.bin");
        std::fs::write(&gz_path, &gz).unwrap();

        let (want, want_recs) = read_path(&capture(rel));
        let want = want.unwrap();
        let (got, got_recs) = read_path(&gz_path);
        let got = got.unwrap();
        assert_eq!(got.format, format!("gzip+{}", want.format));
        assert_eq!((got.packets, got.bytes), (want.packets, want.bytes));
        assert_eq!((got.first_ts, got.last_ts), (want.first_ts, want.last_ts));
        assert_eq!(got.link_types, want.link_types);
        assert!(
            !got.truncated && got.warnings.is_empty(),
            "{:?}",
            got.warnings
        );
        assert_eq!(got_recs, want_recs, "{rel}");

        // Two gzip members back to back read as one stream (as zcat does): the
        // second copy's SHB starts a new section in pcapng; for pcap its file
        // header would be garbage, so only check pcapng.
        if rel.ends_with(".pcapng") {
            let twice = [gz.clone(), gz.clone()].concat();
            let (res, recs) = read_bytes("twice.gz", &twice);
            let info = res.unwrap();
            assert_eq!(info.packets, 2 * want.packets);
            assert_eq!(recs.len(), 2 * want_recs.len());
            assert_eq!(info.format, "gzip+pcapng (6 sections, LE+BE+LE+LE+BE+LE)");
        }

        // A cut gzip stream keeps the records decompressed before the cut.
        let (res, recs) = read_bytes("cut.gz", &gz[..gz.len() / 2]);
        let info = res.unwrap();
        assert!(
            info.truncated && info.warnings.len() == 1,
            "{:?}",
            info.warnings
        );
        assert!(
            info.warnings[0].starts_with("cut.gz: "),
            "{:?}",
            info.warnings
        );
        assert!(
            info.packets > 0 && info.packets < want.packets,
            "{}",
            info.packets
        );
        assert_eq!(recs[..], want_recs[..recs.len()]);
    }
}

#[test]
fn gzip_of_nothing_or_garbage_is_an_error() {
    use flate2::{Compression, write::GzEncoder};
    let empty = GzEncoder::new(Vec::new(), Compression::fast())
        .finish()
        .unwrap();
    let err = read_bytes("e.gz", &empty).0.unwrap_err();
    assert!(err.reason.contains("empty file (after gzip"), "{err}");
    let err = read_bytes("g.gz", &[0x1f, 0x8b, 0xff, 0xff, 0, 0, 0, 0])
        .0
        .unwrap_err();
    assert!(err.to_string().starts_with("g.gz: "), "{err}");
}

/// Bytes of the first record header of a classic LE pcap: (ts_sec, ts_frac).
fn first_pcap_ts_fields(b: &[u8]) -> (u32, u32) {
    let w = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    (w(24), w(28))
}

#[test]
fn nanosecond_and_microsecond_timestamps_match_raw_header_bytes() {
    // nsec: the fraction is taken as-is.
    let b = capture_bytes("tcpdump/tcp-handshake-nano.pcap");
    assert_eq!(b[..4], [0x4d, 0x3c, 0xb2, 0xa1], "LE nanosecond magic");
    let (s, ns) = first_pcap_ts_fields(&b);
    let (_, recs) = read_bytes("nano", &b);
    assert_eq!(
        recs[0].ts,
        Timestamp(i64::from(s) * 1_000_000_000 + i64::from(ns))
    );
    assert!(ns % 1000 != 0, "the test needs sub-microsecond digits");
    // usec: scaled by 1000.
    let b = capture_bytes("zeek/wikipedia.pcap");
    let (s, us) = first_pcap_ts_fields(&b);
    let (_, recs) = read_bytes("usec", &b);
    assert_eq!(
        recs[0].ts,
        Timestamp(i64::from(s) * 1_000_000_000 + i64::from(us) * 1000)
    );
}

#[test]
fn timestamps_agree_with_zeek_where_its_baseline_is_unmasked() {
    // quic-interop-retry.conn.log has unmasked ts values 0.000000, 0.016059 and
    // 0.669020: each is the first packet of a connection.
    let (res, recs) = read_path(&capture("zeek/quic-interop-retry.pcap"));
    assert_eq!(res.unwrap().first_ts, Some(0.0));
    for want in ["0.000000", "0.016059", "0.669020"] {
        assert!(
            recs.iter().any(|r| r.ts.zeek().to_string() == want),
            "no packet at {want}"
        );
    }
}

#[test]
fn invalid_timestamp_fractions_are_carried_with_one_warning() {
    for (rel, unit) in [
        ("tcpdump/timestamp_invalid_nano.pcap", 1i64),
        ("tcpdump/timestamp_invalid_micro.pcap", 1000),
    ] {
        let b = capture_bytes(rel);
        let units = pcap_units(&b);
        let (res, recs) = read_bytes(rel, &b);
        let info = res.unwrap();
        assert_eq!(recs.len(), 3);
        for (r, u) in recs.iter().zip(&units) {
            let w = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            let (secs, frac) = (i64::from(w(u.start)), i64::from(w(u.start + 4)));
            assert_eq!(r.ts.0, secs * 1_000_000_000 + frac * unit, "{rel}");
        }
        assert_eq!(info.warnings.len(), 1, "{:?}", info.warnings);
        let w = &info.warnings[0];
        assert!(
            w.contains("record 2 at byte offset") && w.contains("2 record(s)"),
            "{w}"
        );
        assert!(!info.truncated);
    }
}

#[test]
fn pcapng_timestamp_past_2106() {
    // The EPB says ts_high = 1_000_000, ts_low = 0 at usec resolution:
    // 10^6 * 2^32 usec = 2^32 s, 2106-02-07 06:28:16 UTC.
    let b = capture_bytes("tcpdump/time_2106_overflow.pcapng");
    assert_eq!(b[0x7c..0x84], [0x40, 0x42, 0x0f, 0, 0, 0, 0, 0]);
    let (res, recs) = read_bytes("2106", &b);
    assert_eq!(recs[0].ts, Timestamp((1i64 << 32) * 1_000_000_000));
    assert_eq!(res.unwrap().first_ts, Some(4_294_967_296.0));
}

#[test]
fn mixed_byte_order_sections_restart_interface_ids() {
    let (res, recs) = read_path(&capture("pcapng-test-generator/test202-le.pcapng"));
    let info = res.unwrap();
    assert_eq!(info.format, "pcapng (3 sections, LE+BE+LE)");
    assert_eq!(info.packets, 8);
    // Every packet lies in one of the three sections; packets in the BE one decode
    // to the same era as the LE ones (a byte-order mix-up would not).
    let b = capture_bytes("pcapng-test-generator/test202-le.pcapng");
    let units = pcapng_units(&b);
    let shbs: Vec<usize> = units
        .iter()
        .filter(|u| b[u.start..u.start + 4] == [0x0a, 0x0d, 0x0d, 0x0a])
        .map(|u| u.start)
        .collect();
    assert_eq!(shbs.len(), 3);
    let in_be = recs
        .iter()
        .filter(|r| r.offset > shbs[1] as u64 && r.offset < shbs[2] as u64);
    assert!(in_be.count() > 0);
    for r in recs.iter().filter(|r| r.ts.0 != 0) {
        assert!(
            (1_300_000_000..1_400_000_000).contains(&(r.ts.0 / 1_000_000_000)),
            "{r:?}"
        );
    }
}

#[test]
fn unreadable_inputs_are_errors_naming_file_and_reason() {
    let err = read_path(&capture("pcap-parser/err-eof.bin"))
        .0
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("err-eof.bin: not a pcap or pcapng file (magic 06 00 00 00)"),
        "{err}"
    );
    let err = read_bytes("e", &[]).0.unwrap_err();
    assert_eq!(err.to_string(), "e: empty file");
    let err = read_bytes("s", &[0xd4, 0xc3]).0.unwrap_err();
    assert_eq!(err.to_string(), "s: too short to be a capture (2 bytes)");
    let err = read_path(Path::new("/nonexistent/x.pcap")).0.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/x.pcap: cannot open"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = read_path(dir.path()).0.unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
}

// ---- hand-built captures -------------------------------------------------

/// Appends a u32/u16 in the chosen byte order.
fn put32(v: &mut Vec<u8>, be: bool, x: u32) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
fn put16(v: &mut Vec<u8>, be: bool, x: u16) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}

/// A classic pcap file header.
fn pcap_hdr(be: bool, magic: u32, link: u32) -> Vec<u8> {
    let mut v = vec![];
    put32(&mut v, be, magic);
    put16(&mut v, be, 2);
    put16(&mut v, be, 4);
    put32(&mut v, be, 0);
    put32(&mut v, be, 0);
    put32(&mut v, be, 65535);
    put32(&mut v, be, link);
    v
}

/// A classic pcap record (16-byte header, or 24 for the modified format).
fn pcap_rec(
    v: &mut Vec<u8>,
    be: bool,
    modified: bool,
    secs: u32,
    frac: u32,
    data: &[u8],
    orig: u32,
) {
    put32(v, be, secs);
    put32(v, be, frac);
    put32(v, be, data.len() as u32);
    put32(v, be, orig);
    if modified {
        v.extend_from_slice(&[0; 8]);
    }
    v.extend_from_slice(data);
}

#[test]
fn classic_pcap_variants_by_hand() {
    for (be, magic, modified, nsec, name) in [
        (false, 0xa1b2_c3d4, false, false, "pcap (LE, usec)"),
        (true, 0xa1b2_c3d4, false, false, "pcap (BE, usec)"),
        (true, 0xa1b2_3c4d, false, true, "pcap (BE, nsec)"),
        (false, 0xa1b2_3c4d, false, true, "pcap (LE, nsec)"),
        (false, 0xa1b2_cd34, true, false, "pcap-modified (LE, usec)"),
        (true, 0xa1b2_cd34, true, false, "pcap-modified (BE, usec)"),
    ] {
        // Link type with FCS-length and reserved bits set above LINKTYPE_RAW.
        let mut v = pcap_hdr(be, magic, 0x3400_0065);
        pcap_rec(&mut v, be, modified, 1_700_000_000, 123, b"abcd", 60);
        pcap_rec(&mut v, be, modified, 4_000_000_000, 7, b"", 0);
        let (res, recs) = read_bytes("h", &v);
        let info = res.unwrap();
        assert_eq!(info.format, name);
        assert_eq!(info.link_types, vec![LinkType::RAW]);
        let scale = if nsec { 1 } else { 1000 };
        assert_eq!(
            recs[0].ts,
            Timestamp(1_700_000_000 * 1_000_000_000 + 123 * scale),
            "{name}"
        );
        // ts_sec is unsigned: past 2038.
        assert_eq!(
            recs[1].ts,
            Timestamp(4_000_000_000 * 1_000_000_000 + 7 * scale),
            "{name}"
        );
        assert_eq!(
            (recs[0].data.as_slice(), recs[0].orig_len),
            (&b"abcd"[..], 60)
        );
        assert_eq!(
            (recs[0].offset, recs[1].offset),
            (24, if modified { 24 + 28 } else { 24 + 20 })
        );
        assert_eq!(info.bytes, 4);
        assert_eq!(info.first_ts, Some(recs[0].ts.as_rounded_micros_f64()));
        assert_eq!(info.first_time, Some(recs[0].ts));
        assert_eq!(info.last_ts, Some(recs[1].ts.as_rounded_micros_f64()));
        assert_eq!(info.last_time, Some(recs[1].ts));
    }
}

#[test]
fn absurd_caplen_stops_without_allocating_it() {
    let mut v = pcap_hdr(false, 0xa1b2_c3d4, 1);
    pcap_rec(&mut v, false, false, 1, 2, b"xyz", 3);
    put32(&mut v, false, 1);
    put32(&mut v, false, 2);
    put32(&mut v, false, 0xffff_fff0);
    put32(&mut v, false, 0xffff_fff0);
    v.extend_from_slice(&[0; 100]);
    let (res, recs) = read_bytes("big", &v);
    let info = res.unwrap();
    assert_eq!(recs.len(), 1);
    assert!(info.truncated);
    assert_eq!(info.warnings.len(), 1);
    let w = &info.warnings[0];
    assert!(
        w.starts_with("big: corrupt: record 2 at byte offset 43 claims caplen 4294967280"),
        "{w}"
    );

    // Under the limit but beyond the data: a plain truncation, and the buffer
    // only grows with what actually arrives.
    let mut v = pcap_hdr(false, 0xa1b2_c3d4, 1);
    put32(&mut v, false, 1);
    put32(&mut v, false, 2);
    put32(&mut v, false, 200 * 1024 * 1024);
    put32(&mut v, false, 200 * 1024 * 1024);
    v.extend_from_slice(&[0; 10]);
    let info = read_bytes("short", &v).0.unwrap();
    assert_eq!(
        info.warnings,
        vec![format!(
            "short: truncated: record 1 at byte offset 24 needs {} bytes, only 26 left",
            16 + 200 * 1024 * 1024
        )]
    );
}

/// Hands out a byte stream in pieces of the given sizes, in turn: records then
/// straddle every position of the reader's window.
struct Pieces {
    data: std::io::Cursor<Vec<u8>>,
    sizes: Vec<usize>,
    turn: usize,
}

impl std::io::Read for Pieces {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sizes[self.turn % self.sizes.len()].min(out.len());
        self.turn += 1;
        self.data.read(&mut out[..n])
    }
}

/// Records bigger than the window, a bad timestamp fraction, and a cut last
/// record, delivered in pieces of awkward sizes: every record, offset and
/// warning is what one whole read gives.
#[test]
fn records_straddling_reads_and_the_window_come_out_whole() {
    for be in [false, true] {
        let mut v = pcap_hdr(be, 0xa1b2_c3d4, 1);
        let mut want = Vec::new();
        for i in 0..1000u32 {
            let len = match i % 500 {
                7 => 200 * 1024,
                8 => 600 * 1024 + 3,
                _ => ((i * 37) % 1600) as usize,
            };
            let frac = if i % 400 == 399 { 2_000_000 } else { i };
            let data: Vec<u8> = (0..len).map(|b| (b as u32 ^ i) as u8).collect();
            want.push(Owned {
                ts: Timestamp::from_parts(i64::from(1_700_000_000 + i), i64::from(frac) * 1000),
                link: LinkType::ETHERNET,
                data: data.clone(),
                orig_len: len as u32 + 4,
                number: u64::from(i) + 1,
                offset: v.len() as u64,
            });
            pcap_rec(
                &mut v,
                be,
                false,
                1_700_000_000 + i,
                frac,
                &data,
                len as u32 + 4,
            );
        }
        v.truncate(v.len() - 5);
        let cut = want.pop().unwrap();
        let (want_res, whole) = read_bytes("p", &v);
        let want_info = want_res.unwrap();
        assert!(whole == want, "whole read, be {be}");
        assert!(want_info.truncated);
        assert_eq!(
            want_info.warnings,
            vec![
                format!(
                    "p: truncated: record 1000 at byte offset {} needs {} bytes, only {} left",
                    cut.offset,
                    16 + cut.data.len(),
                    16 + cut.data.len() - 5
                ),
                format!(
                    "p: record 400 at byte offset {}: timestamp fraction 2000000 usec out of \
                     range (>= 1000000), carried into seconds; 2 record(s) affected",
                    want[399].offset
                ),
            ]
        );
        for sizes in [vec![1], vec![7, 131_072, 3], vec![65_537, 1_000_000, 17]] {
            let (res, got) = read_from(
                "p",
                Box::new(Pieces {
                    data: std::io::Cursor::new(v.clone()),
                    sizes: sizes.clone(),
                    turn: 0,
                }),
            );
            let info = res.unwrap();
            assert!(got == want, "pieces {sizes:?}, be {be}");
            assert_eq!(
                format!("{info:?}"),
                format!("{want_info:?}"),
                "pieces {sizes:?}"
            );
        }
    }
}

/// A pcapng block: type, length, body padded to 32 bits, length again.
fn block(be: bool, btype: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut v = vec![];
    put32(&mut v, be, btype);
    put32(&mut v, be, len);
    v.extend_from_slice(body);
    v.resize(8 + padded, 0);
    put32(&mut v, be, len);
    v
}

/// A section header block.
fn shb(be: bool) -> Vec<u8> {
    let mut b = vec![];
    put32(&mut b, be, 0x1a2b_3c4d);
    put16(&mut b, be, 1);
    put16(&mut b, be, 0);
    b.extend_from_slice(&[0xff; 8]);
    block(be, 0x0a0d_0d0a, &b)
}

/// An interface description block with raw options (code, value).
fn idb(be: bool, link: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![];
    put16(&mut b, be, link);
    put16(&mut b, be, 0);
    put32(&mut b, be, snaplen);
    for (code, val) in opts {
        put16(&mut b, be, *code);
        put16(&mut b, be, val.len() as u16);
        b.extend_from_slice(val);
        b.resize(b.len().div_ceil(4) * 4, 0);
    }
    if !opts.is_empty() {
        b.extend_from_slice(&[0; 4]);
    }
    block(be, 1, &b)
}

/// An enhanced packet block.
fn epb(be: bool, if_id: u32, units: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = vec![];
    put32(&mut b, be, if_id);
    put32(&mut b, be, (units >> 32) as u32);
    put32(&mut b, be, units as u32);
    put32(&mut b, be, data.len() as u32);
    put32(&mut b, be, orig);
    b.extend_from_slice(data);
    block(be, 6, &b)
}

#[test]
fn pcapng_tsresol_decimal_binary_and_tsoffset() {
    let be = false;
    let mut v = shb(be);
    v.extend(idb(be, 1, 0, &[(9, vec![9])])); // 10^-9
    v.extend(idb(be, 1, 0, &[(9, vec![0x80 | 20])])); // 2^-20
    v.extend(idb(
        be,
        1,
        0,
        &[(9, vec![3]), (14, 100i64.to_le_bytes().to_vec())],
    )); // ms, +100 s
    v.extend(idb(be, 0, 0, &[])); // default 10^-6
    v.extend(idb(be, 1, 0, &[(9, vec![12])])); // 10^-12: rounded down to ns
    v.extend(epb(be, 0, 1_500_000_123, b"a", 1));
    v.extend(epb(be, 1, (3 << 20) + (1 << 19), b"b", 1));
    v.extend(epb(be, 2, 2_500, b"c", 1));
    v.extend(epb(be, 3, 7_000_001, b"d", 1));
    v.extend(epb(be, 4, 5_000_000_000_999, b"e", 1));
    let (res, recs) = read_bytes("res", &v);
    let info = res.unwrap();
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    let ts: Vec<i64> = recs.iter().map(|r| r.ts.0).collect();
    assert_eq!(
        ts,
        vec![
            1_500_000_123,
            3_500_000_000,
            102_500_000_000,
            7_000_001_000,
            5_000_000_000
        ]
    );
    assert_eq!(info.link_types, vec![LinkType(1), LinkType(0)]);
    assert_eq!(recs[3].link, LinkType(0));
    assert_eq!(info.first_time, Some(Timestamp(1_500_000_123)));
    assert_eq!(info.first_ts, Some(1.5), "JSON keeps microseconds, as Zeek");
    assert_eq!(info.last_ts, Some(102.5));
}

#[test]
fn big_endian_section_tsoffset_is_read_big_endian() {
    let be = true;
    let mut v = shb(be);
    v.extend(idb(be, 1, 0, &[(14, (-10i64).to_be_bytes().to_vec())]));
    v.extend(epb(be, 0, 20_000_000, b"x", 1));
    let (res, recs) = read_bytes("be", &v);
    assert_eq!(res.unwrap().format, "pcapng (1 section, BE)");
    assert_eq!(recs[0].ts, Timestamp(10_000_000_000));
}

#[test]
fn simple_and_obsolete_packet_blocks() {
    let be = false;
    let mut v = shb(be);
    v.extend(idb(be, 1, 4, &[]));
    // SPB: orig 10 bytes, 8 stored, snaplen 4 -> 4 bytes.
    let mut b = vec![];
    put32(&mut b, be, 10);
    b.extend_from_slice(b"12345678");
    v.extend(block(be, 3, &b));
    // SPB whose orig_len is smaller than its padded data.
    let mut b = vec![];
    put32(&mut b, be, 2);
    b.extend_from_slice(b"ab");
    v.extend(block(be, 3, &b));
    // Obsolete packet block: if_id u16, drops u16, ts, caplen, len.
    let mut b = vec![];
    put16(&mut b, be, 0);
    put16(&mut b, be, 0);
    put32(&mut b, be, 0);
    put32(&mut b, be, 42);
    put32(&mut b, be, 3);
    put32(&mut b, be, 9);
    b.extend_from_slice(b"pqr");
    v.extend(block(be, 2, &b));
    let (res, recs) = read_bytes("spb", &v);
    let info = res.unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        (recs[0].data.as_slice(), recs[0].orig_len, recs[0].ts),
        (&b"1234"[..], 10, Timestamp(0))
    );
    assert_eq!(recs[1].data, b"ab");
    assert_eq!(
        (recs[2].data.as_slice(), recs[2].orig_len, recs[2].ts),
        (&b"pqr"[..], 9, Timestamp(42_000))
    );
    // Only the timestamped record moves first/last.
    assert_eq!((info.first_ts, info.last_ts), (Some(42e-6), Some(42e-6)));
    assert_eq!(info.bytes, 4 + 2 + 3);
}

#[test]
fn corrupt_pcapng_blocks_stop_with_a_warning() {
    let be = false;
    let mut good = shb(be);
    good.extend(idb(be, 1, 0, &[]));
    good.extend(epb(be, 0, 1, b"ok", 2));
    let at = good.len();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Length not a multiple of 4.
        (
            {
                let mut b = epb(be, 0, 1, b"xx", 2);
                b[4] = 33;
                b
            },
            "invalid block length 33",
        ),
        // Length below 12.
        (
            {
                let mut b = epb(be, 0, 1, b"xx", 2);
                b[4..8].copy_from_slice(&8u32.to_le_bytes());
                b
            },
            "invalid block length 8",
        ),
        // Length beyond the sanity limit: must not allocate 4 GB.
        (
            {
                let mut b = epb(be, 0, 1, b"xx", 2);
                b[4..8].copy_from_slice(&0xffff_fffcu32.to_le_bytes());
                b
            },
            "invalid block length 4294967292",
        ),
        // Trailing length disagrees.
        (
            {
                let mut b = epb(be, 0, 1, b"xx", 2);
                let n = b.len();
                b[n - 4] = 0;
                b
            },
            "trailing block length 0 differs from leading length 36",
        ),
        // Unknown interface.
        (
            epb(be, 5, 1, b"xx", 2),
            "names interface 5, but its section has 1",
        ),
        // caplen larger than the block.
        (
            {
                let mut b = epb(be, 0, 1, b"xx", 2);
                b[20..24].copy_from_slice(&99u32.to_le_bytes());
                b
            },
            "claims caplen 99 in a 36-byte block",
        ),
    ];
    for (tail, why) in cases {
        let mut v = good.clone();
        v.extend(tail);
        v.extend(epb(be, 0, 1, b"never", 5));
        let (res, recs) = read_bytes("c", &v);
        let info = res.unwrap();
        assert_eq!(recs.len(), 1, "{why}");
        assert!(info.truncated, "{why}");
        assert_eq!(info.warnings.len(), 1, "{why}: {:?}", info.warnings);
        let w = &info.warnings[0];
        assert!(
            w.starts_with(&format!("c: corrupt: record 2 at byte offset {at}")),
            "{w}"
        );
        assert!(w.contains(why), "{w} should say {why}");
    }
    // A section header with a bad byte-order magic first is no capture at all.
    let mut v = shb(be);
    v[8] = 0;
    assert!(
        read_bytes("bom", &v)
            .0
            .unwrap_err()
            .reason
            .contains("byte-order magic")
    );
}

#[test]
fn expand_inputs_walks_directories_sorted_skipping_hidden() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for f in [
        "b.pcap",
        "a/z.pcapng",
        "a/m/x.pcap",
        ".hidden.pcap",
        ".git/objects.pcap",
        "a/.swp",
    ] {
        let f = p.join(f);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, pcap_hdr(false, 0xa1b2_c3d4, 1)).unwrap();
    }
    std::fs::create_dir_all(p.join("empty")).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        p.join(".hidden.pcap").into(),
        p.into(),
        "-".into(),
        "/no/such/file".into(),
    ];
    let got = expand_inputs(&args).unwrap();
    assert_eq!(got.skipped, vec![]);
    let got = got.sources;
    let want = vec![
        Source::Path(p.join(".hidden.pcap")),
        Source::Path(p.join("a/m/x.pcap")),
        Source::Path(p.join("a/z.pcapng")),
        Source::Path(p.join("b.pcap")),
        Source::Stdin,
        Source::Path(PathBuf::from("/no/such/file")),
    ];
    assert_eq!(got, want);
}

#[test]
fn expand_inputs_skips_non_captures_found_in_directories_only() {
    use flate2::{Compression, write::GzEncoder};
    let gz = |b: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    };
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let log = b"#separator \\x09\n#fields\tts\n";
    let files: [(&str, Vec<u8>); 6] = [
        ("a.pcap", pcap_hdr(false, 0xa1b2_c3d4, 1)),
        ("b.pcapng.gz", gz(&shb(false))),
        ("conn.log", log.to_vec()),
        ("conn.log.gz", gz(log)),
        ("empty.pcap", Vec::new()),
        ("x", b"ab".to_vec()),
    ];
    for (f, bytes) in &files {
        std::fs::write(p.join(f), bytes).unwrap();
    }
    let with_logs = expand_inputs_with_logs(&[p.into()]).unwrap();
    assert_eq!(
        with_logs.logs,
        vec![
            Source::Path(p.join("conn.log")),
            Source::Path(p.join("conn.log.gz"))
        ]
    );
    let got = expand_inputs(&[p.into(), p.join("conn.log").into()]).unwrap();
    assert_eq!(
        got.sources,
        vec![
            Source::Path(p.join("a.pcap")),
            Source::Path(p.join("b.pcapng.gz")),
            // Named on the command line: kept, so reading it is the error.
            Source::Path(p.join("conn.log")),
        ]
    );
    let skipped: Vec<(String, &str)> = got
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.as_str()))
        .collect();
    let at = |f: &str| p.join(f).display().to_string();
    assert_eq!(
        skipped,
        vec![
            // flows and info read captures only (expand_inputs_with_logs
            // keeps logs for the audit).
            (
                at("conn.log"),
                "a connection log: only `audit` and `roles` read logs"
            ),
            (
                at("conn.log.gz"),
                "a connection log: only `audit` and `roles` read logs"
            ),
            (at("empty.pcap"), "empty file"),
            (at("x"), "too short to be a capture (2 bytes)"),
        ]
    );
    // A directory of nothing but non-captures is an error naming it.
    let only = p.join("logs");
    std::fs::create_dir(&only).unwrap();
    std::fs::write(only.join("conn.log"), log).unwrap();
    let e = expand_inputs(&[only.clone().into()]).unwrap_err();
    assert_eq!(e.path, only.display().to_string());
    assert!(e.reason.contains("no capture files found (1 file"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Arbitrary bytes after a valid pcap or pcapng start never panic, and every
    /// record handed out lies within the input.
    #[test]
    fn garbage_never_panics(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), ng in proptest::prelude::any::<bool>()) {
        let mut v = if ng { let mut v = shb(false); v.extend(idb(false, 1, 0, &[(9, vec![0x85])])); v } else { pcap_hdr(false, 0xa1b2_c3d4, 1) };
        v.extend_from_slice(&tail);
        let (res, recs) = read_bytes("fuzz", &v);
        let info = res.unwrap();
        proptest::prop_assert_eq!(info.packets as usize, recs.len());
        for r in &recs {
            proptest::prop_assert!(r.offset as usize + r.data.len() <= v.len());
        }
    }
}

/// The name logs beside a conn.log are those of its name with `conn` read
/// as `dns`, `ssl`, `http` (same rotation suffix, gzip'd or not), and only
/// when they are those logs.
#[test]
fn name_logs_beside_a_conn_log_share_its_name() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let log = |path: &str| format!("#separator \\x09\n#path\t{path}\n#fields\tts\n");
    let files: [(&str, String); 8] = [
        ("conn.log", log("conn")),
        ("dns.log", log("dns")),
        ("ssl.log.gz", log("ssl")),
        ("conn.10:00:00-11:00:00.log.gz", log("conn")),
        ("http.10:00:00-11:00:00.log", log("http")),
        ("dns.11:00:00-12:00:00.log", log("dns")),
        ("site1.conn.log", log("conn")),
        ("site1.dns.log", "not a log at all\n".into()),
    ];
    for (f, text) in &files {
        std::fs::write(p.join(f), text).unwrap();
    }
    assert_eq!(
        beside(&p.join("conn.log")),
        vec![p.join("dns.log"), p.join("ssl.log.gz")]
    );
    assert_eq!(
        beside(&p.join("conn.10:00:00-11:00:00.log.gz")),
        vec![p.join("http.10:00:00-11:00:00.log")]
    );
    assert_eq!(beside(&p.join("site1.conn.log")), Vec::<PathBuf>::new());
    // Named together with one found beside: read once.
    let got =
        expand_inputs_with_logs(&[p.join("dns.log").into(), p.join("conn.log").into()]).unwrap();
    assert_eq!(got.logs, vec![Source::Path(p.join("conn.log"))]);
    assert_eq!(
        got.name_logs,
        vec![
            Source::Path(p.join("dns.log")),
            Source::Path(p.join("ssl.log.gz"))
        ]
    );
}
