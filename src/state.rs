//! The options every command on a state directory shares (where the state is, who
//! acts, how to print), and opening the state with the provider of its attached
//! plugins. The governance and plugin commands both use this module; it uses neither.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use portcullis_governance::Governance;
use portcullis_plugins::{Limits, Notice, StatePlugins};

use crate::error::CliError;

/// Where the state lives, who acts, and how to print.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// The state directory (created by `portcullis init`).
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_STATE")]
    pub state: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The audit signing key (ed25519, owner-only; made by `init`). Default:
    /// `audit.key` in the state directory. Keep it where whoever can write the
    /// database cannot.
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
}

/// The administrator an action is done as.
#[derive(Args, Debug, Clone)]
pub struct Actor {
    /// The administrator's id.
    #[arg(long = "as", value_name = "ADMIN", env = "PORTCULLIS_ADMIN")]
    pub actor: String,
}

/// A state directory and the administrator acting on it.
#[derive(Args, Debug, Clone)]
pub struct Acting {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub actor: Actor,
}

impl Acting {
    /// The administrator's id.
    pub fn id(&self) -> &str {
        &self.actor.actor
    }

    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.state.json
    }

    /// Opens the state directory.
    pub fn open(&self) -> Result<Governance, CliError> {
        open(&self.state)
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
    Ok(
        Governance::open_dir_with_key(&state.state, state.audit_key.as_deref())?
            .with_plugins(Arc::new(plugins)),
    )
}
