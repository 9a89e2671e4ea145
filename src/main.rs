//! The `flowaudit` command: a thin layer of argument parsing over the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use flowaudit::catalogue::Catalogue;
use flowaudit::classify::Severity;
use flowaudit::infer;
use flowaudit::inventory::Inventory;
use flowaudit::pipeline::{self, CaptureReport, InputResult, Options};
use flowaudit::read::{self, Source};
use flowaudit::report::output::{self, Output};
use flowaudit::report::{self, AuditContext, AuditFormat, FlowFormat, InfoFormat, escape};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Audit packet captures against a port-and-protocol catalogue.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Print no warnings or progress on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Write the report to FILE (atomically: complete or not at all) instead of
    /// stdout. Never over an input of the run; over an existing capture only with --force.
    #[arg(short, long, global = true, value_name = "FILE")]
    output: Option<PathBuf>,
    /// With -o, replace FILE even if it is a capture (pcap, pcapng or gzip);
    /// an input of the run is never replaced.
    #[arg(long, global = true)]
    force: bool,
    #[command(subcommand)]
    command: Command,
}

/// How the commands that track connections (audit, flows, roles) run.
#[derive(Args)]
struct PipelineArgs {
    /// 1 runs everything on one thread; N > 1 reads and decodes on one thread
    /// and tracks connections on min(N, 4) others, while the main thread
    /// takes the results (the output is the same for any N)
    /// [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Most connections tracked at once (split evenly over 4 tracker shards);
    /// past a shard's share its oldest unanswered attempts, then its least
    /// recently active connections, are reported early (and counted).
    #[arg(long, value_name = "N", default_value_t = flowaudit::track::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

/// Live capture (`audit --interface`; the cargo feature `live`).
#[derive(clap::Args)]
struct LiveArgs {
    /// Capture on this interface instead of reading files (needs a build with
    /// the cargo feature `live`, and root or CAP_NET_RAW and CAP_NET_ADMIN).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// A capture filter for --interface, in tcpdump's syntax (BPF).
    #[arg(long, value_name = "BPF", requires = "interface")]
    filter: Option<String>,
    /// How long to capture: 90s, 5m, 1h (a number alone is seconds).
    #[arg(long, value_name = "TIME", requires = "interface", value_parser = parse_span)]
    duration: Option<std::time::Duration>,
    /// Capture until Ctrl-C or SIGTERM, then write the report.
    #[arg(long, requires = "interface", conflicts_with = "duration")]
    until_signal: bool,
    /// Also print a report every TIME, each covering the capture so far (to
    /// stdout; with -o only the last one goes to the file).
    #[arg(long, value_name = "TIME", requires = "interface", value_parser = parse_span)]
    every: Option<std::time::Duration>,
    /// Keep the captured packets in FILE (pcap), to open in Wireshark or audit again.
    #[arg(long, value_name = "FILE", requires = "interface")]
    write: Option<PathBuf>,
    /// Start a new --write file (FILE.1, FILE.2, ...) once one holds SIZE
    /// bytes (500k, 100M, 2G); reports read them all.
    #[arg(long, value_name = "SIZE", requires = "write", value_parser = parse_size)]
    rotate_size: Option<u64>,
}

/// `500k`, `100M`, `2G`, or bytes (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and k, M or G"))?;
    let shift = match unit {
        "" => 0,
        "k" | "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("{s:?}: the unit must be k, M or G")),
    };
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

/// `90s`, `5m`, `1h`, `2d`, or seconds.
fn parse_span(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("a time of 0".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

impl PipelineArgs {
    /// The pipeline's options for these arguments.
    fn options(&self) -> Options {
        let mut opts = Options {
            threads: self.threads.unwrap_or(0),
            ..Options::default()
        };
        opts.track.max_connections = self.max_connections.max(1);
        opts
    }
}

#[derive(Subcommand)]
enum Command {
    /// Audit captures against the port catalogue, per pair of roles: blocked, missing, unexpected flows.
    Audit {
        /// Capture files (pcap, pcapng), Zeek conn.log files (TSV or JSON lines), either
        /// optionally gzip-compressed, directories of them, or - for a capture on stdin.
        #[arg(required_unless_present = "interface")]
        captures: Vec<OsString>,
        #[command(flatten)]
        live: LiveArgs,
        /// The deployment: which hosts play which role, which features are enabled (TOML).
        /// Without it, roles and features are inferred from the capture (see `roles`).
        #[arg(short, long, value_name = "FILE")]
        inventory: Option<PathBuf>,
        /// Rules file(s) replacing the built-in hybrid-identity catalogue (repeatable).
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// Output format [default: table on a terminal, json otherwise].
        #[arg(short, long, value_enum)]
        format: Option<AuditFormat>,
        /// Exit with status 1 when a finding reaches this severity.
        #[arg(long, value_enum, default_value = "error")]
        fail_on: FailOn,
        /// Host pairs a finding lists at most (see `max_hosts_help`).
        #[arg(long, value_name = "N", help = max_hosts_help())]
        max_hosts: Option<usize>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// List every TCP/UDP/ICMP connection with Zeek's conn.log fields and a handshake verdict.
    Flows {
        /// Capture files (pcap, pcapng, optionally gzip-compressed), directories, or - for stdin.
        #[arg(required = true)]
        captures: Vec<OsString>,
        /// Output format [default: table on a terminal, jsonl otherwise].
        #[arg(short, long, value_enum)]
        format: Option<FlowsFormatArg>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Infer host roles (dc, sync, adfs, wap, users, lb, agent, azure by name) from the captures, with evidence.
    Roles {
        /// Capture files (pcap, pcapng), Zeek conn.log files (TSV or JSON lines), either
        /// optionally gzip-compressed, directories of them, or - for a capture on stdin.
        #[arg(required = true)]
        captures: Vec<OsString>,
        /// Rules file(s) replacing the built-in hybrid-identity catalogue (repeatable).
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// Output format; `toml` writes a starter inventory for `audit --inventory`.
        #[arg(short, long, value_enum, default_value = "table")]
        format: RolesFormatArg,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Summarise captures like capinfos: format, link types, packets, time span, what was not decoded.
    Info {
        /// Capture files (pcap, pcapng, optionally gzip-compressed), directories, or - for stdin.
        #[arg(required = true)]
        captures: Vec<OsString>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        format: InfoFormatArg,
    },
}

impl Command {
    /// The capture arguments, as given.
    fn captures(&self) -> &[OsString] {
        match self {
            Command::Audit { captures, .. }
            | Command::Flows { captures, .. }
            | Command::Roles { captures, .. }
            | Command::Info { captures, .. } => captures,
        }
    }

    /// Every file the command reads besides the captures (inventory, rules):
    /// inputs too, which `-o` must not replace.
    fn config_files(&self) -> Vec<&std::path::Path> {
        match self {
            Command::Audit {
                inventory, rules, ..
            } => inventory
                .iter()
                .chain(rules.iter())
                .map(PathBuf::as_path)
                .collect(),
            Command::Roles { rules, .. } => rules.iter().map(PathBuf::as_path).collect(),
            Command::Flows { .. } | Command::Info { .. } => Vec::new(),
        }
    }
}

/// `--max-hosts`'s help, its default taken from the library's constant so
/// the two cannot drift apart.
fn max_hosts_help() -> String {
    format!(
        "Host pairs a finding lists at most, those with the most attempts (0: all); the \
         total is always given [default: {}; all for firewall-csv and firewall-ps1, as a \
         change request must name every host]",
        flowaudit::classify::DEFAULT_MAX_HOSTS
    )
}

/// The host pairs a finding lists: as given; else all for the change
/// requests (a rule left out of one is a rule nobody opens),
/// `DEFAULT_MAX_HOSTS` otherwise.
fn max_hosts_for(given: Option<usize>, format: AuditFormat) -> usize {
    match given {
        Some(n) => n,
        None if format.lists_every_host() => 0,
        None => flowaudit::classify::DEFAULT_MAX_HOSTS,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Error,
    Warning,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlowsFormatArg {
    Table,
    Jsonl,
    Csv,
    Json,
    Zeek,
}

#[derive(Clone, Copy, ValueEnum)]
enum RolesFormatArg {
    Table,
    Json,
    Toml,
}

#[derive(Clone, Copy, ValueEnum)]
enum InfoFormatArg {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        // The reader of our output went away (`flowaudit flows x | head`): not an error.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowaudit: error: {}", escape::terminal(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// Exit status: 0 when every input was read (perhaps partially, with warnings),
/// 1 when an audit finding reaches `--fail-on`, 2 when an input or a
/// configuration file could not be read or output failed.
fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    // Only audit and roles read connection logs; elsewhere a conn.log in a
    // directory is skipped like any file that is not a capture.
    let inputs = match cli.command {
        Command::Audit { .. } | Command::Roles { .. } => {
            read::expand_inputs_with_logs(cli.command.captures())?
        }
        _ => read::expand_inputs(cli.command.captures())?,
    };
    let vantage = pipeline::Vantage::of_args(cli.command.captures(), &inputs);
    if !cli.quiet {
        for s in &inputs.skipped {
            eprintln!("flowaudit: warning: {}", escape::terminal(&s.to_string()));
        }
    }
    if let Some(dest) = &cli.output {
        let mut protected = cli.command.config_files();
        protected.extend(
            inputs
                .sources
                .iter()
                .chain(&inputs.logs)
                .chain(&inputs.name_logs)
                .filter_map(|s| match s {
                    Source::Path(p) => Some(p.as_path()),
                    Source::Stdin => None,
                }),
        );
        output::check_destination(dest, &protected, cli.force)?;
    }
    let sources = &inputs.sources;
    let mut out = Output::open(cli.output.as_deref())?;
    let interactive = out.is_terminal();
    match &cli.command {
        Command::Audit {
            inventory,
            rules,
            format,
            fail_on,
            max_hosts,
            pipeline,
            live,
            ..
        } => {
            let mut opts = pipeline.options();
            opts.vantage = vantage.clone();
            let catalogue = if rules.is_empty() {
                Catalogue::embedded()?
            } else {
                Catalogue::load(rules)?
            };
            let loaded = match inventory {
                Some(path) => {
                    let (inventory, warnings) = Inventory::load_with_warnings(path)?;
                    if !cli.quiet {
                        for w in &warnings {
                            eprintln!("flowaudit: warning: {}", escape::terminal(&w.to_string()));
                        }
                    }
                    Some(inventory.with_cloud_ranges(&catalogue.azure_ranges))
                }
                None => None,
            };
            let format = match format {
                Some(f) => *f,
                None if interactive => AuditFormat::Table,
                None => AuditFormat::Json,
            };
            let max_hosts = max_hosts_for(*max_hosts, format);
            // One audit of `sources` and `logs`, written to `w`: the audit
            // (None when nothing could be read) and whether an input failed.
            let audit_to =
                |sources: &[Source],
                 logs: flowaudit::audit::Logs<'_>,
                 w: &mut dyn Write,
                 progress: bool,
                 labels: &[(String, String)]|
                 -> anyhow::Result<(Option<flowaudit::classify::Audit>, bool)> {
                    let mut opts = opts.clone();
                    let bar = progress.then(|| progress_bar(cli, sources)).flatten();
                    opts.progress = bar.clone().map(|b| b as Arc<dyn pipeline::Progress>);
                    let run = flowaudit::audit::run_with_logs(
                        sources,
                        logs,
                        &opts,
                        &catalogue,
                        loaded.as_ref(),
                        max_hosts,
                    );
                    if let Some(b) = bar {
                        b.bar.finish_and_clear();
                    }
                    let (mut reports, failed) = split_results(cli, sources, run.results);
                    // A live snapshot's pipe is named for what it holds.
                    for r in &mut reports {
                        if let Some((_, to)) = labels.iter().find(|(from, _)| *from == r.info.path)
                        {
                            r.info.path = to.clone();
                        }
                    }
                    let Some(audit) = run.audit else {
                        return Ok((None, failed));
                    };
                    warn_evictions(cli, &run.stats);
                    if run.reread && !cli.quiet {
                        eprintln!(
                            "flowaudit: note: more than {} connections and no inventory: the inputs \
                         were read twice (roles first, then the audit) rather than held in memory; \
                         --inventory reads them once",
                            flowaudit::audit::MAX_HELD
                        );
                    }
                    let ctx = AuditContext {
                        captures: &reports,
                        skipped: &inputs.skipped,
                        inventory: &run.inventory_path,
                        rules: &catalogue.origin,
                        color: format == AuditFormat::Table && interactive && color_allowed(),
                        terminal: interactive.then(report::terminal_width).flatten(),
                    };
                    report::write_audit(w, format, &audit, &ctx)?;
                    Ok((Some(audit), failed))
                };
            let (audit, failed) = match &live.interface {
                Some(interface) => {
                    let every = live.every;
                    live_audit(cli, live, interface, every, &mut out, &audit_to)?
                }
                None => audit_to(
                    sources,
                    flowaudit::audit::Logs::of(&inputs),
                    &mut out,
                    true,
                    &[],
                )?,
            };
            let Some(audit) = audit else {
                return Ok(exit_code(failed));
            };
            out.commit()?;
            if failed {
                return Ok(ExitCode::from(2));
            }
            let threshold = match fail_on {
                FailOn::Error => Some(Severity::Error),
                FailOn::Warning => Some(Severity::Warning),
                FailOn::Never => None,
            };
            let reached = threshold.is_some_and(|t| audit.findings.iter().any(|f| f.severity >= t));
            Ok(if reached {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Flows {
            format, pipeline, ..
        } => {
            let mut opts = pipeline.options();
            let bar = progress_bar(cli, sources);
            opts.progress = bar.clone().map(|b| b as Arc<dyn pipeline::Progress>);
            let run = pipeline::flows(sources, &opts);
            if let Some(b) = bar {
                b.bar.finish_and_clear();
            }
            warn_evictions(cli, &run.stats);
            let (reports, failed) = split_results(cli, sources, run.results);
            if reports.is_empty() {
                return Ok(exit_code(failed));
            }
            let format = match format {
                Some(f) => flows_format(*f),
                None if interactive => FlowFormat::Table,
                None => FlowFormat::Jsonl,
            };
            report::write_flows(
                &mut out,
                format,
                &reports,
                &inputs.skipped,
                &run.connections,
                &|c| infer::conn_names(&run.learned, c),
                interactive.then(report::terminal_width).flatten(),
            )?;
            out.commit()?;
            Ok(exit_code(failed))
        }
        Command::Roles {
            rules,
            format,
            pipeline,
            ..
        } => {
            let mut opts = pipeline.options();
            // A directory of one sensor's rotated logs is one vantage point:
            // its rows are not held to be matched against each other.
            opts.vantage = vantage.clone();
            let catalogue = if rules.is_empty() {
                Catalogue::embedded()?
            } else {
                Catalogue::load(rules)?
            };
            let bar = progress_bar(cli, sources);
            opts.progress = bar.clone().map(|b| b as Arc<dyn pipeline::Progress>);
            let logs = flowaudit::audit::Logs::of(&inputs);
            let run = flowaudit::audit::roles(sources, logs, &opts, &catalogue);
            if let Some(b) = bar {
                b.bar.finish_and_clear();
            }
            let (reports, failed) = split_results(cli, sources, run.results);
            if reports.is_empty() {
                return Ok(exit_code(failed));
            }
            let (learned, inference) = (run.learned, run.inference);
            match format {
                RolesFormatArg::Toml => out.write_all(inference.to_toml().as_bytes())?,
                RolesFormatArg::Json => {
                    serde_json::to_writer_pretty(
                        &mut out,
                        &infer::RolesReport::new(&inference, &learned),
                    )?;
                    writeln!(out)?;
                }
                RolesFormatArg::Table => infer::write_roles_table(&mut out, &inference, &learned)?,
            }
            out.commit()?;
            Ok(exit_code(failed))
        }
        Command::Info { format, .. } => {
            let results = pipeline::survey(sources, &Options::default());
            let (reports, failed) = split_results(cli, sources, results);
            if reports.is_empty() {
                return Ok(exit_code(failed));
            }
            let format = match format {
                InfoFormatArg::Table => InfoFormat::Table,
                InfoFormatArg::Json => InfoFormat::Json,
            };
            report::write_info(&mut out, format, &reports, &inputs.skipped)?;
            out.commit()?;
            Ok(exit_code(failed))
        }
    }
}

/// Says on stderr when the connection limit made the tracker report connections early.
fn warn_evictions(cli: &Cli, stats: &flowaudit::track::TrackStats) {
    if let (false, Some(w)) = (cli.quiet, stats.eviction_warning()) {
        eprintln!("flowaudit: warning: {w}");
    }
}

/// Colour only where the user has not asked for none (<https://no-color.org>).
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn flows_format(f: FlowsFormatArg) -> FlowFormat {
    match f {
        FlowsFormatArg::Table => FlowFormat::Table,
        FlowsFormatArg::Jsonl => FlowFormat::Jsonl,
        FlowsFormatArg::Csv => FlowFormat::Csv,
        FlowsFormatArg::Json => FlowFormat::Json,
        FlowsFormatArg::Zeek => FlowFormat::Zeek,
    }
}

/// Prints errors and warnings on stderr; returns the readable reports and
/// whether any input failed outright.
/// One audit of captures and logs into a writer, as the `audit` command
/// runs it: (the audit, whether an input failed).
type AuditTo<'a> = dyn Fn(
        &[Source],
        flowaudit::audit::Logs<'_>,
        &mut dyn Write,
        bool,
        &[(String, String)],
    ) -> anyhow::Result<(Option<flowaudit::classify::Audit>, bool)>
    + 'a;

/// `audit --interface`: captures until `--duration` has passed or a signal
/// came, printing a report of the capture so far every `--every`, then the
/// report of the whole capture to `out`.
#[cfg(feature = "live")]
fn live_audit(
    cli: &Cli,
    live: &LiveArgs,
    interface: &str,
    every: Option<std::time::Duration>,
    out: &mut Output,
    audit_to: &AuditTo<'_>,
) -> anyhow::Result<(Option<flowaudit::classify::Audit>, bool)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    let until = match (live.duration, live.until_signal) {
        (Some(d), _) => Some(Instant::now() + d),
        (None, true) => None,
        (None, false) => anyhow::bail!("--interface needs --duration TIME or --until-signal"),
    };
    let cap = flowaudit::read::live::start(
        interface,
        live.filter.as_deref(),
        live.write.as_deref(),
        live.rotate_size,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // Ctrl-C or SIGTERM ends the capture with its report, not the process.
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
    if !cli.quiet {
        let how = match live.duration {
            Some(d) => format!("for {} s", d.as_secs()),
            None => "until Ctrl-C".to_string(),
        };
        eprintln!("flowaudit: capturing on {interface} {how}");
    }
    let mut next = every.map(|e| Instant::now() + e);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || until.is_some_and(|u| now >= u) {
            break;
        }
        if let (Some(t), Some(e)) = (next, every)
            && now >= t
        {
            let snap = cap.snapshot()?;
            audit_to(
                &snap.sources,
                Default::default(),
                &mut io::stdout().lock(),
                false,
                std::slice::from_ref(&snap.label),
            )?;
            next = Some(t + e);
        }
    }
    let (stats, paths, temp) = cap.stop()?;
    if !cli.quiet {
        eprintln!(
            "flowaudit: captured {} packets on {interface}{}",
            stats.packets,
            if stats.dropped > 0 {
                format!(
                    ", {} dropped by the kernel (its buffer was full)",
                    stats.dropped
                )
            } else {
                String::new()
            }
        );
    }
    let sources: Vec<Source> = paths.iter().cloned().map(Source::Path).collect();
    // A temporary file is gone once the report is written: say so.
    let labels: Vec<(String, String)> = paths
        .iter()
        .filter(|_| temp)
        .map(|p| {
            let name = format!("the live capture on {interface} (not kept: --write FILE keeps it)");
            (p.display().to_string(), name)
        })
        .collect();
    let result = audit_to(&sources, Default::default(), out, false, &labels);
    if temp {
        for p in &paths {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

/// Without the feature: say how to get it.
#[cfg(not(feature = "live"))]
fn live_audit(
    _cli: &Cli,
    _live: &LiveArgs,
    _interface: &str,
    _every: Option<std::time::Duration>,
    _out: &mut Output,
    _audit_to: &AuditTo<'_>,
) -> anyhow::Result<(Option<flowaudit::classify::Audit>, bool)> {
    anyhow::bail!(
        "this flowaudit was built without live capture: build it with \
         `cargo build --release --features live` (needs libpcap; Debian: libpcap-dev)"
    )
}

fn split_results(
    cli: &Cli,
    _sources: &[Source],
    results: Vec<InputResult>,
) -> (Vec<CaptureReport>, bool) {
    let mut reports = Vec::with_capacity(results.len());
    let mut failed = false;
    for r in results {
        match r {
            Ok(rep) => {
                if !cli.quiet {
                    for w in rep.warnings() {
                        eprintln!("flowaudit: warning: {}", escape::terminal(&w));
                    }
                }
                reports.push(rep);
            }
            Err(e) => {
                eprintln!("flowaudit: error: {}", escape::terminal(&e.to_string()));
                failed = true;
            }
        }
    }
    (reports, failed)
}

fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Progress on stderr. When every input is a regular file: a bar of the
/// bytes read against their total size (compressed bytes for gzip files,
/// which is what their size counts), files started, packets per second,
/// ETA. Otherwise (stdin, a pipe), with nothing to measure against: a
/// spinner with the bytes and packets read so far. Counts are sums of the
/// pipeline's increments, so inputs read side by side add up.
#[derive(Debug)]
struct Bar {
    /// The indicatif bar or spinner, counting bytes over all inputs.
    bar: indicatif::ProgressBar,
    /// The inputs' total size, for a bar; `None` for a spinner.
    total: Option<u64>,
    /// Bytes read over all inputs.
    read: AtomicU64,
    /// Records seen over all inputs.
    packets: AtomicU64,
    /// Inputs started so far.
    started: AtomicU64,
    /// Inputs in total.
    inputs: u64,
}

/// Progress on stderr when it is a terminal and `--quiet` is not given.
fn progress_bar(cli: &Cli, sources: &[Source]) -> Option<Arc<Bar>> {
    if cli.quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: Option<u64> = sources
        .iter()
        .map(|s| match s {
            Source::Path(p) => std::fs::metadata(p)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len()),
            Source::Stdin => None,
        })
        .sum();
    let target = indicatif::ProgressDrawTarget::stderr();
    let bar = indicatif::ProgressBar::with_draw_target(total, target);
    let template = match total {
        Some(_) => "{elapsed:>4} [{wide_bar}] {bytes}/{total_bytes} {msg} ETA {eta}",
        None => "{spinner} {elapsed:>4} {bytes} read, {msg}",
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    if total.is_none() {
        // Keep spinning while stdin is quiet: the run is waiting, not stuck.
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    Some(Arc::new(Bar {
        bar,
        total,
        read: AtomicU64::new(0),
        packets: AtomicU64::new(0),
        started: AtomicU64::new(0),
        inputs: sources.len() as u64,
    }))
}

impl pipeline::Progress for Bar {
    fn start_input(&self, _name: &str, _len: Option<u64>) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64, packets: u64) {
        let read = self.read.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // A file that grew while read must not push the bar past its total.
        self.bar
            .set_position(self.total.map_or(read, |t| read.min(t)));
        let n = self.packets.fetch_add(packets, Ordering::Relaxed) + packets;
        let secs = self.bar.elapsed().as_secs_f64().max(1e-3);
        let rate = n as f64 / secs / 1e6;
        let file = format!(
            "file {}/{}",
            self.started.load(Ordering::Relaxed),
            self.inputs
        );
        self.bar.set_message(match self.total {
            Some(_) => format!("{file} {rate:.1} M packets/s"),
            None => format!("{n} packets ({rate:.1} M/s), {file}"),
        });
    }

    fn finish_input(&self) {}
}
