//! Every entry whose shape is wrong, at once. serde stops at the first value of the
//! wrong type; a rule author fixing a bundle wants them all, each with its entry, path,
//! line and column. This pass runs only after the strict parse failed on a type error:
//! the text is valid JSON, so each list entry is read on its own from a parsed tree,
//! and each error is placed in the text by [`span::locate`](super::span::locate).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::span::{locate, parse_path};
use super::{CompileError, EntryKind, ErrorKind};
use crate::model::{strip_position, Application, Computer, ComputerGroup, Organization, Policy};

/// The shape errors of every entry of every list, in text order; empty when the text
/// is not a JSON object.
pub(crate) fn entry_errors(text: &str) -> Vec<CompileError> {
    let Ok(Value::Object(bundle)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    entries::<Organization>(
        text,
        &bundle,
        "organizations",
        EntryKind::Organization,
        &mut out,
    );
    entries::<ComputerGroup>(text, &bundle, "groups", EntryKind::Group, &mut out);
    entries::<Computer>(text, &bundle, "computers", EntryKind::Computer, &mut out);
    entries::<Application>(
        text,
        &bundle,
        "applications",
        EntryKind::Application,
        &mut out,
    );
    entries::<Policy>(text, &bundle, "policies", EntryKind::Policy, &mut out);
    out.sort_by_key(|e| e.location);
    out
}

fn entries<T: DeserializeOwned>(
    text: &str,
    bundle: &Map<String, Value>,
    list: &str,
    kind: EntryKind,
    out: &mut Vec<CompileError>,
) {
    let Some(Value::Array(items)) = bundle.get(list) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Err(error) = serde_path_to_error::deserialize::<_, T>(item) else {
            continue;
        };
        let entry = format!("{list}[{i}]");
        let inner = error.path().to_string();
        let path = if inner == "." {
            entry.clone()
        } else {
            format!("{entry}.{inner}")
        };
        let id = item.get("id").and_then(Value::as_str);
        let mut found = CompileError::new(
            ErrorKind::Syntax,
            kind,
            id,
            path.clone(),
            strip_position(error.inner()),
        );
        found.location = locate(text, &parse_path(&path))
            .or_else(|| locate(text, &parse_path(&entry)))
            .map(|at| (at.line, at.column));
        out.push(found);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    #[test]
    fn every_entry_of_the_wrong_shape_is_reported_with_its_place() {
        let text = r#"{"format": "portcullis.bundle/v1",
  "organizations": [{"id": "a", "name": "A"}, {"id": "b", "name": 7}],
  "groups": [{"id": "g", "organization": "a", "name": "G"}],
  "computers": [{"id": "c", "group": "g", "name": "C", "os": "plan9"}],
  "policies": [{"id": "p", "scope": {"organization": "a"}, "position": "first",
                "applications": [], "action": "permit"}]}"#;
        let errors = crate::parse(text).unwrap_err();
        let shown: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        assert_eq!(errors.errors().len(), 3, "{shown:#?}");
        assert_eq!(errors.errors()[0].path, "organizations[1].name");
        assert_eq!(errors.errors()[0].location, Some((2, 67)));
        assert_eq!(errors.errors()[1].path, "computers[0].os");
        assert_eq!(errors.errors()[1].location.map(|l| l.0), Some(4));
        assert_eq!(errors.errors()[2].path, "policies[0].position");
        assert_eq!(errors.errors()[2].id.as_deref(), Some("p"));
        assert_eq!(errors.errors()[2].location.map(|l| l.0), Some(5));
    }

    #[test]
    fn a_syntax_error_is_still_one_error() {
        let errors =
            crate::parse(r#"{"format": "portcullis.bundle/v1", "organizations": [}"#).unwrap_err();
        assert_eq!(errors.errors().len(), 1);
    }
}
