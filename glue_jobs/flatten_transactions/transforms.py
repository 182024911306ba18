"""Pure steps of the flatten job: analytics JSON (nested, contract-shaped) -> warehouse rows.

No IO here. Everything is derived from ``contracts`` (the Spark schema: :mod:`.schema`):

- :func:`split_rejects` sends rows that break the contract to a rejects frame with a
  reason (missing required field, unreadable amount/timestamp, wrong JSON type,
  unknown enum value, too long for its column) instead of dropping them.
- :func:`flatten` ends in the ``select`` of ``contracts.warehouse.COLUMNS``, in order,
  with the warehouse types: it is the job's schema contract.
- :func:`deduplicate` keeps one row per ``(transaction_id, version)`` (the raw table's key: one
  row per stored version): the latest ``ingested_at``, ties broken by every other column so the
  result never depends on input order. An object written before versions is version 1.
- :func:`curate` is the job's path through all three, in one pass: the good rows flattened and
  deduplicated, and the counts (rows read, rejected, curated) observed on the way.

The session must run in UTC (:data:`SESSION_CONF`); :func:`flatten` refuses another zone.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from pydantic import BaseModel
from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts import acceptance
from contracts.currencies import ISO_4217_CODES, MINOR_UNITS
from contracts.transaction import MAX_AMOUNT, Transaction
from contracts.warehouse import COLUMNS, PRIMARY_KEY
from glue_jobs.flatten_transactions.schema import (
    CORRUPT_RECORD,
    leaves,
    spark_schema,
    spark_type,
    text_length_limit,
    unwrap,
)

SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # curate() flattens rejects too, and a reject's value may not fit its warehouse type: the cast must give
    # null (dropped with the reject), not fail the job (Spark 4 turns ANSI mode on by default)
    "spark.sql.ansi.enabled": "false",
    # a timestamp the new parser refuses is a reject, not a SparkUpgradeException
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # a field that fails to parse nulls that field only: the others stay for the reject report
    "spark.sql.json.enablePartialResults": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # the ~60 contract rules make constraint inference slow (measured: ~1 s of planning per action
    # with it, 0.2 s without); this job has no join for inferred filters to help
    "spark.sql.constraintPropagation.enabled": "false",
    # HotSpot does not JIT-compile a method of more than 8,000 bytes of bytecode: it interprets it. The contract
    # rules make the read stage's whole-stage method larger than that, which made the job ~3x slower than
    # its parts (measured: the rule check 6.4 CPU s per 200,000 rows as one interpreted method, 2.6 s with this).
    # At this limit Spark compiles such a stage operator by operator instead (Spark's docs: "may be preferable"
    # on HotSpot)
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # deduplicate() keeps one row per transaction version and those are nearly all unique: the partial
    # per-task limit Spark 3.5 puts before the shuffle would sort every row once more for nothing
    "spark.sql.optimizer.windowGroupLimitThreshold": "-1",
    # the job's counts are observed during its write (DataFrame.observe): when a stage turns out
    # empty (every row rejected, empty files) this rule drops the observing node and the
    # observation would never complete; running an empty stage's parents costs next to nothing
    "spark.sql.adaptive.optimizer.excludedRules": "org.apache.spark.sql.execution.adaptive.AQEPropagateEmptyRelation",
}

#: Timestamps as the contract writes them: ISO 8601 with a zone ("Z"), 0-6 fraction digits.
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX"
SOURCE_FILE = "_source_file"
REJECT_REASON = "reject_reason"
MALFORMED_JSON = "$: malformed JSON [json.malformed]"
NOT_AN_OBJECT = "$: not an object of the contract's shape [json.not_object]"

#: Options of the JSON reader that make it apply the contract schema (used by run.py).
READ_OPTIONS: dict[str, str] = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_RECORD,
    "timestampFormat": TIMESTAMP_FORMAT,
    "allowNonNumericNumbers": "false",
}


def _allowed_values() -> dict[str, tuple[str, ...]]:
    """Closed value sets of the contract: its enums, and ISO 4217 for the currency."""
    allowed: dict[str, tuple[str, ...]] = {"item_purchased.price.currency": tuple(sorted(ISO_4217_CODES))}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}{info.alias or name}"
            annotation = unwrap(info.annotation)
            if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
                allowed[path] = tuple(str(m.value) for m in annotation)
            elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{path}.")

    walk(Transaction, "")
    # the analytics record's version fields: the status a version moved from is a status too
    allowed["previous_status"] = allowed["payment_details.transaction_status"]
    return allowed


ALLOWED_VALUES: dict[str, tuple[str, ...]] = _allowed_values()


def _type_name(t: T.DataType) -> str:
    return "an object" if isinstance(t, T.StructType) else t.simpleString()


def _java_class(chars: str) -> str:
    """A character class of contracts.acceptance (Python text, ranges with ``-``) for Java's regex."""
    return "[" + "".join("-" if c == "-" else f"\\x{{{ord(c):X}}}" for c in chars) + "]"


def _ascii_class(matches: Callable[[str], object]) -> str:
    """A Java character class of the ASCII characters that ``matches``, each listed on its own (no ranges, ``-``
    escaped too): Java compiles single characters below U+0100 into one bitmap, one test per character, while
    each range becomes a predicate of a chain tried per character."""
    return "[" + "".join(f"\\x{{{c:X}}}" for c in range(0x80) if matches(chr(c))) + "]"


#: The character rules of names, in the contract's order of precedence (contracts.acceptance.text_violation).
_TEXT_RULES = [
    ("text.unicode", acceptance.NOT_UNICODE_CHARS, "is not valid Unicode text"),
    ("text.control", acceptance.CONTROL_CHARS, "holds a control character or a line separator"),
    ("text.bidi", acceptance.BIDI_CHARS, "holds a bidirectional formatting character"),
    ("text.invisible", acceptance.INVISIBLE_CHARS, "holds an invisible format character"),
]
_FORBIDDEN_TEXT = _java_class("".join(chars for _, chars, _ in _TEXT_RULES))
#: The forbidden characters below U+0080, for the check of ASCII text: a Java class of a few ASCII ranges is
#: a bitmap test, while the whole class (ranges up to U+10FFFF) costs ~5 us a name (measured).
_FORBIDDEN_ASCII = _ascii_class(acceptance.FORBIDDEN_TEXT.search)
#: Identifiers and names of the contract (by wire path), with their length limits.
_IDENTIFIERS = {"transactionId", "user_id", "item_purchased.item_id"}
#: The characters of contracts.acceptance.IDENTIFIER as one bitmap (with ranges, ``A-Za-z0-9``, the identifiers'
#: check took ~6% of the job's read stage, measured)
_ID_CLASS = _ascii_class(acceptance.IDENTIFIER.fullmatch)
#: The whole text (``\\z``: Java's ``$`` also matches before a final line break, which the contract refuses).
_ID_CHARACTERS = f"^{_ID_CLASS}*\\z"
_ID_SENTENCE = "ASCII letters, digits and _ . : -"
_NAMES = {"game", "item_purchased.item_name"}
_ZERO_DECIMALS = sorted(c for c, n in MINOR_UNITS.items() if n == 0)
_THREE_DECIMALS = sorted(c for c, n in MINOR_UNITS.items() if n == 3)


def _reject_rules(parsed: bool = False) -> list[tuple[Column, Column]]:
    """(broken, reason) per contract rule, in schema order; ``broken`` may be null (a null field): not broken.

    A reason is ``path: sentence [rule]`` with the rule codes of contracts.acceptance; it never quotes the
    value. The rules a Spark reader can see: malformed JSON, required fields, types, enums and currency,
    amount sign, maximum and minor units (and the warehouse column's size), identifier and name lengths and
    characters, timestamp format and window (not before 2000, at most the default future skew after
    ``ingested_at``). A duplicate key cannot be seen (the reader keeps one value): the analytics copy is
    written by the pipeline's own serializer from records the contract accepted.

    ``parsed=True``: the rules as they stand for a row the reader parsed whole (no corrupt
    record), where no field can be unreadable: the rules that look into the raw text drop out. Only the verdict
    counts there (:func:`is_rejected`; the reasons come from the full rules): some rules take a cheaper form with
    the same verdict, and the identifiers' characters are one rule over all of them.
    """
    raw = F.col(CORRUPT_RECORD)
    is_corrupt = raw.isNotNull()
    # a field with a contract default (version) may be missing: the record predates it
    required = {c.source for c in COLUMNS if c.source and not c.nullable and c.default is None}
    minimums = {c.source: 1 for c in COLUMNS if c.name == "version"}
    sizes = {c.source: c.sql_type for c in COLUMNS if c.source}
    rules: list[tuple[Column, Column]] = []

    def rule(broken: Column, reason: Column) -> None:
        rules.append((broken, reason))

    for path, data_type in leaves(spark_schema()):
        typed = F.col(path)
        # a parsed row has no unreadable field: not built for it (no JVM calls)
        unreadable = None if parsed else is_corrupt & typed.isNull() & F.get_json_object(raw, f"$.{path}").isNotNull()
        if not isinstance(data_type, T.StringType) and unreadable is not None:
            code = {"item_purchased.price.amount": "amount.number", "event_timestamp": "timestamp.format"}.get(
                path, "field.type"
            )
            rule(unreadable, F.lit(f"{path}: expected {_type_name(data_type)} [{code}]"))
        if path in required:
            missing = typed.isNull() if unreadable is None else typed.isNull() & ~unreadable
            rule(missing, F.lit(f"{path}: is required [field.required]"))
        if isinstance(data_type, T.DecimalType) and path != "item_purchased.price.amount":
            target = spark_type(sizes[path]) if path in sizes else data_type
            assert isinstance(target, T.DecimalType)
            precise = f"{path}: more than {target.scale} decimal places [field.type]"
            fits = f"{path}: does not fit {target.simpleString()} [field.type]"
            if parsed:  # the verdict alone: the cast rounds extra decimal places and nulls what does not fit
                narrowed = typed.cast(_cast_name(target))
                rule(typed.isNotNull() & F.coalesce(typed != narrowed, F.lit(True)), F.lit(precise))
            else:
                rule(typed != F.round(typed, target.scale), F.lit(precise))
                rule(F.abs(typed) >= F.lit(Decimal(10 ** (target.precision - target.scale))), F.lit(fits))
        if isinstance(data_type, T.DecimalType) and path == "item_purchased.price.amount":
            # the amount: the contract's rules, which also keep it within its warehouse column
            currency = "item_purchased.price.currency"
            rule(typed <= 0, F.lit(f"{path}: must be positive [amount.positive]"))
            rule(typed > F.lit(MAX_AMOUNT), F.lit(f"{path}: is above the {MAX_AMOUNT} limit [amount.maximum]"))
            minor = (
                F.when(_is_in(currency, _ZERO_DECIMALS), typed != F.round(typed, 0))
                .when(_is_in(currency, _THREE_DECIMALS), typed != F.round(typed, 3))
                .otherwise(typed != F.round(typed, 2))
            )
            rule(minor, F.lit(f"{path}: more decimals than the currency allows [amount.minor_units]"))
        if path in minimums:
            rule(typed < minimums[path], F.lit(f"{path}: must be {minimums[path]} or more [field.minimum]"))
        if path in ALLOWED_VALUES:
            unknown_value = ~_is_in(path, ALLOWED_VALUES[path])
            code = "currency.code" if path == "item_purchased.price.currency" else "enum.value"
            rule(unknown_value, F.lit(f"{path}: not one of the values the contract lists [{code}]"))
        max_length = text_length_limit(sizes[path]) if path in sizes else None
        if path in _IDENTIFIERS or path in _NAMES:
            code = "id.length" if path in _IDENTIFIERS else "text.length"
            limit = acceptance.MAX_ID_CHARS if path in _IDENTIFIERS else acceptance.MAX_NAME_CHARS
            limit = min(limit, max_length or limit)
            # a parsed row's identifier is measured in bytes (no scan of its characters): they differ only for
            # non-ASCII text, which the identifiers' characters rule rejects anyway, so the verdict is the same
            reason = F.lit(f"{path}: must be 1 to {limit} characters [{code}]")
            if not parsed:
                rule((F.length(typed) > limit) | (F.length(typed) < 1), reason)
            elif path in _IDENTIFIERS:
                rule((F.octet_length(typed) > limit) | (F.octet_length(typed) < 1), reason)
            else:
                rule(_longer_than(typed, limit) | (F.octet_length(typed) < 1), reason)
            max_length = None
        if path in _IDENTIFIERS and not parsed:
            rule(~typed.rlike(_ID_CHARACTERS), F.lit(f"{path}: may hold only {_ID_SENTENCE} [id.characters]"))
        if path in _NAMES:
            reason = F.lit(None).cast("string")
            for code, chars, sentence in reversed(_TEXT_RULES):  # the first rule broken wins
                reason = F.when(typed.rlike(_java_class(chars)), F.lit(f"{path}: {sentence} [{code}]")).otherwise(
                    reason
                )
            rule(_has_forbidden_text(typed), reason)
        if parsed and path in ALLOWED_VALUES and all(len(v) <= (max_length or 0) for v in ALLOWED_VALUES[path]):
            max_length = None  # a listed value fits, and another is rejected as unknown: the same verdict
        if max_length is not None:
            too_long = _longer_than(typed, max_length) if parsed else F.length(typed) > max_length
            rule(too_long, F.lit(f"{path}: longer than {max_length} characters [text.length]"))
        if path == "event_timestamp":
            earliest = F.lit(acceptance.EARLIEST_EVENT.strftime("%Y-%m-%d %H:%M:%S")).cast(_TIMESTAMP)
            rule(typed < earliest, F.lit(f"{path}: is before {acceptance.EARLIEST_EVENT.date()} [timestamp.too_early]"))
            skew = int(acceptance.DEFAULT_MAX_FUTURE_SKEW.total_seconds())
            latest = F.col("ingested_at") + F.expr(f"INTERVAL {skew} SECONDS")
            rule(
                typed > latest,
                F.lit(f"{path}: is more than {skew // 3600} hours after ingested_at [timestamp.in_future]"),
            )
    if parsed:  # the identifiers' characters in one match: one conversion to a Java string, one matcher
        ids = [F.col(path) for path, _ in leaves(spark_schema()) if path in _IDENTIFIERS]
        rule(~F.concat_ws("", *ids).rlike(_ID_CHARACTERS), F.lit(f"identifiers: may hold only {_ID_SENTENCE}"))
    return rules


#: The contract's timestamps: with a zone (the bare ``timestamp`` follows ``spark.sql.timestampType``).
_TIMESTAMP = "timestamp_ltz"
#: A listed value as it may stand quoted in a SQL expression (the contract's enum values and currency codes).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_ .:-]*")


def _is_in(path: str, values: Sequence[str]) -> Column:
    """``path IN (values)``, one JVM call: ``Column.isin`` makes one per value (the currencies: ~160 calls, and the
    job's plan took ~1.3 s to build; the expression and its verdict are the same)."""
    bad = [v for v in values if not (isinstance(v, str) and _PLAIN_VALUE.fullmatch(v))]
    if bad:
        raise ValueError(f"{path}: {len(bad)} listed value(s) need quoting")
    if not values:
        return F.lit(False)
    field = ".".join(f"`{part}`" for part in path.split("."))
    return F.expr(f"{field} IN ({', '.join(chr(39) + v + chr(39) for v in values)})")


def _cast_name(data_type: T.DataType) -> str:
    """The name of a cast's target type (a ``DataType`` object costs the plan a session lookup and a parse per
    cast). A timestamp is named with its zone (``timestamp_ltz``): the bare name follows ``spark.sql.timestampType``,
    which a Glue ``--conf`` could set to ``TIMESTAMP_NTZ``."""
    if isinstance(data_type, T.TimestampType):
        return _TIMESTAMP
    if not isinstance(data_type, T.AtomicType):
        raise TypeError(f"cast by name takes an atomic type, not {data_type.simpleString()}")
    return data_type.simpleString()


def _longer_than(text: Column, limit: int) -> Column:
    """``length(text) > limit``, counting the characters only when the bytes are more than ``limit`` (a text has
    at most as many characters as UTF-8 bytes, and counting them scans the text; the byte count does not)."""
    return (F.octet_length(text) > limit) & (F.length(text) > limit)


def _has_forbidden_text(text: Column) -> Column:
    """``text`` holds a character of the contract's text rules. ASCII text (as many characters as UTF-8 bytes)
    is checked against the ASCII part of the rules only: the same verdict, at a fraction of the cost."""
    is_ascii = F.length(text) == F.octet_length(text)
    return F.when(is_ascii, text.rlike(_FORBIDDEN_ASCII)).otherwise(text.rlike(_FORBIDDEN_TEXT))


def is_rejected() -> Column:
    """True when a row read with :func:`read_schema` breaks a contract rule (never null).

    A row with a corrupt record is rejected whatever its fields hold, so the other rules only
    need their parsed-row form: no ``get_json_object`` on the raw text, and a small enough
    expression for the JIT to compile (the full rule set made the filter ~3x slower).

    A null rule is not broken: SQL's OR is true when any side is, and null (then false here) when the
    others are false or null, so one ``coalesce`` over the whole chain does what one per rule would, in less
    generated code (measured: 0.97 against 1.17 CPU s per 200,000 rows).
    """
    rules = _reject_rules(parsed=True)
    chain = functools.reduce(operator.or_, [broken for broken, _ in rules], F.col(CORRUPT_RECORD).isNotNull())
    return F.coalesce(chain, F.lit(False))


def reject_reason() -> Column:
    """Every broken rule of a rejected row, ``; ``-separated (only meaningful on rejected rows)."""
    raw = F.col(CORRUPT_RECORD)
    not_json = raw.isNotNull() & F.get_json_object(raw, "$").isNull()
    reasons = F.concat_ws("; ", *[F.when(broken, reason) for broken, reason in _reject_rules()])
    return F.when(not_json, F.lit(MALFORMED_JSON)).when(reasons != "", reasons).otherwise(F.lit(NOT_AN_OBJECT))


def split_rejects(df: DataFrame, source_partition_col: str = "dt") -> tuple[DataFrame, DataFrame]:
    """(good rows as read, rejects) of a frame read with :func:`read_schema`.

    Good rows pay for the boolean checks only; the reason text is built for rejects alone.
    Rejects carry ``transaction_id``, ``source_partition``, ``source_file`` (when the
    reader added :data:`SOURCE_FILE`), ``reject_reason`` and ``record``: the row's
    contract fields as JSON (never the raw line, which could carry fields the
    analytics copy must not hold). The job counts them in :func:`curate`.
    """
    rejected = "_rejected"
    marked = df.withColumn(rejected, is_rejected())
    good = marked.filter(~F.col(rejected)).drop(rejected, CORRUPT_RECORD)
    contract_fields = [F.col(f.name) for f in spark_schema().fields]
    source_file = F.col(SOURCE_FILE) if SOURCE_FILE in df.columns else F.lit(None).cast("string")
    rejects = marked.filter(F.col(rejected)).select(
        F.col("transactionId").alias("transaction_id"),
        _partition_date(df, source_partition_col).alias("source_partition"),
        source_file.alias("source_file"),
        reject_reason().alias(REJECT_REASON),
        F.to_json(F.struct(*contract_fields)).alias("record"),
    )
    return good, rejects


def _partition_date(df: DataFrame, name: str) -> Column:
    """The ``dt=`` partition as a date. Spark infers ``dt=2025-02-09`` folders as dates: then the column is
    used as it is, not formatted and parsed back for every row; a string one is parsed."""
    if isinstance(df.schema[name].dataType, T.DateType):
        return F.col(name)
    return F.to_date(F.col(name).cast("string"), "yyyy-MM-dd")


def _require_utc(df: DataFrame) -> None:
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in {"UTC", "Etc/UTC", "Z", "+00:00"}:
        raise ValueError(f"spark.sql.session.timeZone is {zone!r}: event_date and timestamps need UTC")


def flatten(
    df: DataFrame, source_partition_col: str = "dt", loaded_at: dt.datetime | None = None, keep: Sequence[str] = ()
) -> DataFrame:
    """Nested analytics rows -> exactly ``contracts.warehouse.COLUMNS``, in order, with their types.

    ``loaded_at`` fixes the load time (tests, one value per job run); default: now. ``keep``: columns of ``df``
    carried along after the warehouse columns (:func:`curate` keeps its rejects' window group).
    """
    _require_utc(df)
    loaded = _load_time(loaded_at)
    derived: dict[str, Column] = {
        "event_date": F.to_date(F.col("event_timestamp")),
        "source_partition": _partition_date(df, source_partition_col),
        "loaded_at": loaded,
    }
    select: list[Column] = []
    for column in COLUMNS:
        if column.source:
            value = F.col(column.source)
            if column.default is not None:  # a record written before the field existed (version: 1)
                value = F.coalesce(value, F.expr(column.default))
        elif column.name in derived:
            value = derived[column.name]
        else:
            raise KeyError(f"warehouse column {column.name} has no source and flatten does not derive it")
        select.append(value.cast(_cast_name(spark_type(column.sql_type))).alias(column.name))
    return df.select(*select, *[F.col(name) for name in keep])


def _load_time(loaded_at: dt.datetime | None) -> Column:
    """``loaded_at`` as a timestamp literal; ``None``: now (one value per query)."""
    if loaded_at is None:
        return F.current_timestamp()
    return F.lit(loaded_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")).cast(_TIMESTAMP)


def _latest_first(df: DataFrame, key: Sequence[str], order_by: str) -> Column:
    """``row_number`` within ``key``: 1 for the latest ``order_by``; ties go to the greatest other columns, in
    order (the result never depends on input order). Columns named ``_...`` (the job's own marks) are not
    tie-breakers."""
    skip = {*key, order_by, *(c for c in df.columns if c.startswith("_"))}
    tie_breakers = [F.col(c).desc_nulls_last() for c in df.columns if c not in skip]
    window = Window.partitionBy(*[F.col(k) for k in key]).orderBy(F.col(order_by).desc_nulls_last(), *tie_breakers)
    return F.row_number().over(window)


def deduplicate(df: DataFrame, key: Sequence[str] = PRIMARY_KEY, order_by: str = "ingested_at") -> DataFrame:
    """One row per ``key``: the latest ``order_by``; ties go to the greatest other columns (but ``_...`` ones),
    in order."""
    rank = "_row_number"
    return (
        df.withColumn(rank, _latest_first(df, key, order_by))
        .filter(F.col(rank) == 1)
        .select(*[F.col(c) for c in df.columns])
    )


def curate(
    df: DataFrame, observation: Observation, source_partition_col: str = "dt", loaded_at: dt.datetime | None = None
) -> DataFrame:
    """The curated rows of a frame read with :func:`read_schema`: the contract's rejects left out, flattened
    (:func:`flatten`), deduplicated (:func:`deduplicate`'s order). The rejects are :func:`split_rejects`'s.

    ``observation`` gets ``rows`` (read), ``rejected``, ``curated`` and ``partitions`` (the curated rows'
    ``dt`` values, ``,``-separated) from the first action on the result, so counting costs no pass of its own.

    Every row read is flattened and ranked, the rejects too, and they are dropped after the ranking, where
    the counts are taken: Spark materialises the rows an observation sees (it is not part of the generated
    code), and the window's output is materialised anyway. Observing the wide nested rows as read cost ~17%
    of a bare read + write (measured). Each reject is ranked in a group of its own, so it never outranks a good
    row of its key.
    """
    alone, rank = "_reject_group", "_row_number"
    # every reject in a window group of its own: it can then never outrank a good row, and rejects without a key
    # (corrupt lines) do not pile up in one group of one task; good rows keep their group (null here), so the group
    # is the reject mark too. One projection for both: a projection of its own for the mark copied every nested row
    # read once more (measured: ~0.8 of ~10 CPU s for the read stage). The flatten stays a projection of its own:
    # the rules and the flatten in one projection measured slower (~13 against ~11 CPU s).
    # The top-level decimals are read as decimal(38,18) for the rules and cast to their warehouse type in the same
    # projection: a wide decimal is an object that every projection decodes and encodes again, the warehouse
    # type is a number (precision <= 18); the flatten's cast is then a no-op
    narrowed = {
        column.source: F.col(column.source).cast(_cast_name(spark_type(column.sql_type)))
        for column in COLUMNS
        if column.source in df.columns and isinstance(spark_type(column.sql_type), T.DecimalType)
    }
    marked = df.withColumns({alone: F.when(is_rejected(), F.monotonically_increasing_id()), **narrowed})
    # the load time is one value: added after the ranking, in the projection that ends the stage, not carried
    # through the sort and the window (an extra copy of every row after the window, measured)
    flat = flatten(marked, source_partition_col, loaded_at, keep=[alone]).drop("loaded_at")
    ranked = flat.withColumn(rank, _latest_first(flat, (*PRIMARY_KEY, alone), "ingested_at"))
    rejected = F.col(alone).isNotNull()
    kept = (F.col(rank) == 1) & ~rejected
    partition = F.when(kept, F.col("source_partition"))
    observed = ranked.observe(
        observation,
        F.count(F.lit(1)).alias("rows"),
        F.count_if(rejected).alias("rejected"),
        F.count_if(kept).alias("curated"),
        # a string: PySpark's Observation.get hands arrays back as Java objects
        F.array_join(F.transform(F.collect_set(partition), lambda d: F.date_format(d, "yyyy-MM-dd")), ",").alias(
            "partitions"
        ),
    )
    loaded = {"loaded_at": _load_time(loaded_at).alias("loaded_at")}
    return observed.filter(kept).select(*[loaded.get(c.name, F.col(c.name)) for c in COLUMNS])
