//! `portcullis plugin`: check a plugin, run it on a request or on its test vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use portcullis_engine::plugin::{Abstain, ApprovalInput, Execution, Hook, PluginOutcome};
use portcullis_plugins::{prepare, AttachSource, Limits, Plugin, Vector, WasmHost};
use serde::Serialize;
use serde_json::json;

use crate::common::{print_json, read};
use crate::error::CliError;
use crate::state::{open, Acting, StateArgs};

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
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Attach a plugin to an organization in a state directory (Edit Integrations). It
    /// is loaded and its test vectors must pass first; it then reviews the requests of
    /// the organization and its descendants (approval plugins) or checks their allowed
    /// executions (rule plugins).
    Attach(AttachArgs),
    /// Detach a plugin from an organization.
    Detach {
        #[command(flatten)]
        acting: Acting,
        /// The plugin's name.
        name: String,
        /// The organization.
        #[arg(long)]
        org: String,
    },
    /// The plugins attached in a state directory (or, with `--server`, where you have
    /// Edit Integrations).
    List {
        #[command(flatten)]
        state: StateArgs,
    },
}

// What `plugin attach` is given.
#[derive(Args)]
pub struct AttachArgs {
    #[command(flatten)]
    acting: Acting,
    /// The plugin file.
    plugin: PathBuf,
    /// The organization.
    #[arg(long)]
    org: String,
    /// The name it is audited under (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Its test vectors (`*.json`); every one must pass.
    #[arg(long)]
    vectors: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

// The tenant settings a plugin reads through the host's `config`.
#[derive(Args)]
pub struct ConfigArgs {
    /// A tenant setting the plugin reads through the host's `config`; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Tenant settings from a JSON object of strings; `--config` wins over it.
    #[arg(long, value_name = "FILE")]
    config_file: Option<PathBuf>,
}

/// Runs one `plugin` command.
pub fn run(command: PluginCommand) -> Result<ExitCode, CliError> {
    match command {
        PluginCommand::Check { plugin } => check(&plugin),
        PluginCommand::Test {
            plugin,
            request,
            vectors,
            config,
        } => {
            let config = settings(&config)?;
            let plugin = load(&plugin)?;
            match (request, vectors) {
                (_, Some(dir)) => run_vectors(&plugin, &dir, &config),
                (Some(request), None) => run_request(&plugin, &request, config),
                (None, None) => Err("give --request or --vectors".into()),
            }
        }
        PluginCommand::Attach(args) => attach(args),
        PluginCommand::Detach { acting, name, org } => {
            match acting.state.remote()? {
                Some(client) => client
                    .delete::<serde_json::Value>(&format!(
                        "/organizations/{}/plugins/{}",
                        portcullis_server::client::segment(&org),
                        portcullis_server::client::segment(&name)
                    ))
                    .map(drop)?,
                None => acting.open()?.detach_plugin(acting.id(), &org, &name)?,
            }
            println!("plugin `{name}` detached from `{org}`");
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::List { state } => {
            let plugins: Vec<portcullis_server::api::PluginInfo> = match state.remote()? {
                Some(client) => client.get("/plugins")?,
                None => open(&state)?
                    .all_plugins()?
                    .iter()
                    .map(portcullis_server::api::PluginInfo::of)
                    .collect(),
            };
            if state.json {
                print_json(&serde_json::to_value(&plugins)?, true)?;
            } else if plugins.is_empty() {
                println!("no plugins attached");
            } else {
                for p in &plugins {
                    println!(
                        "{:<14} {:<20} {:<16} {} ({})",
                        p.organization, p.name, p.hook, p.file_name, p.sha256
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `plugin attach`: loads the plugin, runs its vectors, stores it in the state (or has
/// the server do all of it).
fn attach(args: AttachArgs) -> Result<ExitCode, CliError> {
    let path = args.plugin.as_path();
    let org = args.org.as_str();
    let mut vectors = Vec::new();
    if let Some(dir) = &args.vectors {
        for vector in Vector::load_dir(dir)? {
            let file = vector
                .file
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
            vectors.push((file, read(&vector.file)?));
        }
    }
    let source = AttachSource {
        organization: org.to_owned(),
        name: args.name,
        file_name: path
            .file_name()
            .map_or_else(|| "plugin".to_owned(), |f| f.to_string_lossy().into_owned()),
        content: std::fs::read(path).map_err(CliError::read(path))?,
        config: settings(&args.config)?,
        vectors,
    };
    let summary = |name: &str, hook: &str, vectors: usize| {
        format!("plugin `{name}` ({hook}, {vectors} vectors passed) attached to `{org}`")
    };
    let line = match args.acting.state.remote()? {
        Some(client) => {
            let body = portcullis_server::api::PluginBody::of(&source);
            let answer: portcullis_server::api::PluginInfo = client.send(
                "POST",
                &format!(
                    "/organizations/{}/plugins",
                    portcullis_server::client::segment(org)
                ),
                &body,
            )?;
            summary(&answer.name, &answer.hook, answer.vectors)
        }
        None => {
            let host = host()?;
            let attachment =
                prepare(source, &host).map_err(|e| CliError::Message(e.to_string()))?;
            let line = summary(&attachment.name, &attachment.hook, attachment.vectors.len());
            args.acting
                .open()?
                .attach_plugin(args.acting.id(), attachment)?;
            line
        }
    };
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The component host, with the cache directory when there is one; without it (said on
/// standard error) when the directory cannot be made.
fn host() -> Result<Arc<WasmHost>, CliError> {
    if let Some(dir) = crate::common::plugin_cache_dir() {
        match WasmHost::with_cache(&dir) {
            Ok(host) => return Ok(host),
            Err(e) => eprintln!("portcullis: compiled plugins are not cached: {e}"),
        }
    }
    Ok(WasmHost::new()?)
}

fn load(path: &Path) -> Result<Plugin, CliError> {
    let host = host()?;
    Plugin::load_file(&host, path, Limits::default())
        .map_err(|e| CliError::Message(format!("`{}`: {e}", path.display())))
}

fn check(path: &Path) -> Result<ExitCode, CliError> {
    let plugin = load(path)?;
    let hook = plugin.hook();
    let mut report = serde_json::Map::new();
    report.insert("plugin".into(), json!(path.display().to_string()));
    report.insert("kind".into(), json!(plugin.kind()));
    report.insert("world".into(), json!(hook.world()));
    report.insert("contract".into(), json!(hook.to_string()));
    // Calling a function of one of these traps: the host does not provide them.
    report.insert(
        "unprovided_imports".into(),
        json!(plugin.unprovided_imports()),
    );
    if let Plugin::Rego(rego) = &plugin {
        let (evaluator, reason) = rego.evaluator();
        report.insert("evaluator".into(), json!(evaluator));
        if let Some(reason) = reason {
            report.insert("evaluator_reason".into(), json!(reason));
        }
    }
    print_json(&serde_json::Value::Object(report), false)?;
    Ok(ExitCode::SUCCESS)
}

fn settings(args: &ConfigArgs) -> Result<BTreeMap<String, String>, CliError> {
    let mut config = BTreeMap::new();
    if let Some(file) = &args.config_file {
        let text = read(file)?;
        config = serde_json::from_str(&text).map_err(|e| {
            format!(
                "`{}`: expected a JSON object of strings: {e}",
                file.display()
            )
        })?;
    }
    for pair in &args.config {
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
) -> Result<ExitCode, CliError> {
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
    outcome: &PluginOutcome<V>,
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
) -> Result<ExitCode, CliError> {
    let vectors = Vector::load_dir(dir)?;
    let mut failed = 0usize;
    println!("{:<6} {:>10}  vector", "result", "time");
    for mut vector in vectors {
        for (k, v) in config {
            vector.config.insert(k.clone(), v.clone());
        }
        let result = vector.run(plugin)?;
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
