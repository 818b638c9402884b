//! The OpenAPI 3 description of the management API, served at
//! `/api/v1/openapi.json`.

use serde_json::{json, Value};

/// One `json!` literal, not split: it reads top to bottom as the document
/// clients receive, each path beside its schemas and responses.
pub fn document() -> Value {
    // The audit filters as the portal's form sends them: empty means none.
    let mut actions: Vec<&str> = app::domain::audit::Action::ALL
        .iter()
        .map(|a| a.as_str())
        .collect();
    actions.push("");
    let day = json!({"oneOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}],
        "description": "YYYY-MM-DD, inclusive; empty: no bound"});
    let error = json!({"$ref": "#/components/schemas/Error"});
    let errors = |codes: &[&str]| -> Value {
        let mut map = serde_json::Map::new();
        for code in codes {
            map.insert(
                (*code).to_string(),
                json!({"description": "See the error body", "content": {"application/json": {"schema": error}}}),
            );
        }
        Value::Object(map)
    };
    let with = |mut ok: Value, codes: &[&str]| -> Value {
        if let (Some(ok), Value::Object(more)) = (ok.as_object_mut(), errors(codes)) {
            ok.extend(more);
        }
        ok
    };
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {"title": "Keyport management API", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "messages"], "properties": {
                        "code": {"type": "integer"}, "messages": {"type": "array", "items": {"type": "string"}}}}}
                },
                "Client": {
                    "type": "object",
                    "required": ["client_id", "name", "description", "permissions", "website_url", "callback_url", "owner", "created_at"],
                    "properties": {
                        "client_id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                        "permissions": {"type": "array", "items": {"type": "string"}},
                        "website_url": {"type": "string"}, "callback_url": {"type": "string"}, "owner": {"type": "string"},
                        "created_at": {"type": "integer"}, "last_used_at": {"type": "integer", "nullable": true},
                        "public": {"type": "boolean", "description": "A public client: no secret, token_endpoint_auth_method none"},
                        "refresh_tokens": {"type": "boolean"},
                        "refresh_idle_seconds": {"type": "integer"}, "refresh_absolute_seconds": {"type": "integer"}
                    }
                },
                "NewClient": {
                    "description": "The portal's Application Settings rules apply: a name unique in the domain, without control characters; permissions from the catalog (the metadata's scopes_supported); an absolute http(s) website; an https callback (http for a loopback host), without a fragment; room in the domain. A value they refuse is a 400 naming its field.",
                    "type": "object", "required": ["name", "permissions"], "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 64},
                        "description": {"type": "string", "maxLength": 500},
                        "permissions": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                        "website_url": {"type": "string"}, "callback_url": {"type": "string"},
                        "public": {"type": "boolean", "default": false,
                            "description": "A native app, CLI or agent: no secret; the authorization code grant with PKCE and refresh tokens only. Needs a callback_url."},
                        "refresh_tokens": {"type": "boolean", "default": false,
                            "description": "Issue a rotating refresh token when a user approves offline_access"},
                        "refresh_idle_seconds": {"type": "integer", "minimum": 3600, "maximum": 31536000, "default": 604800},
                        "refresh_absolute_seconds": {"type": "integer", "minimum": 3600, "maximum": 31536000, "default": 2592000}
                    }
                },
                "AuditEntry": {
                    "type": "object", "required": ["id", "at", "actor", "action", "address"],
                    "properties": {"id": {"type": "integer"}, "at": {"type": "integer"}, "actor": {"type": "string"},
                        "action": {"type": "string"}, "target": {"type": "string", "nullable": true},
                        "client_id": {"type": "string", "nullable": true}, "detail": {"type": "string", "nullable": true},
                        "address": {"type": "string"}}
                },
                "Rotation": {
                    "description": "Without a body the previous secret works for 86400 s (24 h) more",
                    "type": "object", "additionalProperties": false, "required": ["grace_seconds"],
                    "properties": {"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800}}
                },
                "Rotated": {
                    "type": "object", "required": ["client_id", "client_secret", "previous_secret_expires_at"],
                    "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"},
                        "previous_secret_expires_at": {"type": "integer", "nullable": true}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/clients": {
                "get": {
                    "summary": "List the client applications of the token's domain (clients:read)",
                    "responses": with(json!({"200": {"description": "Clients", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}}}}}), &["401", "403"])
                },
                "post": {
                    "summary": "Register a client application (clients:write)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewClient"}}}},
                    "responses": with(json!({"201": {"description": "Created; the only time the secret is returned (a public client has none)", "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Client"}, {"type": "object", "properties": {"client_secret": {"type": "string"}}}]}}}}}), &["400", "401", "403"])
                }
            },
            "/api/v1/clients/{client_id}": {
                "delete": {
                    "summary": "Remove a client application (clients:write)",
                    "parameters": [{"name": "client_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": with(json!({"204": {"description": "Removed"}}), &["401", "403", "404"])
                }
            },
            "/api/v1/clients/{client_id}/secret": {
                "post": {
                    "summary": "Rotate the client secret; the previous one works for grace_seconds more (clients:write)",
                    "parameters": [{"name": "client_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rotation"}}}},
                    "responses": with(json!({"200": {"description": "The new secret, returned once", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rotated"}}}}}), &["400", "401", "403", "404"])
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "Audit entries of the token's domain, newest first; a full page has a Link header to the next (audit:read)",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": false, "description": "Entries per page, 1 to 500 (default 100); a number outside is brought within",
                            "schema": {"type": "integer"}},
                        {"name": "actor", "in": "query", "required": false, "description": "An email", "schema": {"type": "string"}},
                        {"name": "action", "in": "query", "required": false, "schema": {"type": "string", "enum": actions}},
                        {"name": "client_id", "in": "query", "required": false, "schema": {"type": "string"}},
                        {"name": "from", "in": "query", "required": false, "schema": day},
                        {"name": "until", "in": "query", "required": false, "description": "Not before `from` (else 400)", "schema": day},
                        {"name": "before", "in": "query", "required": false, "schema": {"type": "integer"}}
                    ],
                    "responses": with(json!({"200": {"description": "Entries", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}}}}), &["400", "401", "403"])
                }
            }
        }
    });
    add_domains(&mut document, &with);
    document
}

/// `/api/v1/domains` and its schemas.
fn add_domains(document: &mut Value, with: &dyn Fn(Value, &[&str]) -> Value) {
    let domain = json!({"$ref": "#/components/schemas/Domain"});
    let id = json!([{"name": "domain_id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let schemas = json!({
        "Domain": {
            "type": "object", "required": ["domain_id", "name", "app_limit"],
            "properties": {"domain_id": {"type": "string"}, "name": {"type": "string"}, "app_limit": {"type": "integer"},
                "applications": {"type": "integer", "description": "In use (lists only)"},
                "users": {"type": "integer", "description": "Lists only"},
                "created_at": {"type": "integer", "description": "Lists only"},
                "last_activity": {"type": "integer", "nullable": true, "description": "Lists only"}}
        },
        "NewDomain": {
            "description": "A name unique whatever its case, 1 to 64 characters without control characters; a limit from 1 to 1000 (default 63).",
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                "app_limit": {"type": "integer", "minimum": 1, "maximum": 1000}}
        },
        "DomainChange": {
            "description": "Either or both; a limit below the applications the domain holds is a 400, and then nothing changes.",
            "type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                "app_limit": {"type": "integer", "minimum": 1, "maximum": 1000}}
        }
    });
    let paths = json!({
        "/api/v1/domains": {
            "get": {
                "summary": "Every domain with its counts (domains:read; the token's user must be a super admin)",
                "responses": with(json!({"200": {"description": "Domains", "content": {"application/json": {"schema": {"type": "array", "items": domain}}}}}), &["401", "403"])
            },
            "post": {
                "summary": "Create a domain (domains:write; the token's user must be a super admin)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewDomain"}}}},
                "responses": with(json!({"201": {"description": "Created", "content": {"application/json": {"schema": domain}}}}), &["400", "401", "403"])
            }
        },
        "/api/v1/domains/{domain_id}": {
            "patch": {
                "summary": "Rename a domain or set its application limit (domains:write; the token's user must be a super admin)",
                "parameters": id,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DomainChange"}}}},
                "responses": with(json!({"200": {"description": "The domain as it is now", "content": {"application/json": {"schema": domain}}}}), &["400", "401", "403", "404"])
            }
        }
    });
    for (at, more) in [("/components/schemas", schemas), ("/paths", paths)] {
        if let (Some(Value::Object(into)), Value::Object(more)) = (document.pointer_mut(at), more) {
            into.extend(more);
        }
    }
}
