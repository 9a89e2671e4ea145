//! The `flowaudit` command: a thin layer of argument parsing over the library.

use clap::{Parser, Subcommand, ValueEnum};
use flowaudit::pipeline::{self, CaptureReport, InputResult, Options};
use flowaudit::read::{self, Source};
use flowaudit::report::{self, FlowFormat, InfoFormat};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

/// Audit packet captures against a port-and-protocol catalogue.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Print no warnings or progress on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every TCP/UDP/ICMP connection with Zeek's conn.log fields and a handshake verdict.
    Flows {
        /// Capture files (pcap, pcapng, optionally gzip-compressed), directories, or - for stdin.
        #[arg(required = true)]
        captures: Vec<OsString>,
        /// Output format [default: table on a terminal, jsonl otherwise].
        #[arg(short, long, value_enum)]
        format: Option<FlowsFormatArg>,
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

#[derive(Clone, Copy, ValueEnum)]
enum FlowsFormatArg {
    Table,
    Jsonl,
    Csv,
    Json,
    Zeek,
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
            eprintln!("flowaudit: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Exit status: 0 when every input was read (perhaps partially, with warnings),
/// 2 when an input could not be read at all or output failed.
fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let opts = Options::default();
    let stdout = io::stdout();
    match &cli.command {
        Command::Flows { captures, format } => {
            let sources = read::expand_inputs(captures)?;
            let mut conns = Vec::new();
            let results = pipeline::run(&sources, &opts, &mut |c| conns.push(c));
            let (reports, failed) = split_results(cli, &sources, results);
            if reports.is_empty() {
                return Ok(exit_code(failed));
            }
            conns.sort_by(|a, b| (a.ts, &a.uid).cmp(&(b.ts, &b.uid)));
            let format = match format {
                Some(f) => flows_format(*f),
                None if stdout.is_terminal() => FlowFormat::Table,
                None => FlowFormat::Jsonl,
            };
            let mut out = io::BufWriter::new(stdout.lock());
            report::write_flows(&mut out, format, &reports, &conns)?;
            out.flush()?;
            Ok(exit_code(failed))
        }
        Command::Info { captures, format } => {
            let sources = read::expand_inputs(captures)?;
            let results = pipeline::survey(&sources, &opts);
            let (reports, failed) = split_results(cli, &sources, results);
            if reports.is_empty() {
                return Ok(exit_code(failed));
            }
            let format = match format {
                InfoFormatArg::Table => InfoFormat::Table,
                InfoFormatArg::Json => InfoFormat::Json,
            };
            let mut out = io::BufWriter::new(stdout.lock());
            report::write_info(&mut out, format, &reports)?;
            out.flush()?;
            Ok(exit_code(failed))
        }
    }
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
                    for w in &rep.info.warnings {
                        eprintln!("flowaudit: warning: {w}");
                    }
                    for lt in &rep.decode.unsupported_link_types {
                        eprintln!(
                            "flowaudit: warning: {}: link type {} is not supported; its packets are counted as not decoded",
                            rep.info.path,
                            read::LinkType(*lt)
                        );
                    }
                }
                reports.push(rep);
            }
            Err(e) => {
                eprintln!("flowaudit: error: {e}");
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
