//! The options every command on a state shares (a state directory, or a server and an
//! API token; who acts; how to print), and reaching it (a state directory opened with the provider of its attached plugins). The governance and plugin
//! commands both use this module; it uses neither.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use portcullis_governance::Governance;
use portcullis_plugins::{Limits, Notice, StatePlugins};
use portcullis_server::{Client, ClientError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CliError;

/// Where the state lives, who acts, and how to print.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// The state directory (created by `portcullis init`).
    #[arg(long, env = "PORTCULLIS_STATE", required_unless_present = "server")]
    pub state: Option<PathBuf>,
    /// Act through this server (`portcullis serve`) instead of a state directory.
    #[arg(long, env = "PORTCULLIS_SERVER", conflicts_with = "state")]
    pub server: Option<String>,
    /// The state is in this PostgreSQL database (`postgres://user@host/db`) instead of
    /// the state directory, which then holds this machine's files (the audit key).
    #[arg(
        long,
        value_name = "URL",
        env = "PORTCULLIS_DATABASE",
        hide_env_values = true,
        conflicts_with = "server"
    )]
    pub database: Option<String>,
    /// The API token for `--server` (made with `POST /api/v1/tokens`). Default: the
    /// `PORTCULLIS_TOKEN` environment variable, or `--token-file`.
    #[arg(long, env = "PORTCULLIS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the API token from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Trust the server's certificate from this PEM file (for a server with its own
    /// certificate authority).
    #[arg(long, value_name = "PEM", env = "PORTCULLIS_SERVER_CA")]
    pub server_ca: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The audit signing key (ed25519, owner-only; made by `init`). Default:
    /// `audit.key` in the state directory. Keep it where whoever can write the
    /// database cannot.
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
}

impl StateArgs {
    /// The state directory, for the commands that work on one only.
    pub fn dir(&self) -> Result<&Path, CliError> {
        self.state.as_deref().ok_or_else(|| {
            CliError::from("this command works on a state directory on this machine; give --state")
        })
    }

    /// The audit key: `--audit-key`, or `audit.key` in the state directory.
    pub fn key(&self) -> Result<PathBuf, CliError> {
        match &self.audit_key {
            Some(key) => Ok(key.clone()),
            None => Ok(self.dir()?.join("audit.key")),
        }
    }

    /// The state directory or the server.
    pub fn target(&self) -> Result<Target, CliError> {
        match (&self.server, &self.state) {
            (Some(server), _) => Ok(Target::Remote(self.client(server)?)),
            (None, Some(_)) => Ok(Target::Local(Box::new(open(self)?))),
            (None, None) => Err("give --state DIR or --server URL".into()),
        }
    }

    /// The server's client, with `--server`.
    pub fn remote(&self) -> Result<Option<Client>, CliError> {
        self.server.as_deref().map(|s| self.client(s)).transpose()
    }

    fn client(&self, server: &str) -> Result<Client, CliError> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(CliError::read(file))?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(
                    "--server needs an API token: --token, PORTCULLIS_TOKEN or --token-file".into(),
                )
            }
        };
        Ok(Client::new(server, &token, self.server_ca.as_deref())?)
    }
}

/// A state directory on this machine, or a server.
pub enum Target {
    /// The state directory, opened.
    Local(Box<Governance>),
    /// The server.
    Remote(Client),
}

/// The administrator an action is done as.
#[derive(Args, Debug, Clone)]
pub struct Actor {
    /// The administrator's id (with `--server`, the token says who acts).
    #[arg(
        long = "as",
        value_name = "ADMIN",
        env = "PORTCULLIS_ADMIN",
        required_unless_present = "server"
    )]
    pub actor: Option<String>,
}

/// A state directory (or server) and the administrator acting on it.
#[derive(Args, Debug, Clone)]
pub struct Acting {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub actor: Actor,
}

impl Acting {
    /// The administrator's id (empty with `--server`, where the token says who acts).
    pub fn id(&self) -> &str {
        self.actor.actor.as_deref().unwrap_or("")
    }

    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.state.json
    }

    /// Opens the state directory (for what only local mode does).
    pub fn open(&self) -> Result<Governance, CliError> {
        if self.state.server.is_some() {
            return Err("this command works on a state directory on this machine; give --state instead of --server".into());
        }
        open(&self.state)
    }

    /// Does `local` on the state directory as the actor, or `remote` through the
    /// server; the same value either way.
    pub fn run<T>(
        &self,
        local: impl FnOnce(&mut Governance, &str) -> Result<T, portcullis_governance::Error>,
        remote: impl FnOnce(&Client) -> Result<T, ClientError>,
    ) -> Result<T, CliError> {
        match self.state.target()? {
            Target::Local(mut gov) => Ok(local(&mut gov, self.id())?),
            Target::Remote(client) => Ok(remote(&client)?),
        }
    }

    /// `run` for a JSON operation: `GET path` remotely.
    pub fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        local: impl FnOnce(&mut Governance, &str) -> Result<T, portcullis_governance::Error>,
    ) -> Result<T, CliError> {
        self.run(local, |c| c.get(path))
    }

    /// `run` for a JSON operation: `method path` with `body` remotely.
    pub fn write<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl Serialize,
        local: impl FnOnce(&mut Governance, &str) -> Result<T, portcullis_governance::Error>,
    ) -> Result<T, CliError> {
        self.run(local, |c| c.send(method, path, body))
    }
}

/// Opens the state directory. Its attached plugins load when a command consults
/// them; one that does not load is reported on standard error and abstains.
pub fn open(state: &StateArgs) -> Result<Governance, CliError> {
    let plugins = StatePlugins::with_notices(Limits::default(), |notice| {
        if let Notice::NotLoaded {
            organization,
            plugin,
            error,
        } = notice
        {
            eprintln!(
                "portcullis: plugin `{plugin}` of `{organization}` does not load and abstains: {error}"
            );
        }
    });
    let plugins = match crate::common::plugin_cache_dir() {
        Some(dir) => plugins.cache_dir(dir),
        None => plugins,
    };
    let governance = match &state.database {
        None => Governance::open_dir_with_key(state.dir()?, state.audit_key.as_deref())?,
        Some(url) => Governance::open_postgres(url, &state.key()?)?,
    };
    Ok(governance.with_plugins(Arc::new(plugins)))
}
