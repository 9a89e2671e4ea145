//! Drives the stages of the data path over a list of inputs:
//! read -> decode -> track, handing finished connections to a sink (for the
//! whole audit on top of it, see [`crate::audit`]).

use crate::decode::{DecodeConfig, DecodeStats, Decoder, Packet};
use crate::read::{self, CaptureInfo, ReadError, Source};
use crate::track::{Connection, SHARDS, ShardSet, TrackConfig, TrackStats};
use serde::Serialize;
use std::sync::{Arc, mpsc};

/// What one input produced: the reader's summary plus what the decoder could not decode.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureReport {
    /// The capinfos-like summary from the reader.
    #[serde(flatten)]
    pub info: CaptureInfo,
    /// Decoder counters for this capture (decoded, fragments, not decoded per layer).
    pub decode: DecodeStats,
    /// Packets dropped because another input, read together with this one,
    /// showed the same packet less than 2 s apart (see [`crate::decode::Dedup`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicates: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CaptureReport {
    /// Everything a user must know about how far this input can be trusted,
    /// each naming the file: the reader's warnings (truncation, corruption,
    /// with record and byte offset) and link types whose packets were not
    /// decoded. Printed on stderr and carried into the audit's report.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.info.warnings.clone();
        out.extend(self.decode.unsupported_link_types.iter().map(|&lt| {
            format!(
                "{}: link type {} is not supported; its packets are counted as not decoded",
                self.info.path,
                read::LinkType(lt)
            )
        }));
        out
    }
}

/// Settings for one run over a list of inputs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Decoder limits (fragment reassembly).
    pub decode: DecodeConfig,
    /// Tracker timeouts.
    pub track: TrackConfig,
    /// Threads to use (0: one per CPU): 1 runs every stage on the caller's
    /// thread; N > 1 reads and decodes on one thread, tracks on min(N, 4)
    /// shard threads and classifies on the caller's. The output is identical
    /// for any N.
    pub threads: usize,
    /// Told about bytes and packets as they are read (a progress bar).
    pub progress: Option<Arc<dyn Progress>>,
    /// Which vantage point each input belongs to (default: each its own).
    pub vantage: Vantage,
}

/// The vantage points the inputs come from: each argument on the command
/// line is one (a directory of rotated files or a ring buffer is one
/// sensor's trace, split in parts), so a finding can say which sensor
/// showed it ([`crate::track::Connection::inputs`]).
#[derive(Clone, Debug, Default)]
pub struct Vantage {
    /// For each input, the captures then the logs, its index in `names`.
    pub of_input: Vec<u16>,
    /// The vantage points' names, as given on the command line.
    pub names: Vec<String>,
}

impl Vantage {
    /// The vantage point of each input, from the arguments they were found
    /// under: a file named is its own, a directory's files share the
    /// directory's, `-` is stdin's.
    pub fn of_args(args: &[std::ffi::OsString], inputs: &read::Inputs) -> Vantage {
        let names: Vec<String> = args
            .iter()
            .map(|a| std::path::Path::new(a).display().to_string())
            .collect();
        let origin = |s: &Source| -> u16 {
            let i = args.iter().position(|a| match s {
                Source::Stdin => a == "-",
                Source::Path(p) => p == std::path::Path::new(a) || p.starts_with(a),
            });
            i.and_then(|i| u16::try_from(i).ok()).unwrap_or(u16::MAX)
        };
        Vantage {
            of_input: inputs
                .sources
                .iter()
                .chain(&inputs.logs)
                .map(origin)
                .collect(),
            names,
        }
    }

    /// The vantage point of input `input` (its own index when not given).
    pub fn of(&self, input: usize) -> u16 {
        self.of_input
            .get(input)
            .copied()
            .unwrap_or_else(|| u16::try_from(input).unwrap_or(u16::MAX))
    }

    /// The name of each vantage point, `inputs` (the captures, then the
    /// logs) naming their own when none were given.
    pub fn names_or(&self, inputs: impl Iterator<Item = String>) -> Vec<String> {
        if self.names.is_empty() {
            inputs.collect()
        } else {
            self.names.clone()
        }
    }
}

/// Receives progress reports while inputs are read; must be cheap, it is
/// called once per batch of packets.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// A new input starts; `len` is its size in bytes when known (regular
    /// files, compressed or not; not stdin or pipes).
    fn start_input(&self, name: &str, len: Option<u64>);
    /// `bytes` more bytes of an input were read (from the file or stdin,
    /// before any decompression: comparable with `len`) and `packets` more
    /// records seen. Increments, so that inputs read side by side (none
    /// today; a merge of overlapping captures would) add up.
    fn advance(&self, bytes: u64, packets: u64);
    /// The current input is done.
    fn finish_input(&self);
}

/// The outcome for one input: a report (possibly partial, with warnings) or an error.
pub type InputResult = Result<CaptureReport, ReadError>;

/// Packets per round handed from the reader thread to the trackers: large
/// enough that the channels cost nothing per packet, small enough (155 KB)
/// that a shard thread's two passes over it (routing, then tracking) hit L2.
const BATCH: usize = 1024;

/// Rounds in flight between the threads (about 5 MB): enough slack that the
/// threads rarely wait on each other, whose wakeups cost more than the memory;
/// bounds memory when the trackers are slower than the reader.
const BATCHES_IN_FLIGHT: usize = 32;

/// Reads, decodes and tracks every input as one trace merged by timestamp
/// (as `mergecap` merges them, see [`read::merge`]), so a ring buffer of capture files gives the
/// same connections as one big file. Finished connections go to `sink`; at the
/// end every connection still open is flushed to it too.
pub fn run(
    sources: &[Source],
    opts: &Options,
    sink: &mut dyn FnMut(Connection),
) -> Vec<InputResult> {
    run_with_stats(sources, opts, &mut |_| {}, sink).0
}

/// Like [`run`], also calling `observe` for every decoded packet (with its
/// payload), in capture order, before the tracker sees it: the hook for
/// learning names and endpoint-mapper ports ([`crate::learn::Learner`]).
/// With more than one thread it runs on the reader thread.
pub fn run_observed<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    sources: &[Source],
    opts: &Options,
    observe: &mut O,
    sink: &mut dyn FnMut(Connection),
) -> Vec<InputResult> {
    run_with_stats(sources, opts, observe, sink).0
}

/// [`run_observed`], also returning the tracker's counters for the whole run
/// (peak open connections, evictions when [`TrackConfig::max_connections`]
/// was reached, by `conn_state` and verdict) for the report to show.
///
/// Connections are split over [`SHARDS`] trackers by their key (see
/// [`ShardSet`]); packets reach them in capture order in rounds of `BATCH` (1,024),
/// and the connections they hand over go to `sink` round by round in shard
/// order. With one thread all of it runs on the caller's thread; with more,
/// reading, decoding and `observe` run on one thread, the shards on up to
/// [`SHARDS`] others, and `sink` on the caller's: the rounds and their order
/// are the same, so the output is too.
pub fn run_with_stats<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    sources: &[Source],
    opts: &Options,
    observe: &mut O,
    sink: &mut dyn FnMut(Connection),
) -> (Vec<InputResult>, TrackStats) {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let (results, sets) = if threads <= 1 {
        run_sequential(
            sources.iter().map(Input::Source).collect(),
            opts,
            observe,
            sink,
        )
    } else {
        run_threaded(sources, opts, observe, sink, threads.min(SHARDS))
    };
    (results, merged_stats(opts, &sets))
}

/// The shard sets' counters added up, with the run's connection limit.
fn merged_stats(opts: &Options, sets: &[ShardSet]) -> TrackStats {
    let mut stats = TrackStats {
        max_connections: opts.track.max_connections.max(1),
        ..TrackStats::default()
    };
    for set in sets {
        stats.absorb(&set.stats());
    }
    stats
}

/// One input to read: a capture named on the command line, or a byte stream
/// the caller opened (read on the caller's thread, without progress reports).
enum Input<'a> {
    /// A file, directory entry or `-`.
    Source(&'a Source),
    /// A stream (plain or gzip) and the name warnings give it.
    Stream(&'a str, Box<dyn std::io::Read>),
}

/// Reads and decodes every input in order, calling `observe` for each packet
/// and `round` with each [`BATCH`] of payload-free packets (and the rest at
/// the end); `round` gives back an empty batch to fill next.
fn read_rounds<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    inputs: Vec<Input<'_>>,
    opts: &Options,
    observe: &mut O,
    round: &mut dyn FnMut(Vec<Packet<'static>>) -> Vec<Packet<'static>>,
) -> Vec<InputResult> {
    let mut batch: Vec<Packet<'static>> = Vec::with_capacity(BATCH);
    let sources: Option<Vec<&Source>> = inputs
        .iter()
        .map(|i| match i {
            Input::Source(s) => Some(*s),
            Input::Stream(..) => None,
        })
        .collect();
    if let Some(sources) = sources.filter(|s| s.len() > 1) {
        let sources: Vec<Source> = sources.into_iter().cloned().collect();
        let results = read_merged_rounds(&sources, opts, observe, &mut batch, round);
        if !batch.is_empty() {
            round(batch);
        }
        return results;
    }
    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut decoder = Decoder::new(opts.decode);
        let raw_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut meter = match &input {
            Input::Source(src) => Meter::new(opts, src, &raw_bytes),
            Input::Stream(..) => Meter {
                progress: None,
                packets: 0,
                raw_bytes: Arc::clone(&raw_bytes),
                reported: 0,
            },
        };
        let mut on_record = |rec: &read::Record<'_>| {
            decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
                observe(pkt);
                // The trackers never look at payload bytes; dropping them
                // makes the packet owned so it can cross to another thread.
                batch.push(Packet {
                    payload: &[],
                    ..*pkt
                });
            });
            if batch.len() >= BATCH {
                meter.at(rec.number);
                batch = round(std::mem::take(&mut batch));
            }
        };
        let res = match input {
            Input::Source(src) if opts.progress.is_some() => {
                read::read_capture_counting(src, &raw_bytes, &mut on_record)
            }
            Input::Source(src) => read::read_capture(src, &mut on_record),
            Input::Stream(path, raw) => read::read_stream(path, raw, &mut on_record),
        };
        decoder.flush();
        meter.done();
        results.push(res.map(|info| CaptureReport {
            info,
            decode: decoder.stats().clone(),
            duplicates: 0,
        }));
    }
    if !batch.is_empty() {
        round(batch);
    }
    results
}

/// [`read_rounds`] over several inputs merged by timestamp
/// ([`read::merge`]): each input has its own decoder (fragments and link
/// types are per capture), packets another input already showed are
/// dropped ([`crate::decode::Dedup`]), and `observe` and the rounds see one
/// trace in time order.
fn read_merged_rounds<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    sources: &[Source],
    opts: &Options,
    observe: &mut O,
    batch: &mut Vec<Packet<'static>>,
    round: &mut dyn FnMut(Vec<Packet<'static>>) -> Vec<Packet<'static>>,
) -> Vec<InputResult> {
    struct Merge<'o, 'r, O: ?Sized> {
        opts: &'o Options,
        sources: &'o [Source],
        decoders: Vec<Option<Decoder>>,
        meters: Vec<Option<Meter<'o>>>,
        /// Each finished input's decoder counters.
        stats: Vec<Option<DecodeStats>>,
        /// Each input's packets dropped as copies of another input's.
        copies: Vec<u64>,
        /// Each input's bytes read, for progress.
        raw: Vec<read::merge::RawCount>,
        dedup: crate::decode::Dedup,
        observe: &'r mut O,
        batch: &'r mut Vec<Packet<'static>>,
        round: &'r mut dyn FnMut(Vec<Packet<'static>>) -> Vec<Packet<'static>>,
    }
    impl<O: FnMut(&Packet<'_>) + Send + ?Sized> read::merge::Visitor for Merge<'_, '_, O> {
        fn start(&mut self, input: usize) {
            if let (Some(d), Some(m), Some(src)) = (
                self.decoders.get_mut(input),
                self.meters.get_mut(input),
                self.sources.get(input),
            ) {
                *d = Some(Decoder::new(self.opts.decode));
                *m = Some(Meter::new(self.opts, src, &self.raw[input]));
            }
        }

        fn record(&mut self, at: read::merge::Merged, rec: &read::Record<'_>) {
            let Some(Some(decoder)) = self.decoders.get_mut(at.input) else {
                return;
            };
            let (dedup, observe, batch) = (&mut self.dedup, &mut *self.observe, &mut *self.batch);
            let mut copies = 0;
            let input = self.opts.vantage.of(at.input);
            decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
                // A copy is neither observed nor counted, but still goes to
                // the tracker, so the connection knows this input showed it.
                let copy = at.near && dedup.is_copy(at.input, pkt);
                if copy {
                    copies += 1;
                } else {
                    observe(pkt);
                }
                batch.push(Packet {
                    payload: &[],
                    input,
                    copy,
                    ..*pkt
                });
            });
            if let Some(n) = self.copies.get_mut(at.input) {
                *n += copies;
            }
            if self.batch.len() >= BATCH {
                if let Some(Some(m)) = self.meters.get_mut(at.input) {
                    m.at(rec.number);
                }
                *self.batch = (self.round)(std::mem::take(self.batch));
            }
        }

        fn finish(&mut self, input: usize) {
            if let Some(mut d) = self.decoders.get_mut(input).and_then(Option::take) {
                d.flush();
                if let Some(slot) = self.stats.get_mut(input) {
                    *slot = Some(d.stats().clone());
                }
            }
            if let Some(mut m) = self.meters.get_mut(input).and_then(Option::take) {
                m.done();
            }
        }
    }
    let mut m = Merge {
        opts,
        sources,
        decoders: sources.iter().map(|_| None).collect(),
        meters: sources.iter().map(|_| None).collect(),
        stats: sources.iter().map(|_| None).collect(),
        copies: vec![0; sources.len()],
        raw: sources
            .iter()
            .map(|_| read::merge::RawCount::default())
            .collect(),
        dedup: crate::decode::Dedup::new(),
        observe,
        batch,
        round,
    };
    let raw = m.raw.clone();
    let infos = read::merge::read_merged(sources, &raw, &mut m);
    infos
        .into_iter()
        .zip(m.stats.into_iter().zip(m.copies))
        .map(|(res, (decode, duplicates))| {
            res.map(|info| CaptureReport {
                info,
                decode: decode.unwrap_or_default(),
                duplicates,
            })
        })
        .collect()
}

/// Every stage on the caller's thread.
fn run_sequential<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    inputs: Vec<Input<'_>>,
    opts: &Options,
    observe: &mut O,
    sink: &mut dyn FnMut(Connection),
) -> (Vec<InputResult>, Vec<ShardSet>) {
    let mut set = ShardSet::new(opts.track, 0..SHARDS);
    let results = read_rounds(inputs, opts, observe, &mut |mut batch| {
        set.round(&batch, &mut |_, c| sink(c));
        batch.clear();
        batch
    });
    set.finish(&mut |_, c| sink(c));
    (results, vec![set])
}

/// What a worker handed over in one round: connections with their shard
/// index, in the order its shards emitted them.
type WorkerOutput = Vec<(usize, Connection)>;

/// What a worker hands over: a round's connections, then, at the end of
/// input, those still open in chunks (shard by shard, in the order of its
/// shards), so a million open connections never sit in one vector.
enum FromWorker {
    /// One round's output.
    Round(WorkerOutput),
    /// A chunk of the connections still open at the end.
    Open(WorkerOutput),
}

/// Connections per [`FromWorker::Open`] chunk.
const OPEN_CHUNK: usize = 4096;

/// Room for a round's finished connections (a round of [`BATCH`] packets
/// finishes about 64 on the benchmark capture), so the output rarely regrows.
const OUTPUT_CAPACITY: usize = 128;

/// Reading and decoding on one thread, the shards on `workers` threads
/// (worker `w` runs the shards `s` with `s % workers == w`), each seeing
/// every round, and the sink on the caller's thread, fed round by round in
/// shard order.
fn run_threaded<O: FnMut(&Packet<'_>) + Send + ?Sized>(
    sources: &[Source],
    opts: &Options,
    observe: &mut O,
    sink: &mut dyn FnMut(Connection),
    workers: usize,
) -> (Vec<InputResult>, Vec<ShardSet>) {
    let workers = workers.clamp(1, SHARDS);
    let mut to_workers = Vec::with_capacity(workers);
    let mut from_workers = Vec::with_capacity(workers);
    let mut worker_ends = Vec::with_capacity(workers);
    for w in 0..workers {
        let (tx, rx) = mpsc::sync_channel::<Arc<Vec<Packet<'static>>>>(BATCHES_IN_FLIGHT);
        to_workers.push(tx);
        let (out_tx, out_rx) = mpsc::sync_channel::<FromWorker>(BATCHES_IN_FLIGHT);
        from_workers.push(out_rx);
        let set = ShardSet::new(opts.track, (w..SHARDS).step_by(workers));
        worker_ends.push((set, rx, out_tx));
    }
    // The last worker done with a round hands its buffer back to the reader,
    // so steady state allocates no rounds.
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<Packet<'static>>>();
    let (results, sets, panic) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let inputs = sources.iter().map(Input::Source).collect();
            read_rounds(inputs, opts, observe, &mut |batch| {
                let round = Arc::new(batch);
                for tx in &to_workers {
                    // A closed channel means a worker is gone (it panicked);
                    // stop quietly and let the join report it.
                    let _ = tx.send(Arc::clone(&round));
                }
                spare_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH))
            })
        });
        let handles: Vec<_> = worker_ends
            .into_iter()
            .map(|(mut set, rx, tx)| {
                let spare = spare_tx.clone();
                scope.spawn(move || {
                    for round in rx {
                        let mut out = WorkerOutput::with_capacity(OUTPUT_CAPACITY);
                        set.round(&round, &mut |s, c| out.push((s, c)));
                        if let Ok(mut buffer) = Arc::try_unwrap(round) {
                            buffer.clear();
                            // The reader may be done; then the buffer is dropped.
                            let _ = spare.send(buffer);
                        }
                        if tx.send(FromWorker::Round(out)).is_err() {
                            break;
                        }
                    }
                    // End of input: the connections still open, in chunks.
                    let mut out = WorkerOutput::with_capacity(OPEN_CHUNK);
                    let mut gone = false;
                    set.finish(&mut |s, c| {
                        out.push((s, c));
                        if out.len() == OPEN_CHUNK && !gone {
                            let full = std::mem::replace(
                                &mut out,
                                WorkerOutput::with_capacity(OPEN_CHUNK),
                            );
                            gone = tx.send(FromWorker::Open(full)).is_err();
                        }
                    });
                    if !out.is_empty() && !gone {
                        let _ = tx.send(FromWorker::Open(out));
                    }
                    set
                })
            })
            .collect();
        // Merge: each round, every worker's output, in shard order. A worker's
        // output is already in the order of its shards (`w`, `w + workers`,
        // ...), so the merge takes each shard's run from its worker in turn.
        // Each worker's first chunk of open connections, once the rounds end.
        let mut open: Vec<std::iter::Peekable<std::vec::IntoIter<(usize, Connection)>>> =
            Vec::new();
        'rounds: loop {
            let mut outs = Vec::with_capacity(workers);
            for rx in &from_workers {
                match rx.recv() {
                    Ok(FromWorker::Round(out)) => outs.push(out.into_iter().peekable()),
                    Ok(FromWorker::Open(out)) => open.push(out.into_iter().peekable()),
                    // No open connection at the end: an empty first chunk.
                    Err(_) => open.push(Vec::new().into_iter().peekable()),
                }
            }
            if !open.is_empty() {
                // Every worker sees every round, so all of them end together.
                break 'rounds;
            }
            for shard in 0..SHARDS {
                if let Some(out) = outs.get_mut(shard % workers) {
                    while let Some((_, c)) = out.next_if(|(s, _)| *s == shard) {
                        sink(c);
                    }
                }
            }
        }
        // The open connections shard by shard, as one table's finish gives
        // them: each shard's run from its worker, chunk after chunk.
        for shard in 0..SHARDS {
            let w = shard % workers;
            let (Some(out), Some(rx)) = (open.get_mut(w), from_workers.get(w)) else {
                continue;
            };
            loop {
                while let Some((_, c)) = out.next_if(|(s, _)| *s == shard) {
                    sink(c);
                }
                if out.peek().is_some() {
                    break; // the next shard's
                }
                match rx.recv() {
                    Ok(FromWorker::Open(next)) => *out = next.into_iter().peekable(),
                    Ok(FromWorker::Round(_)) | Err(_) => break,
                }
            }
        }
        let mut sets = Vec::with_capacity(workers);
        let mut panic = None;
        for h in handles {
            match h.join() {
                Ok(set) => sets.push(set),
                Err(p) => panic = Some(p),
            }
        }
        (reader.join(), sets, panic)
    });
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    match results {
        Ok(r) => (r, sets),
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// What [`flows`] produced.
pub struct FlowsRun {
    /// One result per input, as [`run`] gives them.
    pub results: Vec<InputResult>,
    /// The tracker's counters.
    pub stats: TrackStats,
    /// Every connection, by first packet's time, then uid.
    pub connections: Vec<Connection>,
    /// Names and endpoint-mapper ports learned from the packets.
    pub learned: crate::learn::Learned,
}

/// The connections of the inputs in time order, with what the learner found
/// on the way: what `flowaudit flows` prints.
pub fn flows(sources: &[Source], opts: &Options) -> FlowsRun {
    let mut connections = Vec::new();
    let mut learner = crate::learn::Learner::new();
    let (results, stats) = run_with_stats(sources, opts, &mut |p| learner.observe(p), &mut |c| {
        connections.push(c)
    });
    connections.sort_by(|a, b| (a.ts, &a.uid).cmp(&(b.ts, &b.uid)));
    FlowsRun {
        results,
        stats,
        connections,
        learned: learner.finish(),
    }
}

/// [`run_with_stats`] over one already opened byte stream (plain or gzip),
/// named `path` in warnings, on the caller's thread: for captures built or
/// mutated in memory (tests, fuzzing) and for callers that open inputs themselves.
pub fn run_stream(
    path: &str,
    raw: Box<dyn std::io::Read>,
    opts: &Options,
    sink: &mut dyn FnMut(Connection),
) -> (InputResult, TrackStats) {
    let (results, sets) = run_sequential(vec![Input::Stream(path, raw)], opts, &mut |_| {}, sink);
    let stats = merged_stats(opts, &sets);
    match results.into_iter().next() {
        Some(res) => (res, stats),
        // One input gives one result; this only keeps the types total.
        None => {
            let err = ReadError {
                path: path.to_string(),
                reason: "nothing was read".to_string(),
            };
            (Err(err), stats)
        }
    }
}

/// Turns the bytes and records read of one input into progress reports.
struct Meter<'a> {
    /// Where reports go, if anywhere.
    progress: Option<&'a dyn Progress>,
    /// Records reported so far for this input.
    packets: u64,
    /// Bytes read from the input so far, before decompression (counted by
    /// [`read::read_capture_counting`]).
    raw_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Of those, bytes reported so far.
    reported: u64,
}

impl<'a> Meter<'a> {
    /// Announces `src` to the progress receiver, if there is one, with its
    /// size when it is a regular file (a gzip file too: progress counts the
    /// compressed bytes read, see [`Progress::advance`]).
    fn new(opts: &'a Options, src: &Source, raw_bytes: &Arc<std::sync::atomic::AtomicU64>) -> Self {
        let progress = opts.progress.as_deref();
        if let Some(p) = progress {
            let len = match src {
                Source::Path(path) => std::fs::metadata(path)
                    .ok()
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len()),
                Source::Stdin => None,
            };
            p.start_input(&src.to_string(), len);
        }
        Meter {
            progress,
            packets: 0,
            raw_bytes: Arc::clone(raw_bytes),
            reported: 0,
        }
    }

    /// The input is read up to record `number`: reports what was read since
    /// the last report.
    fn at(&mut self, number: u64) {
        if let Some(p) = self.progress {
            let bytes = self.raw_bytes.load(std::sync::atomic::Ordering::Relaxed);
            p.advance(
                bytes.saturating_sub(self.reported),
                number.saturating_sub(self.packets),
            );
            self.reported = self.reported.max(bytes);
            self.packets = number;
        }
    }

    /// The input is done (what was read after the last report included).
    fn done(&mut self) {
        if let Some(p) = self.progress {
            let number = self.packets;
            self.at(number);
            p.finish_input();
        }
    }
}

/// Says which inputs overlap in time, when some do: they were merged by
/// timestamp rather than read one after the other (see [`read::merge`]),
/// and packets two of them show were counted once.
pub fn overlap_note<'r>(reports: impl IntoIterator<Item = &'r CaptureReport>) -> Option<String> {
    /// Overlapping pairs named in the note.
    const NAMED: usize = 3;
    let reports: Vec<&CaptureReport> = reports.into_iter().collect();
    let spans: Vec<(&str, crate::time::Timestamp, crate::time::Timestamp)> = reports
        .iter()
        .filter_map(|r| Some((r.info.path.as_str(), r.info.first_time?, r.info.last_time?)))
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in spans.iter().enumerate() {
        for b in spans.iter().skip(i + 1) {
            let overlap = a.2.min(b.2).since(a.1.max(b.1));
            if overlap.0 > 0 {
                pairs.push(format!(
                    "{} and {} (for {:.1} s)",
                    a.0,
                    b.0,
                    overlap.as_secs_f64()
                ));
            }
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len();
    let mut named: Vec<String> = pairs.into_iter().take(NAMED).collect();
    if n > NAMED {
        named.push(format!("{} more pairs", n - NAMED));
    }
    let copies: u64 = reports.iter().map(|r| r.duplicates).sum();
    let copies = match copies {
        0 => "none of their packets appears in two of them".to_string(),
        1 => "1 packet that two of them show was counted once".to_string(),
        n => format!("{n} packets that two of them show were counted once"),
    };
    Some(format!(
        "the captures overlap in time: {}; they were merged by timestamp, as mergecap does, \
         and {copies} (the same IP datagram less than 2 s apart)",
        named.join(", ")
    ))
}

/// Reads and decodes every input without tracking connections (for `info`).
pub fn survey(sources: &[Source], opts: &Options) -> Vec<InputResult> {
    sources
        .iter()
        .map(|src| {
            let mut decoder = Decoder::new(opts.decode);
            let info = read::read_capture(src, &mut |rec| {
                decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |_| {});
            })?;
            decoder.flush();
            Ok(CaptureReport {
                info,
                decode: decoder.stats().clone(),
                duplicates: 0,
            })
        })
        .collect()
}
