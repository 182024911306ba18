"""The contract's verdict, fast, for the common shape of a valid transaction (bulk ingest only).

Validating a record with pydantic costs tens of microseconds in Python validators;
a file of a million records spends most of its time there. This module is an
*accept-only* shortcut: :func:`accept` looks at a record already parsed by orjson
and returns its normalised values only when it can prove that
``contracts.validate_transaction`` would accept it with exactly those values;
anything else (any doubt, any unusual but maybe valid form, every invalid record)
returns ``None`` and the caller asks the contract itself. So the shortcut never
rejects and never words an error: every rejection, and its reason, still comes
from the contract.

What "the common shape" is (each a subset of what the contract accepts):

* exactly the contract's wire keys (aliases), no more, none missing (``card_last4``
  may be absent or ``null``), every value of the JSON type the contract reads;
* no key twice in any object: the JSON text holds exactly as many strings as the parsed
  record (every decoded string is free of ``"``, so each ``"`` of the text delimits a
  string: the text has ``2 x (keys + string values)`` of them, and a duplicated key, whatever
  its value, adds at least two);
* identifiers ``[A-Za-z0-9_.:-]{1,64}``; names of 1..120 characters with no
  whitespace at either end (so the contract's strip is a no-op), no character the
  contract forbids in text and no ``"``; enum values as the contract spells them;
  an ISO 4217 currency;
* an amount that is a JSON int or float whose *text* (found by the key, unambiguous
  after the rules above) is at most ``MAX_NUMBER_CHARS`` characters, read exactly as
  ``Decimal(text)`` as the contract's parser reads it, positive, at most
  ``MAX_AMOUNT``, within the currency's minor units;
* ``card_last4`` four ASCII digits exactly for card methods, absent/null otherwise;
* ``event_timestamp`` as ``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z`` (UTC), a real calendar
  date-time, not before ``EARLIEST_EVENT`` and, to the second, before the latest time
  of the chunk's window (:class:`Horizon`);
* ``client_ip`` normalised by the contract's own ``canonical_ip`` function.

The rules are the contract's, re-stated; they are pinned to the contract by
:data:`CONTRACT_FINGERPRINT`: a hash of the contract's JSON Schema, the source of
its validators and serializers and its constants. If the contract changes, the
shortcut switches itself off (every record goes to pydantic, correct and slower)
and ``tests/unit/test_fast_contract.py`` fails until the rules here are checked
against the new contract and the pin is updated. The same tests compare the
shortcut with the contract record by record on generated and mutated input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import contracts.acceptance as _acceptance
import contracts.fields as _fields
from contracts.acceptance import FORBIDDEN_TEXT, MAX_NUMBER_CHARS, Window
from contracts.currencies import ISO_4217_CODES, MINOR_UNITS
from contracts.fields import CANONICAL_IPV4, canonical_ip, money_out
from contracts.transaction import (
    CARD_METHODS,
    EARLIEST_EVENT,
    MAX_AMOUNT,
    Gateway,
    ItemPurchased,
    ItemType,
    PaymentDetails,
    PaymentMethod,
    Price,
    ServerRegion,
    Transaction,
    TransactionStatus,
)

log = logging.getLogger(__name__)


class Accepted(NamedTuple):
    """A valid transaction's values, normalised exactly as ``Transaction`` holds them (enums as their values)."""

    transaction_id: str
    user_id: str
    game: str
    item_id: str
    item_name: str
    item_type: str
    currency: str
    amount: Decimal
    payment_method: str
    card_last4: str | None
    transaction_status: str
    gateway: str
    event_timestamp: str  # the wire form: UTC, ``...SSZ`` or ``...SS.ffffffZ``
    server_region: str
    client_ip: str

    @property
    def event_date(self) -> str:
        """The UTC date, ``YYYY-MM-DD`` (the analytics ``dt=`` partition)."""
        return self.event_timestamp[:10]

    @property
    def event_isoformat(self) -> str:
        """``Transaction.event_timestamp.isoformat()`` (``...+00:00``)."""
        return self.event_timestamp[:-1] + "+00:00"

    def wire(self) -> dict[str, Any]:
        """``Transaction.to_json_dict()``: field order, aliases, amount as a JSON number, ``None`` left out."""
        payment: dict[str, Any] = {"payment_method": self.payment_method}
        if self.card_last4 is not None:
            payment["card_last4"] = self.card_last4
        payment["transaction_status"] = self.transaction_status
        payment["gateway"] = self.gateway
        return {
            "transactionId": self.transaction_id,
            "user_id": self.user_id,
            "game": self.game,
            "item_purchased": {
                "item_id": self.item_id,
                "item_name": self.item_name,
                "item_type": self.item_type,
                "price": {"currency": self.currency, "amount": _money_out(self.amount)},
            },
            "payment_details": payment,
            "event_timestamp": self.event_timestamp,
            "server_region": self.server_region,
            "client_ip": self.client_ip,
        }


def from_transaction(tx: Transaction) -> Accepted:
    """The same values from a model the contract validated (the slow path), so both paths share what follows."""
    item = tx.item_purchased
    pay = tx.payment_details
    wire_ts = tx.event_timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")  # the contract's serializer
    return Accepted(
        tx.transaction_id, tx.user_id, tx.game, item.item_id, item.item_name, item.item_type.value,
        item.price.currency, item.price.amount, pay.payment_method.value, pay.card_last4,
        pay.transaction_status.value, pay.gateway.value, wire_ts, tx.server_region.value, tx.client_ip,
    )  # fmt: skip


# --- the rules, re-stated -------------------------------------------------------------------------

_money_out = money_out  # the contract's own serializer of amounts
_ip = canonical_ip  # the contract's own IP normaliser

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}").fullmatch
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?Z", re.ASCII).fullmatch
_IPV4 = CANONICAL_IPV4.fullmatch
_EARLIEST = EARLIEST_EVENT.strftime("%Y-%m-%dT%H:%M:%S")
_QUANTUM = {code: Decimal(1).scaleb(-places) for code, places in MINOR_UNITS.items()}
_MAX_AMOUNT = MAX_AMOUNT
_from_iso = dt.datetime.fromisoformat

#: ``_ip`` of the addresses seen (a pure function; players come back from the same address).
_IP_CACHE: dict[str, str] = {}
_IP_CACHE_SIZE = 65_536

_TOP_KEYS = frozenset(
    ("transactionId", "user_id", "game", "item_purchased", "payment_details", "event_timestamp", "server_region",
     "client_ip")
)  # fmt: skip
_ITEM_KEYS = frozenset(("item_id", "item_name", "item_type", "price"))
_PRICE_KEYS = frozenset(("currency", "amount"))
_PAY_KEYS = frozenset(("payment_method", "transaction_status", "gateway"))
_PAY_KEYS_CARD = _PAY_KEYS | {"card_last4"}

_ITEM_TYPES = frozenset(e.value for e in ItemType)
_METHODS = frozenset(e.value for e in PaymentMethod)
_CARD_METHODS = frozenset(e.value for e in CARD_METHODS)
_STATUSES = frozenset(e.value for e in TransactionStatus)
_GATEWAYS = frozenset(e.value for e in Gateway)
_REGIONS = frozenset(e.value for e in ServerRegion)
_CURRENCIES = ISO_4217_CODES


_FORBIDDEN = FORBIDDEN_TEXT.search
#: The amount's number, by its key (unique and unambiguous once the string count is checked).
_AMOUNT_TEXT = re.compile(r'"amount"[ \t\n\r]*:[ \t\n\r]*(-?[0-9][0-9.eE+\-]*)').search


class Horizon(NamedTuple):
    """The latest event time a chunk's window accepts, as ``YYYY-MM-DDTHH:MM:SS`` text (UTC)."""

    latest: str

    @classmethod
    def of(cls, window: Window) -> Horizon:
        return cls(window.latest.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))


def _name(value: Any) -> bool:
    """A ``Name`` the contract accepts unchanged: 1..120 characters, nothing for its strip to remove,
    no character it forbids, and no ``"`` (so the key count below holds)."""
    return (
        type(value) is str and 0 < len(value) <= 120 and not value[0].isspace() and not value[-1].isspace()
        and '"' not in value and ((value.isascii() and value.isprintable()) or not _FORBIDDEN(value))
    )  # fmt: skip


def _accept(d: Any, raw: str, horizon: Horizon) -> Accepted | None:
    if type(d) is not dict or d.keys() != _TOP_KEYS:
        return None
    tx_id = d["transactionId"]
    user_id = d["user_id"]
    game = d["game"]
    if type(tx_id) is not str or not _ID(tx_id) or type(user_id) is not str or not _ID(user_id) or not _name(game):
        return None
    item = d["item_purchased"]
    if type(item) is not dict or item.keys() != _ITEM_KEYS:
        return None
    item_id = item["item_id"]
    item_name = item["item_name"]
    item_type = item["item_type"]
    price = item["price"]
    if type(item_id) is not str or not _ID(item_id) or not _name(item_name):
        return None
    if type(item_type) is not str or item_type not in _ITEM_TYPES:
        return None
    if type(price) is not dict or price.keys() != _PRICE_KEYS:
        return None
    currency = price["currency"]
    raw_amount = price["amount"]
    if type(currency) is not str or currency not in _CURRENCIES:
        return None
    kind = type(raw_amount)
    if kind is not float and kind is not int:
        return None
    pay = d["payment_details"]
    if type(pay) is not dict:
        return None
    keys = pay.keys()
    if keys != _PAY_KEYS and keys != _PAY_KEYS_CARD:
        return None
    # every key once: the text has as many strings as the record (keys: 8 + 4 + 2 + payment's; string
    # values: 13, and card_last4 when it is one), two quotes each
    if raw.count('"') != 2 * (27 + len(keys) + (type(pay.get("card_last4")) is str)):
        return None
    found = _AMOUNT_TEXT(raw)
    if found is None:
        return None
    text = found.group(1)
    if len(text) > MAX_NUMBER_CHARS:
        return None
    try:
        amount = Decimal(text)  # exactly as written, as the contract's parser reads it
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > _MAX_AMOUNT:
        return None
    quantum = _QUANTUM.get(currency)
    if quantum is not None:
        try:
            if amount != amount.quantize(quantum):
                return None
        except InvalidOperation:
            return None
    method = pay["payment_method"]
    status = pay["transaction_status"]
    gateway = pay["gateway"]
    if type(method) is not str or method not in _METHODS or type(status) is not str or status not in _STATUSES:
        return None
    if type(gateway) is not str or gateway not in _GATEWAYS:
        return None
    last4 = pay.get("card_last4")
    if method in _CARD_METHODS:
        if type(last4) is not str or len(last4) != 4 or not last4.isascii() or not last4.isdigit():
            return None
    elif last4 is not None:
        return None
    ts = d["event_timestamp"]
    if type(ts) is not str:
        return None
    m = _TIMESTAMP(ts)
    if m is None or ts[:19] < _EARLIEST or ts[:19] >= horizon.latest:
        return None
    try:
        _from_iso(ts)  # a real calendar date and time of day
    except ValueError:
        return None
    fraction = m.group(1)
    if fraction is not None:
        ts = ts[:19] + ("." + fraction.ljust(6, "0") + "Z" if fraction.strip("0") else "Z")
    region = d["server_region"]
    if type(region) is not str or region not in _REGIONS:
        return None
    ip = d["client_ip"]
    if type(ip) is not str:
        return None
    if not _IPV4(ip):
        canonical = _IP_CACHE.get(ip)
        if canonical is None:
            try:
                canonical = _ip(ip)
            except ValueError:
                return None
            if len(_IP_CACHE) >= _IP_CACHE_SIZE:
                _IP_CACHE.clear()
            _IP_CACHE[ip] = canonical
        ip = canonical
    return Accepted(
        tx_id, user_id, game, item_id, item_name, item_type, currency, amount, method, last4, status, gateway, ts,
        region, ip,
    )  # fmt: skip


_TOP_ORDER = tuple(f.alias or name for name, f in Transaction.model_fields.items())
_ITEM_ORDER = tuple(ItemPurchased.model_fields)
_PRICE_ORDER = tuple(Price.model_fields)
_PAY_ORDER_CARD = tuple(PaymentDetails.model_fields)
_PAY_ORDER = tuple(k for k in _PAY_ORDER_CARD if k != "card_last4")


def wire_in_place(data: dict[str, Any], accepted: Accepted) -> dict[str, Any]:
    """``accepted.wire()``, made by normalising the parsed record ``accepted`` came from, in place.

    When the record's keys are already in the contract's order (the usual case: writers emit
    ``to_json_dict()``), only the values the contract normalises are set (same keys keep their
    place); otherwise a fresh ``wire()``. ``data`` must not be used for anything else afterwards."""
    item = data["item_purchased"]
    price = item["price"]
    pay = data["payment_details"]
    if (
        tuple(data) != _TOP_ORDER or tuple(item) != _ITEM_ORDER or tuple(price) != _PRICE_ORDER
        or (tuple(pay) != _PAY_ORDER_CARD and tuple(pay) != _PAY_ORDER)
    ):  # fmt: skip
        return accepted.wire()
    if accepted.card_last4 is None:
        pay.pop("card_last4", None)  # an explicit null: left out, as exclude_none does
    price["amount"] = _money_out(accepted.amount)
    data["event_timestamp"] = accepted.event_timestamp
    data["client_ip"] = accepted.client_ip
    return data


# --- the pin to the contract ----------------------------------------------------------------------

#: Everything the rules above re-state. A change to any of it changes the fingerprint.
_PINNED_OBJECTS: tuple[Any, ...] = (
    Price.currency_code, _fields.number_in, Price.amount_rules, PaymentDetails.card_last4_rules, _fields.identifier,
    _fields.trimmed_name, _fields.date_time_text, _fields.to_utc, _fields.canonical_ip, _fields.money_out,
    _fields.utc_text, _acceptance.text_violation, _acceptance.Window,
)  # fmt: skip


def _stable(value: Any) -> str:
    """A config value as text that does not change between processes (a function: its source)."""
    return inspect.getsource(value) if callable(value) else str(value)


def contract_fingerprint() -> str:
    h = hashlib.sha256()
    for model in (Transaction, ItemPurchased, Price, PaymentDetails):
        h.update(json.dumps(model.model_json_schema(by_alias=True), sort_keys=True).encode())
        h.update(json.dumps(model.model_config, sort_keys=True, default=_stable).encode())
    for obj in _PINNED_OBJECTS:
        h.update(inspect.getsource(getattr(obj, "__func__", obj)).encode())
    h.update(inspect.getsource(_fields).split("UtcDatetime = ", 1)[1].split("\n\n", 1)[0].encode())
    h.update(repr((MAX_AMOUNT, EARLIEST_EVENT, sorted(MINOR_UNITS.items()), sorted(ISO_4217_CODES))).encode())
    h.update(repr((_acceptance.MAX_ID_CHARS, _acceptance.MAX_NAME_CHARS, _acceptance.MAX_NUMBER_CHARS)).encode())
    for pattern in (CANONICAL_IPV4, FORBIDDEN_TEXT, _acceptance.IDENTIFIER, _acceptance.TIMESTAMP_TEXT):
        h.update(repr((pattern.pattern, pattern.flags)).encode())
    return h.hexdigest()


#: The contract the rules above were checked against (tests/unit/test_fast_contract.py).
CONTRACT_FINGERPRINT = "5402a5cc29698d62c4e64a2c68c2b7447b284ef687a102ba53597e47219c2f1e"


def _enabled() -> bool:
    try:
        current = contract_fingerprint()
    except (OSError, TypeError, IndexError):  # no source to read (e.g. a stripped package): never guess
        return False
    if current != CONTRACT_FINGERPRINT:
        log.warning("fast_contract: the contract changed since the shortcut was checked; using pydantic for all")
        return False
    return True


ENABLED = _enabled()


def accept(data: Any, raw: str, horizon: Horizon) -> Accepted | None:
    """The record's values if the contract certainly accepts it as they are, else ``None`` (ask the contract).

    ``data``: the record as orjson parsed ``raw``, its text; ``horizon``: the window's latest event time."""
    return _accept(data, raw, horizon) if ENABLED else None
