//! `serve`: the control plane on a state directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use portcullis_server::{init_logging, ServeConfig, Server};

use crate::error::CliError;

/// What `serve` is given.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The state directory (created by `portcullis init`).
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_STATE")]
    state: PathBuf,
    /// Keep the state in this PostgreSQL database (`postgres://user@host/db`, made
    /// with `portcullis init --database`) instead of the state directory, which then
    /// holds this node's own files. Every node that names the same database serves
    /// the same state.
    #[arg(
        long,
        value_name = "URL",
        env = "PORTCULLIS_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// The audit signing key (default: `audit.key` in the state directory; the same
    /// key on every node of one database).
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_AUDIT_KEY")]
    audit_key: Option<PathBuf>,
    /// Where to listen; port 0 lets the system choose (the first line printed says
    /// which).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Speak TLS with this PEM certificate chain (with `--tls-key`).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The address people reach the server at, for links in notifications and
    /// invitations (default: the listening address).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Instances of each attached plugin component kept made ahead, so that a review
    /// does not wait for one to be instantiated (each holds its memory while it
    /// waits; 0: every call instantiates its own).
    #[arg(long, value_name = "N", default_value_t = 2)]
    plugin_warm_instances: usize,
}

/// `serve`: runs until interrupted (SIGINT or SIGTERM), then finishes calls in flight.
pub fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let mut config = ServeConfig::new(args.state);
        config.listen = args.listen;
        config.audit_key = args.audit_key;
        config.database = args.database;
        config.tls = args.tls_cert.zip(args.tls_key);
        config.public_url = args.public_url;
        config.plugin_warm_instances = args.plugin_warm_instances;
        let server = Server::bind(config).await?;
        let scheme = if server.is_tls() { "https" } else { "http" };
        println!("listening on {scheme}://{}", server.local_addr());
        server.run(shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
