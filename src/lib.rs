//! flowaudit: audit packet captures against a port-and-protocol catalogue.
//!
//! The data flows one way, and the modules say so:
//! [`read`] capture files into records -> [`decode`] records into transport-layer
//! packets -> [`track`] packets into connections (Zeek `conn.log` semantics) ->
//! [`report`] connections and capture summaries in the requested format.
//! [`pipeline`] drives the first three over a list of inputs; [`audit`] runs
//! the whole audit on top of it ([`learn`], [`infer`], [`classify`] against
//! the [`catalogue`] and [`inventory`]).
//! `synth` (cargo feature `synth`) writes deterministic captures for tests, samples and benchmarks.
//! See `ARCHITECTURE.md` for the invariants.

pub mod audit;
pub mod catalogue;
pub mod classify;
pub mod config;
pub mod decode;
pub mod infer;
pub mod inventory;
pub mod learn;
pub mod logs;
pub mod pipeline;
pub mod read;
pub mod report;
#[cfg(any(test, feature = "synth"))]
pub mod synth;
pub mod time;
pub mod track;
