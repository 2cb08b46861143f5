//! Signing in to a server: `token create|list|revoke`, `invitation accept`, and the
//! invitations `admin invite` makes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_server::Client;
use serde_json::json;

use crate::common::{field, read_password, shown};
use crate::error::CliError;
use crate::state::Acting;

/// The server and how to trust it, for the commands that sign in with a password.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server (`portcullis serve`).
    #[arg(long, value_name = "URL", env = "PORTCULLIS_SERVER")]
    server: String,
    /// Trust the server's certificate from this PEM file.
    #[arg(long, value_name = "PEM", env = "PORTCULLIS_SERVER_CA")]
    server_ca: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ServerArgs {
    /// A client of the server, before signing in.
    fn anonymous(&self) -> Result<Client, CliError> {
        Ok(Client::anonymous(&self.server, self.server_ca.as_deref())?)
    }
}

/// `token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Sign in with a password and make a named API token (shown once).
    Create {
        #[command(flatten)]
        server: ServerArgs,
        /// The administrator's id.
        #[arg(long)]
        admin: String,
        /// Their password, from this file (`-`: standard input; the first line).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
        /// A name to tell the token by.
        #[arg(long)]
        name: String,
        /// Write the token to this file (owner-only) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The caller's tokens (names and dates).
    List {
        #[command(flatten)]
        acting: Acting,
    },
    /// Revoke one of the caller's tokens.
    Revoke {
        #[command(flatten)]
        acting: Acting,
        /// The token's name.
        name: String,
    },
}

/// `invitation …`
#[derive(Subcommand, Debug)]
pub enum InvitationCommand {
    /// Set your password with an invitation or password-reset link.
    Accept {
        #[command(flatten)]
        server: ServerArgs,
        /// The invitation (the part of the link after `#`), from this file.
        #[arg(long, value_name = "FILE")]
        invitation_file: PathBuf,
        /// The new password, from this file (`-`: standard input; the first line).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
}

/// `token …`
pub fn token(command: TokenCommand) -> Result<ExitCode, CliError> {
    match command {
        TokenCommand::Create {
            server,
            admin,
            password_file,
            name,
            out,
        } => {
            let password = read_password(&password_file)?;
            let token = server
                .anonymous()?
                .token_with_password(&admin, &password, &name)?;
            match out {
                Some(path) => {
                    write_secret(&path, &token)?;
                    shown(server.json, &json!({"name": name, "written": path}), || {
                        format!(
                            "token `{name}` of `{admin}` written to `{}`\n",
                            path.display()
                        )
                    })
                }
                None => shown(server.json, &json!({"name": name, "token": token}), || {
                    format!("{token}\n")
                }),
            }
        }
        TokenCommand::List { acting } => {
            let client = remote(&acting)?;
            let tokens: serde_json::Value = client.get("/tokens")?;
            shown(acting.json(), &tokens, || {
                let names: Vec<String> = tokens
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["name"].as_str().map(|n| format!("{n}\n")))
                    .collect();
                if names.is_empty() {
                    "no tokens\n".to_owned()
                } else {
                    names.concat()
                }
            })
        }
        TokenCommand::Revoke { acting, name } => {
            remote(&acting)?.delete::<()>(&format!("/tokens/{name}"))?;
            shown(acting.json(), &json!({"revoked": name}), || {
                format!("token `{name}` revoked\n")
            })
        }
    }
}

/// `invitation …`
pub fn invitation(command: InvitationCommand) -> Result<ExitCode, CliError> {
    match command {
        InvitationCommand::Accept {
            server,
            invitation_file,
            password_file,
        } => {
            let invitation = std::fs::read_to_string(&invitation_file)
                .map_err(CliError::read(&invitation_file))?;
            let password = read_password(&password_file)?;
            let admin = server
                .anonymous()?
                .accept_invitation(&invitation, &password)?;
            shown(server.json, &json!({"admin": admin}), || {
                format!("`{admin}` may now sign in with that password\n")
            })
        }
    }
}

/// `admin invite`: an invitation (or password reset) link for an administrator.
pub fn invite(
    acting: &Acting,
    id: &str,
    out: Option<&std::path::Path>,
) -> Result<ExitCode, CliError> {
    let client = remote(acting)?;
    let answer: serde_json::Value = client.send(
        "POST",
        &format!("/administrators/{id}/invitation"),
        &json!({}),
    )?;
    let link = field(&answer, "link")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(path) = out {
        write_secret(
            path,
            field(&answer, "invitation").as_str().unwrap_or_default(),
        )?;
    }
    shown(
        acting.json(),
        &json!({"admin": id, "link": link, "expires": field(&answer, "expires")}),
        || format!("send `{id}` this link (it works once): {link}\n"),
    )
}

fn remote(acting: &Acting) -> Result<Client, CliError> {
    acting
        .state
        .remote()?
        .ok_or_else(|| CliError::from("this command talks to a server; give --server URL"))
}

/// Writes a secret to a new owner-only file.
fn write_secret(path: &std::path::Path, secret: &str) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(CliError::write(path))?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())
        .map_err(CliError::write(path))
}
