//! The Approval Center's other pages over plain HTTP: a computer's denies requested
//! on the user's behalf and its maintenance mode, the audit and the deploy history,
//! and suggestions widened in one step.

use serde_json::json;

use crate::support::*;
use crate::web::start_web;
/// Decides `sha256` at `path` on lakeside-fd-01 through the API (a deny, audited).
pub fn denied(server: &Running, root: &Auth, sha256: &str, path: &str) -> Fallible {
    let event = json!({
        "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy", "path": path,
        "sha256": sha256, "time": "2026-11-22T10:00:00Z",
    });
    let decided = call(
        "POST",
        &server.url("/decisions"),
        root,
        Some(&event.to_string()),
    )?;
    assert_eq!(decided.status, 200, "{decided:?}");
    assert_eq!(
        decided.json()["decision"]["decision"],
        "deny",
        "{decided:?}"
    );
    Ok(())
}

#[test]
fn a_computers_denies_are_requested_on_the_users_behalf_and_its_maintenance_mode_set_and_ended(
) -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    denied(
        &server,
        &root,
        &"beef".repeat(16),
        "C:\\Users\\amy\\Downloads\\scan.exe",
    )?;
    let list = call("GET", &server.page("/approvals/computers"), &root, None)?;
    assert_eq!(list.status, 200, "{list:?}");
    assert!(list.text().contains("/approvals/computers/lakeside-fd-01"));
    let page = call(
        "GET",
        &server.page("/approvals/computers/lakeside-fd-01"),
        &root,
        None,
    )?
    .text();
    assert!(page.contains("scan.exe"), "{page}");
    assert!(page.contains("no agent enrolled"), "{page}");
    let seq = page
        .split(r#"name="seq" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("a request button")?
        .to_owned();
    let filed = post_form(
        &server.page("/approvals/computers/lakeside-fd-01/request"),
        &root,
        &[
            ("csrf", &csrf),
            ("seq", &seq),
            ("message", "Amy needs to scan"),
        ],
    )?;
    assert_eq!(filed.status, 303, "{filed:?}");
    let to = filed.location.clone().ok_or("location")?;
    let opened = call("GET", &server.page(&to), &root, None)?.text();
    assert!(
        opened.contains("Amy needs to scan") && opened.contains("scan.exe"),
        "{opened}"
    );
    // Maintenance mode: set, shown, ended.
    let set = post_form(
        &server.page("/approvals/computers/lakeside-fd-01/maintenance"),
        &root,
        &[
            ("csrf", &csrf),
            ("mode", "learning"),
            ("until", "2099-01-01T00:00"),
        ],
    )?;
    assert_eq!(set.status, 303, "{set:?}");
    let shown = call(
        "GET",
        &server.page("/approvals/computers/lakeside-fd-01"),
        &root,
        None,
    )?
    .text();
    assert!(
        shown.contains("learning until 2099-01-01T00:00:00Z"),
        "{shown}"
    );
    let past = post_form(
        &server.page("/approvals/computers/lakeside-fd-01/maintenance"),
        &root,
        &[
            ("csrf", &csrf),
            ("mode", "monitor"),
            ("until", "2001-01-01T00:00"),
        ],
    )?;
    assert_eq!(past.status, 400, "{past:?}");
    let ended = post_form(
        &server.page("/approvals/computers/lakeside-fd-01/maintenance"),
        &root,
        &[("csrf", &csrf), ("mode", "end")],
    )?;
    assert_eq!(ended.status, 303, "{ended:?}");
    // Another tenant's administrator neither lists nor opens it.
    let hank = sign_in(&server, "hank")?;
    let theirs = call("GET", &server.page("/approvals/computers"), &hank, None)?;
    assert!(!theirs.text().contains("lakeside-fd-01"), "{theirs:?}");
    let refused = call(
        "GET",
        &server.page("/approvals/computers/lakeside-fd-01"),
        &hank,
        None,
    )?;
    assert_eq!(refused.status, 403, "{refused:?}");
    Ok(())
}

#[test]
fn the_audit_is_searched_and_verified_and_a_deploy_rolled_back() -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    let csrf = root.csrf.clone().unwrap_or_default();
    let approved = post_form(
        &server.page("/approvals/requests/1/approve"),
        &root,
        &[
            ("csrf", &csrf),
            ("place", "computer lakeside-fd-01"),
            ("matching", "hash"),
        ],
    )?;
    assert_eq!(approved.status, 200, "{approved:?}");
    let audit = call("GET", &server.page("/approvals/audit?kind=approve&hash=51b1092c5df7dd6047fb4ffc1e0ad41736ee13bb915fc84d41afd1f4c62f22e7"), &root, None)?;
    assert_eq!(audit.status, 200, "{audit:?}");
    assert!(audit.text().contains("1 entries match"), "{}", audit.text());
    let system = call(
        "GET",
        &server.page("/approvals/audit?log=system&kind=policy-edit"),
        &root,
        None,
    )?;
    assert!(system.text().contains("approve request 1"), "{system:?}");
    let verified = post_form(
        &server.page("/approvals/audit/verify"),
        &root,
        &[("csrf", &csrf)],
    )?;
    assert!(
        verified.text().contains("the chain verifies"),
        "{verified:?}"
    );
    let bad = call(
        "GET",
        &server.page("/approvals/audit?hash=nothex"),
        &root,
        None,
    )?;
    assert_eq!(bad.status, 400, "{bad:?}");
    let history = call("GET", &server.page("/approvals/deploys"), &root, None)?.text();
    assert!(history.contains("approve request 1"), "{history}");
    let restored = post_form(
        &server.page("/approvals/deploys/rollback"),
        &root,
        &[("csrf", &csrf), ("version", "1")],
    )?;
    assert_eq!(restored.status, 200, "{restored:?}");
    assert!(
        restored.text().contains("version 1 restored as version 3"),
        "{}",
        restored.text()
    );
    // Ann approves, but the audit and the deploys are not hers to see.
    let ann = sign_in(&server, "ann")?;
    for path in ["/approvals/audit", "/approvals/deploys"] {
        let refused = call("GET", &server.page(path), &ann, None)?;
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
    }
    Ok(())
}

#[test]
fn a_suggestion_becomes_the_wider_policy_in_one_step() -> Fallible {
    let server = start_web()?;
    let root = Auth::token(&token(&server, "root")?);
    let changed = call(
        "PATCH",
        &server.url("/organizations/lakeside/settings"),
        &root,
        Some(r#"{"suggest_after": 1}"#),
    )?;
    assert_eq!(changed.status, 200, "{changed:?}");
    let session = sign_in(&server, "root")?;
    let csrf = session.csrf.clone().unwrap_or_default();
    let approved = post_form(
        &server.page("/approvals/requests/1/approve"),
        &session,
        &[
            ("csrf", &csrf),
            ("place", "computer lakeside-fd-01"),
            ("matching", "hash"),
        ],
    )?;
    assert!(
        approved.text().contains("consider a group policy"),
        "{}",
        approved.text()
    );
    let page = call(
        "GET",
        &server.page("/approvals/suggestions"),
        &session,
        None,
    )?
    .text();
    assert!(page.contains("Allow at group lakeside-ws"), "{page}");
    let sha = "51b1092c5df7dd6047fb4ffc1e0ad41736ee13bb915fc84d41afd1f4c62f22e7";
    let unjustified = post_form(
        &server.page("/approvals/suggestions/apply"),
        &session,
        &[
            ("csrf", &csrf),
            ("organization", "lakeside"),
            ("sha256", sha),
        ],
    )?;
    assert_eq!(unjustified.status, 422, "{unjustified:?}");
    let ann = sign_in(&server, "ann")?;
    let ann_csrf = ann.csrf.clone().unwrap_or_default();
    let refused = post_form(
        &server.page("/approvals/suggestions/apply"),
        &ann,
        &[
            ("csrf", &ann_csrf),
            ("organization", "lakeside"),
            ("sha256", sha),
            ("justification", "the whole desk"),
        ],
    )?;
    assert_eq!(
        refused.status, 403,
        "single-computer approvers cannot widen: {refused:?}"
    );
    let applied = post_form(
        &server.page("/approvals/suggestions/apply"),
        &session,
        &[
            ("csrf", &csrf),
            ("organization", "lakeside"),
            ("sha256", sha),
            ("justification", "the whole desk prints labels"),
        ],
    )?;
    assert_eq!(applied.status, 200, "{applied:?}");
    assert!(
        applied.text().contains("is allowed at the wider scope"),
        "{}",
        applied.text()
    );
    assert!(
        applied.text().contains("No suggestion now."),
        "the suggestion is done"
    );
    Ok(())
}

#[test]
fn a_computers_page_shows_the_policy_revision_its_agent_reported() -> Fallible {
    let server = start_web()?;
    let root = sign_in(&server, "root")?;
    let credential = super::support::agent(&server, "lakeside", "lakeside-ws", "lab-pc")?;
    let agent = super::support::Auth::token(&credential);
    let listed = call(
        "GET",
        &server.url("/agents"),
        &super::support::Auth::token(&super::support::token(&server, "root")?),
        None,
    )?;
    let computer = listed.json()[0]["computer"]
        .as_str()
        .ok_or("an enrolled computer")?
        .to_owned();
    let page = |server: &super::support::Running| {
        call(
            "GET",
            &server.page(&format!("/approvals/computers/{computer}")),
            &root,
            None,
        )
        .map(|a| a.text())
    };
    assert!(page(&server)?.contains("its agent has not reported yet"));
    // Enrolling added the computer: version 2. An agent still on 1 is behind.
    for (revision, expected) in [(1, "1, behind the current 2"), (2, "2 (current)")] {
        let report = format!(r#"{{"revision": {revision}}}"#);
        let reported = call("POST", &server.url("/agent/health"), &agent, Some(&report))?;
        assert_eq!(reported.status, 204, "{reported:?}");
        let shown = page(&server)?;
        assert!(shown.contains(expected), "{shown}");
    }
    Ok(())
}
