//! Several inputs read as one capture in timestamp order, as `mergecap`
//! (without `-a`) merges them: the captures of one moment taken at two
//! vantage points (the sync server and a DC), or ring-buffer files named out
//! of order, interleave by time instead of being read one after the other,
//! which would show the tracker packets older than its clock.
//!
//! The readers are push parsers, so one input at a time is read on the
//! calling thread with its records handed over in place; an input that
//! overlaps it in time is read on a thread of its own, its records copied
//! into batches that cross over a small bounded channel and are handed over
//! between the first input's. Inputs start only when the merge reaches
//! their first record's time (read ahead with [`super::first_time`]), so a
//! directory of a thousand ring-buffer files is read one file after the
//! other, in place, with no thread and no copy. Within an
//! input, records keep their order; ties between inputs go to the input
//! named first. The order depends on timestamps only, never on thread
//! timing: the merge waits for the input whose record comes next.
//!
//! Memory: at most three batches per input read on a thread (about 256 KiB each).

use super::{CaptureInfo, LinkType, ReadError, Record, Source};
use crate::time::{Duration, Timestamp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;

/// Bytes read from one input before decompression, for progress reports.
pub type RawCount = std::sync::Arc<std::sync::atomic::AtomicU64>;

/// Bytes of record data per batch before it is sent.
const BATCH_BYTES: usize = 256 * 1024;

/// Records per batch before it is sent.
const BATCH_RECORDS: usize = 2048;

/// Batches in flight per input, beside the one the merge is reading.
const IN_FLIGHT: usize = 1;

/// How close in time two inputs' records must be for [`Merged::near`]: the
/// same packet seen by two sensors arrives within path delay and clock skew.
pub const NEAR: Duration = Duration::from_secs(2);

/// What the merge hands its caller for each record.
#[derive(Clone, Copy, Debug)]
pub struct Merged {
    /// Index of the input (in the order given) the record comes from.
    pub input: usize,
    /// Another input has a record within [`NEAR`] of this one's time, read
    /// or still to come: the same packet may appear twice.
    pub near: bool,
}

/// The caller's side of a merge.
pub trait Visitor {
    /// Input `input` starts to be read (in merge order, not index order).
    fn start(&mut self, input: usize);
    /// The next record in time order.
    fn record(&mut self, at: Merged, rec: &Record<'_>);
    /// Input `input` has no more records (its summary follows in the results).
    fn finish(&mut self, input: usize);
}

/// One record's place in a batch.
#[derive(Clone, Copy, Debug)]
struct Meta {
    ts: Timestamp,
    link: LinkType,
    /// Range of the record's bytes in [`Batch::data`].
    start: usize,
    len: usize,
    orig_len: u32,
    number: u64,
    offset: u64,
}

/// Records copied out of a reader's buffer.
#[derive(Debug, Default)]
struct Batch {
    data: Vec<u8>,
    recs: Vec<Meta>,
}

/// What an input's reader thread sends.
enum Msg {
    Batch(Batch),
    Done(Result<CaptureInfo, ReadError>),
}

/// A running input: its channel and the batch the merge is reading.
struct Running {
    rx: mpsc::Receiver<Msg>,
    /// Empty batches sent back for reuse.
    spare: mpsc::Sender<Batch>,
    batch: Batch,
    /// Next record of `batch`.
    pos: usize,
}

/// What comes next from a running input.
enum Head {
    /// A record at this time.
    At(Timestamp),
    /// Nothing more: the input's summary.
    Done(Result<CaptureInfo, ReadError>),
}

impl Running {
    /// The time of the next record, reading the next batch if needed, or
    /// the input's result when it has no more.
    fn head(&mut self) -> Head {
        loop {
            if let Some(m) = self.batch.recs.get(self.pos) {
                return Head::At(m.ts);
            }
            match self.rx.recv() {
                Ok(Msg::Batch(b)) => {
                    let old = std::mem::replace(&mut self.batch, b);
                    self.pos = 0;
                    // The reader may be done and gone: then the batch is dropped.
                    let _ = self.spare.send(old);
                }
                Ok(Msg::Done(res)) => return Head::Done(res),
                // The reader thread died (it panicked): the scope's join re-raises it.
                Err(_) => {
                    return Head::Done(Err(ReadError {
                        path: String::new(),
                        reason: "reader thread stopped".to_string(),
                    }));
                }
            }
        }
    }
}

/// Reads `src` on the current thread, sending its records in batches and
/// counting the bytes it reads in `raw`.
fn feed(src: &Source, raw: &RawCount, tx: &mpsc::SyncSender<Msg>, spare: &mpsc::Receiver<Batch>) {
    let mut batch = Batch::default();
    let mut gone = false;
    let res = super::read_capture_counting(src, raw, &mut |r: &Record<'_>| {
        if gone {
            return;
        }
        let start = batch.data.len();
        batch.data.extend_from_slice(r.data);
        batch.recs.push(Meta {
            ts: r.ts,
            link: r.link,
            start,
            len: r.data.len(),
            orig_len: r.orig_len,
            number: r.number,
            offset: r.offset,
        });
        if batch.data.len() >= BATCH_BYTES || batch.recs.len() >= BATCH_RECORDS {
            let mut next = spare.try_recv().unwrap_or_default();
            next.data.clear();
            next.recs.clear();
            let full = std::mem::replace(&mut batch, next);
            gone = tx.send(Msg::Batch(full)).is_err();
        }
    });
    if !batch.recs.is_empty() {
        let _ = tx.send(Msg::Batch(batch));
    }
    let _ = tx.send(Msg::Done(res));
}

/// The merge in progress.
struct State<'v> {
    visit: &'v mut dyn Visitor,
    /// When each input starts (its first record's time; `None`: at once).
    starts: Vec<Option<Timestamp>>,
    /// Inputs by start, and how many of them have started.
    order: Vec<usize>,
    started: usize,
    /// Inputs read on threads of their own, and their next records' times.
    running: Vec<Option<Running>>,
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    results: Vec<Option<Result<CaptureInfo, ReadError>>>,
    /// The last record handed over (input, time), and the last one from
    /// another input than that: whether a record has a neighbour in time.
    prev: Option<(usize, Timestamp)>,
    prev_other: Option<(usize, Timestamp)>,
}

impl State<'_> {
    /// The next input to start, if it is due by `now` (`None`: any time).
    fn due(&self, now: Option<Timestamp>) -> Option<usize> {
        let &i = self.order.get(self.started)?;
        match (now, self.starts[i]) {
            (None, _) | (_, None) => Some(i),
            (Some(t), Some(s)) => (s <= t).then_some(i),
        }
    }

    /// Whether a record of `input` at `ts` has another input's record
    /// within [`NEAR`]: one handed over before, a running input's next, or
    /// an input still to start. `leader` is the time of the next record of
    /// the input read on this thread, when there is one besides `input`.
    fn near(&mut self, input: usize, ts: Timestamp, leader: Option<Timestamp>) -> bool {
        let close = |a: Timestamp| a.0.abs_diff(ts.0) <= NEAR.0.unsigned_abs();
        let before = match self.prev {
            Some((j, t)) if j != input => Some(t),
            _ => self.prev_other.map(|(_, t)| t),
        };
        let near = before.is_some_and(close)
            || leader.is_some_and(close)
            || self.heads.peek().is_some_and(|Reverse((t, _))| close(*t))
            || self
                .order
                .get(self.started)
                .and_then(|&j| self.starts[j])
                .is_some_and(close);
        if self.prev.is_some_and(|(j, _)| j != input) {
            self.prev_other = self.prev;
        }
        self.prev = Some((input, ts));
        near
    }

    /// Hands over the next record of running input `i` (popped from the heads).
    fn deliver_running(&mut self, i: usize, ts: Timestamp, leader: Option<Timestamp>) {
        let near = self.near(i, ts, leader);
        let Some(r) = self.running[i].as_mut() else {
            return;
        };
        if let Some(m) = r.batch.recs.get(r.pos).copied() {
            let rec = Record {
                ts: m.ts,
                link: m.link,
                data: r.batch.data.get(m.start..m.start + m.len).unwrap_or(&[]),
                orig_len: m.orig_len,
                number: m.number,
                offset: m.offset,
            };
            self.visit.record(Merged { input: i, near }, &rec);
            r.pos += 1;
        }
        self.advance(i);
    }

    /// Queues running input `i`'s next record, or finishes it.
    fn advance(&mut self, i: usize) {
        let Some(r) = self.running[i].as_mut() else {
            return;
        };
        match r.head() {
            Head::At(t) => self.heads.push(Reverse((t, i))),
            Head::Done(res) => {
                self.results[i] = Some(res);
                self.running[i] = None;
                self.visit.finish(i);
            }
        }
    }
}

/// Reads `sources` merged by timestamp, handing each record to `visit`;
/// returns each input's summary, in the order given.
///
/// One input at a time is read on the calling thread, its records handed
/// over in place (the "leader"); inputs that overlap it in time start on
/// threads of their own, and their records, copied, are handed over
/// between the leader's. Ring-buffer files that follow each other are
/// each the leader in turn: read in place, one after the other, with no
/// thread and no copy.
pub fn read_merged(
    sources: &[Source],
    raw: &[RawCount],
    visit: &mut dyn Visitor,
) -> Vec<Result<CaptureInfo, ReadError>> {
    let none = RawCount::default();
    let raw_of = |i: usize| raw.get(i).unwrap_or(&none);
    // When each input starts: its first record's time. Stdin cannot be read
    // twice, and an unreadable file fails as soon as it starts: both start
    // at once (an empty capture too: it only has to say so).
    let starts: Vec<Option<Timestamp>> = sources
        .iter()
        .map(|s| match s {
            // A pipe named by a path (`<(zcat x)`) cannot be read twice either.
            Source::Path(p) if std::fs::metadata(p).is_ok_and(|m| m.is_file()) => {
                super::first_time(s).ok().flatten()
            }
            _ => None,
        })
        .collect();
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| (starts[i].map_or(i64::MIN, |t| t.0), i));
    let mut st = State {
        visit,
        starts,
        order,
        started: 0,
        running: sources.iter().map(|_| None).collect(),
        heads: BinaryHeap::new(),
        results: sources.iter().map(|_| None).collect(),
        prev: None,
        prev_other: None,
    };
    std::thread::scope(|scope| {
        // Starts input `i` on a thread of its own.
        let spawn = |st: &mut State<'_>, i: usize| {
            st.started += 1;
            st.visit.start(i);
            let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
            let (spare_tx, spare_rx) = mpsc::channel();
            let src = &sources[i];
            let count = raw_of(i);
            scope.spawn(move || feed(src, count, &tx, &spare_rx));
            st.running[i] = Some(Running {
                rx,
                spare: spare_tx,
                batch: Batch::default(),
                pos: 0,
            });
            st.advance(i);
        };
        loop {
            let first_head = st.heads.peek().map(|Reverse((t, _))| *t);
            // The next input leads once every running input's records
            // before its start are handed over.
            if let Some(lead) = st.due(first_head) {
                st.started += 1;
                st.visit.start(lead);
                let res = super::read_capture_counting(
                    &sources[lead],
                    raw_of(lead),
                    &mut |r: &Record<'_>| {
                        // Inputs this record's time has reached start beside it.
                        while let Some(i) = st.due(Some(r.ts)) {
                            spawn(&mut st, i);
                        }
                        // Their records that come first go first.
                        while let Some(&Reverse((t, i))) = st.heads.peek() {
                            if (t, i) >= (r.ts, lead) {
                                break;
                            }
                            st.heads.pop();
                            st.deliver_running(i, t, Some(r.ts));
                        }
                        let near = st.near(lead, r.ts, None);
                        st.visit.record(Merged { input: lead, near }, r);
                    },
                );
                st.results[lead] = Some(res);
                st.visit.finish(lead);
                continue;
            }
            match st.heads.pop() {
                Some(Reverse((t, i))) => st.deliver_running(i, t, None),
                None => break,
            }
        }
    });
    st.results
        .into_iter()
        .zip(sources)
        .map(|(r, s)| {
            r.unwrap_or_else(|| {
                Err(ReadError {
                    path: s.to_string(),
                    reason: "not read".to_string(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Link, PcapOptions, PcapWriter};

    /// A pcap of raw-IP records (one byte of data each: the record's own
    /// tag) at these times in seconds.
    fn capture(dir: &std::path::Path, name: &str, times: &[(i64, u8)]) -> Source {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let opts = PcapOptions {
            link: Link::Raw.link_type(),
            ..PcapOptions::default()
        };
        let mut w = PcapWriter::new(file, opts).unwrap_or_else(|e| panic!("{e}"));
        for &(t, tag) in times {
            w.write_packet(Timestamp(t * 1_000_000_000), &[tag], None)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        w.into_inner().unwrap_or_else(|e| panic!("{e}"));
        Source::Path(path)
    }

    /// What a visitor saw: starts, records (input, tag, near) and finishes in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn start(&mut self, input: usize) {
            self.0.push(format!("start {input}"));
        }
        fn record(&mut self, at: Merged, rec: &Record<'_>) {
            let near = if at.near { " near" } else { "" };
            self.0.push(format!(
                "{} {}{near}",
                at.input,
                rec.data.first().copied().unwrap_or(0)
            ));
        }
        fn finish(&mut self, input: usize) {
            self.0.push(format!("finish {input}"));
        }
    }

    #[test]
    fn records_come_in_time_order_and_inputs_start_when_due() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sources = [
            // Named first, but its records come last: a ring buffer out of order.
            capture(dir.path(), "late.pcap", &[(100, 7), (110, 8)]),
            capture(dir.path(), "a.pcap", &[(10, 1), (20, 2), (30, 3)]),
            // Overlaps a.pcap; its record at 20 s ties with a.pcap's, which
            // goes first: a.pcap is named before it.
            capture(dir.path(), "b.pcap", &[(20, 4), (25, 5)]),
        ];
        let mut log = Log::default();
        let results = read_merged(&sources, &[], &mut log);
        assert_eq!(
            log.0,
            [
                "start 1", "1 1", // b.pcap starts only when a.pcap reaches 20 s
                // Within NEAR (2 s) of another input's record only at 20 s.
                "start 2", "1 2 near", "2 4 near", "2 5", "finish 2", "1 3",
                "finish 1", // late.pcap starts after both, far from them
                "start 0", "0 7", "0 8", "finish 0",
            ]
        );
        let packets: Vec<u64> = results
            .iter()
            .map(|r| r.as_ref().map_or(0, |i| i.packets))
            .collect();
        assert_eq!(
            packets,
            [2, 3, 2],
            "each input's summary in the order given"
        );
    }

    #[test]
    fn an_unreadable_input_fails_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bad = dir.path().join("notes.txt");
        std::fs::write(&bad, b"not a capture at all").unwrap_or_else(|e| panic!("{e}"));
        let sources = [
            capture(dir.path(), "a.pcap", &[(10, 1), (20, 2)]),
            Source::Path(bad),
        ];
        let mut log = Log::default();
        let results = read_merged(&sources, &[], &mut log);
        assert!(results[0].as_ref().is_ok_and(|i| i.packets == 2));
        let err = results[1].as_ref().err().map(|e| e.reason.clone());
        assert!(err.is_some_and(|e| e.contains("not a pcap")), "{results:?}");
        assert_eq!(log.0.iter().filter(|l| l.starts_with("start")).count(), 2);
    }
}
