//! The `portcullis` command line: parses arguments, calls the engine, prints JSON.

mod bench;
mod common;
mod eval;
mod govern;
mod inspect;
mod plugin;
mod rego;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::inspect::RuleKind;

/// Application-control policy engine.
#[derive(Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a bundle: exit 0, or print every error with its place and exit 1.
    Check {
        /// The bundle (JSON).
        bundle: PathBuf,
    },
    /// Decide execution events against a bundle and print the decisions as JSON.
    Eval {
        /// The bundle (JSON).
        #[arg(long)]
        bundle: PathBuf,
        /// One event (JSON); `-` reads it from standard input.
        #[arg(required_unless_present = "events", conflicts_with = "events")]
        event: Option<PathBuf>,
        /// Many events, one JSON object per line; decided in parallel, printed in order.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Add the ordered policies and why each one before the decider did not match.
        #[arg(long)]
        explain: bool,
    },
    /// Print who each file is (JSON): SHA-256, size, Authenticode signature and signers.
    /// The output, plus `computer`, `user` and `time`, is an execution event.
    Inspect {
        /// The files to inspect.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a ready-to-paste application rule instead. `auto` (the default) gives
        /// certificate and path for a validly signed file, else the hash. The
        /// certificate is named by subject and issuer only when `--roots` is given and
        /// the chain reaches one of them; else by the leaf's thumbprint.
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "auto")]
        rule: Option<RuleKind>,
        /// Trust roots (PEM): report whether each signer chain reaches one of them.
        #[arg(long, value_name = "PEM")]
        roots: Option<PathBuf>,
    },
    #[command(flatten)]
    Govern(govern::GovernCommand),
    /// Generate a fleet (bundle and events) of a chosen size, from a seed.
    Gen {
        /// small, medium, large (1,000 organizations, 1,000,000 hash rules) or xlarge.
        #[arg(long, default_value = "large")]
        size: String,
        /// The same seed gives the same fleet.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many events to write.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Weights of the event kinds: hash, cert, path, miss, elevation.
        #[arg(long, default_value = "hash=60,cert=15,path=10,miss=10,elevation=5")]
        mix: String,
        /// Directory to write `bundle.json` and `events.jsonl` to.
        #[arg(long, default_value = "fleet")]
        out: PathBuf,
    },
    /// Measure decisions on a generated (or given) fleet, beside the reference evaluator
    /// and the same policies in Rego (regorus).
    Bench {
        /// hash-hit, cert-hit, path-hit, miss, elevation or mixed.
        #[arg(long, default_value = "mixed")]
        scenario: String,
        /// Size of the generated fleet: small, medium, large or xlarge.
        #[arg(long, default_value = "large")]
        size: String,
        /// Seed of the generated fleet and events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A bundle to measure instead of a generated one (with `--events`).
        #[arg(long, requires = "events")]
        bundle: Option<PathBuf>,
        /// Events (JSONL) to decide, with `--bundle`.
        #[arg(long, requires = "bundle")]
        events: Option<PathBuf>,
        /// How many events to generate.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Seconds to spend on each throughput figure.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Seconds to spend on each baseline.
        #[arg(long, default_value_t = 5.0)]
        baseline_seconds: f64,
        /// Skip the Rego baseline.
        #[arg(long)]
        no_rego: bool,
        /// Decide the Rego baseline on regorus's interpreter instead of its virtual
        /// machine.
        #[arg(long)]
        rego_interpreter: bool,
        /// Skip the reference evaluator.
        #[arg(long)]
        no_reference: bool,
        /// Skip reader latency under deploys.
        #[arg(long)]
        no_deploy_load: bool,
        /// Decisions of the same event timed together for each warm latency sample,
        /// after its first (cold) one.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
        repeats: u32,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check plugins and run them on requests or test vectors.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Print the JSON Schema of the bundle format (or of an event).
    Schema {
        /// The schema of an execution event instead.
        #[arg(long)]
        event: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { bundle } => eval::check(&bundle),
        Command::Eval {
            bundle,
            event,
            events,
            explain,
        } => eval::eval(&bundle, event.as_deref(), events.as_deref(), explain),
        Command::Inspect { files, rule, roots } => inspect::inspect(&files, rule, roots.as_deref()),
        Command::Govern(command) => govern::run(command),
        Command::Gen {
            size,
            seed,
            events,
            mix,
            out,
        } => bench::gen(&bench::GenArgs {
            size,
            seed,
            events,
            mix,
            out,
        }),
        Command::Bench {
            scenario,
            size,
            seed,
            bundle,
            events,
            count,
            seconds,
            baseline_seconds,
            no_rego,
            rego_interpreter,
            no_reference,
            no_deploy_load,
            repeats,
            json,
        } => bench::bench(&bench::BenchArgs {
            scenario,
            size,
            seed,
            bundle,
            events,
            count,
            seconds,
            baseline_seconds,
            no_rego,
            rego_interpreter,
            no_reference,
            no_deploy_load,
            repeats,
            json,
        }),
        Command::Plugin(command) => plugin::run(command),
        Command::Schema { event } => {
            let schema = if event {
                portcullis_engine::event_schema()
            } else {
                portcullis_engine::bundle_schema()
            };
            common::print_json(&schema, true).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("portcullis: {message}");
            ExitCode::FAILURE
        }
    }
}
