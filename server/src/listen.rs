//! Listening: the address, TLS, the layers every call passes (body limit, timeout,
//! problem documents, one log line), notification delivery in the background, and a
//! graceful shutdown that lets calls in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use portcullis_governance::{Database, Governance};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

use crate::app::{App, Settings};
use crate::credentials::Credentials;
use crate::openapi::{self, OPENAPI};
use crate::problem::problem;
use crate::{api, ServerError, JSON_LIMIT};

/// How `portcullis serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (default 127.0.0.1:8443).
    pub listen: SocketAddr,
    /// The state directory (`portcullis init`): the state itself, or with `database`
    /// this node's own files (the audit key, uploads in progress).
    pub state: PathBuf,
    /// A PostgreSQL database that holds the state instead (`postgres://…`), shared by
    /// every node that names it.
    pub database: Option<String>,
    /// The audit signing key (default: `audit.key` in the state directory).
    pub audit_key: Option<PathBuf>,
    /// A PEM certificate chain and private key: speak TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The address people reach the server at, for links (default: the scheme and
    /// the address it listens on).
    pub public_url: Option<String>,
    /// What handlers read (its `public_url` is set from the field above).
    pub settings: Settings,
    /// The longest a call may take, reading its body included (slow clients get 408).
    pub call_timeout: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How often pending notifications and expiries are looked at when nothing wakes
    /// the sender.
    pub sweep_every: Duration,
    /// How long a shutdown waits for calls in flight.
    pub grace: Duration,
    /// Instances of each plugin component kept made ahead, so a review does not wait
    /// for an instantiation (`portcullis_plugins::HostOptions::warm_instances`).
    pub plugin_warm_instances: usize,
}

impl ServeConfig {
    /// The defaults, on a state directory.
    pub fn new(state: PathBuf) -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            state,
            database: None,
            audit_key: None,
            tls: None,
            public_url: None,
            settings: Settings::default(),
            call_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            sweep_every: Duration::from_secs(30),
            grace: Duration::from_secs(30),
            plugin_warm_instances: 2,
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: App,
    sender: Governance,
    config: ServeConfig,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.local_addr())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Opens the state and the credential store, and binds the address.
    pub async fn bind(mut config: ServeConfig) -> Result<Server, ServerError> {
        config.settings.state = config.state.clone();
        // Opening may block (PostgreSQL's client runs a small runtime of its own):
        // off the async threads.
        let opening = config.clone();
        let (governance, sender, checks, credentials, artifacts) =
            tokio::task::spawn_blocking(move || open_stores(&opening))
                .await
                .map_err(|e| ServerError::Internal(format!("opening the state failed: {e}")))??;
        let tls = config
            .tls
            .as_ref()
            .map(|(c, k)| acceptor(c, k))
            .transpose()?;
        if tls.is_some() {
            config.settings.secure_cookies = true;
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ServerError::Internal(format!("cannot listen on {}: {e}", config.listen))
        })?;
        let bound = listener.local_addr().unwrap_or(config.listen);
        let scheme = if tls.is_some() { "https" } else { "http" };
        config.settings.public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{bound}"));
        config.settings.long_poll = config
            .settings
            .long_poll
            .min(config.call_timeout.mul_f32(2.0 / 3.0));
        let view_key = crate::signing::ViewKey::load_or_create(&config.state)?;
        // Notifications link to requests in this server's Approval Center.
        let pages = format!(
            "{}{}",
            config.settings.public_url.trim_end_matches('/'),
            crate::web::BASE
        );
        let governance = governance.with_link_base(pages.clone());
        let sender = sender.with_link_base(pages);
        let app = App::new(
            governance,
            checks,
            credentials,
            config.settings.clone(),
            view_key,
            artifacts,
        );
        Ok(Server {
            listener,
            tls,
            app,
            sender,
            config,
        })
    }

    /// The address it listens on (the port the system chose, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// Whether it speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The address people reach the server at.
    pub fn public_url(&self) -> &str {
        &self.app.settings().public_url
    }

    /// Serves until `shutdown` completes, then lets calls in flight finish (up to the
    /// grace period).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener,
            tls,
            app,
            sender,
            config,
        } = self;
        let router = router(app.clone(), &config);
        let graceful = GracefulShutdown::new();
        let sweeper = tokio::spawn(sweep(app.clone(), sender, config.sweep_every));
        if let Some(url) = &config.database {
            listen_for_bundles(app.clone(), url.clone());
        }
        tracing::info!(listen = %listener.local_addr().map_or(config.listen, |a| a), tls = tls.is_some(), "serving");
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let connection = Connection {
                router: router.clone(),
                tls: tls.clone(),
                header_timeout: config.header_timeout,
            };
            let watcher = graceful.watcher();
            tokio::spawn(async move { connection.serve(stream, peer, watcher).await });
        }
        drop(listener);
        tracing::info!("shutting down: finishing calls in flight");
        // Agents' long-polls answer now instead of holding the shutdown.
        app.stopping();
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(config.grace) => {
                tracing::warn!("calls still in flight after the grace period were cut");
            }
        }
        sweeper.abort();
        Ok(())
    }
}

/// The state (twice: one handle sends notifications), its store once more for the
/// checks every call makes, and the credential store.
fn open_stores(config: &ServeConfig) -> Result<Stores, ServerError> {
    let open = |config: &ServeConfig| match &config.database {
        None => Governance::open_dir_with_key(&config.state, config.audit_key.as_deref()),
        Some(url) => {
            let key = config
                .audit_key
                .clone()
                .unwrap_or_else(|| config.state.join("audit.key"));
            Governance::open_postgres(url, &key)
        }
    };
    // Compiled components are kept in the state too (on a store handle of their own,
    // opened when a component is first loaded), so the nodes of one database compile
    // each component once between them.
    let artifacts: Arc<dyn portcullis_plugins::ArtifactStore> = {
        let config = config.clone();
        Arc::new(portcullis_plugins::StateArtifacts::new(move || {
            open_store(&config)
        }))
    };
    let plugins = portcullis_plugins::StatePlugins::with_notices(
        portcullis_plugins::Limits::default(),
        |notice| tracing::warn!(notice = ?notice, "plugin"),
    )
    .cache_dir(config.settings.plugin_cache())
    .artifacts(Arc::clone(&artifacts))
    .warm_instances(config.plugin_warm_instances);
    let governance = open(config)?.with_plugins(Arc::new(plugins));
    // Notifications are sent through a second handle on the same state, so that a
    // slow mail server never holds up a call.
    let sender = open(config)?;
    let credentials = match &config.database {
        None => Credentials::open_dir(&config.state)?,
        Some(url) => Credentials::open_postgres(url)?,
    };
    // Checks every call makes (does its administrator still exist?) read on a
    // connection of their own, never waiting for the state's writes.
    let checks = open_store(config)?;
    Ok((governance, sender, checks, credentials, artifacts))
}

/// One more handle on the state's store.
fn open_store(config: &ServeConfig) -> Result<Database, portcullis_governance::Error> {
    Ok(match &config.database {
        None => Governance::store_dir(&config.state, config.audit_key.as_deref())?,
        Some(url) => {
            let key = config
                .audit_key
                .clone()
                .unwrap_or_else(|| config.state.join("audit.key"));
            portcullis_governance::PostgresStore::open(url, &key)?.into()
        }
    })
}

/// What `open_stores` opens.
type Stores = (
    Governance,
    Governance,
    Database,
    Credentials,
    Arc<dyn portcullis_plugins::ArtifactStore>,
);

struct Connection {
    router: Router,
    tls: Option<TlsAcceptor>,
    header_timeout: Duration,
}

impl Connection {
    async fn serve(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let service =
            self.router
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let service = TowerToHyperService::new(service);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let result = match self.tls {
            None => {
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                watcher.watch(connection).await
            }
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await;
                let stream = match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                watcher.watch(connection).await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// The router with every layer.
fn router(app: App, config: &ServeConfig) -> Router {
    api::router()
        .route(OPENAPI, axum::routing::get(openapi::serve))
        .merge(crate::web::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.call_timeout,
        ))
        .layer(middleware::map_response(as_problem))
        .layer(middleware::from_fn(log_call))
        .with_state(app)
}

async fn not_found(request: Request) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        &format!(
            "no operation at `{} {}`; the API is described at /api/v1/openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Turns every failure that is not yet a problem document (a path parameter that does
/// not parse, a method not allowed, a timeout) into one, keeping its words.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            // The Approval Center's pages answer their failures as pages.
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let detail = match (status, text.trim()) {
        (StatusCode::REQUEST_TIMEOUT, _) => {
            "the call took too long (a slow client or body)".to_owned()
        }
        (StatusCode::METHOD_NOT_ALLOWED, "") => "this path does not take that method".to_owned(),
        (_, "") => status.canonical_reason().unwrap_or("failed").to_owned(),
        (_, words) => words.to_owned(),
    };
    problem(status, &detail)
}

/// One structured log line per call.
async fn log_call(request: Request<HttpBody>, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        peer = peer.map(|p| p.to_string()),
        "call"
    );
    response
}

/// Follows the bundle versions other nodes commit: a thread of its own listens on
/// PostgreSQL (`LISTEN`) and wakes the sweeper, which loads the new version. The
/// sweeper's periodic check, and every call, catch whatever a lost connection missed.
fn listen_for_bundles(app: App, url: String) {
    let spawned = std::thread::Builder::new()
        .name("bundle-listener".to_owned())
        .spawn(move || loop {
            match portcullis_governance::PostgresStore::listen(&url) {
                Ok(mut listener) => loop {
                    match listener.wait(Duration::from_secs(30)) {
                        Ok(Some(version)) => {
                            tracing::debug!(version, "a new bundle version was announced");
                            app.announce();
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "listening for bundle versions failed; listening again");
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot listen for bundle versions; trying again"),
            }
            std::thread::sleep(Duration::from_secs(1));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the bundle listener; versions are checked periodically");
    }
}

/// Sends due notifications and expires overdue requests: when a call may have queued
/// something, and every `every` regardless; and loads a bundle version another node
/// committed as soon as it is announced (and every `every`).
async fn sweep(app: App, sender: Governance, every: Duration) {
    let sender = Arc::new(std::sync::Mutex::new(sender));
    loop {
        tokio::select! {
            () = app.outbox_touched() => {}
            () = app.announced() => {
                // `governance` follows the current version before anything else.
                if let Err(e) = app.governance(|_| Ok(())).await {
                    tracing::warn!(error = %e, "loading the announced bundle version failed");
                }
                continue;
            }
            () = tokio::time::sleep(every) => {
                if let Err(e) = app.governance(|g| Ok(g.expire_due()?)).await {
                    tracing::warn!(error = %e, "expiring requests failed");
                }
            }
        }
        let sender = Arc::clone(&sender);
        let state = app.settings().state.clone();
        let sent = tokio::task::spawn_blocking(move || {
            api::sweep_uploads(&state);
            let mut sender = sender
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Nothing is sent until delivery is configured; what is queued waits.
            if sender.notify_config()?.is_none() {
                return Ok(None);
            }
            sender.deliver_notifications(false).map(Some)
        })
        .await;
        match sent {
            Ok(Ok(Some(report))) => {
                if report != Default::default() {
                    tracing::info!(report = ?report, "notifications");
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "sending notifications failed"),
            Err(e) => tracing::warn!(error = %e, "the notification sender stopped"),
        }
    }
}

/// A TLS acceptor from PEM files.
fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| ServerError::BadInput(format!("cannot read `{}`: {e}", path.display())))
    };
    let chain = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::BadInput(format!("`{}`: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(ServerError::BadInput(format!(
            "`{}` holds no PEM certificate",
            cert.display()
        )));
    }
    let private = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| ServerError::BadInput(format!("`{}`: {e}", key.display())))?
        .ok_or_else(|| {
            ServerError::BadInput(format!("`{}` holds no PEM private key", key.display()))
        })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| ServerError::BadInput(format!("the TLS certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Structured log lines (JSON, one a line) on standard error; `RUST_LOG` filters them
/// (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
