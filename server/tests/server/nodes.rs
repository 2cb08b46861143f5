//! Two server nodes on one real PostgreSQL database: what one does, the other sees at
//! once; credentials work on both; of two approvals of one request on the two nodes,
//! exactly one wins.

use super::support::{call, new_database, node, start_on, token, Auth, Fallible};

/// The blocked execution of request 1 (examples/request/blocked.json).
fn blocked() -> Fallible<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Ok(std::fs::read_to_string(
        root.join("examples/request/blocked.json"),
    )?)
}

#[test]
fn a_change_through_one_node_is_seen_through_the_other_at_once() -> Fallible {
    let database = new_database()?;
    let a = start_on(&database)?;
    let b = node(&database, &a)?;
    // A token made on one node signs in on the other: one credential store.
    let ann = Auth::token(&token(&a, "ann")?);
    let root = Auth::token(&token(&b, "root")?);
    let queue = call("GET", &b.url("/requests"), &ann, None)?;
    assert_eq!(queue.status, 200, "{queue:?}");
    assert_eq!(queue.json()[0]["id"], 1);

    // Both nodes deny the blocked execution.
    let event = blocked()?;
    for n in [&a, &b] {
        let decided = call("POST", &n.url("/decisions"), &root, Some(&event))?;
        assert_eq!(decided.status, 200, "{decided:?}");
        assert_eq!(
            decided.json()["decision"]["decision"],
            "deny",
            "{decided:?}"
        );
    }
    // Approved through A …
    let approved = call(
        "POST",
        &a.url("/requests/1/approve"),
        &ann,
        Some(r#"{"scope": "computer", "match": "hash"}"#),
    )?;
    assert_eq!(approved.status, 200, "{approved:?}");
    // … B shows the request approved, the same bundle version, and its engine allows
    // the execution.
    let shown = call("GET", &b.url("/requests/1"), &ann, None)?;
    assert_eq!(shown.json()["state"], "approved", "{shown:?}");
    let history = call("GET", &b.url("/deploys"), &root, None)?;
    assert_eq!(
        history.json()[0]["reason"],
        "approve request 1",
        "{history:?}"
    );
    assert_eq!(history.json()[0]["version"], 2, "{history:?}");
    let decided = call("POST", &b.url("/decisions"), &root, Some(&event))?;
    assert_eq!(
        decided.json()["decision"]["decision"],
        "allow",
        "{decided:?}"
    );
    // And the audit both nodes appended to is one chain that verifies.
    let verified = call("GET", &a.url("/audit/verify"), &root, None)?;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert!(
        verified.json()["verified"].as_u64() > Some(0),
        "{verified:?}"
    );
    Ok(())
}

#[test]
fn of_two_approvals_of_one_request_on_two_nodes_exactly_one_wins() -> Fallible {
    let database = new_database()?;
    let a = start_on(&database)?;
    let b = node(&database, &a)?;
    let ann = Auth::token(&token(&a, "ann")?);
    let root = Auth::token(&token(&b, "root")?);
    let body = r#"{"scope": "computer", "match": "hash"}"#;
    let approve =
        |url: String, auth: &Auth| call("POST", &url, auth, Some(body)).map_err(|e| e.to_string());
    let (first, second) = std::thread::scope(|s| {
        let one = s.spawn(|| approve(a.url("/requests/1/approve"), &ann));
        let two = s.spawn(|| approve(b.url("/requests/1/approve"), &root));
        (one.join(), two.join())
    });
    let answers = [
        first.map_err(|_| "a call panicked")??,
        second.map_err(|_| "a call panicked")??,
    ];
    let won: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    let lost: Vec<_> = answers.iter().filter(|a| a.status == 409).collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{answers:?}");
    // One approval policy, one closing of the request, in the one history.
    let history = call("GET", &a.url("/deploys"), &root, None)?;
    let approvals = history
        .json()
        .as_array()
        .map(|h| {
            h.iter()
                .filter(|d| {
                    d["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("request 1"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(approvals, 1, "{history:?}");
    let audit = call("GET", &b.url("/audit?kind=approve"), &root, None)?;
    assert_eq!(audit.json().as_array().map(Vec::len), Some(1), "{audit:?}");
    Ok(())
}
