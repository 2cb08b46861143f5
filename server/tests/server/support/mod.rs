//! A real server on loopback over a fresh state, and a small HTTP client for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use portcullis_governance::{AdminRecord, FileRequest, Governance, Grant, Grantable, Permission};
use portcullis_server::{credentials, ServeConfig, Server};
use serde_json::Value;
use tokio::sync::oneshot;

pub type Fallible<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The password every test administrator has.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server; stopped (gracefully) when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: PathBuf,
    /// The PostgreSQL database the state is in, if it is not in `state`.
    pub database: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// The state, opened beside the server (as another process would).
    pub fn open(&self) -> Fallible<Governance> {
        Ok(match &self.database {
            None => Governance::open_dir(&self.state)?,
            Some(url) => Governance::open_postgres(url, &self.state.join("audit.key"))?,
        })
    }

    /// What the credential store keeps, as bytes: the SQLite file, or the rows of
    /// PostgreSQL's credential tables as text.
    pub fn stored_credentials(&self) -> Fallible<Vec<u8>> {
        let Some(url) = &self.database else {
            return Ok(std::fs::read(self.state.join("credentials.db"))?);
        };
        let mut out = Vec::new();
        for table in ["passwords", "sessions", "tokens", "install_keys", "agents"] {
            let rows = std::process::Command::new("psql")
                .args([
                    "-X",
                    "-A",
                    "-t",
                    url,
                    "-c",
                    &format!("SELECT * FROM {table}"),
                ])
                .output()?;
            assert!(rows.status.success(), "psql: {rows:?}");
            out.extend(rows.stdout);
        }
        Ok(out)
    }

    /// A page of the Approval Center.
    pub fn page(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and waits for it to finish what is in flight.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The example bundle's tenancy: `root` (Super Admin on northwind), `ann` (Approve for
/// Single Computer in lakeside), `hank` (the same in harbor, another tenant), each with
/// [`PASSWORD`]; request 1 filed from lakeside-fd-01.
pub fn start() -> Fallible<Running> {
    start_with(|_| {})
}

/// Whether this run keeps the state in PostgreSQL (`PORTCULLIS_TEST_STORE=postgres`:
/// a real server, started on first use, with a database for each test), or in a state
/// directory (SQLite).
pub fn on_postgres() -> bool {
    std::env::var("PORTCULLIS_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// A new database on the test PostgreSQL server; its URL.
pub fn new_database() -> Fallible<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "server_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    Ok(portcullis_testkit::postgres::TestPostgres::shared().database(&name)?)
}

/// [`start`], with the server's configuration changed by `tune` first.
pub fn start_with(tune: impl FnOnce(&mut ServeConfig)) -> Fallible<Running> {
    start_full(|_| Ok(()), tune)
}

/// [`start`], with more state made by `setup` (as Root could) before the server starts.
pub fn start_full(
    setup: impl FnOnce(&mut Governance) -> Fallible,
    tune: impl FnOnce(&mut ServeConfig),
) -> Fallible<Running> {
    let database = on_postgres().then(new_database).transpose()?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    prepare(&state, database.as_deref(), setup)?;
    serve(state, dir, |config| {
        config.database = database;
        tune(config);
    })
}

/// A node of the state in the PostgreSQL `database` that `first` serves, with the
/// same keys (the audit's, and the one agents' views are signed with): a second server
/// on the same state.
pub fn node(database: &str, first: &Running) -> Fallible<Running> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state)?;
    for key in ["audit.key", "view.key"] {
        std::fs::copy(first.state.join(key), state.join(key))?;
    }
    serve(state, dir, |config| {
        config.database = Some(database.to_owned())
    })
}

/// [`start`] on the PostgreSQL `database`.
pub fn start_on(database: &str) -> Fallible<Running> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    prepare(&state, Some(database), |_| Ok(()))?;
    serve(state, dir, |config| {
        config.database = Some(database.to_owned())
    })
}

/// The tenancy [`start`] describes, in the state directory `state` or, with
/// `database`, in that PostgreSQL database (the directory holding the audit key).
fn prepare(
    state: &Path,
    database: Option<&str>,
    setup: impl FnOnce(&mut Governance) -> Fallible,
) -> Fallible {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bundle =
        portcullis_engine::parse(&std::fs::read_to_string(root.join("examples/bundle.json"))?)
            .map_err(|e| e.to_string())?;
    let mut gov = match database {
        None => Governance::init_dir(state, bundle, admin("root", "northwind"))?,
        Some(url) => {
            std::fs::create_dir_all(state)?;
            Governance::init_postgres(
                url,
                &state.join("audit.key"),
                bundle,
                admin("root", "northwind"),
            )?
        }
    };
    for (id, org) in [("ann", "lakeside"), ("hank", "harbor")] {
        gov.put_admin("root", admin(id, org))?;
        gov.grant(
            "root",
            Grant {
                admin: id.to_owned(),
                organization: org.to_owned(),
                what: Grantable::Permission(Permission::ApproveComputer),
            },
        )?;
    }
    let event = portcullis_engine::Limits::default()
        .parse_event(&std::fs::read_to_string(
            root.join("examples/request/blocked.json"),
        )?)
        .map_err(|e| e.to_string())?;
    gov.file_request(FileRequest {
        kind: portcullis_governance::AccessRequestKind::Application,
        event,
        message: "I need it to print labels".to_owned(),
        email: None,
        attachment: None,
    })?;
    setup(&mut gov)?;
    let admins = gov.read("root", |tx| tx.admins())?;
    drop(gov);
    for admin in admins {
        credentials::set_password(state, database, &admin.id, PASSWORD)?;
    }
    Ok(())
}

pub fn admin(id: &str, org: &str) -> AdminRecord {
    AdminRecord {
        id: id.to_owned(),
        name: id.to_owned(),
        organization: org.to_owned(),
        email: None,
        phone: None,
    }
}

fn serve(
    state: PathBuf,
    dir: tempfile::TempDir,
    tune: impl FnOnce(&mut ServeConfig),
) -> Fallible<Running> {
    let mut config = ServeConfig::new(state.clone());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.call_timeout = std::time::Duration::from_secs(3);
    config.header_timeout = std::time::Duration::from_secs(2);
    tune(&mut config);
    let database = config.database.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, bound) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            match Server::bind(config).await {
                Ok(server) => {
                    let _ = ready.send(Ok(server.local_addr()));
                    let _ = server
                        .run(async {
                            let _ = stopped.await;
                        })
                        .await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                }
            }
        });
    });
    let addr = bound.recv()??;
    Ok(Running {
        addr,
        state,
        database,
        stop: Some(stop),
        thread: Some(thread),
        _dir: dir,
    })
}

/// An answer: status, headers we look at, and the body as JSON (or text).
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub set_cookie: Option<String>,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish_non_exhaustive()
    }
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The problem's detail.
    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or("").to_owned()
    }
}

/// How a call authenticates.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub token: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Auth {
    pub fn token(token: &str) -> Auth {
        Auth {
            token: Some(token.to_owned()),
            ..Auth::default()
        }
    }
}

/// One HTTP call with a JSON body (or none).
pub fn call(method: &str, url: &str, auth: &Auth, body: Option<&str>) -> Fallible<Answer> {
    send(
        method,
        url,
        auth,
        body.map(|b| ("application/json", b.as_bytes())),
    )
}

/// One HTTP call with bytes.
pub fn call_bytes(method: &str, url: &str, auth: &Auth, bytes: &[u8]) -> Fallible<Answer> {
    send(method, url, auth, Some(("application/octet-stream", bytes)))
}

fn send(method: &str, url: &str, auth: &Auth, body: Option<(&str, &[u8])>) -> Fallible<Answer> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = &auth.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(cookie) = &auth.cookie {
        request = request.header("Cookie", cookie.as_str());
    }
    if let Some(csrf) = &auth.csrf {
        request = request.header("X-CSRF-Token", csrf.as_str());
    }
    if let Some((content_type, _)) = body {
        request = request.header("Content-Type", content_type);
    }
    let request = request.body(body.map_or_else(Vec::new, |(_, b)| b.to_vec()))?;
    let mut response = agent.run(request)?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let set_cookie = header("set-cookie");
    let retry_after = header("retry-after");
    let location = header("location");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec()?;
    Ok(Answer {
        status,
        content_type,
        set_cookie,
        retry_after,
        location,
        body,
    })
}

/// An HTML form posted (`application/x-www-form-urlencoded`), as a browser does.
pub fn post_form(url: &str, auth: &Auth, fields: &[(&str, &str)]) -> Fallible<Answer> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    send(
        "POST",
        url,
        auth,
        Some((
            "application/x-www-form-urlencoded",
            body.join("&").as_bytes(),
        )),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Signs in; the session's cookie and CSRF token.
pub fn sign_in(server: &Running, admin: &str) -> Fallible<Auth> {
    let answer = call(
        "POST",
        &server.url("/session"),
        &Auth::default(),
        Some(&format!(
            r#"{{"admin": "{admin}", "password": "{PASSWORD}"}}"#
        )),
    )?;
    assert_eq!(answer.status, 200, "{answer:?}");
    let cookie = answer
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .ok_or("no session cookie")?
        .to_owned();
    let csrf = answer.json()["csrf"].as_str().ok_or("no csrf")?.to_owned();
    Ok(Auth {
        token: None,
        cookie: Some(cookie),
        csrf: Some(csrf),
    })
}

/// Numbers that make token names unique.
static NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An API token for `admin`.
pub fn token(server: &Running, admin: &str) -> Fallible<String> {
    let session = sign_in(server, admin)?;
    let answer = call(
        "POST",
        &server.url("/tokens"),
        &session,
        Some(&serde_json::json!({"name": format!("tests-{}", NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed))}).to_string()),
    )?;
    assert_eq!(answer.status, 201, "{answer:?}");
    Ok(answer.json()["token"]
        .as_str()
        .ok_or("no token")?
        .to_owned())
}

/// Enrolls an agent for `hostname` in `org`'s `group` with an install key Root makes;
/// its credential.
pub fn agent(server: &Running, org: &str, group: &str, hostname: &str) -> Fallible<String> {
    let root = Auth::token(&token(server, "root")?);
    let name = format!("key-{hostname}");
    let made = call(
        "POST",
        &server.url("/install-keys"),
        &root,
        Some(&serde_json::json!({"name": name, "organization": org, "group": group}).to_string()),
    )?;
    assert_eq!(made.status, 201, "{made:?}");
    let key = made.json()["key"].as_str().ok_or("key")?.to_owned();
    let enrolled = call(
        "POST",
        &server.url("/agents/enroll"),
        &Auth::default(),
        Some(&serde_json::json!({"key": key, "hostname": hostname, "os": "windows"}).to_string()),
    )?;
    assert_eq!(enrolled.status, 201, "{enrolled:?}");
    Ok(enrolled.json()["credential"]
        .as_str()
        .ok_or("credential")?
        .to_owned())
}

/// Files `count` requests on lakeside-fd-01 (after request 1), each for another file.
pub fn file_many(gov: &mut Governance, count: u64) -> Fallible {
    for n in 0..count {
        let event = serde_json::json!({
            "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": format!("C:\\Users\\amy\\Downloads\\tool-{n}.exe"),
            "sha256": format!("{:064x}", 0x5eed_0000_u64 + n),
            "time": "2026-11-22T10:00:00Z",
        });
        let event = portcullis_engine::Limits::default()
            .parse_event(&event.to_string())
            .map_err(|e| e.to_string())?;
        gov.file_request(FileRequest {
            kind: portcullis_governance::AccessRequestKind::Application,
            event,
            message: format!("tool {n}"),
            email: None,
            attachment: None,
        })?;
    }
    Ok(())
}
