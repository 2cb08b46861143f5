#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Attacks through the library, as an administrator with single permissions at one
//! organization of the example MSP tenancy would try them: each must be refused with a
//! message naming the action, the organization and the missing permission, and leave
//! the state as it was. Organizations: northwind → lakeside, harbor, summit →
//! summit-lab.

mod support;

use portcullis_engine::model::{FileRule, Policy, Scope};
use portcullis_engine::{Action, Bundle};
use portcullis_governance::{
    AccessRequestKind, AdminChanges, ApproveOptions, AuditBreak, Channels, Error, Governance,
    Matching, Permission, ScopeKind,
};
use support::{add_admin, content, file, init_state, ROOT};

use Permission as P;

/// What a refused action must leave as it was.
fn state_of(gov: &mut Governance) -> (i64, usize, usize, usize, String) {
    let version = gov.version();
    let bundle = serde_json::to_string(gov.bundle()).unwrap();
    gov.read(ROOT, |tx| {
        Ok((
            version,
            tx.audit(0)?.len(),
            tx.admins()?.len(),
            tx.outbox(None)?.len(),
            bundle,
        ))
    })
    .unwrap()
}

/// `action` must be refused for `actor`, in `org`, naming `missing`; nothing changes.
fn refused<T: std::fmt::Debug>(
    gov: &mut Governance,
    actor: &str,
    org: &str,
    missing: &str,
    action: impl FnOnce(&mut Governance) -> Result<T, Error>,
) {
    let before = state_of(gov);
    match action(gov) {
        Err(Error::Refused(r)) => {
            assert_eq!(r.admin, actor);
            assert_eq!(r.organization, org, "{r}");
            assert!(r.missing.contains(missing), "{r}: should name {missing}");
        }
        other => panic!("expected a refusal naming {missing} in `{org}`, got {other:?}"),
    }
    assert_eq!(state_of(gov), before, "a refusal changed the state");
    assert_eq!(gov.verify_audit().unwrap().map(|_| ()), Ok(()));
}

fn with_policy(mut bundle: Bundle, policy: Policy) -> Bundle {
    bundle.policies.push(policy);
    bundle
}

fn permit(id: &str, scope: Scope, position: i64, app: &str) -> Policy {
    Policy {
        id: id.to_owned(),
        scope,
        position,
        applications: vec![app.to_owned()],
        action: Action::Permit,
        elevate: false,
        users: None,
        not_before: None,
        expires: None,
        enabled: true,
        on_deny: None,
    }
}

#[test]
fn a_client_administrator_cannot_deploy_across_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(
        &mut gov,
        "viewer",
        "lakeside",
        &[("lakeside", P::ViewOrganizations)],
    );
    add_admin(
        &mut gov,
        "editor",
        "lakeside",
        &[("lakeside", P::EditOrganizations)],
    );
    add_admin(
        &mut gov,
        "policies",
        "lakeside",
        &[
            ("lakeside", P::EditOrganizations),
            ("lakeside", P::EditPolicies),
        ],
    );
    let current = gov.bundle().clone();

    // A permit for the MSP's known-bad application, ahead of the MSP's global deny.
    let known_bad = with_policy(
        current.clone(),
        permit(
            "permit-bad",
            Scope::Organization("lakeside".into()),
            1,
            "known-bad",
        ),
    );
    for actor in ["viewer", "editor"] {
        refused(
            &mut gov,
            actor,
            "lakeside",
            "Edit Application Control Policies",
            |g| g.deploy(actor, known_bad.clone(), "test"),
        );
    }
    // Even with Edit Policies there, not before the MSP's global policies.
    refused(
        &mut gov,
        "policies",
        "northwind",
        "Edit Application Control Policies",
        |g| g.deploy("policies", known_bad.clone(), "test"),
    );

    // Another client moved under lakeside.
    let mut moved = current.clone();
    for o in &mut moved.organizations {
        if o.id == "harbor" {
            o.parent = Some("lakeside".into());
        }
    }
    refused(&mut gov, "editor", "harbor", "Edit Organizations", |g| {
        g.deploy("editor", moved.clone(), "test")
    });

    // Its own organization made top-level, out of the MSP's reach.
    let mut escaped = current.clone();
    for o in &mut escaped.organizations {
        if o.id == "lakeside" {
            o.parent = None;
        }
    }
    refused(&mut gov, "editor", "northwind", "Edit Organizations", |g| {
        g.deploy("editor", escaped.clone(), "test")
    });

    // What is allowed still works: a policy of its own, after the MSP's.
    let own = with_policy(
        current.clone(),
        permit(
            "permit-ehr-2",
            Scope::Organization("lakeside".into()),
            1200,
            "ehr-client",
        ),
    );
    let version = gov.deploy("policies", own, "test").unwrap();
    assert_eq!(version, gov.version());
    // Its own organization's settings are its to change.
    let mut settings = gov.bundle().clone();
    for o in &mut settings.organizations {
        if o.id == "lakeside" {
            o.name = "Lakeside Clinic & Labs".into();
        }
    }
    gov.deploy("editor", settings, "test").unwrap();
    // Edit Policies without a deploy permission does not publish.
    add_admin(
        &mut gov,
        "author",
        "lakeside",
        &[("lakeside", P::EditPolicies)],
    );
    let mut again = gov.bundle().clone();
    again.policies.retain(|p| p.id != "permit-ehr-2");
    refused(
        &mut gov,
        "author",
        "lakeside",
        "Edit Organizations or View Organizations",
        |g| g.deploy("author", again.clone(), "test"),
    );
}

#[test]
fn approvals_stay_within_what_the_approver_governs() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    // Super Admin - Parent Only on summit cannot approve at global scope: the policy
    // would reach summit-lab.
    add_admin(
        &mut gov,
        "parent",
        "summit",
        &[("summit", P::SuperAdminParentOnly)],
    );
    let request = file(
        &mut gov,
        AccessRequestKind::Application,
        "summit-build-01",
        &content(7, 1),
        false,
    )
    .unwrap();
    let mut global = ApproveOptions::new(ScopeKind::Global, Matching::Hash);
    global.justification = Some("everyone needs it".into());
    refused(
        &mut gov,
        "parent",
        "summit-lab",
        "Approve for Entire Organization",
        |g| g.approve("parent", request.id, global.clone()),
    );
    // At organization scope it may.
    let mut org = ApproveOptions::new(ScopeKind::Organization, Matching::Hash);
    org.justification = Some("summit only".into());
    gov.approve("parent", request.id, org).unwrap();

    // A custom rule, a wildcard, needs Edit Applications: approving a single computer
    // is not enough to allow every program on it.
    add_admin(
        &mut gov,
        "desk",
        "lakeside",
        &[("lakeside", P::ApproveComputer)],
    );
    let request = file(
        &mut gov,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(7, 2),
        false,
    )
    .unwrap();
    let custom = ApproveOptions::new(
        ScopeKind::Computer,
        Matching::Custom(FileRule::default().with_path("C:\\*")),
    );
    refused(
        &mut gov,
        "desk",
        "lakeside",
        "Edit Application Control Applications",
        |g| g.approve("desk", request.id, custom.clone()),
    );
    // The built-in match stays with the approver.
    gov.approve(
        "desk",
        request.id,
        ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
    )
    .unwrap();
}

#[test]
fn editing_an_administrator_needs_power_wherever_they_hold_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    // Lives in lakeside, is Super Admin of the MSP.
    add_admin(
        &mut gov,
        "msp-sa",
        "lakeside",
        &[("northwind", P::SuperAdmin)],
    );
    add_admin(
        &mut gov,
        "hr",
        "lakeside",
        &[("lakeside", P::EditAdministrators)],
    );
    refused(&mut gov, "hr", "northwind", "Edit Administrators", |g| {
        g.update_admin(
            "hr",
            "msp-sa",
            AdminChanges {
                email: Some("attacker@evil.example".into()),
                ..AdminChanges::default()
            },
        )
    });
    refused(&mut gov, "hr", "northwind", "Edit Administrators", |g| {
        g.delete_admin("hr", "msp-sa")
    });
    // An administrator who holds grants only in lakeside is theirs to edit.
    add_admin(
        &mut gov,
        "nurse",
        "lakeside",
        &[("lakeside", P::ViewApprovals)],
    );
    gov.update_admin(
        "hr",
        "nurse",
        AdminChanges {
            email: Some("nurse@lakeside.example".into()),
            ..AdminChanges::default()
        },
    )
    .unwrap();
    // Re-adding without an email keeps the email.
    let kept = gov
        .update_admin(
            "hr",
            "nurse",
            AdminChanges {
                name: Some("Nurse Joy".into()),
                ..AdminChanges::default()
            },
        )
        .unwrap();
    assert_eq!(kept.email.as_deref(), Some("nurse@lakeside.example"));
}

#[test]
fn only_administrators_who_may_open_a_request_are_told_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    let with_email = |gov: &mut Governance, id: &str, held: &[(&str, Permission)]| {
        add_admin(gov, id, "northwind", held);
        gov.update_admin(
            ROOT,
            id,
            AdminChanges {
                email: Some(format!("{id}@northwind.example")),
                ..AdminChanges::default()
            },
        )
        .unwrap();
        gov.set_notify(
            id,
            id,
            AccessRequestKind::Application,
            Channels {
                email: true,
                sms: false,
            },
        )
        .unwrap();
    };
    with_email(&mut gov, "nosy", &[]);
    with_email(&mut gov, "lister", &[("lakeside", P::ViewApprovals)]);
    with_email(&mut gov, "approver", &[("lakeside", P::ApproveComputer)]);
    file(
        &mut gov,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(8, 1),
        false,
    )
    .unwrap();
    let told: Vec<String> = gov
        .read(ROOT, |tx| tx.outbox(None))
        .unwrap()
        .into_iter()
        .map(|r| r.notification.recipient)
        .collect();
    // The deny's own recipients (it@lakeside, an SMS number) are the policy's choice;
    // of the administrators who opted in, only the one who may open the request.
    let admins: Vec<&String> = told
        .iter()
        .filter(|r| r.ends_with("@northwind.example"))
        .collect();
    assert_eq!(admins, vec!["approver@northwind.example"], "{told:?}");
}

#[test]
fn an_event_over_the_limits_is_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    let bytes = content(9, 1);
    let mut event = support::unknown_file(
        "lakeside-fd-01",
        support::sha256_of(&bytes),
        false,
        gov.now(),
    );
    for field in ["path", "user", "computer"] {
        let mut long = event.clone();
        let huge = "x".repeat(20 << 20);
        match field {
            "path" => long.path = format!("C:\\{huge}"),
            "user" => long.user = huge,
            _ => long.computer = huge,
        }
        let before = state_of(&mut gov);
        let error = gov
            .file_request(portcullis_governance::FileRequest {
                kind: AccessRequestKind::Application,
                event: long.clone(),
                message: "please".into(),
                email: None,
                attachment: None,
            })
            .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { reason: m, .. } if m.contains(&format!("`{field}`")) && m.contains("max_string_bytes")),
            "{error}"
        );
        assert!(error.to_string().len() < 200, "the error copies the input");
        assert!(gov.decide(&long).is_err());
        assert_eq!(state_of(&mut gov), before);
    }
    // The user's message is bounded too.
    let before = state_of(&mut gov);
    let error = gov
        .file_request(portcullis_governance::FileRequest {
            kind: AccessRequestKind::Application,
            event: event.clone(),
            message: "m".repeat(1 << 20),
            email: None,
            attachment: None,
        })
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { reason: m, .. } if m.contains("message") && m.contains("max_string_bytes")),
        "{error}"
    );
    assert_eq!(state_of(&mut gov), before);
    event.user = "amy".into();
    assert!(gov.decide(&event).is_ok());
}

/// Copies a state, then lets `change` tamper with the copy.
fn tampered(source: &std::path::Path, change: impl FnOnce(&std::path::Path)) -> tempfile::TempDir {
    let copy = support::copy_state(source);
    change(copy.path());
    copy
}

#[test]
fn the_audit_head_is_signed_and_a_damaged_audit_blocks_writes_until_reanchored() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    for n in 0..3 {
        file(
            &mut gov,
            AccessRequestKind::Application,
            "lakeside-fd-01",
            &content(10, n),
            false,
        )
        .unwrap();
    }
    let total = i64::try_from(gov.verify_audit().unwrap().unwrap()).unwrap();
    let checkpoint = gov.audit_checkpoint().unwrap();
    assert_eq!(checkpoint.count, total);
    drop(gov);
    let key = dir.path().join("audit.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is owner-only");
        let dir_mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o077, 0, "init makes the state owner-only");
    }
    let verify = |d: &std::path::Path| support::open_dir(d).unwrap().verify_audit().unwrap();

    // The newest entries deleted, with the head and without it.
    let cut = format!("DELETE FROM audit WHERE seq > {}", total - 2);
    let truncated = tampered(dir.path(), |d| support::sql(d, &cut));
    assert_eq!(
        verify(truncated.path()),
        Err(AuditBreak::Truncated {
            last: total - 2,
            head: total
        })
    );
    let headless = tampered(dir.path(), |d| {
        support::sql(d, &cut);
        support::set_head(d, None);
    });
    assert_eq!(
        verify(headless.path()),
        Err(AuditBreak::HeadMissing { last: total - 2 })
    );
    // Every entry and the head.
    let emptied = tampered(dir.path(), |d| {
        support::sql(d, "DELETE FROM audit");
        support::set_head(d, None);
    });
    assert_eq!(
        verify(emptied.path()),
        Err(AuditBreak::HeadMissing { last: 0 })
    );
    // A head written by hand (the chain has no key; the head has one).
    let forged = tampered(dir.path(), |d| {
        let text = support::head(d).unwrap();
        let mut head_json: serde_json::Value = serde_json::from_str(&text).unwrap();
        head_json["head"]["count"] = serde_json::json!(total - 1);
        support::set_head(d, Some(&head_json.to_string()));
        support::sql(d, &format!("DELETE FROM audit WHERE seq = {total}"));
    });
    assert!(matches!(
        verify(forged.path()),
        Err(AuditBreak::HeadCorrupt { .. })
    ));

    // The last entry deleted, then an ordinary command: refused, nothing written.
    let deleted = tampered(dir.path(), |d| {
        support::sql(d, &format!("DELETE FROM audit WHERE seq = {total}"));
    });
    let mut damaged = support::open_dir(deleted.path()).unwrap();
    let before = state_of(&mut damaged);
    let error = file(
        &mut damaged,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(10, 99),
        false,
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::AuditBlocked(AuditBreak::Truncated { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("audit reanchor"), "{error}");
    assert_eq!(state_of(&mut damaged), before);
    // Only a Super Admin re-anchors, with a reason; the entry says what was lost.
    assert!(matches!(
        damaged.reanchor_audit("root", " "),
        Err(Error::InvalidInput { .. })
    ));
    let found = damaged
        .reanchor_audit("root", "entry lost in a disk repair")
        .unwrap();
    assert_eq!(
        found,
        vec![AuditBreak::Truncated {
            last: total - 1,
            head: total
        }]
    );
    assert_eq!(
        damaged.verify_audit().unwrap(),
        Ok(usize::try_from(total).unwrap())
    );
    file(
        &mut damaged,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(10, 99),
        false,
    )
    .unwrap();
    // An exported checkpoint proves what the re-anchored audit no longer holds.
    assert_eq!(
        damaged.verify_audit_extends(&checkpoint).unwrap(),
        Err(AuditBreak::Rewritten { seq: total })
    );
    let intact = support::open_dir(dir.path()).unwrap();
    assert!(intact.verify_audit_extends(&checkpoint).unwrap().is_ok());
}

#[test]
fn a_replaced_key_or_head_is_found_by_an_exported_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gov = init_state(dir.path());
    let checkpoint = gov.audit_checkpoint().unwrap();
    drop(gov);
    // Someone with the database and a key of their own: rewrite everything and sign it.
    let rekeyed = tampered(dir.path(), |d| {
        std::fs::remove_file(d.join("audit.key")).unwrap();
        support::set_head(d, None);
        support::sql(d, "DELETE FROM audit");
    });
    let key =
        portcullis_governance::AuditKey::load(&rekeyed.path().join("audit.key"), true).unwrap();
    let gov = support::open_dir(rekeyed.path()).unwrap();
    assert!(gov.verify_audit().unwrap().is_err());
    let verdict = gov.verify_audit_extends(&checkpoint).unwrap();
    assert!(
        matches!(&verdict, Err(AuditBreak::HeadCorrupt { reason }) if reason.contains(&key.public_key())),
        "{verdict:?}"
    );
}

#[test]
fn a_suggestion_threshold_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    let before = state_of(&mut gov);
    let settings = portcullis_governance::Settings {
        suggest_after: 0,
        ..portcullis_governance::Settings::default()
    };
    let error = gov.set_settings(ROOT, "lakeside", settings).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { reason: m, .. } if m.contains("suggest_after")),
        "{error}"
    );
    assert_eq!(state_of(&mut gov), before);
}

#[test]
fn a_lost_key_fails_verification_and_blocks_writes_until_a_new_one_is_anchored() {
    let dir = tempfile::tempdir().unwrap();
    let gov = init_state(dir.path());
    let old = gov.audit_checkpoint().unwrap();
    drop(gov);
    std::fs::remove_file(dir.path().join("audit.key")).unwrap();
    let mut gov = support::open_dir(dir.path()).unwrap();
    let verdict = gov.verify_audit().unwrap();
    assert!(
        matches!(&verdict, Err(AuditBreak::HeadCorrupt { reason }) if reason.contains("audit.key")),
        "{verdict:?}"
    );
    let before = state_of(&mut gov);
    assert!(file(
        &mut gov,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(11, 1),
        false
    )
    .is_err());
    assert_eq!(state_of(&mut gov), before);
    let found = gov
        .reanchor_audit(ROOT, "key lost with the old disk")
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(dir.path().join("audit.key").exists());
    assert!(gov.verify_audit().unwrap().is_ok());
    file(
        &mut gov,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(11, 1),
        false,
    )
    .unwrap();
    // A checkpoint of the old key shows that the key changed.
    assert!(matches!(
        gov.verify_audit_extends(&old).unwrap(),
        Err(AuditBreak::HeadCorrupt { .. })
    ));
}

#[test]
fn reading_the_stored_state_directly_needs_super_admin_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    add_admin(&mut gov, "lake", "lakeside", &[("lakeside", P::SuperAdmin)]);
    let refused = gov.read("lake", |tx| tx.admins()).unwrap_err();
    assert!(
        matches!(&refused, Error::Refused(r) if r.organization == "northwind" && r.missing == "Super Admin"),
        "{refused}"
    );
    assert_eq!(refused.kind(), portcullis_governance::ErrorKind::Forbidden);
    assert_eq!(gov.read(ROOT, |tx| tx.admins()).unwrap().len(), 2);
    // Reads share the state: the handle is Sync, and a read needs no exclusive access.
    fn shared<T: Sync>(_: &T) {}
    shared(&gov);
}
