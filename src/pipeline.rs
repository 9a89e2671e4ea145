//! Drives the stages of the data path over a list of inputs:
//! read -> decode -> track, handing finished connections to a sink.

use crate::decode::{DecodeConfig, DecodeStats, Decoder, Packet};
use crate::read::{self, CaptureInfo, ReadError, Source};
use crate::track::{Connection, TrackConfig, Tracker};
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
}

/// Settings for one run over a list of inputs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Decoder limits (fragment reassembly).
    pub decode: DecodeConfig,
    /// Tracker timeouts.
    pub track: TrackConfig,
    /// Threads to use: 1 runs every stage on the caller's thread; 0 or more
    /// than 1 reads and decodes on a second thread while the caller's thread
    /// tracks. The output is identical either way.
    pub threads: usize,
    /// Told about bytes and packets as they are read (a progress bar).
    pub progress: Option<Arc<dyn Progress>>,
}

/// Receives progress reports while inputs are read; must be cheap, it is
/// called once per batch of packets.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// A new input starts; `len` is its size in bytes when known (plain files).
    fn start_input(&self, name: &str, len: Option<u64>);
    /// `bytes` of the current input are read and `packets` more records were seen.
    fn advance(&self, bytes: u64, packets: u64);
    /// The current input is done.
    fn finish_input(&self);
}

/// The outcome for one input: a report (possibly partial, with warnings) or an error.
pub type InputResult = Result<CaptureReport, ReadError>;

/// Packets per batch handed from the reader thread to the tracker: large
/// enough that the channel costs nothing per packet, small enough (about
/// 0.5 MB) to stay in the cache.
const BATCH: usize = 4096;

/// Batches in flight between the threads; bounds memory when the tracker is slower.
const BATCHES_IN_FLIGHT: usize = 4;

/// Records between two progress reports on the sequential path.
const PROGRESS_EVERY: u64 = 4096;

/// Reads, decodes and tracks every input in order as one continuous trace (as
/// `mergecap -a` would join them), so a ring buffer of capture files gives the
/// same connections as one big file. Finished connections go to `sink`; at the
/// end every connection still open is flushed to it too.
///
/// With more than one thread, reading and decoding (including fragment
/// reassembly) run on a second thread in file order, and the tracker and the
/// sink run on the caller's thread in the same order: the packets the tracker
/// sees, and so the output, are the same as with one thread.
pub fn run(
    sources: &[Source],
    opts: &Options,
    sink: &mut dyn FnMut(Connection),
) -> Vec<InputResult> {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    if threads <= 1 {
        return run_inline(sources, opts, sink);
    }
    let mut tracker = Tracker::new(opts.track);
    let (tx, rx) = mpsc::sync_channel::<Vec<Packet<'static>>>(BATCHES_IN_FLIGHT);
    // Emptied batches go back to the reader, so steady state allocates nothing.
    let (back_tx, back_rx) = mpsc::channel::<Vec<Packet<'static>>>();
    let results = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut results = Vec::with_capacity(sources.len());
            let mut batch = Vec::with_capacity(BATCH);
            for src in sources {
                let mut decoder = Decoder::new(opts.decode);
                let mut meter = Meter::new(opts, src);
                let res = read::read_capture(src, &mut |rec| {
                    decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
                        // The tracker never looks at payload bytes; dropping them
                        // makes the packet owned so it can cross to the other thread.
                        batch.push(Packet {
                            payload: &[],
                            ..*pkt
                        });
                    });
                    if batch.len() >= BATCH {
                        meter.at(rec.offset + rec.data.len() as u64, rec.number);
                        let next = back_rx
                            .try_recv()
                            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                        // A closed channel means the tracker side is gone (it
                        // panicked); stop quietly and let the join report it.
                        let _ = tx.send(std::mem::replace(&mut batch, next));
                    }
                });
                decoder.flush();
                meter.done();
                results.push(res.map(|info| CaptureReport {
                    info,
                    decode: decoder.stats().clone(),
                }));
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            results
        });
        for mut batch in rx {
            for p in &batch {
                tracker.packet(p, sink);
            }
            batch.clear();
            let _ = back_tx.send(batch);
        }
        reader.join()
    });
    let results = match results {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    tracker.finish(sink);
    results
}

/// [`run`] on the caller's thread alone.
fn run_inline(
    sources: &[Source],
    opts: &Options,
    sink: &mut dyn FnMut(Connection),
) -> Vec<InputResult> {
    let mut tracker = Tracker::new(opts.track);
    let mut results = Vec::with_capacity(sources.len());
    for src in sources {
        let mut decoder = Decoder::new(opts.decode);
        let mut meter = Meter::new(opts, src);
        let res = read::read_capture(src, &mut |rec| {
            decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
                tracker.packet(pkt, sink)
            });
            if rec.number % PROGRESS_EVERY == 0 {
                meter.at(rec.offset + rec.data.len() as u64, rec.number);
            }
        });
        decoder.flush();
        meter.done();
        results.push(res.map(|info| CaptureReport {
            info,
            decode: decoder.stats().clone(),
        }));
    }
    tracker.finish(sink);
    results
}

/// Turns record numbers and offsets of one input into progress reports.
struct Meter<'a> {
    /// Where reports go, if anywhere.
    progress: Option<&'a dyn Progress>,
    /// Records reported so far for this input.
    packets: u64,
}

impl<'a> Meter<'a> {
    /// Announces `src` to the progress receiver, if there is one.
    fn new(opts: &'a Options, src: &Source) -> Self {
        let progress = opts.progress.as_deref();
        if let Some(p) = progress {
            let len = match src {
                // A gzip file's size says nothing about the decompressed offsets.
                Source::Path(path) if !is_gzip(path) => {
                    std::fs::metadata(path).ok().map(|m| m.len())
                }
                _ => None,
            };
            p.start_input(&src.to_string(), len);
        }
        Meter {
            progress,
            packets: 0,
        }
    }

    /// The input is read up to byte `offset` and record `number`.
    fn at(&mut self, offset: u64, number: u64) {
        if let Some(p) = self.progress {
            p.advance(offset, number.saturating_sub(self.packets));
            self.packets = number;
        }
    }

    /// The input is done.
    fn done(&self) {
        if let Some(p) = self.progress {
            p.finish_input();
        }
    }
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
            })
        })
        .collect()
}

/// True when the file starts with the gzip magic bytes.
fn is_gzip(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}
