//! `agent enroll`, `agent run` and `agent request`: the endpoint agent
//! (portcullis-agent), wired to the command line. (`portcullis request` is the
//! administrator's: it files a request from an event through a state or a server.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use portcullis_agent::endpoint::{self, Ask};
use portcullis_agent::{Config, FailMode};
use serde_json::Value;

use crate::error::CliError;

/// The endpoint agent (Linux).
#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Enroll this computer with an install key; keeps its credential, the server's
    /// pinned key and the first view in the state directory.
    Enroll(EnrollArgs),
    /// Enforce: decide every exec on the marked mounts, stay in step with the server,
    /// and take users' requests on the socket. Runs until killed.
    Run(RunArgs),
    /// Ask for a program the agent on this computer blocked for you: the agent files
    /// the request with the server on your behalf.
    Request(RequestArgs),
    /// What the state directory holds: the enrollment, the revision of the view on
    /// disk, and the spool.
    Status(Common),
}

/// Where the agent's configuration comes from.
#[derive(Args, Debug)]
pub struct Common {
    /// A configuration file (JSON; docs/agent.md); the options below override it.
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// The state directory (default /var/lib/portcullis-agent).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
}

impl Common {
    fn config(&self) -> Result<Config, CliError> {
        let mut config = match &self.config {
            Some(path) => Config::read(path)?,
            None => Config::default(),
        };
        if let Some(state) = &self.state {
            config.state.clone_from(state);
        }
        Ok(config)
    }
}

/// What `agent enroll` takes.
#[derive(Args, Debug)]
pub struct EnrollArgs {
    #[command(flatten)]
    common: Common,
    /// The server (`https://portcullis.example`).
    #[arg(long, value_name = "URL")]
    server: String,
    /// The install key an administrator made (`pck_…`).
    #[arg(long, env = "PORTCULLIS_INSTALL_KEY", hide_env_values = true)]
    key: String,
    /// The host name to enroll as (default: this machine's).
    #[arg(long)]
    hostname: Option<String>,
    /// Trust the server's certificate from this PEM file (a server with its own
    /// certificate authority); kept with the enrollment.
    #[arg(long, value_name = "PEM")]
    server_ca: Option<PathBuf>,
}

/// What `agent run` takes.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Enforce on the mount holding this path (repeatable).
    #[arg(long = "mount", value_name = "PATH")]
    mounts: Vec<PathBuf>,
    /// Enforce on the whole filesystem holding this path (repeatable).
    #[arg(long = "filesystem", value_name = "PATH")]
    filesystems: Vec<PathBuf>,
    /// Never block files at or under this path (repeatable).
    #[arg(long = "exclude", value_name = "PATH")]
    exclude: Vec<PathBuf>,
    /// The users' socket (default /run/portcullis/agent.sock).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The answer when an exec cannot be decided in time: allow or deny.
    #[arg(long, value_enum)]
    fail: Option<Fail>,
}

/// `--fail`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Fail {
    /// Let it run.
    Allow,
    /// Block it.
    Deny,
}

/// Runs an `agent` command.
pub fn run(command: AgentCommand) -> Result<ExitCode, CliError> {
    match command {
        AgentCommand::Enroll(args) => {
            let config = args.common.config()?;
            let hostname = match args.hostname {
                Some(name) => name,
                None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map_err(CliError::read(Path::new("/proc/sys/kernel/hostname")))?
                    .trim()
                    .to_owned(),
            };
            let server_ca = match &args.server_ca {
                Some(path) => Some(std::fs::read_to_string(path).map_err(CliError::read(path))?),
                None => None,
            };
            let enrolled = portcullis_agent::enroll(
                &config,
                &args.server,
                &args.key,
                &hostname,
                server_ca.as_deref(),
            )
            .map_err(|e| e.to_string())?;
            crate::common::print_json(
                &serde_json::json!({"computer": enrolled.computer,
                    "organization": enrolled.organization, "group": enrolled.group,
                    "server": enrolled.server, "state": config.state}),
                true,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Run(args) => {
            let mut config = args.common.config()?;
            config.mounts.extend(args.mounts);
            config.filesystems.extend(args.filesystems);
            config.exclude.extend(args.exclude);
            if let Some(socket) = args.socket {
                config.socket = socket;
            }
            if let Some(fail) = args.fail {
                config.fail = match fail {
                    Fail::Allow => FailMode::Allow,
                    Fail::Deny => FailMode::Deny,
                };
            }
            if portcullis_agent::euid() != 0 {
                return Err("the agent enforces with fanotify, which needs root".into());
            }
            let running = portcullis_agent::start(&config).map_err(|e| e.to_string())?;
            running.wait();
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Request(args) => request(args),
        AgentCommand::Status(common) => {
            let status = portcullis_agent::status(&common.config()?).map_err(|e| e.to_string())?;
            crate::common::print_json(&status, true)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `request` takes.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Why you need it.
    #[arg(long, short, required_unless_present = "list")]
    message: Option<String>,
    /// Where to tell you the outcome.
    #[arg(long)]
    email: Option<String>,
    /// Which blocked execution (`--list` shows them; default: your newest one).
    #[arg(long)]
    id: Option<u64>,
    /// The blocked file (default: your newest blocked execution).
    #[arg(long)]
    path: Option<String>,
    /// Do not send a copy of the file.
    #[arg(long)]
    no_file: bool,
    /// List your blocked executions instead.
    #[arg(long)]
    list: bool,
    /// Wait up to this many seconds for an approval to reach this computer.
    #[arg(long, value_name = "SECONDS")]
    wait: Option<u64>,
    /// The agent's socket.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/portcullis/agent.sock"
    )]
    socket: PathBuf,
}

/// `agent request`: asks the agent on this computer to file a request for a blocked
/// execution of yours, and (with `--wait`) waits until it may run.
pub fn request(args: RequestArgs) -> Result<ExitCode, CliError> {
    let ask = |what: &Ask| -> Result<Value, CliError> {
        let answer = endpoint::ask(&args.socket, what)?;
        match answer.get("error").and_then(Value::as_str) {
            Some(error) => Err(CliError::Message(error.to_owned())),
            None => Ok(answer),
        }
    };
    if args.list {
        crate::common::print_json(&ask(&Ask::Blocked)?, true)?;
        return Ok(ExitCode::SUCCESS);
    }
    let filed = ask(&Ask::Request {
        message: args.message.clone().unwrap_or_default(),
        email: args.email.clone(),
        id: args.id,
        path: args.path.clone(),
        attach: !args.no_file,
    })?;
    crate::common::print_json(&filed, true)?;
    let Some(seconds) = args.wait else {
        return Ok(ExitCode::SUCCESS);
    };
    let id = filed.get("id").and_then(Value::as_u64).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(seconds);
    loop {
        let status = ask(&Ask::Status { id })?;
        if status.get("allowed").and_then(Value::as_bool) == Some(true) {
            crate::common::print_json(&status, true)?;
            eprintln!("approved: you may run it again");
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= until {
            crate::common::print_json(&status, true)?;
            eprintln!("not approved yet; you will be told by email if you gave one");
            return Ok(ExitCode::from(2));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
