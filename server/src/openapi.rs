//! The OpenAPI 3.1 document of the API, made from the same table as the router and
//! served at `/api/v1/openapi.json` (a copy is committed as `docs/openapi.json`).

use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::{operations, Access, Input, Operation, Output, PREFIX};

/// Where the document is served.
pub const OPENAPI: &str = "/api/v1/openapi.json";

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (op, _) in operations() {
        let entry = paths
            .entry(format!("{PREFIX}{}", op.path))
            .or_insert_with(|| json!({}));
        if let Value::Object(methods) = entry {
            methods.insert(op.method.as_str().to_lowercase(), operation(&op));
        }
    }
    paths.insert(
        OPENAPI.to_owned(),
        json!({"get": {"operationId": "openapi", "summary": "This document", "parameters": [],
            "security": [], "responses": {"200": {"description": "The OpenAPI document",
            "content": {"application/json": {"schema": {}}}}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Requests, approvals and administration of a Portcullis tenancy. \
                Every operation but signing in, accepting an invitation and this document \
                needs an API token (`Authorization: Bearer …`) or a session cookie; a change \
                made with a session also needs the session's CSRF token in `X-CSRF-Token`. \
                Failures are `application/problem+json`.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "An administrator's API token (pct_…)"},
                "agent": {"type": "http", "scheme": "bearer", "description": "An enrolled agent's credential (pca_…)"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE},
            },
            "schemas": schemas(),
            "responses": {
                "Problem": {
                    "description": "Why the call failed; nothing changed",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
            },
        },
    })
}

fn operation(op: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_parameters(op.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                   "schema": {"type": if name == "id" && op.path.starts_with("/requests") {"integer"} else {"string"}}})
        })
        .collect();
    parameters.extend(op.query.iter().map(|(name, description)| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": {"type": "string"}})
    }));
    let success = match op.output {
        Output::Json => {
            json!({"200": {"description": "Done", "content": {"application/json": {"schema": {}}}}})
        }
        Output::Created => {
            json!({"201": {"description": "Made", "content": {"application/json": {"schema": {}}}}})
        }
        Output::Bytes => json!({"200": {"description": "The bytes",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}),
        Output::Empty => json!({"204": {"description": "Done"}}),
    };
    let mut responses = success;
    if let Value::Object(map) = &mut responses {
        map.insert(
            "default".to_owned(),
            json!({"$ref": "#/components/responses/Problem"}),
        );
    }
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
        "security": match op.access {
            Access::Public => json!([]),
            Access::Admin => json!([{"token": []}, {"session": []}]),
            Access::Agent => json!([{"agent": []}]),
            Access::Either => json!([{"token": []}, {"session": []}, {"agent": []}]),
        },
    });
    let body = match op.input {
        Input::None => None,
        Input::Json(schema) => Some((
            json!({"$ref": format!("#/components/schemas/{schema}")}),
            example(schema),
        )),
        Input::Bundle => Some((
            json!({"type": "object", "description": "A bundle, as `docs/bundle.schema.json` describes"}),
            example("Bundle"),
        )),
        Input::Event => Some((
            json!({"type": "object", "description": "An execution event, as `docs/event.schema.json` describes"}),
            example("Event"),
        )),
        Input::Bytes => None,
    };
    if let (Input::Bytes, Value::Object(map)) = (op.input, &mut out) {
        map.insert(
            "requestBody".to_owned(),
            json!({"required": true, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}),
        );
    }
    if let (Some((schema, example)), Value::Object(map)) = (body, &mut out) {
        map.insert(
            "requestBody".to_owned(),
            json!({"required": true, "content": {"application/json": {
                "schema": schema, "example": example,
            }}}),
        );
    }
    out
}

/// The `{name}` parameters of a path.
pub fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn schemas() -> Value {
    let text = json!({"type": "string"});
    json!({
        "Problem": {"type": "object", "properties": {
            "type": text, "title": text, "status": {"type": "integer"}, "detail": text}},
        "SignIn": {"type": "object", "required": ["admin", "password"], "additionalProperties": false,
            "properties": {"admin": text, "password": text,
                "totp": {"type": "string", "description": "the one-time code, for an administrator with a second factor"}}},
        "Code": {"type": "object", "required": ["code"], "additionalProperties": false,
            "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}},
        "NewToken": {"type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": text}},
        "Invitation": {"type": "object", "required": ["invitation", "password"], "additionalProperties": false,
            "properties": {"invitation": text, "password": {"type": "string", "minLength": crate::secret::MIN_PASSWORD}}},
        "RejectBody": {"type": "object", "required": ["reason"], "additionalProperties": false,
            "properties": {"reason": text}},
        "FileBody": {"type": "object", "required": ["event", "message"], "additionalProperties": false,
            "properties": {"kind": {"enum": ["application", "storage", "elevation"]},
                "event": {"type": "object", "description": "The blocked execution event"},
                "message": text, "email": text,
                "file": {"type": "string", "description": "The SHA-256 of an upload (PUT /uploads)"}}},
        "PluginBody": {"type": "object", "required": ["file_name", "content"], "additionalProperties": false,
            "properties": {"name": text, "file_name": {"type": "string", "description": "`*.rego` for a Rego policy, else a WebAssembly component"},
                "content": {"type": "string", "description": "the plugin's bytes, base64"},
                "config": {"type": "object", "additionalProperties": {"type": "string"}},
                "vectors": {"type": "array", "items": {"type": "object", "required": ["file", "text"], "additionalProperties": false,
                    "properties": {"file": text, "text": {"type": "string", "description": "a test vector (JSON text)"}}}}}},
        "InstallKeyBody": {"type": "object", "required": ["name", "organization"], "additionalProperties": false,
            "properties": {"name": text, "organization": text, "group": text, "days": {"type": "integer", "minimum": 1}}},
        "Enrollment": {"type": "object", "required": ["key", "hostname", "os"], "additionalProperties": false,
            "properties": {"key": text, "hostname": text, "os": {"enum": ["windows", "linux", "macos"]}}},
        "Decisions": {"type": "array", "maxItems": crate::api::DECISIONS_PER_UPLOAD,
            "items": {"type": "object", "required": ["event", "decision"], "properties": {
                "event": {"type": "object"}, "decision": {"type": "object"}}}},
        "HealthReport": {"type": "object", "required": ["revision"], "properties": {
            "revision": {"type": "integer", "description": "the revision of the view the agent enforces"},
            "enforcing": {"type": "boolean"}, "elevation": {"type": "boolean"},
            "spool": {"type": "object", "properties": {"pending": {"type": "integer"}, "overflowed": {"type": "integer"}}}}},
        "AdminBody": {"type": "object", "additionalProperties": false, "properties": {
            "name": text, "organization": text, "email": text, "phone": text}},
        "Channels": {"type": "object", "required": ["email", "sms"], "additionalProperties": false,
            "properties": {"email": {"type": "boolean"}, "sms": {"type": "boolean"}}},
        "RoleBody": {"type": "object", "required": ["organization", "name", "permissions"],
            "additionalProperties": false, "properties": {"organization": text, "name": text,
            "permissions": {"type": "array", "items": {"type": "string", "description": "a permission's id or name"}}}},
        "Grant": {"type": "object", "required": ["admin", "organization", "what"], "properties": {
            "admin": text, "organization": text,
            "what": {"oneOf": [
                {"type": "object", "required": ["permission"], "properties": {"permission": text}},
                {"type": "object", "required": ["role"], "properties": {"role": text}}]}}},
        "SettingsChange": {"type": "object", "description": "Some of the settings `GET …/settings` shows",
            "properties": {"new_software_computer_first": {"type": "boolean"},
                "wider_needs_justification": {"type": "boolean"}, "suggest_after": {"type": "integer", "minimum": 1},
                "request_ttl_seconds": {"type": "integer", "minimum": 1}, "audit_allows": {"type": "boolean"}}},
        "MaintenanceBody": {"type": "object", "required": ["mode", "until"], "additionalProperties": false,
            "properties": {"mode": {"enum": ["monitor", "learning", "installation"]},
                "until": {"type": "string", "format": "date-time"}}},
        "RollbackBody": {"type": "object", "additionalProperties": false, "properties": {"to": {"type": "integer"}}},
        "Checkpoint": {"type": "object", "required": ["count", "hash", "public_key", "signature"],
            "properties": {"count": {"type": "integer"}, "hash": text, "public_key": text, "signature": text}},
        "ReanchorBody": {"type": "object", "required": ["reason"], "additionalProperties": false,
            "properties": {"reason": text}},
        "NotifyConfig": {"type": "object", "required": ["link_base"],
            "description": "As `portcullis notify configure --file` takes (docs/notifications.md)",
            "properties": {"link_base": text, "email": {"type": "object"}, "sms": {"type": "object"},
                "retry": {"type": "object"}}},
        "ApproveBody": {"type": "object", "additionalProperties": false, "properties": {
            "scope": {"enum": ["computer", "group", "organization", "global"]},
            "target": text,
            "match": {"enum": ["hash", "certificate", "certificate-path", "path", "custom"]},
            "rule": {"type": "object", "description": "A file rule (with match custom), as in a bundle"},
            "application": text, "name": text, "elevate": {"type": "boolean"},
            "expires": {"type": "string", "format": "date-time"},
            "justification": text, "position": {"type": "integer"}}},
    })
}

/// An example body of each input schema.
fn example(schema: &str) -> Value {
    match schema {
        "SignIn" => json!({"admin": "ann", "password": "correct horse battery staple"}),
        "NewToken" => json!({"name": "laptop"}),
        "Code" => json!({"code": "287082"}),
        "InstallKeyBody" => {
            json!({"name": "front-desk", "organization": "lakeside", "group": "lakeside-ws", "days": 7})
        }
        "Enrollment" => json!({"key": "pck_…", "hostname": "lakeside-fd-03", "os": "windows"}),
        "Decisions" => {
            json!([{"event": event_example(), "decision": {"decision": "deny", "policy": null,
            "application": null, "elevated": false, "mode": null, "would_deny": false,
            "default_deny": true, "learn": false, "notify_user": true, "can_request": true,
            "request_kind": "application", "notify": [], "generation": 1}}])
        }
        "HealthReport" => json!({"revision": 7, "enforcing": true, "elevation": false,
            "spool": {"pending": 0, "overflowed": 0}}),
        "Invitation" => json!({"invitation": "pci_…", "password": "a brand new passphrase"}),
        "RejectBody" => json!({"reason": "use the approved label printer instead"}),
        "ApproveBody" => json!({"scope": "computer", "match": "hash"}),
        "AdminBody" => {
            json!({"name": "Ann Lee", "organization": "lakeside", "email": "ann@lakeside.example"})
        }
        "Channels" => json!({"email": true, "sms": false}),
        "RoleBody" => json!({"organization": "lakeside", "name": "Help desk",
                             "permissions": ["approve-computer", "view-approvals"]}),
        "Grant" => {
            json!({"admin": "ann", "organization": "lakeside", "what": {"permission": "approve-group"}})
        }
        "SettingsChange" => json!({"suggest_after": 2}),
        "MaintenanceBody" => json!({"mode": "monitor", "until": "2030-01-01T00:00:00Z"}),
        "RollbackBody" => json!({"to": 1}),
        // `package portcullis.known_bad` … as base64; a component's bytes go the same way.
        "PluginBody" => json!({"name": "known-bad", "file_name": "known-bad.rego",
            "content": "cGFja2FnZSBwb3J0Y3VsbGlzLmtub3duX2JhZAo=",
            "config": {"hashes": "…"}, "vectors": []}),
        "Checkpoint" => {
            json!({"count": 12, "hash": "9f2c…", "public_key": "3b6a…", "signature": "5e1d…"})
        }
        "ReanchorBody" => json!({"reason": "restored the database from last night's backup"}),
        "NotifyConfig" => json!({"link_base": "https://portcullis.example",
            "email": {"host": "smtp.example", "port": 587, "tls": "starttls", "from": "portcullis@example"}}),
        "Event" => event_example(),
        "FileBody" => json!({"kind": "application", "event": event_example(),
            "message": "I need it to print labels", "email": "amy@lakeside.example"}),
        "Bundle" => json!({"format": "portcullis.bundle/v1",
            "organizations": [{"id": "northwind", "name": "Northwind IT Services"}],
            "groups": [], "computers": [], "applications": [], "policies": []}),
        _ => json!({}),
    }
}

fn event_example() -> Value {
    json!({"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
        "path": "C:\\Users\\amy\\Downloads\\labelprint.exe",
        "sha256": "51b1092c5df7dd6047fb4ffc1e0ad41736ee13bb915fc84d41afd1f4c62f22e7",
        "time": "2026-11-22T10:00:00Z"})
}

/// `GET /openapi.json`
pub async fn serve() -> Json<Value> {
    Json(document())
}
