//! The whole audit of a list of inputs, so the CLI and the tests run one
//! path: the [`pipeline`] with the learner watching every packet, finished
//! connections folded into inference and classification as they arrive (or
//! held back until the names learned by the end of the capture can place
//! them), then the audit's roles, assumptions and annotations.

use crate::pipeline::{self, InputResult, Options};
use crate::read::Source;
use crate::time::Timestamp;
use crate::track::ConnectionSink;
use crate::track::{Connection, TrackStats};

/// Finished connections held until the end of the capture, packed
/// ([`crate::track::Packed`], a few dozen bytes each). With an
/// inventory (those with one end outside it, until learned names can place
/// them), past this many they are classified at once without name-based
/// roles; without one (all of them, until roles are inferred), past this
/// many regular files are read a second time instead.
pub const MAX_HELD: usize = 10_000_000;

/// Log rows held to be matched against other inputs ([`crate::logs::HeldRows`]):
/// whole records, so fewer than [`MAX_HELD`].
pub const MAX_HELD_ROWS: usize = 1_000_000;

/// What [`run`] produced.
pub struct AuditRun {
    /// One result per input, as [`pipeline::run`] gives them.
    pub results: Vec<InputResult>,
    /// The tracker's counters (evictions are also in the audit's capture warnings).
    pub stats: TrackStats,
    /// The audit, annotated with learned names and evidence; `None` when no input could be read.
    pub audit: Option<crate::classify::Audit>,
    /// The inventory's path, or `<inferred from the capture>`.
    pub inventory_path: String,
    /// Without an inventory, more than [`MAX_HELD`] connections: rather than
    /// hold them all until roles were inferred, the inputs were read a second
    /// time to classify them.
    pub reread: bool,
}

/// Reads, tracks and audits the inputs against `catalogue`, with the given
/// inventory (which must already hold the catalogue's cloud ranges) or, when
/// `None`, with roles inferred from the capture.
///
/// With an inventory, connections stream into the classifier, except those
/// with exactly one end outside the inventory: they wait for the end of the
/// capture, when learned names tell whether that end is a Microsoft endpoint.
/// Without one, every connection waits, since roles come from the whole
/// capture; past [`MAX_HELD`] of them they are dropped once seen, and the
/// inputs are read a second time once roles are inferred, if they are all
/// regular files (stdin, pipes and `/dev/fd/N` cannot be read again: their
/// connections are all held).
pub fn run(
    sources: &[Source],
    opts: &Options,
    catalogue: &crate::catalogue::Catalogue,
    inventory: Option<&crate::inventory::Inventory>,
) -> AuditRun {
    let max_hosts = crate::classify::DEFAULT_MAX_HOSTS;
    run_with_logs(
        sources,
        Logs::default(),
        opts,
        catalogue,
        inventory,
        max_hosts,
    )
}

/// The logs of one audit, beside its captures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Logs<'a> {
    /// Connection logs (Zeek's conn.log, flowaudit's JSON lines): their
    /// rows are connections, as the captures' are.
    pub conn: &'a [Source],
    /// Zeek's dns.log, ssl.log and http.log: read into the learner before
    /// any connection, for the names the end of the audit places hosts by.
    pub names: &'a [Source],
}

impl<'a> Logs<'a> {
    /// The logs [`crate::read::expand_inputs_with_logs`] found.
    pub fn of(inputs: &'a crate::read::Inputs) -> Logs<'a> {
        Logs {
            conn: &inputs.logs,
            names: &inputs.name_logs,
        }
    }
}

/// [`run`] of captures and logs together (Zeek's conn.log, flowaudit's JSON
/// lines, and Zeek's dns.log, ssl.log and http.log for names:
/// [`crate::logs`]): their connections go the same way, into inference and
/// classification, and the names into the learner; the logs' results
/// follow the captures' in [`AuditRun::results`] (connection logs, then
/// name logs), and the report says what a log cannot show. Each finding lists at most `max_hosts` host pairs, the
/// busiest (0: all of them; `--max-hosts`).
pub fn run_with_logs(
    sources: &[Source],
    logs: Logs<'_>,
    opts: &Options,
    catalogue: &crate::catalogue::Catalogue,
    inventory: Option<&crate::inventory::Inventory>,
    max_hosts: usize,
) -> AuditRun {
    run_holding(
        sources, logs, opts, catalogue, inventory, MAX_HELD, max_hosts,
    )
}

/// What [`connections`] collected.
pub struct Collected {
    /// One result per capture, then one per connection log, then one per name log.
    pub results: Vec<InputResult>,
    /// The tracker's counters (captures only).
    pub stats: TrackStats,
    /// The time the logs' rows cover (start to end of each row, silences of
    /// more than [`crate::time::Coverage::MAX_GAP`] left out).
    pub log_covered: crate::time::Duration,
    /// What the report must say about connections several inputs show.
    pub notes: Vec<String>,
    /// The kinds of the name logs read (dns, ssl, http), each once.
    pub names_read: Vec<crate::logs::LogKind>,
}

/// The one way connections and names enter an audit: first the name logs
/// into `learner` (so the names are there however late a connection that
/// needs them comes), then every connection of the captures (read, decoded
/// and tracked by the [`pipeline`], each packet shown to `learner` and then
/// to `observe`) and of the connection logs ([`crate::logs`]), into
/// `sink`, which the audit's fold, the role inference and tests implement.
///
/// Logs alone of one vantage point are read after the captures, row by row.
/// With several vantage points ([`pipeline::Vantage`]), or logs and
/// captures, a connection two inputs show must count once: the logs are
/// read first and their rows held
/// ([`crate::logs::HeldRows`], at most [`MAX_HELD_ROWS`]), each capture
/// connection takes the bits of the rows it matches, and the rows left
/// follow the captures.
pub fn connections(
    sources: &[Source],
    logs: Logs<'_>,
    opts: &Options,
    learner: &mut crate::learn::Learner,
    observe: &mut (dyn FnMut(&crate::decode::Packet<'_>) + Send),
    sink: &mut dyn ConnectionSink,
) -> Collected {
    let (named, names_read) = crate::logs::read_name_logs(logs.names, learner);
    let conn_logs = logs.conn;
    let inputs = sources.len() + conn_logs.len();
    let vantages: std::collections::BTreeSet<u16> =
        (0..inputs).map(|i| opts.vantage.of(i)).collect();
    // Rows of one vantage point's logs alone never match each other: no need to hold them.
    let mut held = (!conn_logs.is_empty() && (vantages.len() > 1 || !sources.is_empty()))
        .then(|| crate::logs::HeldRows::new(MAX_HELD_ROWS, inputs));
    // A log's rows have no packets: its coverage comes from the rows' start
    // and end times, sorted.
    let mut times: Vec<Timestamp> = Vec::new();
    let mut read_logs = |sink: &mut dyn ConnectionSink,
                         held: &mut Option<crate::logs::HeldRows>|
     -> Vec<InputResult> {
        let mut results = Vec::with_capacity(conn_logs.len());
        for (i, l) in conn_logs.iter().enumerate() {
            // Inputs are numbered captures first, then logs, as the report lists them.
            let input = sources.len() + i;
            let bit = crate::track::input_bit(opts.vantage.of(input));
            results.push(crate::logs::read_conn_log(l, &mut |mut c: Connection| {
                c.inputs = bit;
                times.push(c.ts);
                times.push(Timestamp(c.ts.0.saturating_add(c.duration.0.max(0))));
                let pass = match held.as_mut() {
                    Some(h) => h.row(c, input),
                    None => Some(c),
                };
                if let Some(c) = pass {
                    sink.accept(c);
                }
            }));
        }
        results
    };
    let mut log_results = Vec::new();
    if held.is_some() {
        log_results = read_logs(sink, &mut held);
    }
    let (mut results, stats) = pipeline::run_with_stats(
        sources,
        opts,
        &mut |p| {
            learner.observe(p);
            observe(p)
        },
        &mut |mut c| {
            if let Some(h) = held.as_mut() {
                h.capture(&mut c);
            }
            sink.accept(c)
        },
    );
    let mut notes = Vec::new();
    if let Some(h) = held.take() {
        if h.overflowed() {
            notes.push(format!(
                "more than {MAX_HELD_ROWS} log rows: those past it were not matched against the other \
                 inputs, so a connection two inputs show may count twice"
            ));
        }
        let (rest, dropped) = h.finish();
        for c in rest {
            sink.accept(c);
        }
        results.append(&mut log_results);
        let mut copies = 0;
        for (r, n) in results.iter_mut().zip(dropped) {
            if let Ok(r) = r {
                r.duplicates += n;
            }
            copies += n;
        }
        if copies > 0 {
            let what = match copies {
                1 => "1 connection".to_string(),
                n => format!("{n} connections"),
            };
            notes.push(format!(
                "{what} that a log and another input both show counted once (the same \
                 endpoints, less than 2 s apart)"
            ));
        }
    } else {
        results.append(&mut read_logs(sink, &mut held));
    }
    results.extend(named);
    times.sort_unstable();
    let mut coverage = crate::time::Coverage::new();
    for t in times {
        coverage.add(t);
    }
    Collected {
        results,
        stats,
        log_covered: coverage.covered(),
        notes,
        names_read,
    }
}

/// What [`roles`] found.
pub struct RolesRun {
    /// One result per capture, then one per connection log, then one per name log.
    pub results: Vec<InputResult>,
    /// What the packets and the name logs taught (names, endpoint-mapper
    /// ports, proxy targets).
    pub learned: crate::learn::Learned,
    /// The roles and features inferred, with their evidence.
    pub inference: crate::infer::Inference,
}

/// Roles and features inferred from the captures and logs (`flowaudit
/// roles`): the learner sees every packet and name log, the inference every
/// connection.
pub fn roles(
    sources: &[Source],
    logs: Logs<'_>,
    opts: &Options,
    catalogue: &crate::catalogue::Catalogue,
) -> RolesRun {
    let mut learner = crate::learn::Learner::new();
    let mut observer = crate::infer::Observer::new(catalogue);
    let read = connections(
        sources,
        logs,
        opts,
        &mut learner,
        &mut |_| {},
        &mut observer,
    );
    let learned = learner.finish();
    let inference = observer.finish(&learned, catalogue);
    RolesRun {
        results: read.results,
        learned,
        inference,
    }
}

/// Finished connections waiting for the end of the capture.
struct Held {
    /// The connections, in the order they finished.
    conns: crate::track::Packed,
    /// How many may wait.
    max: usize,
    /// Without an inventory, more than `max` arrived and the inputs can be
    /// read again: `conns` was dropped and the classifier will read them anew.
    reread: bool,
    /// The inputs can be read a second time: all regular files.
    rereadable: bool,
}

/// [`run_with_logs`], holding at most `max_held` connections (tests use small limits).
fn run_holding(
    sources: &[Source],
    logs: Logs<'_>,
    opts: &Options,
    catalogue: &crate::catalogue::Catalogue,
    inventory: Option<&crate::inventory::Inventory>,
    max_held: usize,
    max_hosts: usize,
) -> AuditRun {
    use crate::classify::{Classifier, FindingKind};
    use crate::infer;
    /// Finished connections whose memory is fetched together. By the time
    /// the tracker hands a connection over, its SYN times (and the
    /// observer's entry for it) have usually left the cache; classifying one
    /// connection at a time would wait for each in turn. Every `FETCH` arrivals, the newest `FETCH` are
    /// fetched in short loops ([`Classifier::prefetch`],
    /// [`infer::Observer::prefetch`]), so those waits overlap, and they are
    /// folded over the next `FETCH` arrivals, one per arrival: frees then
    /// keep pace with the tracker's allocations (freeing a whole batch at
    /// once spills the allocator's caches).
    const FETCH: usize = 8;
    /// Folds `c` into the observer and the classifier, or holds it.
    fn fold(
        c: Connection,
        observer: &mut infer::Observer,
        classifier: Option<&mut Classifier<'_>>,
        held: &mut Held,
    ) {
        observer.connection(&c);
        let Some(cl) = classifier else {
            if held.reread {
                return;
            }
            if held.conns.len() >= held.max && held.rereadable {
                // Roles come from the whole capture: rather than hold
                // every connection until then, read the inputs again.
                held.reread = true;
                held.conns = crate::track::Packed::new();
                return;
            }
            held.conns.push(&c);
            return;
        };
        // Each end's role is looked up once, for the decision and the
        // classification both (no inventory change in between).
        let ends = cl.ends(&c);
        if held.conns.len() < held.max && ends.one_end_listed() {
            held.conns.push(&c)
        } else {
            cl.connection_with(&c, ends)
        }
    }
    let mut learner = crate::learn::Learner::watching(catalogue.name_watch());
    let mut coverage = crate::time::Coverage::new();
    let mut observer = infer::Observer::new(catalogue);
    let mut classifier = inventory.map(|inv| {
        let mut cl = Classifier::new(catalogue, inv);
        cl.set_max_hosts(max_hosts);
        cl
    });
    let mut held = Held {
        conns: crate::track::Packed::new(),
        max: max_held,
        reread: false,
        rereadable: sources.iter().all(|s| match s {
            // A path can name a pipe (`<(zcat ...)` gives `/dev/fd/63`),
            // which a second pass would find empty or wait on forever.
            Source::Path(p) => std::fs::metadata(p).is_ok_and(|m| m.is_file()),
            Source::Stdin => false,
        }),
    };
    // What the files were before the first pass, to tell if a second one
    // reads something else (a capture still being written).
    let before = inventory.is_none().then(|| files_now(sources));
    let mut queue = std::collections::VecDeque::with_capacity(2 * FETCH + 1);
    let mut unfetched = 0;
    let read = connections(
        sources,
        logs,
        opts,
        &mut learner,
        &mut |p| coverage.add(p.ts),
        &mut |c| {
            queue.push_back(c);
            unfetched += 1;
            if unfetched == FETCH {
                let newest = queue.range(queue.len().saturating_sub(FETCH)..);
                observer.prefetch(newest.clone());
                if let Some(cl) = &classifier {
                    cl.prefetch(newest);
                }
                unfetched = 0;
            }
            // The front is fetched: at most FETCH - 1 unfetched ones are behind it.
            if queue.len() > 2 * FETCH
                && let Some(c) = queue.pop_front()
            {
                fold(c, &mut observer, classifier.as_mut(), &mut held);
            }
        },
    );
    for c in queue {
        fold(c, &mut observer, classifier.as_mut(), &mut held);
    }
    let Collected {
        results,
        stats,
        log_covered,
        notes,
        names_read,
    } = read;
    // Captures and logs of the same hours (two vantage points) cover them
    // once; the larger of the two is the safer guess.
    let covered = coverage.covered().max(log_covered);
    // Results: captures, connection logs, name logs.
    let conn_logs = results
        .get(sources.len()..sources.len() + logs.conn.len())
        .unwrap_or_default();
    let logs_read: Vec<String> = conn_logs
        .iter()
        .flatten()
        .map(|r| r.info.path.clone())
        .collect();
    // The span, and which inputs overlap, are the connections': a name
    // log's rows may reach beyond them.
    let with_conns = results
        .get(..sources.len() + logs.conn.len())
        .unwrap_or_default();
    let first = with_conns
        .iter()
        .flatten()
        .filter_map(|r| r.info.first_time)
        .min();
    let last = with_conns
        .iter()
        .flatten()
        .filter_map(|r| r.info.last_time)
        .max();
    if !results.iter().any(Result::is_ok) {
        return AuditRun {
            results,
            stats,
            audit: None,
            inventory_path: inventory.map(|i| i.path.clone()).unwrap_or_default(),
            reread: false,
        };
    }
    let span = first.zip(last);
    let input_names = vantage_names(sources, logs.conn, opts, &results);
    if let Some(end) = last {
        learner.capture_ended(end);
    }
    let learned = learner.finish();
    let inference = observer.finish(&learned, catalogue);
    let inferred;
    let (inventory, mut audit) = match (inventory, classifier) {
        (Some(inv), Some(mut cl)) => {
            let by_name: Vec<&infer::InferredHost> = inference.azure_by_name(inv).collect();
            let roles: Vec<_> = by_name.iter().map(|h| (h.addr, h.role)).collect();
            cl.add_host_roles(&roles);
            classify_held(
                &mut cl,
                std::mem::take(&mut held.conns),
                &learned,
                catalogue,
            );
            let mut audit = finish(cl, covered, &learned, input_names, span);
            for h in by_name {
                let name = h
                    .name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                audit.summary.assumptions.push(format!(
                    "{}{name} is not in the inventory; audited as azure by its name ({})",
                    h.addr,
                    h.evidence.join("; ")
                ));
            }
            audit.summary.assumptions.extend(inference.conflicts(inv));
            (inv, audit)
        }
        _ => {
            inferred = inference
                .inventory()
                .with_cloud_ranges(&catalogue.azure_ranges);
            let mut cl = Classifier::new(catalogue, &inferred);
            cl.set_max_hosts(max_hosts);
            if held.reread {
                // The same connections in the same order as the first
                // pass, so the same audit as holding them would give.
                // The names are learned already: this pass's learner is thrown away.
                let mut again = crate::learn::Learner::new();
                connections(
                    sources,
                    logs,
                    opts,
                    &mut again,
                    &mut |_| {},
                    &mut |c: Connection| classify_one(&mut cl, &c, &learned, catalogue),
                );
            } else {
                classify_held(
                    &mut cl,
                    std::mem::take(&mut held.conns),
                    &learned,
                    catalogue,
                );
            }
            let mut audit = finish(cl, covered, &learned, input_names, span);
            if inferred
                .entries
                .iter()
                .all(|e| e.role == crate::catalogue::Role::Azure)
            {
                // No on-premises role was found: every required flow would be
                // "missing" for want of hosts, which the first assumption
                // line already says in one sentence.
                audit.retain_findings(|f| f.kind != FindingKind::Missing);
            }
            let mut a = inference.assumptions();
            a.append(&mut audit.summary.assumptions);
            audit.summary.assumptions = a;
            (&inferred, audit)
        }
    };
    if held.reread && before != Some(files_now(sources)) {
        audit.summary.capture_warnings.push(format!(
            "an input changed while it was read twice (more than {} connections \
             without an inventory): findings may count connections the role \
             inference did not see",
            held.max
        ));
    }
    audit.summary.capture_warnings.extend(notes);
    if !logs_read.is_empty() {
        audit.summary.capture_warnings.push(format!(
            "{}: {}",
            logs_read.join(", "),
            crate::logs::limits(&names_read)
        ));
    }
    // Captures only: the logs' copies are rows, said in `notes`.
    let captures = results.get(..sources.len()).unwrap_or_default();
    if let Some(note) = pipeline::overlap_note(captures.iter().flatten()) {
        audit.summary.capture_warnings.push(note);
    }
    infer::annotate(&mut audit, &learned, &observer, catalogue);
    if let Some(w) = stats.eviction_warning() {
        audit.summary.capture_warnings.push(w);
    }
    // A cut capture's warning (record, byte offset) belongs in the report,
    // not only on stderr: first, as it qualifies everything below.
    let inputs = results.iter().flatten().flat_map(|r| r.warnings());
    audit.summary.capture_warnings.splice(0..0, inputs);
    AuditRun {
        results,
        stats,
        audit: Some(audit),
        inventory_path: inventory.path.clone(),
        reread: held.reread,
    }
}

/// The classifier's end, whichever way its connections came: the time
/// covered, the endpoint-mapper ports, protocol failures and resolved
/// endpoints learned, the inputs' names, then the findings.
fn finish(
    mut cl: crate::classify::Classifier<'_>,
    covered: crate::time::Duration,
    learned: &crate::learn::Learned,
    input_names: Vec<String>,
    span: Option<(Timestamp, Timestamp)>,
) -> crate::classify::Audit {
    cl.set_coverage(covered);
    cl.set_endpoints(endpoints(learned));
    cl.set_failures(learned.failures.clone());
    cl.set_resolutions(learned.resolutions.clone());
    cl.set_inputs(input_names);
    cl.finish(span)
}

/// The names findings give the vantage points that showed them, numbered
/// as the connections' input bits are; none (findings name no input) unless
/// inputs of two vantage points overlap in time: parts of one trace named
/// one by one (a ring buffer's files) are one vantage point.
fn vantage_names(
    sources: &[Source],
    logs: &[Source],
    opts: &Options,
    results: &[pipeline::InputResult],
) -> Vec<String> {
    // Name logs have no vantage point: they name, they show no connection.
    let spans: Vec<(u16, Timestamp, Timestamp)> = results
        .iter()
        .take(sources.len() + logs.len())
        .enumerate()
        .filter_map(|(i, r)| {
            let info = &r.as_ref().ok()?.info;
            Some((opts.vantage.of(i), info.first_time?, info.last_time?))
        })
        .collect();
    let overlap = spans.iter().enumerate().any(|(i, a)| {
        spans[i + 1..]
            .iter()
            .any(|b| a.0 != b.0 && a.1 <= b.2 && b.1 <= a.2)
    });
    if !overlap {
        return Vec::new();
    }
    opts.vantage
        .names_or(sources.iter().chain(logs).map(ToString::to_string))
}

/// Classifies one held connection: through an explicit proxy whose CONNECT
/// named a Microsoft endpoint (a catalogue hostname), as a flow to that
/// endpoint; otherwise as it is.
fn classify_one(
    cl: &mut crate::classify::Classifier<'_>,
    c: &Connection,
    learned: &crate::learn::Learned,
    catalogue: &crate::catalogue::Catalogue,
) {
    match learned.proxy_target(c.orig_h, c.orig_p, c.resp_h, c.resp_p) {
        Some(t) if catalogue.most_specific_hostname(&t.host).is_some() => {
            cl.connection_via_proxy(c, crate::catalogue::Role::Azure, t.port, t.status)
        }
        _ => cl.connection(c),
    }
}

/// [`classify_one`] for each of `conns`, a few fetched ahead together
/// (see [`crate::classify::Classifier::prefetch`]).
/// Takes the connections so they are freed before the classifier's end,
/// the audit's peak on a flood.
fn classify_held(
    cl: &mut crate::classify::Classifier<'_>,
    conns: crate::track::Packed,
    learned: &crate::learn::Learned,
    catalogue: &crate::catalogue::Catalogue,
) {
    let mut conns = conns.drain();
    let mut group = Vec::with_capacity(8);
    loop {
        group.clear();
        group.extend(conns.by_ref().take(8));
        if group.is_empty() {
            break;
        }
        cl.prefetch(&group);
        for c in &group {
            classify_one(cl, c, learned, catalogue);
        }
    }
}

/// Every (server, port) an endpoint mapper handed out in the capture, with
/// the sentence that says so, for [`Classifier::set_endpoints`](crate::classify::Classifier::set_endpoints).
fn endpoints(learned: &crate::learn::Learned) -> Vec<(std::net::IpAddr, u16, String)> {
    learned
        .epm
        .all()
        .into_iter()
        .map(|a| {
            let server = a.addr.unwrap_or(a.mapper);
            (
                server,
                a.port,
                crate::infer::rpc_line(server, a.port, learned),
            )
        })
        .collect()
}

/// Size and modification time of every input file, as far as known.
fn files_now(sources: &[Source]) -> Vec<Option<(u64, std::time::SystemTime)>> {
    sources
        .iter()
        .map(|s| match s {
            Source::Path(p) => std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?))),
            Source::Stdin => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    fn sample() -> Vec<Source> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        vec![Source::Path(dir.join("samples/hybrid-identity.pcapng"))]
    }

    /// The sample audited without an inventory, holding at most `max_held`
    /// connections.
    fn hold(opts: &Options, max_held: usize) -> AuditRun {
        let catalogue = Catalogue::embedded().unwrap_or_else(|e| panic!("{e}"));
        let max_hosts = crate::classify::DEFAULT_MAX_HOSTS;
        run_holding(
            &sample(),
            Logs::default(),
            opts,
            &catalogue,
            None,
            max_held,
            max_hosts,
        )
    }

    /// Without an inventory, a second pass over the files gives the audit
    /// that holding every connection gives, with any thread count.
    #[test]
    fn reading_twice_gives_the_held_audit() {
        let held = hold(&Options::default(), usize::MAX);
        assert!(!held.reread);
        let held = held
            .audit
            .unwrap_or_else(|| panic!("the sample is readable"));
        // Something to compare: roles were inferred and flows judged.
        assert!(held.findings.len() > 5, "{} findings", held.findings.len());
        for threads in [1, 2] {
            let opts = Options {
                threads,
                ..Options::default()
            };
            let twice = hold(&opts, 3);
            assert!(twice.reread, "more than 3 connections: read twice");
            assert_eq!(twice.audit.as_ref(), Some(&held), "threads {threads}");
        }
    }

    /// A path that names a pipe is read once, even past the limit: a second
    /// pass would wait for a writer that is gone (or read nothing).
    #[test]
    fn a_pipe_is_never_read_twice() {
        let catalogue = Catalogue::embedded().unwrap_or_else(|e| panic!("{e}"));
        let held = hold(&Options::default(), usize::MAX);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("capture.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
        let bytes = match &sample()[..] {
            [Source::Path(p)] => std::fs::read(p).unwrap_or_else(|e| panic!("{e}")),
            _ => unreachable!(),
        };
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        // A regression would hang on the second open: fail instead.
        let (tx, rx) = std::sync::mpsc::channel();
        let sources = vec![Source::Path(fifo)];
        std::thread::spawn(move || {
            let run = run_holding(
                &sources,
                Logs::default(),
                &Options::default(),
                &catalogue,
                None,
                3,
                crate::classify::DEFAULT_MAX_HOSTS,
            );
            let _ = tx.send((run.reread, run.audit));
        });
        let (reread, audit) = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the audit of a pipe did not finish"));
        assert!(writer.join().is_ok_and(|w| w.is_ok()));
        assert!(!reread);
        assert!(held.audit.is_some());
        assert_eq!(audit, held.audit, "the pipe's connections were all held");
    }
}
