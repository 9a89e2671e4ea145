//! Truncation sweep over every capture of the shared corpus (`MANIFEST.tsv`):
//! each file is cut at every record boundary (one byte before, at, and one
//! byte after each record's end) and at 64 pseudo-random offsets, and run
//! through the library in memory (read -> decode -> track).
//!
//! Expected: an `Ok` report holding exactly the complete records before the
//! cut, and, when the cut falls inside a block, a warning naming the file and
//! the byte offset; an `Err` only for cuts inside the file header; never a
//! panic. Record boundaries come from an independent walk of the raw bytes
//! written here (pcap in both byte orders, usec/nsec/modified; pcapng with
//! per-section byte order), cross-checked against the offsets the reader reports.

mod common;

use flowaudit::pipeline::{self, Options};
use flowaudit::read;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

/// A file's structure from the independent walk.
#[derive(Debug, Default)]
struct Layout {
    /// Offset where the file header ends (pcap: 24; pcapng: end of the first section header block).
    header_end: usize,
    /// Packet records by start offset: their end offset.
    records: BTreeMap<usize, usize>,
    /// Every offset where a record or block ends (a clean place to stop).
    boundaries: BTreeSet<usize>,
}

fn u32_at(b: &[u8], off: usize, big: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

/// Walks pcap records or pcapng blocks until the bytes run out or stop making sense.
fn walk(b: &[u8]) -> Option<Layout> {
    let mut l = Layout::default();
    let le = u32_at(b, 0, false)?;
    if le == 0x0a0d_0d0a {
        let mut off = 0usize;
        let mut big = false;
        while off + 12 <= b.len() {
            let kind_le = u32_at(b, off, false)?;
            if kind_le == 0x0a0d_0d0a {
                // A section header block: its byte-order magic decides the section's order.
                big = match u32_at(b, off + 8, false)? {
                    0x1a2b_3c4d => false,
                    0x4d3c_2b1a => true,
                    _ => return Some(l),
                };
            }
            let kind = u32_at(b, off, big)?;
            let len = u32_at(b, off + 4, big)? as usize;
            if len < 12 || !len.is_multiple_of(4) || off + len > b.len() {
                break;
            }
            if kind == 0x0a0d_0d0a && l.header_end == 0 {
                l.header_end = off + len;
            }
            if matches!(kind, 2 | 3 | 6) {
                l.records.insert(off, off + len);
            }
            off += len;
            l.boundaries.insert(off);
        }
    } else {
        let (big, hdr) = match le {
            0xa1b2_c3d4 | 0xa1b2_3c4d => (false, 16),
            0xa1b2_cd34 => (false, 24),
            _ => match u32_at(b, 0, true)? {
                0xa1b2_c3d4 | 0xa1b2_3c4d => (true, 16),
                0xa1b2_cd34 => (true, 24),
                _ => return None,
            },
        };
        l.header_end = 24;
        l.boundaries.insert(24);
        let mut off = 24usize;
        while off + hdr <= b.len() {
            let caplen = u32_at(b, off + 8, big)? as usize;
            let end = off + hdr + caplen;
            if end > b.len() {
                break;
            }
            l.records.insert(off, end);
            l.boundaries.insert(end);
            off = end;
        }
    }
    Some(l)
}

/// A reader over a shared buffer's first `end` bytes (no copy per cut).
struct Prefix {
    data: Arc<Vec<u8>>,
    pos: usize,
    end: usize,
}

impl Read for Prefix {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let src = self.data.get(self.pos..self.end).unwrap_or_default();
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Record offsets the reader reports for the whole file.
fn reader_offsets(name: &str, data: &Arc<Vec<u8>>) -> Option<Vec<u64>> {
    let mut offs = Vec::new();
    let r = read::read_stream(
        name,
        Box::new(Prefix {
            data: data.clone(),
            pos: 0,
            end: data.len(),
        }),
        &mut |rec| offs.push(rec.offset),
    );
    r.ok().map(|_| offs)
}

/// splitmix64: deterministic offsets without a dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Checks every cut of one file; returns how many cuts were run.
fn sweep_file(name: &str, bytes: Vec<u8>) -> usize {
    let data = Arc::new(bytes);
    let Some(layout) = walk(&data) else {
        // Not a capture (e.g. pcap-parser/err-eof.bin): every cut must be refused cleanly.
        for cut in [0, 1, 4, data.len() / 2, data.len()] {
            let (res, _) = run(name, &data, cut.min(data.len()));
            assert!(res.is_err(), "{name}: not a capture, cut {cut} accepted");
        }
        return 5;
    };
    let Some(offsets) = reader_offsets(name, &data) else {
        panic!("{name}: the whole file is refused");
    };
    // Ends of the records the reader read, found by the walk (independent check
    // that reader and walk agree on where each record starts).
    let ends: Vec<usize> = offsets
        .iter()
        .map(|&o| match layout.records.get(&(o as usize)) {
            Some(&e) => e,
            None => panic!("{name}: reader record at {o} is not a record start in the walk"),
        })
        .collect();
    // Every record boundary, and one byte short of it (inside the record),
    // through the reader: that is where truncation is handled, and what the
    // quadratic number of cuts of a big file can afford in a debug build.
    let mut cuts: BTreeSet<usize> = BTreeSet::new();
    for &e in layout.records.values() {
        cuts.extend([e - 1, e]);
    }
    cuts.retain(|&c| c <= data.len());
    for &cut in &cuts {
        let mut packets = 0u64;
        let res = read::read_stream(
            name,
            Box::new(Prefix {
                data: data.clone(),
                pos: 0,
                end: cut,
            }),
            &mut |_| packets += 1,
        );
        check_cut(
            name,
            &layout,
            &ends,
            data.len(),
            cut,
            res.map(|info| (info, packets)),
        );
    }
    // A deterministic sample of other offsets (and the header's edges) through
    // the whole pipeline: decode and track must cope with a cut trace too.
    let mut sample: BTreeSet<usize> = BTreeSet::new();
    let mut seed = name
        .bytes()
        .fold(0x5eed_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    for _ in 0..64 {
        sample.insert((splitmix(&mut seed) % (data.len() as u64 + 1)) as usize);
    }
    sample.extend([0, 1, layout.header_end.saturating_sub(1), layout.header_end]);
    sample.extend(layout.records.values().take(8).map(|&e| e + 1));
    sample.retain(|&c| c <= data.len());
    for &cut in &sample {
        let (res, rows) = run(name, &data, cut);
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
        if let Ok(rep) = &res {
            let d = &rep.decode;
            let not: u64 = d.not_decoded.values().sum();
            assert_eq!(d.frames, rep.info.packets, "{name} cut at {cut}: frames");
            assert_eq!(
                d.frames,
                d.decoded + d.reassembled + d.fragments_buffered + not,
                "{name} cut at {cut}: every frame counted once"
            );
            // A frame gives at most one outer and two tunnelled packets.
            assert!(rows <= 3 * complete, "{name} cut at {cut}: {rows} rows");
        }
        check_cut(
            name,
            &layout,
            &ends,
            data.len(),
            cut,
            res.map(|rep| (rep.info, rep.decode.frames)),
        );
    }
    cuts.len() + sample.len()
}

/// The expectations for one cut: the complete records before it, a warning
/// naming file and offset when it falls inside a block, an error only inside
/// the file header.
fn check_cut(
    name: &str,
    layout: &Layout,
    ends: &[usize],
    len: usize,
    cut: usize,
    res: Result<(read::CaptureInfo, u64), read::ReadError>,
) {
    match res {
        Ok((info, seen)) => {
            let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
            assert_eq!(info.packets, complete, "{name} cut at {cut}: packets");
            assert_eq!(seen, complete, "{name} cut at {cut}: records handed on");
            let clean = cut == len || layout.boundaries.contains(&cut);
            if !clean && cut > layout.header_end {
                let w = info.warnings.join("\n");
                assert!(
                    info.truncated && w.contains(name) && w.contains("offset"),
                    "{name} cut at {cut}: warning must name file and offset: {w:?}"
                );
            }
        }
        Err(e) => {
            assert!(
                cut < layout.header_end,
                "{name} cut at {cut}: error instead of a partial result: {e}"
            );
            assert!(e.to_string().contains(name));
        }
    }
}

/// Runs the pipeline over the first `cut` bytes; returns the result and the rows emitted.
fn run(name: &str, data: &Arc<Vec<u8>>, cut: usize) -> (pipeline::InputResult, u64) {
    let mut rows = 0u64;
    let (res, _) = pipeline::run_stream(
        name,
        Box::new(Prefix {
            data: data.clone(),
            pos: 0,
            end: cut,
        }),
        &Options::default(),
        &mut |_| rows += 1,
    );
    (res, rows)
}

#[test]
fn every_shared_capture_survives_every_cut() {
    let root = common::shared_captures();
    let names: Vec<String> = common::manifest()
        .iter()
        .filter_map(|r| r.get("path").cloned())
        .collect();
    assert!(names.len() >= 79, "manifest lists {} files", names.len());
    // Two workers: the files are independent and CI has two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let bytes =
                        std::fs::read(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
                    let t = std::time::Instant::now();
                    let n = sweep_file(name, bytes);
                    if t.elapsed().as_secs_f64() > 2.0 {
                        eprintln!("{name}: {n} cuts in {:.1?}", t.elapsed());
                    }
                    total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let total = total.into_inner();
    eprintln!("{} files, {total} cuts", names.len());
    assert!(total > 10_000);
}

#[test]
fn the_walk_finds_records_in_both_byte_orders() {
    // Ground truth built here: two records in a big-endian nanosecond pcap.
    let mut b = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
    b.extend([0; 8]);
    b.extend(65_535u32.to_be_bytes());
    b.extend(1u32.to_be_bytes());
    for len in [3u32, 5] {
        b.extend([0; 8]);
        b.extend(len.to_be_bytes());
        b.extend(len.to_be_bytes());
        b.extend(vec![0xee; len as usize]);
    }
    let l = walk(&b).unwrap_or_else(|| panic!("not walked"));
    let recs: Vec<(usize, usize)> = l.records.into_iter().collect();
    assert_eq!(recs, vec![(24, 43), (43, 64)]);
}
