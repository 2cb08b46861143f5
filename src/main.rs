//! The `portcullis` command line: parses arguments, calls the engine, prints JSON.

mod agent;
mod bench;
mod common;
mod error;
mod eval;
mod govern;
mod inspect;
mod plugin;
mod rego;
mod serve;
mod state;

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
    /// Serve the control plane's API on a state directory.
    Serve(serve::ServeArgs),
    /// The endpoint agent (Linux): enroll this computer, enforce, and ask for a
    /// program it blocked.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Generate a fleet (bundle and events) of a chosen size, from a seed.
    Gen(bench::GenArgs),
    /// Measure decisions on a generated (or given) fleet, beside the reference evaluator
    /// and the same policies in Rego (regorus).
    Bench(bench::BenchArgs),
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
        Command::Gen(args) => bench::gen(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Plugin(command) => plugin::run(command),
        Command::Serve(args) => serve::serve(args),
        Command::Agent(command) => agent::run(command),
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
        Err(error) => {
            eprintln!("portcullis: {error}");
            ExitCode::FAILURE
        }
    }
}
