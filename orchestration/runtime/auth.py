"""Who may call which route of the local API: the API Gateway authorization, on this machine.

Two kinds of caller, as in AWS (infra/terraform/modules/api):

- **producers** (game servers, one per application) call ``POST /transactions`` and ``POST /events``;
- **analysts** (people, dashboards) call the analytics routes, ``GET /health`` included
  (it reaches the warehouse, so it is not open to anyone).

A request carries its credential in the ``x-api-key`` header. Each producer has its own key,
created, disabled, enabled and rotated without touching the others (``mtx producers ...``);
its application id is stamped on every transaction it sends (``producer_id`` of the workflow
input). The registry keeps only the SHA-256 of each key (a key is 256 random bits, so a plain
hash is as strong as a slow one), never the key.

The decision (:func:`decide`) is a pure function: no credential 401, an unknown, disabled or
rotated-away key 401 (the same answer for all three: a caller learns nothing about keys it does
not hold), a credential of the other kind 403.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from orchestration.settings import Settings

#: The header a credential travels in (API Gateway's API key header).
API_KEY_HEADER = "x-api-key"
#: The variables of ``<home>/stack.env`` holding the local stack's two credentials, and the producer id.
PRODUCER_KEY_ENV = "MTX_PRODUCER_KEY"
PRODUCER_ID_ENV = "MTX_PRODUCER_ID"
ANALYST_KEY_ENV = "MTX_ANALYST_KEY"
#: The producer and the analyst the local stack creates at start.
DEFAULT_PRODUCER = "local-game"
DEFAULT_ANALYST = "local-analyst"

PRODUCER = "producer"
ANALYST = "analyst"
ROLES = (PRODUCER, ANALYST)

#: Who may call each route: (method, resource) -> role. orchestration/runtime/api.py serves exactly these routes,
#: orchestration/openapi.json declares the same per operation (`security`), modules/api grants the same.
ROUTE_ROLES: dict[tuple[str, str], str] = {
    ("POST", "/transactions"): PRODUCER,
    ("POST", "/events"): PRODUCER,
    ("GET", "/health"): ANALYST,
    ("GET", "/analytics"): ANALYST,
    ("POST", "/analytics/jobs"): ANALYST,
    ("GET", "/analytics/jobs/{jobId}"): ANALYST,
}

#: An application id: lower-case letters, digits and hyphens (it names an IAM role and an API key in AWS).
APP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

ACTIVE, DISABLED, ROTATED = "ACTIVE", "DISABLED", "ROTATED"


class InvalidAppId(ValueError):
    """An application id outside the allowed pattern."""


class UnknownPrincipal(LookupError):
    """No producer (or analyst) of that id."""


class PrincipalExists(ValueError):
    """A producer of that id exists already (rotate or enable it instead)."""


@dataclass(frozen=True)
class Credential:
    """One key of the registry (its hash), whose it is and whether it still opens anything."""

    key_hash: str
    role: str
    principal_id: str
    status: str
    created_at: str = ""

    @property
    def fingerprint(self) -> str:
        """What may be shown of a key: the first 12 hex digits of its hash."""
        return self.key_hash[:12]


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: allowed (status 0) or the HTTP status and the JSON error body."""

    status: int
    error: str = ""
    message: str = ""
    principal_id: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 0

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(role: str) -> str:
    """A fresh key: 256 random bits, prefixed by its kind so a leaked one is recognisable."""
    return f"mtx{role[0]}_{secrets.token_urlsafe(32)}"


def decide(role_required: str, presented: str | None, credential: Credential | None) -> Decision:
    """May the caller presenting ``presented`` (the header's value, if any), which the registry knows as
    ``credential`` (None: unknown), call a route that needs ``role_required``?"""
    if role_required not in ROLES:
        raise ValueError(f"unknown role {role_required!r}")
    if not presented:
        return Decision(
            401, "Unauthorized", f"this route needs a {role_required} credential in the {API_KEY_HEADER} header"
        )
    if credential is None or credential.status != ACTIVE:
        return Decision(401, "Unauthorized", f"the {API_KEY_HEADER} header holds no valid, active credential")
    if credential.role != role_required:
        return Decision(403, "Forbidden", f"a {credential.role} credential may not call this route")
    return Decision(0, principal_id=credential.principal_id)


def credentials_table_name(settings: Settings) -> str:
    """The local stand-in of API Gateway's API keys (AWS keeps them itself; Terraform creates them there)."""
    return f"{settings.name_prefix}-api-credentials"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CredentialRegistry:
    """Producer and analyst credentials in a DynamoDB table, keyed by the hash of the key.

    Admin operations (create, disable, enable, rotate, list) scan the table: they are rare and the
    table holds a handful of items. A request costs one GetItem, so a disabled key is refused at once.
    """

    def __init__(self, ddb: Any, table_name: str) -> None:
        self.ddb = ddb
        self.table = table_name

    def ensure_table(self, kms_key_arn: str) -> None:
        """The registry table, encrypted with the stack's customer-managed key."""
        if self.table in self.ddb.list_tables()["TableNames"]:
            return
        self.ddb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_arn},
        )

    # --- per request ---------------------------------------------------------------------------------
    def lookup(self, key: str) -> Credential | None:
        item = self.ddb.get_item(TableName=self.table, Key={"key_hash": {"S": key_hash(key)}}, ConsistentRead=True)
        return _credential(item["Item"]) if "Item" in item else None

    def authorize(self, role_required: str, presented: str | None) -> Decision:
        return decide(role_required, presented, self.lookup(presented) if presented else None)

    # --- administration ------------------------------------------------------------------------------
    def credentials(self, role: str | None = None) -> list[Credential]:
        found = [
            _credential(item)
            for page in self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
            for item in page["Items"]
        ]
        return sorted(
            (c for c in found if role is None or c.role == role), key=lambda c: (c.principal_id, c.created_at)
        )

    def _of(self, role: str, principal_id: str) -> list[Credential]:
        return [c for c in self.credentials(role) if c.principal_id == principal_id]

    def _put(self, key: str, role: str, principal_id: str) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "key_hash": {"S": key_hash(key)},
                "role": {"S": role},
                "principal_id": {"S": principal_id},
                "status": {"S": ACTIVE},
                "created_at": {"S": _now()},
            },
            ConditionExpression="attribute_not_exists(key_hash)",
        )

    def _set_status(self, credential: Credential, status: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key={"key_hash": {"S": credential.key_hash}},
            UpdateExpression="SET #s = :s, updated_at = :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":now": {"S": _now()}},
        )

    def create(self, principal_id: str, role: str = PRODUCER) -> str:
        """A new principal with its first key; returns the key (shown once, stored only as its hash)."""
        _check_id(principal_id)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if self._of(role, principal_id):
            raise PrincipalExists(f"{role} {principal_id} exists already: rotate, enable or disable it")
        key = new_key(role)
        self._put(key, role, principal_id)
        return key

    def disable(self, principal_id: str, role: str = PRODUCER) -> int:
        """Refuse the principal's active key from now on; the others are untouched. Returns keys disabled."""
        active = [c for c in self._require(role, principal_id) if c.status == ACTIVE]
        for credential in active:
            self._set_status(credential, DISABLED)
        return len(active)

    def enable(self, principal_id: str, role: str = PRODUCER) -> int:
        """Accept the principal's disabled key again (not a rotated-away one)."""
        disabled = [c for c in self._require(role, principal_id) if c.status == DISABLED]
        for credential in disabled:
            self._set_status(credential, ACTIVE)
        return len(disabled)

    def rotate(self, principal_id: str, role: str = PRODUCER) -> str:
        """A new key for the principal; every earlier key is refused from now on. Returns the new key."""
        old = self._require(role, principal_id)
        key = new_key(role)
        self._put(key, role, principal_id)
        for credential in old:
            if credential.status != ROTATED:
                self._set_status(credential, ROTATED)
        return key

    def principals(self, role: str = PRODUCER) -> dict[str, str]:
        """principal id -> ACTIVE (it has an active key) or DISABLED."""
        out: dict[str, str] = {}
        for c in self.credentials(role):
            if c.status == ACTIVE or c.principal_id not in out:
                out[c.principal_id] = ACTIVE if c.status == ACTIVE else DISABLED
        return out

    def _require(self, role: str, principal_id: str) -> list[Credential]:
        found = self._of(role, principal_id)
        if not found:
            raise UnknownPrincipal(f"no {role} {principal_id}")
        return found


def _check_id(principal_id: str) -> None:
    if not APP_ID.fullmatch(principal_id):
        raise InvalidAppId(
            f"an application id is 1-40 lower-case letters, digits and hyphens, starting with a letter or digit;"
            f" got {principal_id!r}"
        )


def _credential(item: dict[str, Any]) -> Credential:
    return Credential(
        key_hash=item["key_hash"]["S"],
        role=item["role"]["S"],
        principal_id=item["principal_id"]["S"],
        status=item["status"]["S"],
        created_at=item.get("created_at", {}).get("S", ""),
    )
