//! Drives the stages of the data path over a list of inputs:
//! read -> decode -> track, handing finished connections to a sink.

use crate::decode::{DecodeConfig, DecodeStats, Decoder, Packet};
use crate::read::{self, CaptureInfo, ReadError, Source};
use crate::track::{Connection, TrackConfig, TrackStats, Tracker};
use serde::Serialize;

/// What one input produced: the reader's summary plus what the decoder could not decode.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureReport {
    /// The capinfos-like summary from the reader.
    #[serde(flatten)]
    pub info: CaptureInfo,
    /// Decoder counters for this capture (decoded, fragments, not decoded per layer).
    pub decode: DecodeStats,
}

/// Settings for one run over a list of inputs. The memory limits live in the
/// stage configs: fragment reassembly in [`DecodeConfig`]
/// (`max_fragment_bytes`, `max_fragment_datagrams`), open connections in
/// [`TrackConfig::max_connections`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Decoder limits (fragment reassembly).
    pub decode: DecodeConfig,
    /// Tracker timeouts and connection limit.
    pub track: TrackConfig,
}

/// The outcome for one input: a report (possibly partial, with warnings) or an error.
pub type InputResult = Result<CaptureReport, ReadError>;

/// Reads, decodes and tracks every input in order as one continuous trace (as
/// `mergecap -a` would join them), so a ring buffer of capture files gives the
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
pub fn run_observed(
    sources: &[Source],
    opts: &Options,
    observe: &mut dyn FnMut(&Packet<'_>),
    sink: &mut dyn FnMut(Connection),
) -> Vec<InputResult> {
    run_with_stats(sources, opts, observe, sink).0
}

/// [`run`], also returning the tracker's counters for the whole run (peak
/// open connections, evictions when [`TrackConfig::max_connections`] was
/// reached, by `conn_state` and verdict) for the report to show.
pub fn run_with_stats(
    sources: &[Source],
    opts: &Options,
    observe: &mut dyn FnMut(&Packet<'_>),
    sink: &mut dyn FnMut(Connection),
) -> (Vec<InputResult>, TrackStats) {
    let mut tracker = Tracker::new(opts.track);
    let mut results = Vec::with_capacity(sources.len());
    for src in sources {
        results.push(track_input(
            &mut tracker,
            opts,
            observe,
            sink,
            |on_record| read::read_capture(src, on_record),
        ));
    }
    tracker.finish(sink);
    let stats = tracker.stats().clone();
    (results, stats)
}

/// [`run_with_stats`] over one already opened byte stream (plain or gzip),
/// named `path` in warnings: for captures built or mutated in memory (tests,
/// fuzzing) and for callers that open inputs themselves.
pub fn run_stream(
    path: &str,
    raw: Box<dyn std::io::Read>,
    opts: &Options,
    sink: &mut dyn FnMut(Connection),
) -> (InputResult, TrackStats) {
    let mut tracker = Tracker::new(opts.track);
    let res = track_input(&mut tracker, opts, &mut |_| {}, sink, |on_record| {
        read::read_stream(path, raw, on_record)
    });
    tracker.finish(sink);
    (res, tracker.stats().clone())
}

/// Reads one input with `read`, decoding every record and tracking its packets.
fn track_input(
    tracker: &mut Tracker,
    opts: &Options,
    observe: &mut dyn FnMut(&Packet<'_>),
    sink: &mut dyn FnMut(Connection),
    read: impl FnOnce(&mut dyn FnMut(&read::Record<'_>)) -> Result<CaptureInfo, ReadError>,
) -> InputResult {
    let mut decoder = Decoder::new(opts.decode);
    let res = read(&mut |rec| {
        decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
            observe(pkt);
            tracker.packet(pkt, sink)
        });
    });
    decoder.flush();
    res.map(|info| CaptureReport {
        info,
        decode: decoder.stats().clone(),
    })
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
