//! The `portcullis` command line: parses arguments, calls the engine, prints JSON.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis_engine::{CompileErrors, Event, Snapshot, LOCATED_ERRORS};
use rayon::prelude::*;

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
        Command::Check { bundle } => check(&bundle),
        Command::Eval {
            bundle,
            event,
            events,
            explain,
        } => eval(&bundle, event.as_deref(), events.as_deref(), explain),
        Command::Schema { event } => {
            let schema = if event {
                portcullis_engine::event_schema()
            } else {
                portcullis_engine::bundle_schema()
            };
            print_json(&schema, true).map(|()| ExitCode::SUCCESS)
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

fn read(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn compile(path: &Path) -> Result<Snapshot, String> {
    let text = read(path)?;
    Snapshot::compile_json(&text).map_err(|errors| render_errors(path, &errors))
}

fn render_errors(path: &Path, errors: &CompileErrors) -> String {
    let count = errors.errors().len();
    let mut out = format!(
        "`{}` has {count} error{}:",
        path.display(),
        if count == 1 { "" } else { "s" }
    );
    for error in errors.errors().iter().take(LOCATED_ERRORS) {
        out.push_str(&format!("\n  {}:{error}", path.display()));
    }
    if count > LOCATED_ERRORS {
        out.push_str(&format!("\n  … and {} more", count - LOCATED_ERRORS));
    }
    out
}

fn check(path: &Path) -> Result<ExitCode, String> {
    let snapshot = compile(path)?;
    let stats = snapshot.stats();
    println!(
        "`{}` is valid: {} organizations, {} policies, {} file rules",
        path.display(),
        stats.recompiled + stats.reused,
        stats.policies,
        stats.rules
    );
    Ok(ExitCode::SUCCESS)
}

fn eval(
    bundle: &Path,
    event: Option<&Path>,
    events: Option<&Path>,
    explain: bool,
) -> Result<ExitCode, String> {
    let snapshot = compile(bundle)?;
    if let Some(events) = events {
        let text = read(events)?;
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .collect();
        let outputs: Vec<(String, bool)> = lines
            .par_iter()
            .map(|&(n, line)| match Event::from_json(line) {
                Ok(event) => (render(&snapshot, &event, explain, false), true),
                Err(error) => {
                    let message = serde_json::json!({"line": n + 1, "column": error.column, "error": error.message});
                    (message.to_string(), false)
                }
            })
            .collect();
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        let mut failed = 0usize;
        for (line, ok) in &outputs {
            failed += usize::from(!ok);
            writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"))?;
        }
        out.flush().map_err(|e| format!("cannot write: {e}"))?;
        if failed > 0 {
            eprintln!(
                "portcullis: {failed} of {} events could not be read",
                outputs.len()
            );
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(event) = event else {
        return Err("give an event file, `-` for standard input, or `--events FILE`".to_owned());
    };
    let text = read(event)?;
    let event = Event::from_json(&text).map_err(|e| format!("`{}`: {e}", event.display()))?;
    println!("{}", render(&snapshot, &event, explain, true));
    Ok(ExitCode::SUCCESS)
}

fn render(snapshot: &Snapshot, event: &Event, explain: bool, pretty: bool) -> String {
    let text = match (explain, pretty) {
        (true, true) => serde_json::to_string_pretty(&snapshot.explain(event)),
        (true, false) => serde_json::to_string(&snapshot.explain(event)),
        (false, true) => serde_json::to_string_pretty(&snapshot.decide(event)),
        (false, false) => serde_json::to_string(&snapshot.decide(event)),
    };
    text.unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}).to_string())
}

fn print_json(value: &serde_json::Value, pretty: bool) -> Result<(), String> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
}
