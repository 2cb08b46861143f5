//! `check` and `eval`: validate a bundle, decide events against it.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use portcullis_engine::{Event, Limits, Snapshot};
use rayon::prelude::*;

use crate::common::{compile, read};
use crate::error::CliError;

pub fn check(path: &Path) -> Result<ExitCode, CliError> {
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

pub fn eval(
    bundle: &Path,
    event: Option<&Path>,
    events: Option<&Path>,
    explain: bool,
) -> Result<ExitCode, CliError> {
    let snapshot = compile(bundle)?;
    let limits = Limits::default();
    if let Some(events) = events {
        let text = read(events)?;
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .collect();
        let outputs: Vec<(String, bool)> = lines
            .par_iter()
            .map(|&(n, line)| match limits.parse_event(line) {
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
        return Err("give an event file, `-` for standard input, or `--events FILE`".into());
    };
    let text = read(event)?;
    let event = limits
        .parse_event(&text)
        .map_err(|e| format!("`{}`: {e}", event.display()))?;
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
