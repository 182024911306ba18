"""What every entrance accepts: the acceptance rules of the transaction contract, written once.

Each rule has a stable code (``Rule.code``, e.g. ``timestamp.in_future``): every refusal names the
field and the code, with a sentence that states the rule and never quotes the value
(``{"field": "event_timestamp", "rule": "timestamp.in_future", "reason": "..."}``). The model
(:mod:`contracts.transaction`) and the parser (:mod:`contracts.validation`) raise these codes and no
others; the bulk shortcut (``lambdas/common/fast_contract.py``) re-states them; the Glue job names
them in its reject reasons; ``docs/acceptance-rules.md`` is rendered from :data:`RULES`
(``make schema``) and a unit test keeps it current.

The decisions, in short (the document has them all):

* a record is one JSON object (RFC 8259) in UTF-8 without a byte order mark, at most
  :data:`MAX_TRANSACTION_BYTES` bytes, nested at most :data:`MAX_DEPTH` levels, with no duplicate key
  in any object (I-JSON, RFC 7493);
* numbers are JSON numbers of at most :data:`MAX_NUMBER_CHARS` characters; NaN and Infinity are not
  JSON; an amount is a JSON number (never a string or a boolean), positive (so never ``-0``), at most
  ``MAX_AMOUNT``, with no more decimals than its currency has (the value counts: ``10.000`` USD is
  10.00); exponent notation is read exactly (``1E+1`` is 10);
* identifiers are 1-64 ASCII characters ``A-Z a-z 0-9 _ . : -``; names are 1-120 characters once
  surrounding whitespace is trimmed, and hold no control character, no bidirectional formatting
  character, no invisible format character (zero-width space, word joiner, soft hyphen, BOM, tags ...;
  the zero-width joiner and non-joiner are allowed: scripts and emoji sequences need them), no lone
  surrogate and no noncharacter; no Unicode normalisation is applied;
* ``event_timestamp`` is RFC 3339 with a zone (``T``, at most 6 fraction digits), not before
  :data:`EARLIEST_EVENT` and at most the future skew (default :data:`DEFAULT_MAX_FUTURE_SKEW`, setting
  ``MTX_MAX_FUTURE_SKEW_HOURS``) after the entrance received it;
* ``client_ip`` is an IPv4 or IPv6 address, never with a zone id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

#: One transaction as sent, in bytes: every entrance refuses a larger record (a valid one is under 1 KB). In AWS
#: the API's WAF (common rule set, SizeRestrictions_BODY) blocks a body over 8 KB; the file entrance
#: quarantines such a record alone. It keeps every state's data far below Step Functions' 256 KB and every
#: dead letter below SQS's 256 KB.
MAX_TRANSACTION_BYTES = 8 * 1024
#: Objects and arrays nested deeper than this are refused before they are parsed (the contract needs 3).
MAX_DEPTH = 16
#: The longest JSON number token read (an amount needs at most 12: ``10000000.000``).
MAX_NUMBER_CHARS = 40
#: The earliest event the pipeline accepts.
EARLIEST_EVENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: How far after its receipt an event may be stamped (clock skew of game servers), unless configured.
DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(hours=24)
#: Identifiers: length and alphabet.
MAX_ID_CHARS = 64
#: Names (free text): length once trimmed.
MAX_NAME_CHARS = 120
#: The longest text an IP address can have (IPv6 with an embedded IPv4 address).
MAX_IP_CHARS = 45


@dataclass(frozen=True)
class Rule:
    """One acceptance rule: its stable code, the fields it applies to and the sentence that states it."""

    code: str
    fields: str
    sentence: str


RULES: tuple[Rule, ...] = (
    # --- the record as bytes and as JSON ----------------------------------------------------------------
    Rule("body.too_large", "$", f"A record is at most {MAX_TRANSACTION_BYTES} bytes."),
    Rule(
        "body.not_utf8",
        "$",
        "A record is UTF-8 text (RFC 8259 section 8.1); the position of the first bad byte is named.",
    ),
    Rule(
        "body.bom",
        "$",
        "A record does not start with a byte order mark (U+FEFF); a BOM at the very start of a batch file is skipped.",
    ),
    Rule("json.malformed", "$", "A record is one JSON text (RFC 8259); the position of the first error is named."),
    Rule("json.too_deep", "$", f"Objects and arrays nest at most {MAX_DEPTH} levels (refused before parsing)."),
    Rule("json.not_object", "$", "A record is a JSON object."),
    Rule("json.duplicate_key", "any object", "No object has the same key twice (I-JSON, RFC 7493 section 2.3)."),
    # --- fields -----------------------------------------------------------------------------------------
    Rule("field.required", "every field but card_last4", "The field is present."),
    Rule(
        "field.unknown",
        "any object",
        "Only the contract's fields: an unknown field could carry personal data into analytics. Its name is "
        "shown only when it is a plain name (letters, digits, _; at most 64), else as *.",
    ),
    Rule(
        "field.type",
        "every field",
        "The field has the JSON type of the contract (a string, an object); null only for card_last4.",
    ),
    Rule("number.not_json", "any number", "NaN, Infinity and -Infinity are not JSON numbers."),
    Rule(
        "number.too_long",
        "any number",
        f"A JSON number is at most {MAX_NUMBER_CHARS} characters long and within the range of a decimal.",
    ),
    Rule(
        "enum.value",
        "item_type, payment_method, transaction_status, gateway, server_region",
        "One of the values the contract lists, spelled exactly (case matters).",
    ),
    # --- identifiers and free text ---------------------------------------------------------------------
    Rule("id.length", "transactionId, user_id, item_id", f"1 to {MAX_ID_CHARS} characters."),
    Rule("id.characters", "transactionId, user_id, item_id", "ASCII letters, digits and _ . : - only."),
    Rule(
        "text.length",
        "game, item_name",
        f"1 to {MAX_NAME_CHARS} characters once surrounding spaces are trimmed (they are).",
    ),
    Rule(
        "text.control",
        "game, item_name",
        "No control character (U+0000-U+001F, U+007F-U+009F: tab and line feed included) and no line or "
        "paragraph separator (U+2028, U+2029).",
    ),
    Rule(
        "text.bidi",
        "game, item_name",
        "No bidirectional formatting character (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069): they "
        "can make a name display as another (Trojan Source).",
    ),
    Rule(
        "text.invisible",
        "game, item_name",
        "No invisible format character (Unicode category Cf: zero-width space U+200B, word joiner U+2060, "
        "soft hyphen U+00AD, BOM U+FEFF, tags U+E0001-U+E007F, ...) except the zero-width non-joiner and "
        "joiner (U+200C, U+200D), which scripts and emoji sequences need.",
    ),
    Rule(
        "text.unicode",
        "every string",
        "Valid Unicode text: no lone surrogate (an unpaired \\uD800-\\uDFFF escape), no noncharacter "
        "(U+FDD0-U+FDEF, U+xFFFE, U+xFFFF). Private-use and not yet assigned code points are allowed; nothing "
        "is normalised (NFC or other): a name is stored as sent, trimmed.",
    ),
    # --- money -----------------------------------------------------------------------------------------
    Rule("currency.code", "item_purchased.price.currency", "An active ISO 4217 code, upper case."),
    Rule("amount.number", "item_purchased.price.amount", 'A JSON number: never a string ("10"), a boolean or null.'),
    Rule("amount.finite", "item_purchased.price.amount", "A finite number."),
    Rule("amount.positive", "item_purchased.price.amount", "Greater than zero (0 and -0 are refused)."),
    Rule("amount.maximum", "item_purchased.price.amount", "At most 10000000 in the currency's major unit."),
    Rule(
        "amount.minor_units",
        "item_purchased.price.amount",
        "No more decimals than the currency's minor units (USD 2, JPY 0, BHD 3); the value counts, so "
        "trailing zeros are fine and exponent notation is read exactly.",
    ),
    # --- payment ---------------------------------------------------------------------------------------
    Rule("card.last4_format", "payment_details.card_last4", "Exactly four ASCII digits."),
    Rule("card.last4_required", "payment_details.card_last4", "Present for card payments (credit_card, debit_card)."),
    Rule("card.last4_absent", "payment_details.card_last4", "Absent (or null) for every other payment method."),
    # --- time and place --------------------------------------------------------------------------------
    Rule(
        "timestamp.format",
        "event_timestamp",
        "RFC 3339 with a zone: YYYY-MM-DDTHH:MM:SS[.f{1,6}] then Z or +hh:mm / -hh:mm, a real calendar date "
        "and time; no Unix time, no space for T, at most 6 fraction digits.",
    ),
    Rule("timestamp.too_early", "event_timestamp", f"Not before {EARLIEST_EVENT:%Y-%m-%dT%H:%M:%SZ}."),
    Rule(
        "timestamp.in_future",
        "event_timestamp",
        "At most the future skew (default 24 hours, MTX_MAX_FUTURE_SKEW_HOURS) after the entrance received "
        "the record (the Glue job: after ingested_at).",
    ),
    Rule(
        "ip.format",
        "client_ip",
        f"An IPv4 address (dotted quad, no leading zeros) or an IPv6 address, at most {MAX_IP_CHARS} characters;"
        " stored in canonical form.",
    ),
    Rule(
        "ip.zone_id",
        "client_ip",
        "No IPv6 zone id (%eth0): it names the sender's interface, not the player's address.",
    ),
)

#: The API's own rules for requests that are not one transaction (the analytics API, POST /events); their
#: bodies follow the record rules above that concern bytes and JSON (body.*, json.*, number.not_json).
API_RULES: tuple[Rule, ...] = (
    Rule("operation.required", "operation", "The operation is named: one of the operations the answer lists."),
    Rule("operation.unknown", "operation", "One of the named operations (the answer lists them)."),
    Rule("parameter.unknown", "any parameter", "Only the parameters of the operation (the OpenAPI document)."),
    Rule("parameter.repeated", "any query parameter", "Each query parameter at most once."),
    Rule("parameter.invalid", "a parameter", "The parameter's type, format and range for the operation."),
    Rule(
        "parameter.inconsistent",
        "parameters",
        "Parameters that must agree do: dolphin_threshold below whale_threshold, start_date not after end_date.",
    ),
    Rule("parameter.sql", "any parameter", "No SQL: no sql/query parameter, no SQL keyword or comment in a value."),
    # POST /events (lambdas/put_events): the request around the records; each record follows the record rules
    Rule("events.records", "records", "The body is a JSON object whose records is a non-empty array of transactions."),
    Rule("events.too_many_records", "records", "records holds at most 500 transactions (one PutRecords call)."),
)

#: The HTTP entrance's own rules (the local API; API Gateway and its WAF in AWS), before any body is read.
HTTP_RULES: tuple[Rule, ...] = (
    Rule("http.request", "request", "An HTTP/1.1 request line and headers: at most 64 KiB a line, 100 headers."),
    Rule("http.route", "path", "A path the API serves (GET /openapi.json lists them)."),
    Rule("http.method", "method", "A method the path serves; the answer's Allow header lists them."),
    Rule("http.length_required", "Content-Length", "A request with a body says its length (no chunked encoding)."),
    Rule("http.content_length", "Content-Length", "One Content-Length, a non-negative integer, and no second framing."),
    Rule("http.body_incomplete", "$", "The whole body arrives, within the read timeout."),
)

RULE_BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}
assert len(RULE_BY_CODE) == len(RULES), "duplicate rule code"
API_RULE_BY_CODE: dict[str, Rule] = {r.code: r for r in (*API_RULES, *HTTP_RULES)}
assert not set(API_RULE_BY_CODE) & set(RULE_BY_CODE), "a rule code of the API is one of the contract's"
assert len(API_RULE_BY_CODE) == len(API_RULES) + len(HTTP_RULES), "duplicate rule code"


# --- characters of free text -------------------------------------------------------------------------------
#: Control characters (C0, DEL, C1) and the line and paragraph separators.
CONTROL_CHARS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
#: Bidirectional formatting characters (ALM, LRM, RLM, embeddings, overrides, isolates).
BIDI_CHARS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: Unicode 14 category Cf (format) less the bidirectional ones and ZWNJ/ZWJ (tests/unit checks the list).
INVISIBLE_CHARS = (
    "\u00ad\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
#: Noncharacters (U+FDD0-U+FDEF and the last two code points of every plane).
NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)
#: Lone surrogates (only a ``\\uD800``-style escape can make one) and noncharacters.
NOT_UNICODE_CHARS = "\ud800-\udfff" + NONCHARACTERS
#: The forbidden characters as a JSON Schema character class can hold them: no surrogates (a JSON document
#: cannot carry one unpaired; the contract refuses them all the same).
SCHEMA_FORBIDDEN_CHARS = CONTROL_CHARS + BIDI_CHARS + INVISIBLE_CHARS + NONCHARACTERS
#: Whitespace a name may have (and that trimming removes): Unicode spaces that are no control character.
SPACE_CHARS = " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_BIDI = re.compile(f"[{BIDI_CHARS}]")
_INVISIBLE = re.compile(f"[{INVISIBLE_CHARS}]")
_NOT_UNICODE = re.compile(f"[{NOT_UNICODE_CHARS}]")
#: Any character a name may not hold (one search: the bulk shortcut's test).
FORBIDDEN_TEXT = re.compile(f"[{CONTROL_CHARS}{BIDI_CHARS}{INVISIBLE_CHARS}{NOT_UNICODE_CHARS}]")
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:\-]+")
#: The identifier rule as a JSON Schema pattern (ECMA 262).
IDENTIFIER_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
#: RFC 3339 date-time with a zone, as the contract reads it (the calendar is checked after).
TIMESTAMP_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
#: A plain field name: an unknown key of this shape is named in errors, any other is shown as ``*``.
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def text_violation(value: str) -> str | None:
    """The code of the first character rule ``value`` breaks (``text.*``), or None."""
    if not FORBIDDEN_TEXT.search(value):
        return None
    for code, pattern in (
        ("text.unicode", _NOT_UNICODE),
        ("text.control", _CONTROL),
        ("text.bidi", _BIDI),
        ("text.invisible", _INVISIBLE),
    ):
        if pattern.search(value):
            return code
    raise AssertionError("FORBIDDEN_TEXT and its parts disagree")


def shown_key(key: str) -> str:
    """A key as an error may show it: a plain name as it is, anything else as ``*`` (it could be a value)."""
    return key if PLAIN_NAME.fullmatch(key) else "*"


@dataclass(frozen=True)
class Window:
    """The event times an entrance accepts for a record received at ``received_at``."""

    received_at: dt.datetime
    max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW
    earliest: dt.datetime = EARLIEST_EVENT

    @property
    def latest(self) -> dt.datetime:
        return self.received_at + self.max_future_skew

    @classmethod
    def at(cls, received_at: dt.datetime | str | None = None, max_future_skew: dt.timedelta | None = None) -> Window:
        """The window for a record received at ``received_at`` (an aware datetime or ISO text; default now)."""
        if isinstance(received_at, str):
            received_at = dt.datetime.fromisoformat(received_at.replace("Z", "+00:00"))
        if received_at is None:
            received_at = dt.datetime.now(dt.UTC)
        elif received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=dt.UTC)
        return cls(received_at.astimezone(dt.UTC), max_future_skew or DEFAULT_MAX_FUTURE_SKEW)

    def hours(self) -> str:
        hours = self.max_future_skew.total_seconds() / 3600
        return f"{hours:g}"


def skew_hours(value: float | str | None) -> dt.timedelta:
    """The future skew from a setting in hours (``MTX_MAX_FUTURE_SKEW_HOURS``); None or empty: the default."""
    if value is None or value == "":
        return DEFAULT_MAX_FUTURE_SKEW
    hours = float(value)
    if not 0 <= hours <= 24 * 366:
        raise ValueError("the maximum future skew is between 0 and 8784 hours")
    return dt.timedelta(hours=hours)


# --- the document -------------------------------------------------------------------------------------------
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "acceptance-rules.md"

_ENTRANCES = """\
## Where each rule is applied, and the answer

| entrance | applies | a refused record gets |
| --- | --- | --- |
| `POST /transactions` (API Gateway; locally `orchestration/runtime/api.py`) | every rule, on the body | `400 {"error": "InvalidTransaction", "message", "transactionId", "fields": [{"field", "rule", "reason"}], "dead_lettered": true}`, and a dead letter (`failed_state` `ApiEntrance`) with the same fields; `body.too_large` is `413 PayloadTooLarge` (the WAF in AWS), nothing dead-lettered |
| batch file (NDJSON lines or a JSON array under `incoming/` of the raw bucket) | every rule, on each line / array element | a dead letter per record (`failed_state` `ProcessChunk`, the field errors in its `Cause`); `body.too_large`: the record is quarantined whole under `rejected/` of the raw bucket and its dead letter points there. A BOM at the very start of the file is skipped; a file that is not JSON at all fails its run (`NotJsonFile`) and is moved aside |
| workflow input (`ValidateTransaction`) | every rule but the byte-level ones (Step Functions hands it parsed JSON; in AWS, API Gateway's mapping collapses a duplicate key before it), the window relative to the input's `received_at` | `InvalidTransaction` caught, dead-lettered with the message (which names each field and rule code) |
| Glue job input (the PII-free analytics copy under `transactions/dt=...` of the analytics bucket) | the rules a Spark reader can see: malformed JSON, required fields, types, enums, currency, amount sign, maximum and minor units, identifier and name lengths and characters, timestamp format and window (not before 2000, at most 24 h after `ingested_at`); not a duplicate key nor an amount sent as numeric text (Spark's reader keeps one value and reads the text as a number; the copy is written only by the pipeline, from accepted records); a line holding an array of records is read as those records, each checked | a reject row (`rejects/transactions/run_id=...` of the curated bucket) whose `reject_reason` is `field: sentence [rule]` for each broken rule, never the value |

An answer keeps the first 20 field errors of a refusal and counts the rest (`fields_omitted`): a record of
8 KiB can break a thousand rules, and every answer, dead letter and alert stays far below SQS's and SNS's
256 KB. A batch line or JSON array element over 1 MiB is cut there (the cut record is quarantined, the
records after it kept; an endless record cannot exhaust the function's memory). A record the contract
accepts but the compliance store refuses on its data (SQLSTATE class 22 or 23) is quarantined alone too
(`DatabaseRejected`, its place and SQLSTATE); the rest of its chunk is stored.

The analytics API (`GET /analytics`, `POST /analytics/jobs`) reads no transactions; its own rules are
in the OpenAPI document (`orchestration/openapi.json`): every parameter is typed per operation, an
unknown or repeated parameter, SQL text, a duplicate key or a body that is not UTF-8 JSON is
`400 {"error", "message", "fields": [{"field", "rule", "reason"}]}`.

Every HTTP answer of the local API, whatever the method, path or bytes, is JSON, and never a 5xx for the
client's bytes (`fields` name the `http.*` rule): `400 BadRequest` (a request line or headers that are not
HTTP/1.1, HTTP/0.9, another HTTP version; a Content-Length that is not one non-negative integer; chunked
transfer encoding with a Content-Length; a body shorter than its Content-Length), `404 NotFound` (no such
path), `405 MethodNotAllowed` with an `Allow` header (TRACE, HEAD without a body, OPTIONS, PATCH, PUT,
DELETE, unknown methods), `408 RequestTimeout` (headers or body stalled past the read timeout),
`411 LengthRequired` (a POST without Content-Length, or chunked), `413 PayloadTooLarge`, `414` (a request
line over 64 KiB), `431` (over 100 headers); a credential is checked first on a known route (`401`, `403`),
as API Gateway does. The Content-Type header is not consulted: a body is read as UTF-8 JSON whatever it says.
"""  # noqa: E501 - markdown table rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    lines = [
        "# Acceptance rules of the transaction contract",
        "",
        "Generated from `contracts/acceptance.py` (`make schema`); a unit test keeps this file current.",
        "Every refusal names the field (a dotted wire path, `$` for the whole record) and the rule's code,",
        "with a sentence that states the rule and never quotes the value.",
        "",
        "| rule | fields | the rule |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{r.code}` | {r.fields} | {_cell(r.sentence)} |" for r in RULES]
    lines += [
        "",
        "## The analytics API's own rules",
        "",
        "Its bodies (`POST /analytics/jobs`) follow the rules above on bytes and JSON (`body.*`, `json.*`,",
        "`number.not_json`); its parameters these:",
        "",
        "| rule | fields | the rule |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{r.code}` | {r.fields} | {_cell(r.sentence)} |" for r in API_RULES]
    lines += [
        "",
        "## The HTTP entrance's own rules",
        "",
        "Checked before any body is read (the credential comes between `http.method` and the framing rules).",
        "",
        "| rule | fields | the rule |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{r.code}` | {r.fields} | {_cell(r.sentence)} |" for r in HTTP_RULES]
    return "\n".join(lines) + "\n\n" + _ENTRANCES
