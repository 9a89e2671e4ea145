//! Drives the stages of the data path over a list of inputs:
//! read -> decode -> track, handing finished connections to a sink.

use crate::decode::{DecodeConfig, DecodeStats, Decoder, Packet};
use crate::read::{self, CaptureInfo, ReadError, Source};
use crate::track::{Connection, TrackConfig, Tracker};
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

/// Settings for one run over a list of inputs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Decoder limits (fragment reassembly).
    pub decode: DecodeConfig,
    /// Tracker timeouts.
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
    run_observed(sources, opts, &mut |_| {}, sink)
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
    let mut tracker = Tracker::new(opts.track);
    let mut results = Vec::with_capacity(sources.len());
    for src in sources {
        let mut decoder = Decoder::new(opts.decode);
        let res = read::read_capture(src, &mut |rec| {
            decoder.decode(rec.ts, rec.number, rec.link, rec.data, &mut |pkt| {
                observe(pkt);
                tracker.packet(pkt, sink)
            });
        });
        decoder.flush();
        results.push(res.map(|info| CaptureReport {
            info,
            decode: decoder.stats().clone(),
        }));
    }
    tracker.finish(sink);
    results
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
