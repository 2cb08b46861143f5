//! The Approval Center's pages over plain HTTP: sign-in and its target, the second
//! factor, who may open what, CSRF on every form, hostile text made inert, and the
//! approval through the pages. (The browser drives the same pages in `browser`.)

use portcullis_governance::{FileRequest, Governance, Grant, Grantable, Permission};
use serde_json::json;

use crate::support::*;

/// Text a user or agent might send to break a page: markup, quotes, a `javascript:`
/// URL, and control characters.
pub const HOSTILE: &str =
    "<script>alert(1)</script>\"'><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a>\u{1b}[31m\u{202e}";

/// [`HOSTILE`] as a path can hold it: without control characters or a colon (a path
/// the engine cannot normalize is denied outright, and cannot be requested).
const PRINTABLE: &str = "<script>alert(1)<\\script>\"'><img src=x onerror=alert(2)>";

/// The example tenancy plus `vera` (View Approvals only, in lakeside) and request 2,
/// filed with [`HOSTILE`] in every field a user or agent writes.
pub fn start_web() -> Fallible<Running> {
    start_full(setup, |_| {})
}

fn setup(gov: &mut Governance) -> Fallible {
    gov.put_admin("root", admin("vera", "lakeside"))?;
    gov.grant(
        "root",
        Grant {
            admin: "vera".to_owned(),
            organization: "lakeside".to_owned(),
            what: Grantable::Permission(Permission::ViewApprovals),
        },
    )?;
    let event = json!({
        "computer": "lakeside-fd-01",
        "user": format!("LAKESIDE\\{HOSTILE}"),
        "path": format!("C:\\Users\\amy\\Downloads\\{PRINTABLE}.exe"),
        "sha256": "1234abcd".repeat(8),
        "signature": {"status": "invalid", "signers": [{
            "subject": format!("CN={}, O=Evil", HOSTILE.replace([',', '=', '+', ';', '\\'], " ")),
            "issuer": "CN=\"quoted <b>issuer</b>\"",
        }]},
        "parent": format!("C:\\{PRINTABLE}\\parent.exe"),
        "created_by": format!("C:\\{PRINTABLE}\\writer.exe"),
        "time": "2026-11-22T10:00:00Z",
    });
    let event = portcullis_engine::Limits::default()
        .parse_event(&event.to_string())
        .map_err(|e| e.to_string())?;
    gov.file_request(FileRequest {
        kind: portcullis_governance::AccessRequestKind::Application,
        event,
        message: HOSTILE.to_owned(),
        email: Some("o'neil+x@lakeside.example".to_owned()),
        attachment: None,
    })?;
    Ok(())
}

/// Posts the sign-in form as a browser does: its token from the page, with the cookie
/// the page set.
pub fn sign_in_form(server: &Running, fields: &[(&str, &str)]) -> Fallible<Answer> {
    let page = call(
        "GET",
        &server.page("/approvals/login?again=1"),
        &Auth::default(),
        None,
    )?;
    let cookie = page
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .ok_or("the sign-in page sets its cookie")?
        .to_owned();
    let token = page
        .text()
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("the sign-in form's token")?
        .to_owned();
    let mut sent = fields.to_vec();
    sent.push(("csrf", &token));
    let auth = Auth {
        cookie: Some(cookie),
        ..Auth::default()
    };
    post_form(&server.page("/approvals/login"), &auth, &sent)
}

#[test]
fn the_sign_in_form_needs_its_own_token() -> Fallible {
    let server = start_web()?;
    let fields = [("admin", "ann"), ("password", PASSWORD)];
    // Posted from elsewhere: no cookie, or a token that is not the cookie's.
    let bare = post_form(&server.page("/approvals/login"), &Auth::default(), &fields)?;
    assert_eq!(bare.status, 403, "{bare:?}");
    let page = call(
        "GET",
        &server.page("/approvals/login"),
        &Auth::default(),
        None,
    )?;
    let cookie = page
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .ok_or("cookie")?;
    let forged = post_form(
        &server.page("/approvals/login"),
        &Auth {
            cookie: Some(cookie.to_owned()),
            ..Auth::default()
        },
        &[
            ("admin", "ann"),
            ("password", PASSWORD),
            ("csrf", "login_forged"),
        ],
    )?;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(forged.text().contains("sign in again here"), "{forged:?}");
    let good = sign_in_form(&server, &fields)?;
    assert_eq!(good.status, 303, "{good:?}");
    assert!(good
        .set_cookie
        .as_deref()
        .unwrap_or("")
        .starts_with("portcullis_session="));
    Ok(())
}

/// Asserts that a page shows hostile text only as text.
pub fn assert_inert(html: &str) {
    assert!(!html.contains("<script>"), "a raw <script> tag:\n{html}");
    assert!(!html.contains("<img"), "a raw <img> tag");
    // The quotes that would end an attribute and start a new tag stay escaped, so no
    // event handler or tag of the hostile text gets into the markup.
    assert!(!html.contains("\"'>"), "an attribute broken out of");
    assert!(
        !html.to_lowercase().contains("href=\"javascript:"),
        "a javascript: link"
    );
    assert!(
        !html.contains('\u{1b}') && !html.contains('\u{202e}'),
        "a raw control character"
    );
}

#[test]
fn a_page_sends_a_visitor_to_sign_in_and_back_to_it() -> Fallible {
    let server = start_web()?;
    let page = call(
        "GET",
        &server.page("/approvals/requests/1"),
        &Auth::default(),
        None,
    )?;
    assert_eq!(page.status, 303, "{page:?}");
    let to = page.location.clone().unwrap_or_default();
    assert_eq!(to, "/approvals/login?next=/approvals/requests/1");
    let form = call("GET", &server.page(&to), &Auth::default(), None)?;
    assert_eq!(form.status, 200);
    assert!(
        form.text()
            .contains(r#"name="next" value="/approvals/requests/1""#),
        "{form:?}"
    );
    // Another site is never a target.
    let evil = sign_in_form(
        &server,
        &[
            ("admin", "ann"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ],
    )?;
    assert_eq!(evil.location.as_deref(), Some("/approvals"));
    let wrong = sign_in_form(
        &server,
        &[
            ("admin", "ann"),
            ("password", "not it"),
            ("next", "/approvals/requests/1"),
        ],
    )?;
    assert_eq!(wrong.status, 401);
    assert!(wrong
        .text()
        .contains("the administrator id or the password is wrong"));
    let signed = sign_in_form(
        &server,
        &[
            ("admin", "ann"),
            ("password", PASSWORD),
            ("next", "/approvals/requests/1"),
        ],
    )?;
    assert_eq!(signed.status, 303, "{signed:?}");
    assert_eq!(signed.location.as_deref(), Some("/approvals/requests/1"));
    let cookie = signed
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .ok_or("cookie")?;
    let opened = call(
        "GET",
        &server.page("/approvals/requests/1"),
        &Auth {
            cookie: Some(cookie.to_owned()),
            ..Auth::default()
        },
        None,
    )?;
    assert_eq!(opened.status, 200, "{opened:?}");
    assert!(opened.text().contains("labelprint.exe"));
    Ok(())
}

#[test]
fn the_second_factor_is_asked_for_at_sign_in() -> Fallible {
    use portcullis_server::totp;
    let server = start_web()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let begun = call("POST", &server.url("/totp"), &ann, None)?;
    let secret = begun.json()["secret"].as_str().ok_or("secret")?.to_owned();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let code = format!("{:06}", totp::code(&secret, now()).unwrap());
    let confirmed = call(
        "POST",
        &server.url("/totp/confirm"),
        &ann,
        Some(&json!({"code": code}).to_string()),
    )?;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let without = sign_in_form(
        &server,
        &[
            ("admin", "ann"),
            ("password", PASSWORD),
            ("next", "/approvals/requests/1"),
        ],
    )?;
    assert_eq!(without.status, 401);
    assert!(
        without
            .text()
            .contains("enter the code from the authenticator"),
        "{without:?}"
    );
    assert!(
        without.text().contains(r#"value="/approvals/requests/1""#),
        "the target is kept"
    );
    // The next step's code (each code works once; the one above confirmed the factor).
    let next = format!("{:06}", totp::code(&secret, now() + totp::STEP).unwrap());
    let with = sign_in_form(
        &server,
        &[
            ("admin", "ann"),
            ("password", PASSWORD),
            ("code", &next),
            ("next", "/approvals/requests/1"),
        ],
    )?;
    assert_eq!(with.status, 303, "{with:?}");
    assert_eq!(with.location.as_deref(), Some("/approvals/requests/1"));
    Ok(())
}

#[test]
fn view_approvals_lists_the_queue_but_opens_no_request() -> Fallible {
    let server = start_web()?;
    let vera = sign_in(&server, "vera")?;
    let queue = call("GET", &server.page("/approvals"), &vera, None)?;
    assert_eq!(queue.status, 200, "{queue:?}");
    let html = queue.text();
    assert!(html.contains(r#"id="request-1""#), "{html}");
    assert!(
        !html.contains("href=\"/approvals/requests/1\""),
        "no link to open it"
    );
    let opened = call("GET", &server.page("/approvals/requests/1"), &vera, None)?;
    assert_eq!(opened.status, 403, "{opened:?}");
    assert!(
        opened.text().contains("open application requests"),
        "{opened:?}"
    );
    let file = call(
        "GET",
        &server.page("/approvals/requests/1/file"),
        &vera,
        None,
    )?;
    assert_eq!(file.status, 403);
    Ok(())
}

#[test]
fn another_tenants_administrator_neither_lists_nor_opens_a_request() -> Fallible {
    let server = start_web()?;
    let hank = sign_in(&server, "hank")?;
    let queue = call("GET", &server.page("/approvals?state=all"), &hank, None)?;
    assert_eq!(queue.status, 200, "{queue:?}");
    assert!(!queue.text().contains("request-1"), "{queue:?}");
    for path in ["/approvals/requests/1", "/approvals/requests/1/file"] {
        let opened = call("GET", &server.page(path), &hank, None)?;
        assert_eq!(opened.status, 403, "{path}: {opened:?}");
        assert!(!opened.text().contains("labelprint"));
    }
    let csrf = hank.csrf.clone().unwrap_or_default();
    let approve = post_form(
        &server.page("/approvals/requests/1/approve"),
        &hank,
        &[("csrf", &csrf), ("place", "computer lakeside-fd-01")],
    )?;
    assert_eq!(approve.status, 403, "{approve:?}");
    Ok(())
}

/// Every form that changes something, with the fields it needs.
const FORMS: &[(&str, &[(&str, &str)])] = &[
    (
        "/approvals/requests/1/preview",
        &[("place", "computer lakeside-fd-01"), ("matching", "hash")],
    ),
    (
        "/approvals/requests/1/approve",
        &[("place", "computer lakeside-fd-01"), ("matching", "hash")],
    ),
    ("/approvals/requests/1/reject", &[("reason", "no")]),
    (
        "/approvals/suggestions/apply",
        &[
            ("organization", "lakeside"),
            (
                "sha256",
                "51b1092c5df7dd6047fb4ffc1e0ad41736ee13bb915fc84d41afd1f4c62f22e7",
            ),
        ],
    ),
    (
        "/approvals/computers/lakeside-fd-01/maintenance",
        &[("mode", "monitor"), ("until", "2099-01-01T00:00")],
    ),
    (
        "/approvals/computers/lakeside-fd-01/request",
        &[("seq", "1"), ("message", "x")],
    ),
    ("/approvals/audit/verify", &[]),
    ("/approvals/deploys/rollback", &[("version", "1")]),
    ("/approvals/logout", &[]),
];

#[test]
fn every_form_needs_the_sessions_csrf_token() -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    for (path, fields) in FORMS {
        for csrf in [None, Some("forged")] {
            let mut sent: Vec<(&str, &str)> = fields.to_vec();
            if let Some(c) = csrf {
                sent.push(("csrf", c));
            }
            let answer = post_form(&server.page(path), &root, &sent)?;
            assert_eq!(answer.status, 403, "{path} with {csrf:?}: {answer:?}");
            assert!(answer.text().contains("CSRF token"), "{answer:?}");
        }
    }
    // Nothing changed: the request is pending, the session still works.
    let request = call("GET", &server.url("/requests/1"), &root, None)?;
    assert_eq!(request.json()["state"], "pending", "{request:?}");
    Ok(())
}

#[test]
fn hostile_text_from_users_and_agents_is_shown_inert() -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    for path in [
        "/approvals",
        "/approvals/requests/2",
        "/approvals?state=all&user=%3Cscript%3E",
    ] {
        let page = call("GET", &server.page(path), &root, None)?;
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert_inert(&page.text());
        assert!(
            page.text().contains("&#60;script&#62;"),
            "{path}: shown as text"
        );
    }
    let request = call("GET", &server.page("/approvals/requests/2"), &root, None)?.text();
    assert!(
        request.contains("\\u{1b}[31m"),
        "control characters are shown, not obeyed"
    );
    let preview = post_form(
        &server.page("/approvals/requests/2/preview"),
        &root,
        &[
            ("csrf", &csrf),
            ("place", "computer lakeside-fd-01"),
            ("matching", "custom"),
            ("rule_path", HOSTILE),
            ("justification", HOSTILE),
            ("name", HOSTILE),
        ],
    )?;
    assert_inert(&preview.text());
    let bad_place = post_form(
        &server.page("/approvals/requests/2/preview"),
        &root,
        &[("csrf", &csrf), ("place", HOSTILE)],
    )?;
    assert_eq!(bad_place.status, 400, "{bad_place:?}");
    assert_inert(&bad_place.text());
    let rejected = post_form(
        &server.page("/approvals/requests/2/reject"),
        &root,
        &[("csrf", &csrf), ("reason", HOSTILE)],
    )?;
    assert_eq!(rejected.status, 200, "{rejected:?}");
    assert_inert(&rejected.text());
    let closed = call("GET", &server.page("/approvals/requests/2"), &root, None)?;
    assert_inert(&closed.text());
    Ok(())
}

#[test]
fn a_request_is_previewed_then_approved_with_its_proof() -> Fallible {
    let server = start_web()?;
    let ann = sign_in(&server, "ann")?;
    let csrf = ann.csrf.clone().unwrap_or_default();
    let page = call("GET", &server.page("/approvals/requests/1"), &ann, None)?.text();
    // Ann approves for single computers only: the form offers nothing wider.
    assert!(
        page.contains(r#"<option value="computer lakeside-fd-01""#),
        "{page}"
    );
    assert!(
        !page.contains(r#"value="group "#) && !page.contains(r#"value="organization "#),
        "{page}"
    );
    let fields = [
        ("csrf", csrf.as_str()),
        ("place", "computer lakeside-fd-01"),
        ("matching", "hash"),
    ];
    let preview = post_form(&server.page("/approvals/requests/1/preview"), &ann, &fields)?;
    assert_eq!(preview.status, 200, "{preview:?}");
    let text = preview.text();
    assert!(
        text.contains("would then be: <strong>allow (policy `approval-1`)"),
        "{text}"
    );
    assert!(
        text.contains("<code>lakeside-fd-01</code>"),
        "the computers it covers"
    );
    // A preview writes nothing.
    let still = call("GET", &server.page("/approvals/requests/1"), &ann, None)?.text();
    assert!(still.contains("pending"));
    let wider = post_form(
        &server.page("/approvals/requests/1/preview"),
        &ann,
        &[
            ("csrf", csrf.as_str()),
            ("place", "group lakeside-ws"),
            ("matching", "hash"),
        ],
    )?;
    assert_eq!(wider.status, 403, "{wider:?}");
    let approved = post_form(&server.page("/approvals/requests/1/approve"), &ann, &fields)?;
    assert_eq!(approved.status, 200, "{approved:?}");
    let text = approved.text();
    assert!(text.contains("Request 1 approved"), "{text}");
    assert!(
        text.contains(r#"<strong id="proof-outcome">allow (policy `approval-1`)</strong>"#),
        "{text}"
    );
    let again = post_form(&server.page("/approvals/requests/1/approve"), &ann, &fields)?;
    assert_eq!(again.status, 409, "{again:?}");
    Ok(())
}

#[test]
fn bad_input_is_a_clear_page_never_a_failure() -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    for (path, status) in [
        ("/approvals/requests/999", 404),
        ("/approvals/requests/x", 400),
        ("/approvals?state=nonsense", 400),
        ("/approvals?page=0", 400),
        ("/approvals?page=x", 400),
        ("/approvals/no/such/page", 404),
    ] {
        let page = call("GET", &server.page(path), &root, None)?;
        assert_eq!(page.status, status, "{path}: {page:?}");
        assert!(page.content_type.starts_with("text/html"), "{page:?}");
    }
    for fields in [
        vec![
            ("csrf", csrf.as_str()),
            ("place", "computer lakeside-fd-01"),
            ("expires", "tomorrow"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            ("place", "computer lakeside-fd-01"),
            ("position", "first"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            ("place", "computer lakeside-fd-01"),
            ("matching", "custom"),
        ],
    ] {
        let answer = post_form(
            &server.page("/approvals/requests/1/preview"),
            &root,
            &fields,
        )?;
        assert!(
            answer.status == 400 || answer.status == 422,
            "{fields:?}: {answer:?}"
        );
        assert!(answer.text().contains(r#"id="problem""#));
    }
    Ok(())
}

#[test]
fn the_queue_is_paged_newest_first_and_the_links_keep_the_filters() -> Fallible {
    // Request 1, then 119 more: 120 pending on lakeside-fd-01.
    let server = start_full(|gov| file_many(gov, 119), |_| {})?;
    let ann = sign_in(&server, "ann")?;
    let rows = |html: &str| -> Vec<i64> {
        html.split(r#"<tr id="request-"#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    };
    let first = call(
        "GET",
        &server.page("/approvals?computer=lakeside-fd-01"),
        &ann,
        None,
    )?;
    assert_eq!(first.status, 200, "{first:?}");
    // The page's ampersands are escaped.
    let html = first.text().replace("&#38;", "&");
    assert_eq!(rows(&html), (71..=120).rev().collect::<Vec<i64>>());
    assert!(html.contains("Page 1 of 3 (120 matching"), "{html}");
    assert!(!html.contains(r#"id="previous""#));
    let next = "/approvals?state=pending&computer=lakeside-fd-01&page=2";
    assert!(
        html.contains(&format!(r#"id="next" rel="next" href="{next}""#)),
        "{html}"
    );
    let last = call(
        "GET",
        &server.page("/approvals?state=pending&computer=lakeside-fd-01&page=3"),
        &ann,
        None,
    )?;
    let html = last.text().replace("&#38;", "&");
    assert_eq!(rows(&html), (1..=20).rev().collect::<Vec<i64>>());
    assert!(html.contains("Page 3 of 3"), "{html}");
    assert!(!html.contains(r#"id="next""#));
    assert!(html.contains(
        r#"id="previous" rel="prev" href="/approvals?state=pending&computer=lakeside-fd-01&page=2""#
    ));
    // Past the end: no row, and the way back.
    let beyond = call("GET", &server.page("/approvals?page=9"), &ann, None)?;
    assert_eq!(beyond.status, 200, "{beyond:?}");
    assert!(rows(&beyond.text()).is_empty());
    assert!(beyond.text().contains(r#"id="previous""#));
    Ok(())
}

#[test]
fn the_notifications_link_opens_the_request_in_the_approval_center() -> Fallible {
    let server = start_web()?;
    let root = Auth::token(&token(&server, "root")?);
    let event = json!({
        "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
        "path": "C:\\Users\\amy\\Downloads\\labelprint2.exe",
        "sha256": "cafe".repeat(16), "time": "2026-11-22T10:00:00Z",
    });
    let filed = call(
        "POST",
        &server.url("/requests"),
        &root,
        Some(&json!({"event": event, "message": "labels again"}).to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    // Lakeside's default deny tells it@lakeside.example, with the link.
    let outbox = call("GET", &server.url("/notifications/outbox"), &root, None)?;
    assert_eq!(outbox.status, 200, "{outbox:?}");
    let link = format!("http://{}/approvals/requests/{id}", server.addr);
    assert!(outbox.text().contains(&link), "{link} in {}", outbox.text());
    let ann = sign_in(&server, "ann")?;
    let opened = call("GET", &link, &ann, None)?;
    assert_eq!(opened.status, 200, "{opened:?}");
    assert!(opened.text().contains("labelprint2.exe"));
    Ok(())
}

#[test]
fn the_attached_copy_is_downloaded_checked_against_its_hash() -> Fallible {
    let server = start_web()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let event = std::fs::read_to_string(root.join("examples/request/blocked-dc.json"))?;
    let copy = std::fs::read(root.join("examples/request/labelprint.exe"))?;
    let uploaded = call_bytes("PUT", &server.url("/uploads"), &ann, &copy)?;
    let sha = uploaded.json()["sha256"]
        .as_str()
        .ok_or("sha256")?
        .to_owned();
    let body = json!({"event": serde_json::from_str::<serde_json::Value>(&event)?,
        "message": "labels", "file": sha});
    let filed = call(
        "POST",
        &server.url("/requests"),
        &ann,
        Some(&body.to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    let session = sign_in(&server, "ann")?;
    let page = call(
        "GET",
        &server.page(&format!("/approvals/requests/{id}")),
        &session,
        None,
    )?
    .text();
    let link = format!(r#"href="/approvals/requests/{id}/file""#);
    assert!(page.contains(&link), "{page}");
    let fetched = call(
        "GET",
        &server.page(&format!("/approvals/requests/{id}/file")),
        &session,
        None,
    )?;
    assert_eq!(fetched.status, 200, "{fetched:?}");
    assert_eq!(fetched.content_type, "application/octet-stream");
    assert!(fetched.body == copy);
    // No copy: a clear page.
    let none = call(
        "GET",
        &server.page("/approvals/requests/1/file"),
        &session,
        None,
    )?;
    assert!(none.status >= 400 && none.status < 500, "{none:?}");
    assert!(none.content_type.starts_with("text/html"));
    Ok(())
}

#[test]
fn an_approval_an_earlier_policy_still_blocks_is_previewed_as_such_and_refused() -> Fallible {
    let server = start_web()?;
    let root_token = Auth::token(&token(&server, "root")?);
    let event = json!({
        "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
        "path": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "sha256": "0d".repeat(32), "time": "2026-11-22T10:00:00Z",
    });
    let filed = call(
        "POST",
        &server.url("/requests"),
        &root_token,
        Some(&json!({"event": event, "message": "scripts"}).to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    let fields = [
        ("csrf", csrf.as_str()),
        ("place", "computer lakeside-fd-01"),
        ("matching", "hash"),
    ];
    let preview = post_form(
        &server.page(&format!("/approvals/requests/{id}/preview")),
        &root,
        &fields,
    )?;
    assert_eq!(preview.status, 200, "{preview:?}");
    let text = preview.text();
    assert!(
        text.contains("An earlier policy would still decide") && text.contains("deny-powershell"),
        "{text}"
    );
    let approve = post_form(
        &server.page(&format!("/approvals/requests/{id}/approve")),
        &root,
        &fields,
    )?;
    assert_eq!(approve.status, 422, "{approve:?}");
    assert!(
        approve.text().contains("deny-powershell"),
        "{}",
        approve.text()
    );
    assert!(
        approve
            .text()
            .contains(r#"<span class="state pending">pending</span>"#),
        "not approved"
    );
    // A guardrail is shown too: wider than a computer before the software was ever approved.
    let wider = post_form(
        &server.page("/approvals/requests/1/preview"),
        &root,
        &[
            ("csrf", csrf.as_str()),
            ("place", "group lakeside-ws"),
            ("matching", "hash"),
            ("justification", "desk"),
        ],
    )?;
    assert_eq!(wider.status, 422, "{wider:?}");
    assert!(
        wider.text().contains("approve it at computer scope first"),
        "{}",
        wider.text()
    );
    Ok(())
}

#[test]
fn every_page_needs_a_session_and_signing_out_ends_it() -> Fallible {
    let server = start_web()?;
    for path in [
        "/approvals",
        "/approvals/requests/1",
        "/approvals/requests/1/file",
        "/approvals/suggestions",
        "/approvals/computers",
        "/approvals/computers/lakeside-fd-01",
        "/approvals/audit",
        "/approvals/deploys",
    ] {
        let page = call("GET", &server.page(path), &Auth::default(), None)?;
        assert_eq!(page.status, 303, "{path}: {page:?}");
        assert!(
            page.location
                .as_deref()
                .unwrap_or("")
                .starts_with("/approvals/login?next="),
            "{path}"
        );
    }
    for (path, _) in FORMS {
        let page = post_form(&server.page(path), &Auth::default(), &[("csrf", "x")])?;
        assert_eq!(page.status, 303, "{path}: {page:?}");
    }
    // An API token does not open pages: they are for a signed-in browser.
    let token = Auth::token(&token(&server, "root")?);
    let page = call("GET", &server.page("/approvals"), &token, None)?;
    assert_eq!(page.status, 303, "{page:?}");
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    let out = post_form(&server.page("/approvals/logout"), &root, &[("csrf", &csrf)])?;
    assert_eq!(out.status, 303, "{out:?}");
    let after = call("GET", &server.page("/approvals"), &root, None)?;
    assert_eq!(after.status, 303, "the session ended: {after:?}");
    Ok(())
}

#[test]
fn the_approval_plugins_verdicts_are_on_the_requests_page() -> Fallible {
    use sha2::Digest;
    let listed = "feed".repeat(16);
    let hashes = listed.clone();
    let server = start_full(
        move |gov| {
            setup(gov)?;
            let rego = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../plugins/examples/rego/known-bad.rego");
            let content = std::fs::read(rego)?;
            let sha: [u8; 32] = sha2::Sha256::digest(&content).into();
            gov.attach_plugin(
                "root",
                portcullis_governance::PluginAttachment {
                    organization: "lakeside".into(),
                    name: "known-bad".into(),
                    hook: "approval-review".into(),
                    file_name: "known-bad.rego".into(),
                    content,
                    sha256: portcullis_engine::model::Sha256(sha),
                    config: [("hashes".to_owned(), hashes)].into(),
                    vectors: Vec::new(),
                    generation: 0,
                },
            )?;
            Ok(())
        },
        |_| {},
    )?;
    let root = Auth::token(&token(&server, "root")?);
    let event = json!({
        "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
        "path": "C:\\Users\\amy\\Downloads\\bad.exe",
        "sha256": listed, "time": "2026-11-22T10:00:00Z",
    });
    let filed = call(
        "POST",
        &server.url("/requests"),
        &root,
        Some(&json!({"event": event, "message": "please"}).to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    let session = sign_in(&server, "root")?;
    let page = call(
        "GET",
        &server.page(&format!("/approvals/requests/{id}")),
        &session,
        None,
    )?
    .text();
    assert!(page.contains("plugin:known-bad: plugin-verdict"), "{page}");
    assert!(page.contains("is on the known-bad list"), "{page}");
    assert!(page.contains("rejected by plugin:known-bad"), "{page}");
    Ok(())
}

#[test]
fn the_approve_form_offers_what_the_administrator_may_use_and_each_option_works() -> Fallible {
    let server = start_web()?;
    let ann = sign_in(&server, "ann")?;
    let hers = call("GET", &server.page("/approvals/requests/1"), &ann, None)?.text();
    for absent in [
        r#"id="elevate""#,
        r#"id="position""#,
        r#"value="custom""#,
        r#"value="ehr-client""#,
    ] {
        assert!(!hers.contains(absent), "ann is offered {absent}");
    }
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    let page = call("GET", &server.page("/approvals/requests/1"), &root, None)?.text();
    for present in [
        r#"id="elevate""#,
        r#"id="position""#,
        r#"value="custom""#,
        r#"value="ehr-client""#,
        r#"value="group lakeside-ws""#,
        r#"value="organization lakeside""#,
        r#"value="organization northwind""#,
        r#"value="global lakeside""#,
        "needs a justification",
    ] {
        assert!(page.contains(present), "root is not offered {present}");
    }
    let fields = [
        ("csrf", csrf.as_str()),
        ("place", "computer lakeside-fd-01"),
        ("matching", "hash"),
        ("application", "ehr-client"),
        ("elevate", "on"),
        ("expires", "2099-06-30T12:00"),
        ("justification", "front desk labels"),
    ];
    let preview = post_form(
        &server.page("/approvals/requests/1/preview"),
        &root,
        &fields,
    )?;
    assert_eq!(preview.status, 200, "{preview:?}");
    let text = preview.text();
    assert!(
        text.contains("added to application <code>ehr-client</code>"),
        "{text}"
    );
    assert!(
        text.contains("permit, elevated") && text.contains("until 2099-06-30T12:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains(r#"value="2099-06-30T12:00""#) && text.contains("front desk labels"),
        "the form is kept"
    );
    let approved = post_form(
        &server.page("/approvals/requests/1/approve"),
        &root,
        &fields,
    )?;
    assert_eq!(approved.status, 200, "{approved:?}");
    assert!(
        // The rule joined ehr-client, which an earlier policy permits already.
        approved.text().contains("allow (policy `permit-ehr`)"),
        "{}",
        approved.text()
    );
    Ok(())
}
