//! `portcullis plugin`: check a plugin, run it on a request or on its test vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use portcullis_engine::plugin::{Abstain, ApprovalInput, Execution, Hook, Outcome};
use portcullis_plugins::{Limits, Plugin, Vector, WasmHost};
use serde::Serialize;
use serde_json::json;

use crate::common::{print_json, read};

/// What `portcullis plugin` does.
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Load a plugin (`.wasm` component or `.rego` policy) and say which world and
    /// contract version it targets, or why it is rejected.
    Check {
        /// The plugin file.
        plugin: PathBuf,
    },
    /// Run a plugin on one request (or execution, for a rule plugin) and print the
    /// verdict and the time it took; or run its test vectors and print a table.
    Test {
        /// The plugin file.
        plugin: PathBuf,
        /// The hook's input as JSON: an approval input, or an execution for a rule
        /// plugin. `-` reads standard input.
        #[arg(long, required_unless_present = "vectors", conflicts_with = "vectors")]
        request: Option<PathBuf>,
        /// A directory of test vectors (`*.json`); exits 1 when one fails.
        #[arg(long)]
        vectors: Option<PathBuf>,
        /// A tenant setting the plugin reads through the host's `config`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Tenant settings from a JSON object of strings; `--config` wins over it.
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
    },
}

pub fn run(command: PluginCommand) -> Result<ExitCode, String> {
    match command {
        PluginCommand::Check { plugin } => check(&plugin),
        PluginCommand::Test {
            plugin,
            request,
            vectors,
            config,
            config_file,
        } => {
            let config = settings(&config, config_file.as_deref())?;
            let plugin = load(&plugin)?;
            match (request, vectors) {
                (_, Some(dir)) => run_vectors(&plugin, &dir, &config),
                (Some(request), None) => run_request(&plugin, &request, config),
                (None, None) => Err("give --request or --vectors".to_owned()),
            }
        }
    }
}

fn load(path: &Path) -> Result<Plugin, String> {
    let host = WasmHost::new().map_err(|e| e.to_string())?;
    Plugin::load_file(&host, path, Limits::default())
        .map_err(|e| format!("`{}`: {e}", path.display()))
}

fn check(path: &Path) -> Result<ExitCode, String> {
    let plugin = load(path)?;
    let hook = plugin.hook();
    print_json(
        &json!({
            "plugin": path.display().to_string(),
            "kind": plugin.kind(),
            "world": hook.world(),
            "contract": hook.to_string(),
        }),
        false,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn settings(pairs: &[String], file: Option<&Path>) -> Result<BTreeMap<String, String>, String> {
    let mut config = BTreeMap::new();
    if let Some(file) = file {
        let text = read(file)?;
        config = serde_json::from_str(&text).map_err(|e| {
            format!(
                "`{}`: expected a JSON object of strings: {e}",
                file.display()
            )
        })?;
    }
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`--config {pair}`: expected KEY=VALUE"))?;
        config.insert(key.to_owned(), value.to_owned());
    }
    Ok(config)
}

fn run_request(
    plugin: &Plugin,
    request: &Path,
    config: BTreeMap<String, String>,
) -> Result<ExitCode, String> {
    let text = read(request)?;
    let config = Arc::new(config);
    let where_ = |e: serde_json::Error| format!("`{}`: {e}", request.display());
    let (out, failed) = match plugin.hook() {
        Hook::ApprovalReview => {
            let input: ApprovalInput = serde_json::from_str(&text).map_err(where_)?;
            let start = Instant::now();
            let outcome = plugin.review(&input, &config);
            report(&outcome, start.elapsed())
        }
        Hook::Rule => {
            let input: Execution = serde_json::from_str(&text).map_err(where_)?;
            let start = Instant::now();
            let outcome = plugin.check(&input, &config);
            report(&outcome, start.elapsed())
        }
    };
    print_json(&out, false)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The verdict that counts (a failure counts as abstain), the time, then the details.
fn report<V: Abstain + Serialize>(
    outcome: &Outcome<V>,
    elapsed: Duration,
) -> (serde_json::Value, bool) {
    let mut out = serde_json::Map::new();
    out.insert(
        "verdict".to_owned(),
        serde_json::to_value(outcome.verdict()).unwrap_or_default(),
    );
    out.insert(
        "elapsed_us".to_owned(),
        json!(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)),
    );
    if let Some(failure) = outcome.failure() {
        out.insert(
            "failure".to_owned(),
            serde_json::to_value(failure).unwrap_or_default(),
        );
    }
    if !outcome.logs.is_empty() {
        out.insert(
            "logs".to_owned(),
            serde_json::to_value(&outcome.logs).unwrap_or_default(),
        );
    }
    if outcome.dropped_logs > 0 {
        out.insert("dropped_logs".to_owned(), json!(outcome.dropped_logs));
    }
    (serde_json::Value::Object(out), outcome.failure().is_some())
}

fn run_vectors(
    plugin: &Plugin,
    dir: &Path,
    config: &BTreeMap<String, String>,
) -> Result<ExitCode, String> {
    let vectors = Vector::load_dir(dir).map_err(|e| e.to_string())?;
    let mut failed = 0usize;
    println!("{:<6} {:>10}  vector", "result", "time");
    for mut vector in vectors {
        for (k, v) in config {
            vector.config.insert(k.clone(), v.clone());
        }
        let result = vector.run(plugin).map_err(|e| e.to_string())?;
        println!(
            "{:<6} {:>8}µs  {}",
            if result.pass { "pass" } else { "FAIL" },
            result.elapsed.as_micros(),
            result.name
        );
        if !result.pass {
            failed += 1;
            println!("         expected {}", vector.expected);
            println!("         actual   {}", result.actual);
            if let Some(failure) = &result.failure {
                println!("         failure  {failure}");
            }
        }
    }
    if failed > 0 {
        println!("{failed} vector(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    println!("all vectors pass");
    Ok(ExitCode::SUCCESS)
}
