//! JSON Schema descriptions of the value types that are written as strings.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::{DistinguishedName, Recipient, Sha256, Timestamp};

impl JsonSchema for Sha256 {
    fn schema_name() -> Cow<'static, str> {
        "Sha256".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A SHA-256 digest: 64 hexadecimal digits, either case.",
            "pattern": "^[0-9A-Fa-f]{64}$"
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An RFC 3339 time with a zone, e.g. `2026-12-24T00:00:00Z`.",
            "format": "date-time"
        })
    }
}

impl JsonSchema for DistinguishedName {
    fn schema_name() -> Cow<'static, str> {
        "DistinguishedName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A distinguished name such as `CN=Contoso Ltd, O=Contoso Ltd`: attributes in any order, values compared case-insensitively.",
            "minLength": 1
        })
    }
}

impl JsonSchema for Recipient {
    fn schema_name() -> Cow<'static, str> {
        "Recipient".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An email address, or `SMS:` followed by a phone number in international form (`SMS:+15555550100`)."
        })
    }
}
