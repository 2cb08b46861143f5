//! The OpenAPI 3.1 document of the API, made from the same table as the router and
//! served at `/api/v1/openapi.json` (a copy is committed as `docs/openapi.json`).

use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::{operations, Access, Input, Operation, Output, PREFIX};

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
                "token": {"type": "http", "scheme": "bearer"},
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
        },
    });
    if let (Input::Json(schema), Value::Object(map)) = (op.input, &mut out) {
        map.insert(
            "requestBody".to_owned(),
            json!({"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{schema}")},
                "example": example(schema),
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
            "properties": {"admin": text, "password": text}},
        "NewToken": {"type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": text}},
        "Invitation": {"type": "object", "required": ["invitation", "password"], "additionalProperties": false,
            "properties": {"invitation": text, "password": {"type": "string", "minLength": crate::secret::MIN_PASSWORD}}},
        "RejectBody": {"type": "object", "required": ["reason"], "additionalProperties": false,
            "properties": {"reason": text}},
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
        "Invitation" => json!({"invitation": "pci_…", "password": "a brand new passphrase"}),
        "RejectBody" => json!({"reason": "use the approved label printer instead"}),
        "ApproveBody" => json!({"scope": "computer", "match": "hash"}),
        _ => json!({}),
    }
}

/// `GET /openapi.json`
pub async fn serve() -> Json<Value> {
    Json(document())
}
