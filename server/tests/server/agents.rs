//! What agents keep in step with: signed views, changes by long-poll, health reports
//! and the list of agents behind.

use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::{json, Value};

use super::support::{call, start, token, Auth, Fallible};

/// The payload of a signed envelope, after checking its signature with `key`.
fn opened(envelope: &Value, key: &str) -> Fallible<Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = envelope["payload"].as_str().ok_or("payload")?;
    let signature = b64.decode(envelope["signature"].as_str().ok_or("signature")?)?;
    UnparsedPublicKey::new(&ED25519, b64.decode(key)?)
        .verify(payload.as_bytes(), &signature)
        .map_err(|_| "the signature does not verify")?;
    Ok(serde_json::from_str(payload)?)
}

#[test]
fn views_are_signed_changes_wake_long_polls_and_the_server_lists_agents_behind() -> Fallible {
    let server = start()?;
    let root = Auth::token(&token(&server, "root")?);
    let made = call(
        "POST",
        &server.url("/install-keys"),
        &root,
        Some(&json!({"name": "k", "organization": "lakeside", "group": "lakeside-ws"}).to_string()),
    )?;
    assert_eq!(made.status, 201, "{made:?}");
    let enrolled = call(
        "POST",
        &server.url("/agents/enroll"),
        &Auth::default(),
        Some(
            &json!({"key": made.json()["key"], "hostname": "lakeside-fd-07", "os": "linux"})
                .to_string(),
        ),
    )?;
    assert_eq!(enrolled.status, 201, "{enrolled:?}");
    let key = enrolled.json()["view_key"]
        .as_str()
        .ok_or("view_key")?
        .to_owned();
    let me = Auth::token(enrolled.json()["credential"].as_str().ok_or("credential")?);

    // The whole view, signed, at the current revision.
    let view = opened(
        &call("GET", &server.url("/agent/view"), &me, None)?.json(),
        &key,
    )?;
    assert_eq!(view["kind"], "view");
    assert_eq!(view["computer"], "lakeside-fd-07");
    let revision = view["revision"].as_i64().ok_or("revision")?;
    // Tampered with, it no longer verifies.
    let mut forged = call("GET", &server.url("/agent/view"), &me, None)?.json();
    forged["payload"] = json!(forged["payload"]
        .as_str()
        .unwrap_or("")
        .replace("lakeside-fd-07", "lakeside-fd-08"));
    assert!(opened(&forged, &key).is_err());

    // Nothing deployed since: an empty change, at once.
    let same = opened(
        &call(
            "GET",
            &server.url(&format!("/agent/changes?since={revision}&wait=0")),
            &me,
            None,
        )?
        .json(),
        &key,
    )?;
    assert_eq!(same["kind"], "change");
    assert_eq!(
        (same["from"].as_i64(), same["revision"].as_i64()),
        (Some(revision), Some(revision))
    );
    let entries = &same["change"]["entries"];
    for list in [
        "organizations",
        "groups",
        "computers",
        "applications",
        "policies",
    ] {
        assert_eq!(entries[list].as_array().map_or(0, Vec::len), 0, "{list}");
    }

    // Behind until it reports the current revision.
    let listed = |auth: &Auth| -> Fallible<Value> {
        let agents = call("GET", &server.url("/agents"), auth, None)?.json();
        Ok(agents
            .as_array()
            .ok_or("agents")?
            .iter()
            .find(|a| a["computer"] == "lakeside-fd-07")
            .cloned()
            .unwrap_or(Value::Null))
    };
    assert_eq!(listed(&root)?["behind"], true);
    let reported = call(
        "POST",
        &server.url("/agent/health"),
        &me,
        Some(&json!({"revision": revision, "enforcing": true, "elevation": false}).to_string()),
    )?;
    assert_eq!(reported.status, 204, "{reported:?}");
    let entry = listed(&root)?;
    assert_eq!(entry["behind"], false, "{entry}");
    assert_eq!(entry["report"]["elevation"], false);
    // Another tenant's administrator does not see it.
    let hank = Auth::token(&token(&server, "hank")?);
    assert_eq!(listed(&hank)?, Value::Null);

    // A long-poll waiting when a deploy commits wakes with the change: only the
    // computer's organization, with its maintenance mode.
    let url = server.url(&format!("/agent/changes?since={revision}&wait=60"));
    let waiting = {
        let me = me.clone();
        std::thread::spawn(move || {
            call("GET", &url, &me, None)
                .map(|a| a.json())
                .map_err(|e| e.to_string())
        })
    };
    let set = call(
        "PUT",
        &server.url("/computers/lakeside-fd-07/maintenance"),
        &root,
        Some(&json!({"mode": "monitor", "until": "2099-01-01T00:00:00Z"}).to_string()),
    )?;
    assert_eq!(set.status, 200, "{set:?}");
    let woke = opened(
        &waiting.join().map_err(|_| "the long-poll panicked")??,
        &key,
    )?;
    assert_eq!(woke["kind"], "change");
    assert_eq!(woke["from"].as_i64(), Some(revision));
    assert!(woke["revision"].as_i64() > Some(revision), "{woke}");
    let orgs: Vec<&str> = woke["change"]["entries"]["organizations"]
        .as_array()
        .ok_or("organizations")?
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(orgs, ["lakeside"]);
    assert_eq!(
        woke["change"]["entries"]["computers"][0]["maintenance"]["mode"],
        "monitor"
    );
    assert!(
        !woke.to_string().contains("harbor"),
        "nothing of another tenant"
    );
    // The agent is behind again until it reports.
    assert_eq!(listed(&root)?["behind"], true);

    // From a revision no change can be made from: the whole view.
    let whole = opened(
        &call("GET", &server.url("/agent/changes?since=0"), &me, None)?.json(),
        &key,
    )?;
    assert_eq!(whole["kind"], "view");
    Ok(())
}
