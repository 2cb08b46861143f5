//! The `portcullis` command line: parses arguments, calls the engine, prints JSON.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use portcullis_engine::identity::{self, FileIdentity, TrustRoots};
use portcullis_engine::model::{CertificateCondition, FileRule, SignatureStatus};
use portcullis_engine::{CompileErrors, Event, Snapshot, LOCATED_ERRORS};
use rayon::prelude::*;
use serde::Serialize;

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
        Command::Inspect { files, rule, roots } => inspect(&files, rule, roots.as_deref()),
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

/// How `inspect --rule` identifies the file.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RuleKind {
    /// Certificate and path when validly signed, else hash.
    Auto,
    /// The SHA-256.
    Hash,
    /// The leaf certificate: its subject and issuer when the chain is trusted
    /// (`--roots`), else its thumbprint.
    Certificate,
    /// The leaf certificate (as for `certificate`) and the file's path.
    CertificatePath,
}

#[derive(Serialize)]
struct Inspected<'a> {
    path: String,
    #[serde(flatten)]
    identity: &'a FileIdentity,
}

fn inspect(
    files: &[PathBuf],
    rule: Option<RuleKind>,
    roots: Option<&Path>,
) -> Result<ExitCode, String> {
    let roots = match roots {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            TrustRoots::from_pem(&pem).map_err(|e| format!("`{}`: {e}", path.display()))?
        }
        None => TrustRoots::none(),
    };
    let pretty = files.len() == 1;
    let mut failed = 0usize;
    for file in files {
        let path = std::path::absolute(file)
            .unwrap_or_else(|_| file.clone())
            .display()
            .to_string();
        let result = identity::inspect_file(file, &roots)
            .map_err(|e| e.to_string())
            .and_then(|id| match rule {
                None => to_json(
                    &Inspected {
                        path: path.clone(),
                        identity: &id,
                    },
                    pretty,
                ),
                Some(kind) => make_rule(&id, &path, kind).and_then(|r| to_json(&r, pretty)),
            });
        match result {
            Ok(text) => println!("{text}"),
            Err(error) => {
                failed += 1;
                println!("{}", serde_json::json!({"path": path, "error": error}));
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "portcullis: {failed} of {} files could not be inspected",
            files.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, String> {
    if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| e.to_string())
}

/// A file rule for an application: built from the bundle's own types, so that it reads
/// back as it is printed.
///
/// A certificate rule names the leaf certificate by its `thumbprint` unless the chain
/// was judged `trusted` against `--roots`: `valid` only says the signature is intact,
/// not who made the certificates, and anyone can make a CA and a leaf with the same
/// names. Only a chain that reaches a root you trust makes the subject and issuer mean
/// the publisher.
fn make_rule(id: &FileIdentity, path: &str, kind: RuleKind) -> Result<FileRule, String> {
    let leaf = match id.signature.status {
        SignatureStatus::Valid => id.signature.signers.first().filter(|c| c.subject.is_some()),
        SignatureStatus::Invalid | SignatureStatus::Unsigned => None,
    };
    let trusted = id.signature.trusted == Some(true);
    let by_certificate = |with_path: bool| {
        match leaf {
        Some(leaf) => Ok(FileRule {
            certificate: Some(if trusted {
                CertificateCondition {
                    thumbprint: None,
                    subject: leaf.subject.clone(),
                    issuer: leaf.issuer.clone(),
                }
            } else {
                CertificateCondition {
                    thumbprint: Some(leaf.thumbprint),
                    subject: None,
                    issuer: None,
                }
            }),
            path: with_path.then(|| path.to_owned()),
            ..FileRule::default()
        }),
        None => Err(format!(
            "no valid signature (status `{}`): a certificate rule would never match; use `--rule=hash`",
            serde_json::to_value(id.signature.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )),
    }
    };
    match kind {
        RuleKind::Hash => Ok(FileRule {
            sha256: Some(id.sha256),
            ..FileRule::default()
        }),
        RuleKind::Certificate => by_certificate(false),
        RuleKind::CertificatePath => by_certificate(true),
        RuleKind::Auto if leaf.is_some() => by_certificate(true),
        RuleKind::Auto => Ok(FileRule {
            sha256: Some(id.sha256),
            ..FileRule::default()
        }),
    }
}
