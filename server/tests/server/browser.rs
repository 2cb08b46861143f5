//! The Approval Center in a real headless Chromium, driven through chromedriver
//! (WebDriver, with fantoccini): the whole flow from the notification's email (sent
//! by the server to an SMTP server on loopback) to the proof, an administrator who may
//! only view the queue refused, and hostile text shown inert. Each page it passes is saved as a screenshot
//! in `docs/screenshots/`, which the docs show.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver`
//! (`scripts/test` installs them). Without them these tests say so and pass, except
//! in CI, where they fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use portcullis_testkit::servers::{free_port, SmtpServer};

use crate::support::*;
use crate::web::{start_web, HOSTILE};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver on a free loopback port, stopped when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser tools, or `None` (said on standard error) where they are not installed
/// and this is not CI.
pub fn tools() -> Option<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Some(());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs {CHROMIUM} and {CHROMEDRIVER} (Debian's chromium and chromium-driver)"
    );
    eprintln!("skipped: install chromium and chromium-driver to run the browser tests");
    None
}

pub fn driver() -> Fallible<Driver> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let profile = tempfile::tempdir()?;
    let driver = Driver {
        child,
        port,
        profile,
    };
    // Ready once its status answers; each try waits for chromedriver's own answer.
    let status = format!("http://127.0.0.1:{port}/status");
    for _ in 0..200 {
        if let Ok(answer) = call("GET", &status, &Auth::default(), None) {
            if answer.json()["value"]["ready"] == true {
                return Ok(driver);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err("chromedriver did not start".into())
}

pub async fn browser(driver: &Driver) -> Fallible<Client> {
    let profile = driver.profile.path().display().to_string();
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1800", format!("--user-data-dir={profile}"),
            ],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        return Err("capabilities".into());
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await?)
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

async fn screenshot(client: &Client, name: &str) -> Fallible {
    screenshot_at(client, name, None).await
}

/// A screenshot with the element `id` scrolled into view first.
async fn screenshot_at(client: &Client, name: &str, id: Option<&str>) -> Fallible {
    if let Some(id) = id {
        client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView({block: 'end'});",
                vec![json!(id)],
            )
            .await?;
    }
    let png = client.screenshot().await?;
    std::fs::create_dir_all(screenshots())?;
    std::fs::write(screenshots().join(format!("{name}.png")), png)?;
    Ok(())
}

pub fn run<T>(test: impl std::future::Future<Output = Fallible<T>>) -> Fallible<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(test)
}

pub async fn sign_in(client: &Client, admin: &str) -> Fallible {
    client
        .find(Locator::Id("admin"))
        .await?
        .send_keys(admin)
        .await?;
    client
        .find(Locator::Id("password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    client
        .find(Locator::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Signs in by keyboard alone: the id field has the focus, Tab moves to the password,
/// Enter sends the form.
async fn sign_in_by_keyboard(client: &Client, admin: &str) -> Fallible {
    let focused = client.active_element().await?;
    assert_eq!(focused.attr("id").await?.as_deref(), Some("admin"));
    focused.send_keys(&format!("{admin}\u{e004}")).await?;
    let focused = client.active_element().await?;
    assert_eq!(focused.attr("id").await?.as_deref(), Some("password"));
    focused.send_keys(&format!("{PASSWORD}\u{e007}")).await?;
    Ok(())
}

/// Every field the page shows has a label.
async fn assert_labelled(client: &Client) -> Fallible {
    let unlabelled = client
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')] \
                 .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')) \
                 .map(e => e.name);",
            vec![],
        )
        .await?;
    assert_eq!(unlabelled, json!([]), "fields without a label");
    Ok(())
}

/// No script of the page's text ran: no alert is open, and the page has no inline
/// script and no `javascript:` link.
async fn assert_nothing_ran(client: &Client) -> Fallible {
    assert!(
        client.get_alert_text().await.is_err(),
        "an alert opened: a script ran"
    );
    let found = client
        .execute(
            "return [document.querySelectorAll('script:not([src])').length, \
                     document.querySelectorAll('[href^=\"javascript:\" i], [src^=\"javascript:\" i]').length, \
                     document.querySelectorAll('[onerror], [onclick], [onload]').length, \
                     document.querySelectorAll('img').length];",
            vec![],
        )
        .await?;
    assert_eq!(
        found,
        json!([0, 0, 0, 0]),
        "inline scripts, javascript: links, handlers, images"
    );
    Ok(())
}

/// A request filed through the API, its notification delivered by the server to an
/// SMTP server on loopback (aiosmtpd): the link read from the received email.
fn link_from_an_email(server: &Running, smtp: &SmtpServer) -> Fallible<(i64, String)> {
    let root = Auth::token(&token(server, "root")?);
    let config = json!({
        "link_base": "https://unused.example/approvals",
        "email": {
            "host": "127.0.0.1", "port": smtp.port, "tls": "none",
            "from": "Portcullis <portcullis@northwind.example>", "timeout_seconds": 5,
        },
    });
    let configured = call(
        "PUT",
        &server.url("/notifications/config"),
        &root,
        Some(&config.to_string()),
    )?;
    assert_eq!(configured.status, 200, "{configured:?}");
    let event = json!({
        "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
        "path": "C:\\Users\\amy\\Downloads\\labelprint.exe",
        "sha256": "c0ffee00".repeat(8), "time": "2026-11-22T10:00:00Z",
    });
    let filed = call(
        "POST",
        &server.url("/requests"),
        &root,
        Some(&json!({"event": event, "message": "the new label printer"}).to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    // Lakeside's default deny tells it@lakeside.example; the server sends it.
    let subject = format!("Access request {id}");
    let start = std::time::Instant::now();
    let mail = loop {
        if let Some(mail) = smtp
            .messages()
            .into_iter()
            .find(|m| m.subject.contains(&subject))
        {
            break mail;
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            return Err(format!("no email for request {id}: {:?}", smtp.messages()).into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(mail.to, "it@lakeside.example", "{mail:?}");
    let link = mail
        .body
        .split_whitespace()
        .find(|word| word.starts_with("http") && word.contains("/approvals/requests/"))
        .ok_or("no link in the email")?
        .trim_end_matches(['.', ',', ')', '>'])
        .to_owned();
    assert_eq!(link, server.page(&format!("/approvals/requests/{id}")));
    Ok((id, link))
}

#[test]
fn from_the_email_to_the_proof_in_a_browser() -> Fallible {
    if tools().is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let smtp = SmtpServer::start(free_port(), dir.path());
    let server = start_web()?;
    let (id, link) = link_from_an_email(&server, &smtp)?;
    let driver = driver()?;
    run(async {
        let client = browser(&driver).await?;
        let mut outcome = flow(&client, &server, id, &link).await;
        if outcome.is_ok() {
            outcome = viewer_only(&client, &server).await;
        }
        client.close().await?;
        outcome
    })?;
    // Vera's posted form changed nothing: request 1 is still pending.
    let root = Auth::token(&token(&server, "root")?);
    let one = call("GET", &server.url("/requests/1"), &root, None)?;
    assert_eq!(one.json()["state"], "pending", "{one:?}");
    Ok(())
}

/// Opens the email's `link` (request `id`), signs in, previews and approves.
async fn flow(client: &Client, server: &Running, id: i64, link: &str) -> Fallible {
    let path = format!("/approvals/requests/{id}");
    // The email's link: the sign-in page first, then the request.
    client.goto(link).await?;
    assert!(client
        .current_url()
        .await?
        .path()
        .ends_with("/approvals/login"));
    screenshot(client, "login").await?;
    assert_labelled(client).await?;
    sign_in_by_keyboard(client, "ann").await?;
    client
        .wait()
        .for_element(Locator::Id("approve-form"))
        .await?;
    assert_eq!(client.current_url().await?.path(), path);
    // The queue, and the request opened from it.
    client.goto(&server.page("/approvals")).await?;
    let row = client.find(Locator::Id(&format!("request-{id}"))).await?;
    assert!(row.text().await?.contains("labelprint.exe"));
    assert_labelled(client).await?;
    screenshot(client, "queue").await?;
    row.find(Locator::Css("a")).await?.click().await?;
    client
        .wait()
        .for_element(Locator::Id("approve-form"))
        .await?;
    screenshot(client, "request").await?;
    // Preview: nothing is written yet.
    client
        .find(Locator::Id("matching"))
        .await?
        .select_by_value("hash")
        .await?;
    client
        .find(Locator::Id("preview-button"))
        .await?
        .click()
        .await?;
    let preview = client
        .wait()
        .for_element(Locator::Id("preview-outcome"))
        .await?;
    assert!(
        preview
            .text()
            .await?
            .contains(&format!("allow (policy `approval-{id}`)")),
        "{}",
        preview.text().await?
    );
    screenshot_at(client, "preview", Some("preview")).await?;
    // Approve, and the proof.
    client
        .find(Locator::Id("approve-button"))
        .await?
        .click()
        .await?;
    let proof = client
        .wait()
        .for_element(Locator::Id("proof-outcome"))
        .await?;
    assert_eq!(
        proof.text().await?,
        format!("allow (policy `approval-{id}`)")
    );
    screenshot(client, "approved").await?;
    // The link again, from another site (a mail client's page): the strict session
    // cookie does not come along at first, and yet the request opens, signed in.
    client
        .goto(&format!(
            "data:text/html,<a id=link href='{link}'>request {id}</a>"
        ))
        .await?;
    client.find(Locator::Id("link")).await?.click().await?;
    client.wait().for_element(Locator::Id("who")).await?;
    assert_eq!(client.current_url().await?.path(), path);
    Ok(())
}

/// Vera, with View Approvals only: the queue lists request 1 without a link, its page
/// has no approve button, and the approve form posted anyway (with her own session's
/// token) is refused.
async fn viewer_only(client: &Client, server: &Running) -> Fallible {
    client
        .find(Locator::Css("form.who button[type=submit]"))
        .await?
        .click()
        .await?;
    client.wait().for_element(Locator::Id("admin")).await?;
    client.goto(&server.page("/approvals/login")).await?;
    sign_in(client, "vera").await?;
    let row = client.wait().for_element(Locator::Id("request-1")).await?;
    // Her session's token, as every page of hers carries it.
    let csrf = client
        .find(Locator::Css("input[name=csrf]"))
        .await?
        .attr("value")
        .await?
        .ok_or("the page's token")?;
    assert!(row
        .find_all(Locator::Css("a[href^='/approvals/requests/']"))
        .await?
        .is_empty());
    client.goto(&server.page("/approvals/requests/1")).await?;
    client.wait().for_element(Locator::Id("problem")).await?;
    for id in ["approve-form", "approve-button"] {
        assert!(
            client.find(Locator::Id(id)).await.is_err(),
            "vera sees #{id}"
        );
    }
    // The approve form, built and posted as a hand-made page would.
    client
        .execute(
            "const csrf = arguments[0]; \
             const form = document.createElement('form'); \
             form.method = 'post'; form.action = '/approvals/requests/1/approve'; \
             for (const [k, v] of [['csrf', csrf], ['place', 'computer lakeside-fd-01'], ['matching', 'hash']]) { \
               const input = document.createElement('input'); \
               input.type = 'hidden'; input.name = k; input.value = v; form.appendChild(input); } \
             document.body.appendChild(form); form.submit();",
            vec![json!(csrf)],
        )
        .await?;
    let start = std::time::Instant::now();
    while !client.current_url().await?.path().ends_with("/approve") {
        assert!(start.elapsed().as_secs() < 10, "the form was not posted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let problem = client.wait().for_element(Locator::Id("problem")).await?;
    let heading = client.find(Locator::Css("h1")).await?.text().await?;
    assert!(
        heading.starts_with("403"),
        "{heading}: {}",
        problem.text().await?
    );
    screenshot(client, "refused").await?;
    Ok(())
}

#[test]
fn hostile_text_runs_nothing_in_a_browser() -> Fallible {
    if tools().is_none() {
        return Ok(());
    }
    let server = start_web()?;
    let driver = driver()?;
    run(async {
        let client = browser(&driver).await?;
        let outcome = hostile(&client, &server).await;
        client.close().await?;
        outcome
    })
}

async fn hostile(client: &Client, server: &Running) -> Fallible {
    client.goto(&server.page("/approvals/login")).await?;
    sign_in(client, "root").await?;
    client.wait().for_element(Locator::Id("request-2")).await?;
    assert_nothing_ran(client).await?;
    client.goto(&server.page("/approvals/requests/2")).await?;
    let message = client.find(Locator::Id("message")).await?.text().await?;
    // The message reads as it was written, its control characters shown.
    assert!(
        message.starts_with("<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"),
        "{message}"
    );
    assert!(message.contains("\\u{1b}[31m\\u{202e}"), "{message}");
    assert!(HOSTILE.starts_with("<script>"));
    assert_nothing_ran(client).await?;
    screenshot(client, "hostile").await?;
    // Hostile text in the form comes back inert too.
    let typed = "<script>alert(7)</script>\"'><img src=x onerror=alert(8)>";
    client
        .find(Locator::Id("justification"))
        .await?
        .send_keys(typed)
        .await?;
    client
        .find(Locator::Id("name"))
        .await?
        .send_keys("<img src=x onerror=alert(9)>")
        .await?;
    client
        .find(Locator::Id("preview-button"))
        .await?
        .click()
        .await?;
    client.wait().for_element(Locator::Id("preview")).await?;
    assert_nothing_ran(client).await?;
    // A rejection's reason, shown after.
    client
        .find(Locator::Id("reason"))
        .await?
        .send_keys(typed)
        .await?;
    client
        .find(Locator::Id("reject-button"))
        .await?
        .click()
        .await?;
    client
        .wait()
        .for_element(Locator::Css("p[role=status]"))
        .await?;
    assert_nothing_ran(client).await?;
    Ok(())
}

#[test]
fn suggestions_computers_audit_and_deploys_in_a_browser() -> Fallible {
    if tools().is_none() {
        return Ok(());
    }
    let server = start_web()?;
    // A suggestion (after one approval, at a threshold of one) and a deny to request.
    let root = Auth::token(&token(&server, "root")?);
    let changed = call(
        "PATCH",
        &server.url("/organizations/lakeside/settings"),
        &root,
        Some(r#"{"suggest_after": 1}"#),
    )?;
    assert_eq!(changed.status, 200, "{changed:?}");
    let approved = call(
        "POST",
        &server.url("/requests/1/approve"),
        &root,
        Some(r#"{"scope": "computer"}"#),
    )?;
    assert_eq!(approved.status, 200, "{approved:?}");
    crate::web_fleet::denied(
        &server,
        &root,
        &"beef".repeat(16),
        "C:\\Users\\amy\\Downloads\\scan.exe",
    )?;
    let driver = driver()?;
    run(async {
        let client = browser(&driver).await?;
        let outcome = others(&client, &server).await;
        client.close().await?;
        outcome
    })
}

async fn others(client: &Client, server: &Running) -> Fallible {
    client.goto(&server.page("/approvals/login")).await?;
    sign_in(client, "root").await?;
    client.wait().for_element(Locator::Id("request-2")).await?;
    client.goto(&server.page("/approvals/suggestions")).await?;
    client
        .find(Locator::Css("input[name=justification]"))
        .await?
        .send_keys("the whole desk prints labels")
        .await?;
    assert_labelled(client).await?;
    screenshot(client, "suggestions").await?;
    client
        .find(Locator::Css("form[action$='/apply'] button"))
        .await?
        .click()
        .await?;
    let done = client.wait().for_element(Locator::Id("done")).await?;
    assert!(done.text().await?.contains("is allowed at the wider scope"));
    client.goto(&server.page("/approvals/computers")).await?;
    assert_labelled(client).await?;
    screenshot(client, "computers").await?;
    client
        .find(Locator::Css(
            "a[href='/approvals/computers/lakeside-fd-01']",
        ))
        .await?
        .click()
        .await?;
    client
        .wait()
        .for_element(Locator::Id("maintenance"))
        .await?;
    assert_labelled(client).await?;
    screenshot(client, "computer").await?;
    client
        .find(Locator::Css("input[name=message]"))
        .await?
        .send_keys("Amy needs to scan")
        .await?;
    client
        .find(Locator::Css("form[action$='/request'] button"))
        .await?
        .click()
        .await?;
    let message = client.wait().for_element(Locator::Id("message")).await?;
    assert_eq!(message.text().await?, "Amy needs to scan");
    client
        .goto(&server.page("/approvals/audit?kind=approve"))
        .await?;
    assert_labelled(client).await?;
    screenshot(client, "audit").await?;
    client.find(Locator::Id("verify")).await?.click().await?;
    let verified = client.wait().for_element(Locator::Id("verified")).await?;
    assert!(verified.text().await?.contains("the chain verifies"));
    client.goto(&server.page("/approvals/deploys")).await?;
    assert_labelled(client).await?;
    screenshot(client, "deploys").await?;
    client
        .find(Locator::Css("form[action$='/rollback'] button"))
        .await?
        .click()
        .await?;
    let done = client.wait().for_element(Locator::Id("done")).await?;
    assert!(done.text().await?.contains("restored as version"));
    assert_nothing_ran(client).await?;
    Ok(())
}
