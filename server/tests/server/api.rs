//! The API against a real server on loopback: signing in, sessions and CSRF, tokens,
//! invitations, the approval workflow, every operation without credentials and with
//! another tenant's, and bad input.

use std::collections::BTreeMap;

use super::support::{agent, call, sign_in, start, token, Auth, Fallible, PASSWORD};
use serde_json::{json, Value};

#[test]
fn an_approval_through_the_api_allows_the_execution_and_is_refused_to_another_tenant() -> Fallible {
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let hank = Auth::token(&token(&server, "hank")?);

    let queue = call("GET", &server.url("/requests"), &ann, None)?;
    assert_eq!(queue.status, 200, "{queue:?}");
    assert_eq!(queue.json().as_array().map(Vec::len), Some(1));
    assert_eq!(queue.json()[0]["id"], 1);

    // Harbor's administrator sees none of Lakeside's queue, and may not open,
    // approve or reject its request: the same sentences as the command line.
    let theirs = call("GET", &server.url("/requests"), &hank, None)?;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.json(), json!([]));
    for (method, path, body) in [
        ("GET", "/requests/1", None),
        ("POST", "/requests/1/approve", Some("{}")),
        ("POST", "/requests/1/reject", Some(r#"{"reason": "no"}"#)),
    ] {
        let refused = call(method, &server.url(path), &hank, body)?;
        assert_eq!(refused.status, 403, "{method} {path}: {refused:?}");
        assert_eq!(refused.content_type, "application/problem+json");
        assert!(
            refused.detail().contains("`hank` may not") && refused.detail().contains("lakeside"),
            "{}",
            refused.detail()
        );
    }

    let shown = call("GET", &server.url("/requests/1"), &ann, None)?;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["computer"], "lakeside-fd-01");

    let approved = call(
        "POST",
        &server.url("/requests/1/approve"),
        &ann,
        Some(r#"{"scope": "computer", "match": "hash"}"#),
    )?;
    assert_eq!(approved.status, 200, "{approved:?}");
    let approved = approved.json();
    assert_eq!(approved["request"]["state"], "approved");
    assert_eq!(approved["proof"]["decision"], "allow", "{approved}");

    let again = call("POST", &server.url("/requests/1/approve"), &ann, Some("{}"))?;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(
        again.detail().contains("already approved"),
        "{}",
        again.detail()
    );
    Ok(())
}

#[test]
fn sessions_need_their_csrf_token_to_change_anything_and_end_on_sign_out() -> Fallible {
    let server = start()?;
    let session = sign_in(&server, "ann")?;
    let cookie = session.cookie.clone().ok_or("no cookie")?;
    let answer = call(
        "POST",
        &server.url("/session"),
        &Auth::default(),
        Some(&format!(r#"{{"admin": "ann", "password": "{PASSWORD}"}}"#)),
    )?;
    let set_cookie = answer.set_cookie.unwrap_or_default();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");

    let cookie_only = Auth {
        cookie: Some(cookie.clone()),
        ..Auth::default()
    };
    let me = call("GET", &server.url("/session"), &cookie_only, None)?;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["admin"], "ann");
    assert_eq!(me.json()["csrf"], json!(session.csrf));

    let forged = call(
        "POST",
        &server.url("/tokens"),
        &cookie_only,
        Some(r#"{"name": "x"}"#),
    )?;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(forged.detail().contains("CSRF"), "{}", forged.detail());
    let wrong = Auth {
        csrf: Some("csrf_wrong".to_owned()),
        ..cookie_only.clone()
    };
    assert_eq!(
        call(
            "POST",
            &server.url("/tokens"),
            &wrong,
            Some(r#"{"name": "x"}"#)
        )?
        .status,
        403
    );
    let listed = call("GET", &server.url("/tokens"), &cookie_only, None)?;
    assert_eq!(listed.json(), json!([]), "the forged calls made nothing");

    let out = call("DELETE", &server.url("/session"), &session, None)?;
    assert_eq!(out.status, 204, "{out:?}");
    let after = call("GET", &server.url("/session"), &cookie_only, None)?;
    assert_eq!(after.status, 401);
    assert!(
        after.detail().contains("sign in again"),
        "{}",
        after.detail()
    );
    Ok(())
}

#[test]
fn tokens_are_shown_once_listed_by_name_and_stop_working_when_revoked() -> Fallible {
    let server = start()?;
    let session = sign_in(&server, "ann")?;
    let made = call(
        "POST",
        &server.url("/tokens"),
        &session,
        Some(r#"{"name": "laptop"}"#),
    )?;
    assert_eq!(made.status, 201);
    let secret = made.json()["token"].as_str().ok_or("token")?.to_owned();
    assert!(secret.starts_with("pct_"));
    let twice = call(
        "POST",
        &server.url("/tokens"),
        &session,
        Some(r#"{"name": "laptop"}"#),
    )?;
    assert_eq!(twice.status, 409, "{twice:?}");

    let bearer = Auth::token(&secret);
    let listed = call("GET", &server.url("/tokens"), &bearer, None)?;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    assert_eq!(listed[0]["name"], "laptop");
    assert!(listed[0]["last_used"].is_i64(), "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "the token is never shown again"
    );
    let stored = server.stored_credentials()?;
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "only the token's digest is stored"
    );

    let revoked = call("DELETE", &server.url("/tokens/laptop"), &session, None)?;
    assert_eq!(revoked.status, 204);
    let refused = call("GET", &server.url("/requests"), &bearer, None)?;
    assert_eq!(refused.status, 401);
    assert!(refused.detail().contains("revoked"), "{}", refused.detail());
    let gone = call("DELETE", &server.url("/tokens/laptop"), &session, None)?;
    assert_eq!(gone.status, 404);
    Ok(())
}

#[test]
fn failed_sign_ins_are_refused_alike_rate_limited_and_audited() -> Fallible {
    let server = start()?;
    let attempt = |admin: &str, password: &str| {
        call(
            "POST",
            &server.url("/session"),
            &Auth::default(),
            Some(&json!({"admin": admin, "password": password}).to_string()),
        )
    };
    let unknown = attempt("nobody", "whatever whatever")?;
    let wrong = attempt("ann", "wrong wrong wrong")?;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(
        unknown.detail(),
        wrong.detail(),
        "nothing tells whether `ann` exists"
    );
    for _ in 0..4 {
        assert_eq!(attempt("ann", "wrong wrong wrong")?.status, 401);
    }
    let stopped = attempt("ann", PASSWORD)?;
    assert_eq!(stopped.status, 429, "{stopped:?}");
    let wait: u64 = stopped
        .retry_after
        .as_deref()
        .ok_or("Retry-After")?
        .parse()?;
    assert!((1..=900).contains(&wait), "{wait}");
    // Hammering on is refused too, and audited once a window, not once a call.
    for _ in 0..3 {
        assert_eq!(attempt("ann", PASSWORD)?.status, 429);
    }
    // Another administrator from the same address may still sign in.
    assert_eq!(attempt("hank", PASSWORD)?.status, 200);

    let gov = server.open()?;
    let query = portcullis_governance::AuditQuery {
        log: Some(portcullis_governance::AuditLog::System),
        kind: Some("sign-in-failed".to_owned()),
        ..Default::default()
    };
    let entries = gov.search_audit("root", &query)?;
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert!(entries.iter().any(|e| e.entry.actor == "nobody"));
    let throttled = portcullis_governance::AuditQuery {
        kind: Some("sign-in-throttled".to_owned()),
        ..query
    };
    assert_eq!(gov.search_audit("root", &throttled)?.len(), 1);
    Ok(())
}

#[test]
fn an_invitation_sets_a_password_once_and_needs_edit_administrators() -> Fallible {
    let server = start()?;
    let root = Auth::token(&token(&server, "root")?);
    let ann = Auth::token(&token(&server, "ann")?);

    let refused = call(
        "POST",
        &server.url("/administrators/hank/invitation"),
        &ann,
        None,
    )?;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.detail().contains("edit administrators"),
        "{}",
        refused.detail()
    );

    let invited = call(
        "POST",
        &server.url("/administrators/hank/invitation"),
        &root,
        None,
    )?;
    assert_eq!(invited.status, 200, "{invited:?}");
    let invitation = invited.json()["invitation"]
        .as_str()
        .ok_or("invitation")?
        .to_owned();
    let link = invited.json()["link"].as_str().unwrap_or("").to_owned();
    assert!(
        link.starts_with(&format!("http://{}/", server.addr)) && link.ends_with(&invitation),
        "{link}"
    );

    let short = call(
        "POST",
        &server.url("/invitations/accept"),
        &Auth::default(),
        Some(&json!({"invitation": invitation, "password": "short"}).to_string()),
    )?;
    assert_eq!(short.status, 400);
    assert!(short.detail().contains("at least 12"), "{}", short.detail());

    let new_password = "a brand new passphrase";
    let accepted = call(
        "POST",
        &server.url("/invitations/accept"),
        &Auth::default(),
        Some(&json!({"invitation": invitation, "password": new_password}).to_string()),
    )?;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.json()["admin"], "hank");
    let reused = call(
        "POST",
        &server.url("/invitations/accept"),
        &Auth::default(),
        Some(&json!({"invitation": invitation, "password": new_password}).to_string()),
    )?;
    assert_eq!(reused.status, 400, "an invitation works once");

    let sign_in = |password: &str| {
        call(
            "POST",
            &server.url("/session"),
            &Auth::default(),
            Some(&json!({"admin": "hank", "password": password}).to_string()),
        )
    };
    assert_eq!(sign_in(PASSWORD)?.status, 401, "the old password is gone");
    assert_eq!(sign_in(new_password)?.status, 200);
    Ok(())
}

/// What another tenant's administrator gets from each operation: `refused` (403 or
/// 404, nothing of the other tenant), or `own` (it answers, about the caller alone).
fn cross_tenant_expectations() -> BTreeMap<String, String> {
    include_str!("cross_tenant.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(op, expect)| (op.to_owned(), expect.trim().to_owned()))
        .collect()
}

#[test]
fn every_operation_refuses_calls_without_credentials_and_across_tenants() -> Fallible {
    let server = start()?;
    let hank = Auth::token(&token(&server, "hank")?);
    let harbor_agent = Auth::token(&agent(&server, "harbor", "harbor-ws", "harbor-pc-09")?);
    let ann_token = token(&server, "ann")?;
    let expectations = cross_tenant_expectations();
    let document = call("GET", &server.url("/openapi.json"), &Auth::default(), None)?.json();
    let mut seen = 0;
    for (path, methods) in document["paths"].as_object().ok_or("paths")? {
        for (method, op) in methods.as_object().ok_or("methods")? {
            let id = op["operationId"].as_str().ok_or("operationId")?;
            let security = &op["security"];
            // Lakeside's resources: Hank and the harbor agent govern harbor.
            let resource = match path.split('/').nth(3) {
                Some("administrators") => "ann",
                Some("computers") => "lakeside-fd-01",
                Some("roles") => "lakeside-help-desk",
                _ => "1",
            };
            let concrete = path
                .replace("{id}", resource)
                .replace("{org}", "lakeside")
                .replace("{kind}", "application")
                .replace("{name}", "someone-elses");
            let url = format!("http://{}{concrete}", server.addr);
            // A body the operation would take: the document's example.
            let example = op["requestBody"]["content"]["application/json"]["example"].to_string();
            let body = op.get("requestBody").map(|_| example.as_str());
            let method = method.to_uppercase();
            seen += 1;
            if *security == json!([]) {
                continue;
            }
            let anonymous = call(&method, &url, &Auth::default(), body)?;
            assert_eq!(
                anonymous.status, 401,
                "{id} without credentials: {anonymous:?}"
            );
            assert_eq!(anonymous.content_type, "application/problem+json", "{id}");

            let schemes: Vec<&str> = security
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_object()?.keys().next().map(String::as_str))
                .collect();
            if !schemes.contains(&"agent") {
                let agent = call(&method, &url, &harbor_agent, body)?;
                assert_eq!(
                    agent.status, 403,
                    "{id} with an agent's credential: {agent:?}"
                );
            }
            let other_tenant = if schemes.contains(&"token") {
                &hank
            } else {
                &harbor_agent
            };
            let expect = expectations.get(id).unwrap_or_else(|| {
                panic!("{id}: say in cross_tenant.txt what another tenant gets")
            });
            let other = call(&method, &url, other_tenant, body)?;
            match expect.as_str() {
                "refused" => assert!(
                    other.status == 403 || other.status == 404,
                    "{id} with another tenant's credentials: {other:?}"
                ),
                "own" => {
                    let text = String::from_utf8_lossy(&other.body);
                    assert!(
                        !text.contains("\"ann\"") && !text.contains("lakeside"),
                        "{id} answered about another tenant: {text}"
                    );
                }
                unknown => panic!("{id}: unknown expectation `{unknown}`"),
            }
        }
    }
    assert!(seen >= 40, "the document lists {seen} operations");
    // Ann's token and request are as they were.
    let ann = call(
        "GET",
        &server.url("/requests"),
        &Auth::token(&ann_token),
        None,
    )?;
    assert_eq!(ann.status, 200);
    assert_eq!(
        ann.json().as_array().map(Vec::len),
        Some(1),
        "nothing of Ann's changed"
    );
    Ok(())
}

#[test]
fn bad_input_gets_a_problem_that_says_what_and_where_and_changes_nothing() -> Fallible {
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let approve = server.url("/requests/1/approve");

    let malformed = call("POST", &approve, &ann, Some(r#"{"scope": "computer",,}"#))?;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert!(
        malformed.detail().contains("line 1 column"),
        "{}",
        malformed.detail()
    );

    let wrong_field = call("POST", &approve, &ann, Some(r#"{"scope": "planet"}"#))?;
    assert_eq!(wrong_field.status, 400);
    assert!(
        wrong_field.detail().contains("`scope`") && wrong_field.detail().contains("planet"),
        "{}",
        wrong_field.detail()
    );

    let unknown_field = call("POST", &approve, &ann, Some(r#"{"scpoe": "group"}"#))?;
    assert_eq!(unknown_field.status, 400);
    assert!(
        unknown_field.detail().contains("scpoe"),
        "{}",
        unknown_field.detail()
    );

    // A body over the limit is refused from its announced length, before it is read
    // (a client that keeps sending then finds the connection closed).
    let mut stream = std::net::TcpStream::connect(server.addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    std::io::Write::write_all(
        &mut stream,
        format!(
            "POST /api/v1/requests/1/approve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            ann.token.as_deref().unwrap_or(""),
            2 << 20
        )
        .as_bytes(),
    )?;
    let mut answer = [0u8; 4096];
    let read = std::io::Read::read(&mut stream, &mut answer)?;
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    let not_a_number = call("GET", &server.url("/requests/abc"), &ann, None)?;
    assert_eq!(not_a_number.status, 400, "{not_a_number:?}");
    assert_eq!(not_a_number.content_type, "application/problem+json");

    let nowhere = call("GET", &server.url("/nowhere"), &ann, None)?;
    assert_eq!(nowhere.status, 404);
    assert!(
        nowhere.detail().contains("openapi.json"),
        "{}",
        nowhere.detail()
    );

    let bad_status = call("GET", &server.url("/requests?status=open"), &ann, None)?;
    assert_eq!(bad_status.status, 400);
    assert!(
        bad_status.detail().contains("status=open"),
        "{}",
        bad_status.detail()
    );

    let still = call("GET", &server.url("/requests"), &ann, None)?;
    assert_eq!(still.json()[0]["state"], "pending", "nothing changed");
    Ok(())
}

#[test]
fn the_committed_openapi_document_is_the_one_served() -> Fallible {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let served: Value = portcullis_server::openapi::document();
    let text = serde_json::to_string_pretty(&served)? + "\n";
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(&committed, &text)?;
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == text,
        "docs/openapi.json is stale; run `PORTCULLIS_BLESS=1 cargo test -p portcullis-server --test server the_committed_openapi`"
    );
    Ok(())
}

#[test]
fn concurrent_filings_share_commits_and_each_gets_its_own_answer() -> Fallible {
    let server = start()?;
    let ann = token(&server, "ann")?;
    let before = call("GET", &server.url("/requests"), &Auth::token(&ann), None)?;
    let pending = before.json().as_array().map_or(0, Vec::len);
    let body = |n: usize| {
        json!({"event": {"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": "C:\\Users\\amy\\Downloads\\tool.exe",
            "sha256": format!("{n:064x}"), "time": "2026-11-22T10:00:00Z"},
            "message": "at once"})
        .to_string()
    };
    // 24 different files and, at the same time, one more file asked for 8 times.
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let (url, ann, body) = (server.url("/requests"), ann.clone(), body(i.min(24) + 1));
            std::thread::spawn(move || {
                call("POST", &url, &Auth::token(&ann), Some(&body)).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut refused = 0;
    for thread in threads {
        let answer = thread.join().map_err(|_| "a filing thread panicked")??;
        match answer.status {
            201 => {
                ids.insert(answer.json()["request"]["id"].as_i64().ok_or("id")?);
            }
            _ => {
                assert!(answer.detail().contains("pending"), "{answer:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(ids.len(), 25, "each file filed once, each with its own id");
    assert_eq!(refused, 7, "the repeated file is pending already");
    let after = call("GET", &server.url("/requests"), &Auth::token(&ann), None)?;
    let listed: std::collections::BTreeSet<i64> = after
        .json()
        .as_array()
        .ok_or("a list")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(listed.len(), pending + 25);
    assert!(ids.is_subset(&listed), "every answered filing is stored");
    let root = Auth::token(&token(&server, "root")?);
    let verified = call("GET", &server.url("/audit/verify"), &root, None)?;
    assert_eq!(verified.status, 200, "{verified:?}");
    Ok(())
}

#[test]
fn the_queue_reads_a_page_at_a_time() -> Fallible {
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    for n in 1..=3 {
        let body = json!({"event": {"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": "C:\\Users\\amy\\Downloads\\tool.exe",
            "sha256": format!("{n:064x}"), "time": "2026-11-22T10:00:00Z"},
            "message": "page"});
        let filed = call(
            "POST",
            &server.url("/requests"),
            &ann,
            Some(&body.to_string()),
        )?;
        assert_eq!(filed.status, 201, "{filed:?}");
    }
    let whole = call("GET", &server.url("/requests"), &ann, None)?.json();
    let mut ids: Vec<i64> = whole
        .as_array()
        .ok_or("a list")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    ids.reverse();
    let first = call("GET", &server.url("/requests?limit=2"), &ann, None)?.json();
    let first: Vec<i64> = first
        .as_array()
        .ok_or("a page")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(first, ids[..2]);
    let next = server.url(&format!("/requests?limit=2&before={}", first[1]));
    let second = call("GET", &next, &ann, None)?.json();
    let second: Vec<i64> = second
        .as_array()
        .ok_or("a page")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(second, ids[2..ids.len().min(4)]);
    for bad in [
        "/requests?limit=0",
        "/requests?limit=100000",
        "/requests?limit=x",
    ] {
        let refused = call("GET", &server.url(bad), &ann, None)?;
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
    }
    Ok(())
}

#[test]
fn a_request_filed_through_the_api_carries_its_streamed_copy() -> Fallible {
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let event = std::fs::read_to_string(root.join("examples/request/blocked-dc.json"))?;
    let copy = std::fs::read(root.join("examples/request/labelprint.exe"))?;

    let decided = call("POST", &server.url("/decisions"), &ann, Some(&event))?;
    assert_eq!(decided.status, 200, "{decided:?}");
    assert_eq!(decided.json()["decision"]["decision"], "deny");

    let uploaded = super::support::call_bytes("PUT", &server.url("/uploads"), &ann, &copy)?;
    assert_eq!(uploaded.status, 201, "{uploaded:?}");
    let sha = uploaded.json()["sha256"]
        .as_str()
        .ok_or("sha256")?
        .to_owned();
    assert_eq!(uploaded.json()["size"], copy.len());

    let body = json!({"event": serde_json::from_str::<Value>(&event)?,
        "message": "labels on the server too", "file": sha});
    let filed = call(
        "POST",
        &server.url("/requests"),
        &ann,
        Some(&body.to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    assert_eq!(filed.json()["request"]["file"], json!(sha));
    let fetched = call(
        "GET",
        &server.url(&format!("/requests/{id}/file")),
        &ann,
        None,
    )?;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.content_type, "application/octet-stream");
    assert!(fetched.body == copy, "the stored copy is the uploaded file");
    assert!(
        !server.state.join("uploads").join(&sha).exists(),
        "the upload is taken by the request"
    );

    let unknown = json!({"event": serde_json::from_str::<Value>(&event)?,
        "message": "again", "file": "00".repeat(32)});
    let refused = call(
        "POST",
        &server.url("/requests"),
        &ann,
        Some(&unknown.to_string()),
    )?;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        refused.detail().contains("PUT /api/v1/uploads"),
        "{}",
        refused.detail()
    );
    Ok(())
}

#[test]
fn a_second_factor_once_confirmed_is_needed_at_every_sign_in_and_each_code_works_once() -> Fallible
{
    use portcullis_server::totp;
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let begun = call("POST", &server.url("/totp"), &ann, None)?;
    assert_eq!(begun.status, 200, "{begun:?}");
    let secret = begun.json()["secret"].as_str().ok_or("secret")?.to_owned();
    assert!(begun.json()["uri"]
        .as_str()
        .unwrap_or("")
        .starts_with("otpauth://totp/Portcullis:ann?secret="));
    let code_at = |offset: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        format!("{:06}", totp::code(&secret, now + offset).unwrap())
    };
    // Not yet confirmed: a password alone still signs in.
    sign_in(&server, "ann")?;
    let wrong = call(
        "POST",
        &server.url("/totp/confirm"),
        &ann,
        Some(r#"{"code": "000000"}"#),
    )?;
    let confirmed = if wrong.status == 200 {
        wrong // one in a million: 000000 was the code
    } else {
        assert_eq!(wrong.status, 400, "{wrong:?}");
        call(
            "POST",
            &server.url("/totp/confirm"),
            &ann,
            Some(&json!({"code": code_at(0)}).to_string()),
        )?
    };
    assert_eq!(confirmed.status, 200, "{confirmed:?}");

    let attempt = |code: Option<String>| {
        call(
            "POST",
            &server.url("/session"),
            &Auth::default(),
            Some(&json!({"admin": "ann", "password": PASSWORD, "totp": code}).to_string()),
        )
    };
    let missing = attempt(None)?;
    assert_eq!(missing.status, 401);
    assert!(
        missing.detail().contains("one-time code"),
        "{}",
        missing.detail()
    );
    let next = code_at(totp::STEP);
    let good = attempt(Some(next.clone()))?;
    assert_eq!(good.status, 200, "{good:?}");
    let replayed = attempt(Some(next))?;
    assert_eq!(replayed.status, 401, "a code works once");
    assert!(
        replayed.detail().contains("id or the password is wrong"),
        "{}",
        replayed.detail()
    );

    // An invitation (a reset) clears the second factor with the password.
    let root = Auth::token(&token(&server, "root")?);
    let invited = call(
        "POST",
        &server.url("/administrators/ann/invitation"),
        &root,
        None,
    )?;
    let invitation = invited.json()["invitation"]
        .as_str()
        .ok_or("invitation")?
        .to_owned();
    let accepted = call(
        "POST",
        &server.url("/invitations/accept"),
        &Auth::default(),
        Some(&json!({"invitation": invitation, "password": "after the lost phone"}).to_string()),
    )?;
    assert_eq!(accepted.status, 200);
    let plain = call(
        "POST",
        &server.url("/session"),
        &Auth::default(),
        Some(r#"{"admin": "ann", "password": "after the lost phone"}"#),
    )?;
    assert_eq!(plain.status, 200, "{plain:?}");
    Ok(())
}

#[test]
fn an_agent_enrolls_with_an_install_key_and_speaks_only_for_its_own_computer() -> Fallible {
    let server = start()?;
    let ann = Auth::token(&token(&server, "ann")?);
    let root = Auth::token(&token(&server, "root")?);
    let key_body =
        json!({"name": "front-desk", "organization": "lakeside", "group": "lakeside-ws"});
    let refused = call(
        "POST",
        &server.url("/install-keys"),
        &ann,
        Some(&key_body.to_string()),
    )?;
    assert_eq!(
        refused.status, 403,
        "Approve for Single Computer is not Edit Computers"
    );
    assert!(
        refused.detail().contains("edit computers"),
        "{}",
        refused.detail()
    );

    let credential = agent(&server, "lakeside", "lakeside-ws", "LAKESIDE-FD-03")?;
    let me = Auth::token(&credential);
    let view = call("GET", &server.url("/agent/view"), &me, None)?;
    assert_eq!(view.status, 200, "{view:?}");
    let payload: Value = serde_json::from_str(view.json()["payload"].as_str().ok_or("payload")?)?;
    assert_eq!(payload["kind"], "view");
    assert_eq!(payload["computer"], "lakeside-fd-03");
    let bundle = &payload["bundle"];
    assert_eq!(bundle["computers"].as_array().map(Vec::len), Some(1));
    assert_eq!(bundle["computers"][0]["id"], "lakeside-fd-03");
    assert_eq!(bundle["computers"][0]["name"], "LAKESIDE-FD-03");
    let orgs: Vec<&str> = bundle["organizations"]
        .as_array()
        .ok_or("orgs")?
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(orgs, ["northwind", "lakeside"]);
    assert!(
        !view.body.windows(6).any(|w| w == b"harbor"),
        "nothing of another tenant"
    );
    let history = call("GET", &server.url("/deploys"), &root, None)?;
    assert!(
        history.json()[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("enroll `lakeside-fd-03`"),
        "{:?}",
        history.json()[0]
    );

    let key = call("GET", &server.url("/install-keys"), &root, None)?;
    assert_eq!(key.json()[0]["name"], "key-LAKESIDE-FD-03");
    assert!(
        !key.body.windows(4).any(|w| w == b"pck_"),
        "the key itself is never shown again"
    );

    // Its own requests and decisions only.
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/request/blocked.json"),
    )?)?;
    event["computer"] = json!("lakeside-fd-03");
    let filed = call(
        "POST",
        &server.url("/agent/requests"),
        &me,
        Some(&json!({"event": event, "message": "from the endpoint"}).to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    assert_eq!(filed.json()["request"]["computer"], "lakeside-fd-03");
    let mut theirs = event.clone();
    theirs["computer"] = json!("lakeside-fd-01");
    let spoofed = call(
        "POST",
        &server.url("/agent/requests"),
        &me,
        Some(&json!({"event": theirs, "message": "not mine"}).to_string()),
    )?;
    assert_eq!(spoofed.status, 403, "{spoofed:?}");
    let decision = call(
        "POST",
        &server.url("/decisions"),
        &root,
        Some(&event.to_string()),
    )?
    .json()["decision"]
        .clone();
    let uploaded = call(
        "POST",
        &server.url("/agent/decisions"),
        &me,
        Some(&json!([{"event": event, "decision": decision}]).to_string()),
    )?;
    assert_eq!(uploaded.status, 200, "{uploaded:?}");
    assert_eq!(uploaded.json()["recorded"], 1);
    let foreign = call("POST", &server.url("/agent/decisions"), &me,
        Some(&json!([{"event": event, "decision": decision}, {"event": theirs, "decision": decision}]).to_string()))?;
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert!(
        foreign.detail().starts_with("decision 1:"),
        "{}",
        foreign.detail()
    );
    let admin_op = call("GET", &server.url("/requests"), &me, None)?;
    assert_eq!(admin_op.status, 403);

    // Enrolling as it again is refused until an administrator revokes the agent.
    let again = call(
        "POST",
        &server.url("/install-keys"),
        &root,
        Some(
            &json!({"name": "again", "organization": "lakeside", "group": "lakeside-ws"})
                .to_string(),
        ),
    )?;
    let again_key = again.json()["key"].as_str().ok_or("key")?.to_owned();
    let enroll = |key: &str| {
        call(
            "POST",
            &server.url("/agents/enroll"),
            &Auth::default(),
            Some(&json!({"key": key, "hostname": "lakeside-fd-03", "os": "windows"}).to_string()),
        )
    };
    assert_eq!(enroll(&again_key)?.status, 409);
    assert_eq!(
        call(
            "DELETE",
            &server.url("/computers/lakeside-fd-03/agent"),
            &root,
            None
        )?
        .status,
        204
    );
    assert_eq!(
        call("GET", &server.url("/agent/view"), &me, None)?.status,
        401
    );
    let re = enroll(&again_key)?;
    assert_eq!(re.status, 201, "{re:?}");
    assert_eq!(enroll("pck_unknown")?.status, 401);
    Ok(())
}

#[test]
fn the_plugins_attached_in_the_state_review_requests_filed_through_the_api() -> Fallible {
    let server = start()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let policy = std::fs::read(root.join("plugins/examples/rego/known-bad.rego"))?;
    let listed = "51b1092c5df7dd6047fb4ffc1e0ad41736ee13bb915fc84d41afd1f4c62f22e7";
    let mut gov = server.open()?;
    gov.attach_plugin(
        "root",
        portcullis_governance::PluginAttachment {
            organization: "northwind".to_owned(),
            name: "known-bad".to_owned(),
            hook: "approval-review".to_owned(),
            file_name: "known-bad.rego".to_owned(),
            sha256: portcullis_engine::model::Sha256(
                <sha2::Sha256 as sha2::Digest>::digest(&policy).into(),
            ),
            content: policy,
            config: [("hashes".to_owned(), listed.to_owned())].into(),
            vectors: Vec::new(),
            generation: 0,
        },
    )?;
    drop(gov);
    let ann = Auth::token(&token(&server, "ann")?);
    let event = std::fs::read_to_string(root.join("examples/request/blocked-dc.json"))?;
    let body = json!({"event": serde_json::from_str::<Value>(&event)?, "message": "labels"});
    let filed = call(
        "POST",
        &server.url("/requests"),
        &ann,
        Some(&body.to_string()),
    )?;
    assert_eq!(filed.status, 201, "{filed:?}");
    let review = &filed.json()["review"];
    assert_eq!(review["outcome"]["outcome"], "rejected", "{review}");
    assert_eq!(review["plugins"][0]["plugin"], "known-bad", "{review}");
    let id = filed.json()["request"]["id"].as_i64().ok_or("id")?;
    let rejected = call("GET", &server.url(&format!("/requests/{id}")), &ann, None)?;
    assert_eq!(rejected.json()["state"], "rejected");
    assert_eq!(rejected.json()["closure"]["by"], "plugin:known-bad");
    Ok(())
}

#[test]
fn plugins_are_attached_listed_and_detached_through_the_api_with_their_vectors() -> Fallible {
    use base64::Engine as _;
    let server = start()?;
    let root = Auth::token(&token(&server, "root")?);
    let hank = Auth::token(&token(&server, "hank")?);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    let mut vectors = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(examples.join("vectors/known-bad"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        vectors.push(json!({"file": name, "text": std::fs::read_to_string(&file)?}));
    }
    let content = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(examples.join("rego/known-bad.rego"))?);
    let body = json!({"name": "known-bad", "file_name": "known-bad.rego", "content": content,
        "config": {"hashes": "0000000000000000000000000000000000000000000000000000000000000009"},
        "vectors": vectors});

    // Another tenant may not attach to lakeside, and nothing is compiled for them.
    let theirs = call(
        "POST",
        &server.url("/organizations/lakeside/plugins"),
        &hank,
        Some(&body.to_string()),
    )?;
    assert_eq!(theirs.status, 403, "{theirs:?}");

    let attached = call(
        "POST",
        &server.url("/organizations/lakeside/plugins"),
        &root,
        Some(&body.to_string()),
    )?;
    assert_eq!(attached.status, 201, "{attached:?}");
    assert_eq!(attached.json()["name"], "known-bad");
    assert_eq!(attached.json()["vectors"], 4);
    let listed = call("GET", &server.url("/plugins"), &root, None)?;
    assert_eq!(listed.json()[0]["organization"], "lakeside", "{listed:?}");
    assert!(
        !listed
            .body
            .windows(content.len().min(40))
            .any(|w| w == &content.as_bytes()[..content.len().min(40)]),
        "the list does not carry the plugin's bytes"
    );
    let none = call("GET", &server.url("/plugins"), &hank, None)?;
    assert_eq!(
        none.json(),
        json!([]),
        "another tenant sees none of lakeside's"
    );

    // A vector that does not hold: refused, naming it, and nothing attached.
    let mut wrong = body.clone();
    let mut bad: Value =
        serde_json::from_str(wrong["vectors"][0]["text"].as_str().unwrap_or("{}"))?;
    bad["expected"] = json!({"verdict": "abstain"});
    wrong["vectors"] = json!([{"file": "bad.json", "text": bad.to_string()}]);
    wrong["name"] = json!("second");
    let refused = call(
        "POST",
        &server.url("/organizations/lakeside/plugins"),
        &root,
        Some(&wrong.to_string()),
    )?;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        refused.detail().contains("a listed hash is rejected")
            && refused.detail().contains("nothing was attached"),
        "{}",
        refused.detail()
    );
    let garbage = json!({"file_name": "x.wasm", "content": "bm90IGEgY29tcG9uZW50"});
    let refused = call(
        "POST",
        &server.url("/organizations/lakeside/plugins"),
        &root,
        Some(&garbage.to_string()),
    )?;
    assert_eq!(refused.status, 400, "{refused:?}");
    let listed = call("GET", &server.url("/plugins"), &root, None)?;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));

    let theirs = call(
        "DELETE",
        &server.url("/organizations/lakeside/plugins/known-bad"),
        &hank,
        None,
    )?;
    assert_eq!(theirs.status, 403, "{theirs:?}");
    let detached = call(
        "DELETE",
        &server.url("/organizations/lakeside/plugins/known-bad"),
        &root,
        None,
    )?;
    assert_eq!(detached.status, 204, "{detached:?}");
    let listed = call("GET", &server.url("/plugins"), &root, None)?;
    assert_eq!(listed.json(), json!([]));
    Ok(())
}
