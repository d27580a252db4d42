"""The admin API's OpenAPI 3.1 document, served at /admin/openapi.json. Tests validate real
responses against it and check that it names exactly the routes the listener serves."""

from __future__ import annotations

from functools import cache
from typing import Any

from models.consent import Action, ProcessingState, UnscannablePolicy
from proxy.admin.exports import COLUMNS

STATE_SUMMARIES = {
    "restrict": "Restriction of processing: state restricted, every request refused",
    "object": "Objection: state objected, every request refused",
    "withdraw": "Withdrawal of consent: state withdrawn, every request refused",
    "reactivate": "Back to active: requests follow the consent again",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid request (the message names what is wrong)",
        401: "Missing or unknown admin token",
        403: "The token's role may not do this",
        404: "No such route",
        412: "If-Match names another version than the stored one",
        413: "Body too large",
        503: "The consent store or the ledger cannot be reached",
        500: "An unexpected failure (logged without request content)",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in (*statuses, 500)}


CUSTOMER = {
    "name": "customer_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
}
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "ISO 8601 date or time, inclusive (UTC when no offset)",
    "schema": {"type": "string"},
}
UNTIL = {
    "name": "until",
    "in": "query",
    "required": False,
    "description": "ISO 8601 date or time, exclusive (UTC when no offset)",
    "schema": {"type": "string"},
}
STATES = [str(s) for s in ProcessingState]
ACTIONS = [str(a) for a in Action]


def _schemas() -> dict[str, Any]:
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    score = {"type": "number", "minimum": 0, "maximum": 1}
    models = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    document_props: dict[str, Any] = {
        "state": {"type": "string", "enum": STATES},
        "providers": {"type": "array", "items": {"type": "string"}},
        "models": models,
        "actions": {"type": "object", "additionalProperties": {"type": "string", "enum": ACTIONS}},
        "default_action": {"type": "string", "enum": ACTIONS},
        "thresholds": {"type": "object", "additionalProperties": score},
        "default_threshold": score,
        "unscannable": {"type": "string", "enum": [str(u) for u in UnscannablePolicy]},
    }
    nullable = {key: {"oneOf": [value, {"type": "null"}]} for key, value in document_props.items()}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "Identity": {
            "type": "object",
            "required": ["name", "role"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "role": {"type": "string", "enum": ["reader", "admin"]},
            },
        },
        "ConsentDocument": {
            "type": "object",
            "additionalProperties": False,
            "description": "Every field is optional; an absent field leaves the rules file in force for it.",
            "properties": {
                **document_props,
                "known_identifiers": {
                    "type": "object",
                    "description": "Entity type -> the customer's own values, masked wherever they appear. "
                    "Stored encrypted; never shown back, only counted.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "ConsentPatch": {
            "type": "object",
            "additionalProperties": False,
            "description": "JSON merge patch (RFC 7396): null removes an override; maps merge key by key.",
            "properties": {
                **nullable,
                "known_identifiers": {
                    "oneOf": [
                        {
                            "type": "object",
                            "additionalProperties": {
                                "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
                            },
                        },
                        {"type": "null"},
                    ]
                },
            },
        },
        "StoredDocument": {
            "type": "object",
            "additionalProperties": False,
            "properties": {**document_props, "known_identifier_counts": counts},
        },
        "EffectiveConsent": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "version",
                "state",
                "providers",
                "models",
                "actions",
                "default_action",
                "thresholds",
                "default_threshold",
                "unscannable",
                "known_identifier_counts",
            ],
            "properties": {
                "version": {"type": "string", "description": "The consent_version sharing records carry"},
                **{k: v for k, v in document_props.items()},
                "known_identifier_counts": counts,
            },
        },
        "ConsentView": {
            "type": "object",
            "additionalProperties": False,
            "required": ["customer_id", "source", "stored", "effective"],
            "properties": {
                "customer_id": {"type": "string"},
                "source": {"type": "string", "enum": ["store", "rules_file", "default"]},
                "stored": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["version", "updated_at", "updated_by", "document"],
                            "properties": {
                                "version": {"type": "integer", "minimum": 1},
                                "updated_at": {"type": "string"},
                                "updated_by": {"type": "string"},
                                "document": _ref("StoredDocument"),
                            },
                        },
                    ]
                },
                "effective": _ref("EffectiveConsent"),
            },
        },
        "ConsentHistory": {
            "type": "object",
            "additionalProperties": False,
            "required": ["customer_id", "history"],
            "properties": {
                "customer_id": {"type": "string"},
                "history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["version", "at", "actor", "action", "changes", "document"],
                        "properties": {
                            "version": {"type": "integer"},
                            "at": {"type": "string"},
                            "actor": {"type": "string"},
                            "action": {
                                "type": "string",
                                "enum": ["set", "patch", "restrict", "object", "withdraw", "reactivate"],
                            },
                            "document": {
                                **_ref("StoredDocument"),
                                "description": "The whole stored document from this version on",
                            },
                            "changes": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["from", "to"],
                                    "properties": {"from": {}, "to": {}},
                                },
                            },
                        },
                    },
                },
            },
        },
        "Summary": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "customer_id",
                "since",
                "until",
                "total",
                "by_provider",
                "by_entity_type",
                "by_month",
            ],
            "properties": {
                "customer_id": {"type": ["string", "null"]},
                "since": {"type": ["string", "null"]},
                "until": {"type": ["string", "null"]},
                "total": {"type": "integer", "minimum": 0},
                "by_provider": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["records", "forwarded", "blocked", "failed"],
                        "properties": {
                            k: {"type": "integer", "minimum": 0}
                            for k in ("records", "forwarded", "blocked", "failed")
                        },
                    },
                },
                "by_entity_type": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["entities", "records"],
                        "properties": {k: {"type": "integer", "minimum": 0} for k in ("entities", "records")},
                    },
                },
                "by_month": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[0-9]{4}-[0-9]{2}$"},
                    "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
        },
        "Erasure": {
            "type": "object",
            "additionalProperties": False,
            "required": ["customer_id", "erased", "at"],
            "properties": {
                "customer_id": {"type": "string"},
                "at": {"type": "string"},
                "erased": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["sharing_records", "consent_record", "history_entries", "known_identifiers"],
                    "properties": {
                        "sharing_records": {"type": "integer", "minimum": 0},
                        "consent_record": {"type": "boolean"},
                        "history_entries": {"type": "integer", "minimum": 0},
                        "known_identifiers": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
        "SharingRecord": {
            "type": "object",
            "description": "One line of a JSON Lines export; CSV has the same columns, entities as "
            "TYPE:count:action joined by ';'.",
            "additionalProperties": False,
            "required": list(COLUMNS),
            "properties": {
                "request_id": {"type": "string"},
                "timestamp": {"type": "string"},
                "customer_id": {"type": "string"},
                "app": {"type": "string"},
                "provider": {"type": "string"},
                "operation": {"type": "string"},
                "model": {"type": "string"},
                "decision": {"type": "string", "enum": ["forwarded", "blocked", "failed"]},
                "reason": {"type": "string"},
                "streamed": {"type": "boolean"},
                "request_bytes": {"type": "integer"},
                "response_bytes": {"type": "integer"},
                "upstream_status": {"type": ["integer", "null"]},
                "upstream_latency_ms": {"type": ["number", "null"]},
                "total_latency_ms": {"type": "number"},
                "consent_version": {"type": "string"},
                "entities": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["count", "action"],
                        "properties": {"count": {"type": "integer"}, "action": {"type": "string"}},
                    },
                },
            },
        },
        "AuditEvent": {
            "type": "object",
            "additionalProperties": False,
            "required": ["at", "actor", "role", "action", "outcome", "customer_ref", "detail"],
            "properties": {
                "at": {"type": "string"},
                "actor": {"type": "string"},
                "role": {"type": "string"},
                "action": {"type": "string"},
                "outcome": {"type": "string"},
                "customer_ref": {"type": "string", "description": "Keyed pseudonym of the customer id"},
                "detail": {"type": "object"},
            },
        },
    }


def _op(summary: str, responses: dict[str, Any], *, role: str, **extra: Any) -> dict[str, Any]:
    op = {"summary": summary, "responses": responses, "x-role": role, **extra}
    op["security"] = [{"bearer": []}]
    return op


@cache
def openapi_document() -> dict[str, Any]:
    view_ok = {"200": _json(_ref("ConsentView"), "The customer's consent")}
    view_ok["200"]["headers"] = {"ETag": {"description": "Stored version", "schema": {"type": "string"}}}
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "The stored version this change is based on (0: none stored yet)",
        "schema": {"type": "string"},
    }
    streamed = {
        "200": {
            "description": "Streamed export",
            "content": {
                "application/x-ndjson": {"schema": _ref("SharingRecord")},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    }
    state_paths = {
        f"/admin/v1/customers/{{customer_id}}/consent/{action}": {
            "parameters": [CUSTOMER],
            "post": _op(
                STATE_SUMMARIES[action],
                {**view_ok, **_errors(400, 401, 403, 503)},
                role="admin",
            ),
        }
        for action in STATE_SUMMARIES
    }
    paths: dict[str, Any] = {
        "/admin/v1/whoami": {
            "get": _op(
                "The token's identity and role",
                {"200": _json(_ref("Identity"), "Identity"), **_errors(401)},
                role="reader",
            )
        },
        "/admin/v1/customers/{customer_id}/consent": {
            "parameters": [CUSTOMER],
            "get": _op(
                "The customer's stored and effective consent", {**view_ok, **_errors(400, 401)}, role="reader"
            ),
            "put": _op(
                "Replace the customer's stored consent",
                {**view_ok, **_errors(400, 401, 403, 412, 413, 503)},
                role="admin",
                parameters=[if_match],
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ConsentDocument")}},
                },
            ),
            "patch": _op(
                "Change some fields of the customer's stored consent (JSON merge patch)",
                {**view_ok, **_errors(400, 401, 403, 412, 413, 503)},
                role="admin",
                parameters=[if_match],
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ConsentPatch")}},
                },
            ),
        },
        "/admin/v1/customers/{customer_id}/consent/history": {
            "parameters": [CUSTOMER],
            "get": _op(
                "Every change of the customer's stored consent, newest first",
                {"200": _json(_ref("ConsentHistory"), "History"), **_errors(400, 401, 503)},
                role="reader",
            ),
        },
        **state_paths,
        "/admin/v1/customers/{customer_id}/records": {
            "parameters": [CUSTOMER],
            "get": _op(
                "The customer's sharing records (access, portability), streamed",
                {**streamed, **_errors(400, 401, 503)},
                role="reader",
                parameters=[
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["jsonl", "csv"], "default": "jsonl"},
                    },
                    SINCE,
                    UNTIL,
                    {"name": "provider", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
            ),
        },
        "/admin/v1/customers/{customer_id}/records/summary": {
            "parameters": [CUSTOMER],
            "get": _op(
                "What was shared for the customer: per provider, entity type and month",
                {"200": _json(_ref("Summary"), "Summary"), **_errors(400, 401, 503)},
                role="reader",
                parameters=[SINCE, UNTIL],
            ),
        },
        "/admin/v1/records/summary": {
            "get": _op(
                "What was shared, over all customers",
                {"200": _json(_ref("Summary"), "Summary"), **_errors(400, 401, 503)},
                role="reader",
                parameters=[SINCE, UNTIL],
            )
        },
        "/admin/v1/customers/{customer_id}/erase": {
            "parameters": [CUSTOMER],
            "post": _op(
                "Erase the customer's sharing records, stored consent, history and known identifiers",
                {"200": _json(_ref("Erasure"), "What was erased"), **_errors(400, 401, 403, 413, 503)},
                role="admin",
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["confirm"],
                                "properties": {
                                    "confirm": {"type": "string", "description": "The same customer id"}
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/admin/v1/audit": {
            "get": _op(
                "Audit events of admin actions (no personal data), streamed",
                {
                    "200": {
                        "description": "Audit events",
                        "content": {
                            "application/x-ndjson": {"schema": _ref("AuditEvent")},
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {"events": {"type": "array", "items": _ref("AuditEvent")}},
                                }
                            },
                        },
                    },
                    **_errors(400, 401, 503),
                },
                role="reader",
                parameters=[
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["jsonl", "json"], "default": "jsonl"},
                    },
                    SINCE,
                    UNTIL,
                ],
            )
        },
        "/admin/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI document", "content": {"application/json": {}}}
                },
            }
        },
        "/admin/healthz": {
            "get": {
                "summary": "Liveness of the admin listener",
                "security": [],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status", "consent_store"],
                            "properties": {
                                "status": {"type": "string"},
                                "consent_store": {"type": "boolean"},
                            },
                        },
                        "Alive",
                    )
                },
            }
        },
    }
    for console_path in ("/admin/", "/admin/console.js", "/admin/console.css"):
        paths[console_path] = {
            "get": {
                "summary": "The privacy console (HTML page and its assets)",
                "security": [],
                "responses": {
                    "200": {"description": "Console asset"},
                    "404": {"description": "Not installed"},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Consentry admin API",
            "version": "1",
            "description": "Consent changes, customers' rights requests (access, portability, erasure, "
            "restriction, objection, withdrawal) and the audit trail. Served on the admin listener only. "
            "Role reader: GET; role admin: everything.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": paths,
    }
