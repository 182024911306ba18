"""transforms.py: contract schema, flatten, dedup, rejects, drift, PII, on a local SparkSession."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import Observation, SparkSession
from pyspark.sql import types as T

from contracts import CONTRACT_VERSION, PII_FIELDS, Transaction
from contracts.lifecycle import version_stamp
from contracts.warehouse import COLUMNS, ENRICHED, VERSIONED
from glue_jobs import glue_types
from glue_jobs.flatten_transactions import schema as contract_schema
from glue_jobs.flatten_transactions import transforms
from tests.glue_helpers import DAY, INGESTED_AT, make_tx, read, record, write_partition

LOADED_AT = dt.datetime(2025, 2, 10, 3, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.integration


def _leaf_paths(schema: T.StructType, prefix: str = "") -> dict[str, T.DataType]:
    out: dict[str, T.DataType] = {}
    for f in schema.fields:
        out[prefix + f.name] = f.dataType
        if isinstance(f.dataType, T.StructType):
            out.update(_leaf_paths(f.dataType, prefix + f.name + "."))
    return out


def _flat(spark: SparkSession, root: Path):
    good, rejects = transforms.split_rejects(read(spark, root))
    return transforms.flatten(good, loaded_at=LOADED_AT), rejects


def test_spark_schema_is_the_contract_without_pii_plus_ingested_at() -> None:
    schema = contract_schema.spark_schema()
    wire = [f.alias or name for name, f in Transaction.model_fields.items()]
    assert [f.name for f in schema.fields] == [w for w in wire if w != "client_ip"] + ["ingested_at"] + [
        c.source
        for c in (*ENRICHED, *VERSIONED)  # the Enrich stage's and the version fields (top level)
    ]
    assert _leaf_paths(schema)["version"] == T.IntegerType()
    paths = _leaf_paths(schema)
    assert paths["item_purchased.price.amount"] == T.DecimalType(18, 3)
    assert paths["event_timestamp"] == T.TimestampType()
    assert paths["ingested_at"] == T.TimestampType()
    assert paths["transactionId"] == T.StringType()
    for pii in PII_FIELDS:
        assert ".".join(pii) not in paths
    # every warehouse column with a source reads a path of the schema
    assert {c.source for c in COLUMNS if c.source} <= set(paths)
    # the reader gets the same shape, decimals widened so that nothing is rounded on read
    read_paths = _leaf_paths(contract_schema.read_schema())
    assert read_paths["item_purchased.price.amount"] == contract_schema.READ_DECIMAL
    assert contract_schema.CORRUPT_RECORD in read_paths


def test_flatten_gives_the_warehouse_columns_with_exact_values_and_types(spark: SparkSession, tmp_path: Path) -> None:
    usd = make_tx(1)
    kwd = make_tx(
        2,
        **{
            "item_purchased.price": {"currency": "KWD", "amount": Decimal("1.125")},
            "payment_details.payment_method": "paypal",
            "payment_details.card_last4": None,
            "payment_details.gateway": "PayPal",
            "payment_details.transaction_status": "refunded",
        },
    )
    # +02:00 shortly after midnight: 23:30 UTC the day before, so event_date is the UTC date
    jpy = make_tx(
        3,
        **{
            "item_purchased.price": {"currency": "JPY", "amount": 1500},
            "item_purchased.item_type": "battle_pass",
            "event_timestamp": "2025-02-10T01:30:00.250+02:00",
            "server_region": "Asia-Pacific",
        },
    )
    enriched = {"amount_usd": 10.99, "usd_per_unit": 1.0, "fx_rate_date": "2025-02-01", "country": "GB",
                "region": "europe", "item_category": "vanity", "list_price_usd": 10.0,
                "contract_version": CONTRACT_VERSION, "application_id": "game-eu",
                "is_first_purchase": True}  # fmt: skip
    stamp = version_stamp(2, "pending", "2025-02-09T12:40:00.500000Z")  # tx-1: a second version
    # kwd, jpy: stored before the stage and before versions
    write_partition(tmp_path, DAY, [record(usd) | enriched | stamp], name="tx-1.v2.json")
    write_partition(tmp_path, DAY, [record(kwd), record(jpy)], name="batch-20250209-0.ndjson")

    flat, rejects = _flat(spark, tmp_path)

    assert rejects.count() == 0
    assert [(f.name, f.dataType) for f in flat.schema.fields] == [
        (f.name, f.dataType) for f in contract_schema.warehouse_schema().fields
    ]
    assert flat.columns == [c.name for c in COLUMNS]
    assert dict(flat.dtypes)["price_amount"] == "decimal(18,3)"
    assert dict(flat.dtypes)["event_date"] == "date"
    rows = {r["transaction_id"]: r.asDict() for r in flat.collect()}
    day = dt.date(2025, 2, 9)
    ingested = dt.datetime(2025, 2, 9, 12, 35, 0, 123456)
    loaded = dt.datetime(2025, 2, 10, 3, 0)
    assert rows["tx-1"] == {
        "transaction_id": "tx-1",
        "user_id": "user_1",
        "game": "Path Of Exile 2",
        "item_id": "mtx_abyssal_wings",
        "item_name": "Abyssal Wings",
        "item_type": "cosmetic",
        "price_amount": Decimal("10.990"),
        "price_currency": "USD",
        "payment_method": "credit_card",
        "payment_gateway": "Stripe",
        "transaction_status": "completed",
        "server_region": "EU-West",
        "event_at": dt.datetime(2025, 2, 9, 12, 34, 56),
        "ingested_at": ingested,
        "event_date": day,
        "source_partition": day,
        "loaded_at": loaded,
        "amount_usd": Decimal("10.9900"),
        "usd_per_unit": Decimal("1.00000000"),
        "fx_rate_date": dt.date(2025, 2, 1),
        "country": "GB",
        "region": "europe",
        "item_category": "vanity",
        "list_price_usd": Decimal("10.000"),
        "contract_version": CONTRACT_VERSION,
        "application_id": "game-eu",
        "is_first_purchase": True,
        "version": 2,
        "previous_status": "pending",
        "status_updated_at": dt.datetime(2025, 2, 9, 12, 40, 0, 500000),
    }
    assert {c.name: rows["tx-2"][c.name] for c in ENRICHED} == {c.name: None for c in ENRICHED}
    # no version fields: version 1 (the job's coalesce), nothing moved from, no stamp
    assert {c.name: rows["tx-2"][c.name] for c in VERSIONED} == {
        "version": 1,
        "previous_status": None,
        "status_updated_at": None,
    }
    assert rows["tx-2"]["price_amount"] == Decimal("1.125")
    assert (rows["tx-2"]["price_currency"], rows["tx-2"]["payment_method"]) == ("KWD", "paypal")
    assert (rows["tx-2"]["payment_gateway"], rows["tx-2"]["transaction_status"]) == ("PayPal", "refunded")
    assert rows["tx-3"]["price_amount"] == Decimal("1500.000")
    assert rows["tx-3"]["event_at"] == dt.datetime(2025, 2, 9, 23, 30, 0, 250000)
    assert rows["tx-3"]["event_date"] == day
    assert (rows["tx-3"]["item_type"], rows["tx-3"]["server_region"]) == ("battle_pass", "Asia-Pacific")


def test_no_pii_column_or_value_even_when_the_object_carries_it(spark: SparkSession, tmp_path: Path) -> None:
    tx = make_tx("pii", **{"payment_details.card_last4": "4242", "client_ip": "203.0.113.77"})
    leaked = tx.to_json_dict() | {"ingested_at": "2025-02-09T12:35:00.123456Z"}  # PII not stripped
    assert leaked["client_ip"] == "203.0.113.77" and leaked["payment_details"]["card_last4"] == "4242"
    write_partition(tmp_path, DAY, [leaked, record(make_tx(2))])

    flat, rejects = _flat(spark, tmp_path)

    assert rejects.count() == 0
    assert not {"card_last4", "client_ip", "payment_details", "card", "ip"} & set(flat.columns)
    dumped = json.dumps([r.asDict() for r in flat.collect()], default=str)
    assert "4242" not in dumped and "203.0.113.77" not in dumped
    assert flat.count() == 2


def test_deduplicate_keeps_the_latest_ingested_at_deterministically(spark: SparkSession, tmp_path: Path) -> None:
    base = dt.datetime(2025, 2, 9, 13, 0, tzinfo=dt.UTC)
    versions = [
        record(make_tx(7, **{"payment_details.transaction_status": "pending"}), base),
        record(make_tx(7, **{"payment_details.transaction_status": "refunded"}), base + dt.timedelta(hours=2)),
        record(make_tx(7, **{"payment_details.transaction_status": "completed"}), base + dt.timedelta(hours=1)),
        record(make_tx(8), base),
    ]
    # a tie on ingested_at: the winner must not depend on input order
    tie_a = record(make_tx(9, **{"payment_details.transaction_status": "failed"}), base)
    tie_b = record(make_tx(9, **{"payment_details.transaction_status": "completed"}), base)
    write_partition(tmp_path / "one", DAY, [*versions, tie_a, tie_b])
    write_partition(tmp_path / "two", DAY, [tie_b, tie_a, *reversed(versions)])

    results = []
    for root in (tmp_path / "one", tmp_path / "two"):
        flat, _ = _flat(spark, root)
        deduped = transforms.deduplicate(flat.repartition(3))
        assert deduped.columns == flat.columns
        results.append({r["transaction_id"]: r["transaction_status"] for r in deduped.collect()})

    assert results[0] == results[1]
    assert results[0]["tx-7"] == "refunded"
    assert results[0]["tx-8"] == "completed"
    assert results[0]["tx-9"] == "failed"  # ties: greatest other columns first ("failed" > "completed")
    assert len(results[0]) == 3


def test_malformed_rows_go_to_rejects_with_a_reason(spark: SparkSession, tmp_path: Path) -> None:
    good = record(make_tx("ok"))

    def broken(n: str, **changes: object) -> str:
        r = record(make_tx(n))
        for path, value in changes.items():
            node = r
            *parents, leaf = path.split(".")
            for key in parents:
                node = node[key]
            if value is None:
                del node[leaf]
            else:
                node[leaf] = value
        return json.dumps(r)

    lines = [
        json.dumps(good),
        broken("no-id", transactionId=None),
        broken("amount-text", **{"item_purchased.price.amount": "ten"}),
        broken("amount-bool", **{"item_purchased.price.amount": True}),
        broken("amount-precise", **{"item_purchased.price.amount": 1.2345}),
        broken("amount-huge", **{"item_purchased.price.amount": 1e16}),
        broken("ts-text", event_timestamp="yesterday"),
        broken("ts-naive", event_timestamp="2025-02-09T12:34:56"),
        broken("struct-text", item_purchased="sword"),
        broken("enum", **{"item_purchased.item_type": "weapon"}),
        broken("currency", **{"item_purchased.price.currency": "XXX"}),
        broken("too-long", game="G" * 121),
        broken("no-ingested", ingested_at=None),
        '{"transactionId": "truncated", "user_id": ',
        "not json at all",
    ]
    write_partition(tmp_path, DAY, lines)

    good_rows, rejects = transforms.split_rejects(read(spark, tmp_path))

    assert [r["transactionId"] for r in good_rows.collect()] == ["tx-ok"]
    assert rejects.columns == ["transaction_id", "source_partition", "source_file", "reject_reason", "record"]
    got = rejects.collect()
    assert len(got) == len(lines) - 1
    reasons = {r["transaction_id"]: r["reject_reason"] for r in got if r["transaction_id"]}
    no_id = [r for r in got if json.loads(r["record"]).get("user_id") == "user_no-id"]
    assert [(r["transaction_id"], r["reject_reason"]) for r in no_id] == [
        (None, "transactionId: is required [field.required]")
    ]
    # field: rule as a sentence [rule code]; never the value (contracts/acceptance.py)
    amount = "item_purchased.price.amount"
    assert reasons["tx-amount-text"] == f"{amount}: expected decimal(18,3) [amount.number]"
    assert reasons["tx-amount-bool"] == f"{amount}: expected decimal(18,3) [amount.number]"
    assert reasons["tx-amount-precise"] == f"{amount}: more decimals than the currency allows [amount.minor_units]"
    assert reasons["tx-amount-huge"] == f"{amount}: is above the 10000000 limit [amount.maximum]"
    assert reasons["tx-ts-text"] == "event_timestamp: expected timestamp [timestamp.format]"
    assert reasons["tx-ts-naive"] == "event_timestamp: expected timestamp [timestamp.format]"
    assert reasons["tx-struct-text"].startswith("item_purchased: expected an object [field.type]")
    assert reasons["tx-enum"] == "item_purchased.item_type: not one of the values the contract lists [enum.value]"
    assert reasons["tx-currency"] == (
        "item_purchased.price.currency: not one of the values the contract lists [currency.code]"
    )
    assert reasons["tx-too-long"] == "game: must be 1 to 120 characters [text.length]"
    assert reasons["tx-no-ingested"] == "ingested_at: is required [field.required]"
    for reason in reasons.values():
        assert "ten" not in reason and "weapon" not in reason and "XXX" not in reason and "yesterday" not in reason
    malformed = [r for r in got if r["reject_reason"] == transforms.MALFORMED_JSON]
    assert len(malformed) == 2  # the truncated line and the text line
    assert all(r["source_partition"] == dt.date(2025, 2, 9) for r in got)
    assert all(r["source_file"].endswith("batch-run1-0.ndjson") for r in got)
    # the record is the contract fields as read, never the raw line
    amount_text = next(r for r in got if r["transaction_id"] == "tx-amount-text")
    assert json.loads(amount_text["record"])["item_purchased"]["price"]["currency"] == "USD"


def test_a_record_with_an_unknown_field_is_loaded_and_the_field_reported(spark: SparkSession, tmp_path: Path) -> None:
    plain = record(make_tx(1))
    drifted = record(make_tx(2)) | {"promo_code": "SPRING25"}
    drifted["item_purchased"]["rarity"] = {"tier": 3}
    write_partition(tmp_path, DAY, [plain, drifted])

    flat, rejects = _flat(spark, tmp_path)

    assert rejects.count() == 0
    assert flat.columns == [c.name for c in COLUMNS]
    assert sorted(r["transaction_id"] for r in flat.collect()) == ["tx-1", "tx-2"]
    drift = contract_schema.detect_drift(glue_types.infer_columns([plain, drifted]))
    assert drift.unknown_fields == ("item_purchased.rarity", "promo_code")
    assert drift.pii_fields == () and drift.type_conflicts == ()
    assert contract_schema.detect_drift(glue_types.infer_columns([plain])).drifted is False


def test_a_field_of_the_wrong_type_is_rejected_and_reported_not_a_crash(spark: SparkSession, tmp_path: Path) -> None:
    wrong = record(make_tx("wrong"))
    wrong["payment_details"] = ["credit_card"]
    write_partition(tmp_path, DAY, [record(make_tx(1)), wrong])

    flat, rejects = _flat(spark, tmp_path)

    assert [r["transaction_id"] for r in flat.collect()] == ["tx-1"]
    (reject,) = rejects.collect()
    assert reject["transaction_id"] == "tx-wrong"
    assert reject["reject_reason"].startswith("payment_details: expected an object [field.type]")
    drift = contract_schema.detect_drift(glue_types.infer_columns([wrong]))
    assert drift.type_conflicts == ("payment_details: array (contract: struct<payment_method:string,"
                                    "transaction_status:string,gateway:string>)",)  # fmt: skip


def test_pii_in_the_data_is_reported_by_drift_detection() -> None:
    leaked = make_tx(1).to_json_dict() | {"ingested_at": "2025-02-09T12:35:00Z"}
    drift = contract_schema.detect_drift(glue_types.infer_columns([leaked]))
    assert drift.pii_fields == ("client_ip", "payment_details.card_last4")
    assert drift.unknown_fields == ()


def test_flatten_refuses_a_session_not_in_utc(spark: SparkSession, tmp_path: Path) -> None:
    write_partition(tmp_path, DAY, [record(make_tx(1))])
    df = read(spark, tmp_path)
    spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
    try:
        with pytest.raises(ValueError, match="UTC"):
            transforms.flatten(df)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_spark_type_of_warehouse_types() -> None:
    assert contract_schema.spark_type("varchar(64)") == T.StringType()
    assert contract_schema.spark_type("char(3)") == T.StringType()
    assert contract_schema.spark_type("numeric(18,3)") == T.DecimalType(18, 3)
    assert contract_schema.spark_type("timestamp") == T.TimestampType()
    assert contract_schema.spark_type("date") == T.DateType()
    with pytest.raises(ValueError):
        contract_schema.spark_type("geometry")


def test_ingested_at_of_the_helper_is_the_contract_format() -> None:
    assert record(make_tx(1))["ingested_at"] == INGESTED_AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_text_rule_gives_the_contracts_verdict_on_both_sides_of_its_ascii_shortcut(spark: SparkSession) -> None:
    """ASCII names are checked against the ASCII part of the rules only (a cheap Java class); every other
    name against the whole set. Each of the 128 ASCII characters and a spread of others, alone and inside a
    name, must get the verdict of ``contracts.acceptance`` either way."""
    from pyspark.sql import functions as F

    from contracts import acceptance

    others = ["\u0085", "\u00a0", "\u00ad", "\u00e9", "\u061c", "\u200b", "\u2028", "\u202e", "\u2066",
              "\u3042", "\ufdd0", "\ufeff", "\ufffd", "\ufffe", "\U0001f600", "\U0001fffe", "\U000e0041",
              "\U0010ffff"]  # fmt: skip
    names = [text for c in [chr(i) for i in range(0x80)] + others for text in (c, f"Path {c}Of", f"\u00e9{c}")]
    names += ["Path Of Exile 2", "\u30d1\u30b9", "caf\u00e9"]
    df = spark.createDataFrame([(n,) for n in names], "name string")
    checked = df.select("name", transforms._has_forbidden_text(F.col("name")).alias("broken"))
    verdicts = {r["name"]: r["broken"] for r in checked.collect()}
    expected = {n: bool(acceptance.FORBIDDEN_TEXT.search(n)) for n in names}
    assert verdicts == expected
    assert sum(expected.values()) > 40 and not all(expected.values())  # both verdicts on both paths


def test_the_identifier_pattern_is_the_contracts_character_by_character(spark: SparkSession) -> None:
    """The identifiers' Java pattern lists each allowed character on its own (one bitmap, not a chain of
    ranges). Each of the 128 ASCII characters and a spread of others, alone, inside an id and at its end, must
    get the verdict of ``contracts.acceptance.IDENTIFIER``."""
    from pyspark.sql import functions as F

    from contracts import acceptance

    others = ["\u0085", "\u00e9", "\u0130", "\u017f", "\u2028", "\u212a", "\uff21", "\U0001f600"]
    ids = [text for c in [chr(i) for i in range(0x80)] + others for text in (c, f"tx-{c}1", f"tx-1{c}")]
    df = spark.createDataFrame([(i,) for i in ids], "id string")
    checked = df.select("id", F.col("id").rlike(transforms._ID_CHARACTERS).alias("ok"))
    verdicts = {r["id"]: r["ok"] for r in checked.collect()}
    expected = {i: acceptance.IDENTIFIER.fullmatch(i) is not None for i in ids}
    assert verdicts == expected
    assert 60 < sum(expected.values()) < len(ids) - 100  # both verdicts, many times


def test_source_partition_is_the_same_date_whether_spark_read_dt_as_a_date_or_as_text(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Spark infers ``dt=2025-02-09`` as a date and flatten uses it as it is; a reader that kept it as text (type
    inference off) gets it parsed."""
    from pyspark.sql import functions as F

    write_partition(tmp_path, DAY, [record(make_tx(1))])
    good, _ = transforms.split_rejects(read(spark, tmp_path))
    assert isinstance(good.schema["dt"].dataType, T.DateType)
    as_text = good.withColumn("dt", F.col("dt").cast("string"))
    flats = [transforms.flatten(df, loaded_at=LOADED_AT) for df in (good, as_text)]
    dates = [f.select("source_partition").first()[0] for f in flats]
    assert dates == [dt.date.fromisoformat(DAY)] * 2


def test_curate_keeps_the_good_version_over_a_later_reject_of_its_key_and_counts_in_the_same_pass(
    spark: SparkSession, tmp_path: Path
) -> None:
    """curate ranks rejects with the good rows and drops them after the ranking: a reject of a key, even a
    later one, must never outrank (and so hide) the good row of that key (each reject has a window group of its
    own). Its result must be split_rejects + flatten + deduplicate's, and its counts those of the rows it read."""
    later = INGESTED_AT + dt.timedelta(hours=1)
    good_1 = record(make_tx(1), INGESTED_AT)
    reject_1 = record(make_tx(1), later)
    reject_1["item_purchased"]["price"]["currency"] = "XXX"  # unknown currency: a reject, ingested later
    dup_2 = record(make_tx(2), INGESTED_AT)
    # top-level decimals that break their warehouse column: curate narrows them to it in the rules' projection, so
    # the rules must still see the values as read (narrowed first, each would round or turn null and pass)
    wide = []
    for n, (field, text) in enumerate([("amount_usd", "1.23456"), ("list_price_usd", "1e15"),
                                       ("usd_per_unit", "0.123456789")], start=4):  # fmt: skip
        row = record(make_tx(n), INGESTED_AT)
        row[field] = 0.5
        wide.append(json.dumps(row, default=str).replace(f'"{field}": 0.5', f'"{field}": {text}'))
    write_partition(tmp_path, DAY, [good_1, reject_1, dup_2, dup_2, "{broken", *wide])
    write_partition(tmp_path, "2025-02-10", [record(make_tx(3), later)])
    raw = read(spark, tmp_path)

    metrics = Observation("curate")
    curated = transforms.curate(raw, metrics, loaded_at=LOADED_AT)
    rows = sorted(tuple(r) for r in curated.collect())
    good, _ = transforms.split_rejects(raw)
    expected = sorted(tuple(r) for r in transforms.deduplicate(transforms.flatten(good, loaded_at=LOADED_AT)).collect())

    assert curated.columns == [c.name for c in COLUMNS]
    assert rows == expected
    by_id = {r[0]: r for r in curated.collect()}
    assert sorted(by_id) == ["tx-1", "tx-2", "tx-3"]
    assert by_id["tx-1"]["price_currency"] == good_1["item_purchased"]["price"]["currency"]
    counts = metrics.get
    assert (counts["rows"], counts["rejected"], counts["curated"]) == (9, 5, 3)
    assert sorted(counts["partitions"].split(",")) == [DAY, "2025-02-10"]


def test_the_fast_reject_check_gives_the_full_rules_verdict(spark: SparkSession, tmp_path: Path) -> None:
    """``is_rejected`` checks a parsed row with cheaper forms of some rules (identifiers' lengths in bytes, their
    characters in one match, text lengths counted only past the byte limit, one cast per decimal). Its verdict
    must be the full rules' on rows at and around each limit, in ASCII and in multi-byte text."""
    import functools
    import operator

    from pyspark.sql import functions as F

    edits: list[tuple[str, object]] = [
        ("transactionId", "tx-\u00e91"), ("transactionId", "a" * 64), ("transactionId", "a" * 65),
        ("transactionId", ""), ("user_id", "u:1.2-3_x"), ("user_id", "u 1"), ("user_id", "\u00e9" * 10),
        ("item_purchased.item_id", "x" * 65), ("game", "\u00e9" * 120), ("game", "\u00e9" * 121),
        ("game", "x" * 120), ("game", "x" * 121), ("game", ""), ("item_purchased.item_name", "\u3042" * 120),
        ("item_purchased.item_name", "\u3042" * 121), ("country", "\u00e9\u00e9"), ("country", "\u00e9\u00e9\u00e9"),
        ("country", "FR"), ("country", "FRA"), ("region", "r" * 24), ("region", "\u00e9" * 25),
        ("amount_usd", Decimal("1.2345")), ("amount_usd", Decimal("1.23456")), ("amount_usd", Decimal("1e14")),
        ("amount_usd", Decimal("99999999999999.9999")), ("amount_usd", Decimal("-99999999999999.99995")),
        ("usd_per_unit", Decimal("0.12345678")), ("usd_per_unit", Decimal("0.123456789")),
        ("list_price_usd", Decimal("1e15")), ("payment_details.payment_method", "cheque"),
        ("payment_details.transaction_status", "x" * 17), ("contract_version", "v" * 17),
        ("transactionId", "tx-lf\n"), ("user_id", "u\r\n"), ("item_purchased.item_id", "a" * 63 + "\u2028"),
        ("amount_usd", Decimal("-1.23456")), ("amount_usd", Decimal("-99999999999999.9999")),
        ("amount_usd", Decimal("-1e14")),
    ]  # fmt: skip
    lines = [record(make_tx("base"))]
    for n, (path, value) in enumerate(edits):
        row = record(make_tx(n))
        *parents, leaf = path.split(".")
        node = row
        for key in parents:
            node = node[key]
        node[leaf] = float(value) if isinstance(value, Decimal) else value
        lines.append(json.dumps(row, default=str).replace(json.dumps(float(value)), str(value))
                     if isinstance(value, Decimal) else row)  # fmt: skip
    write_partition(tmp_path, DAY, lines)
    raw = read(spark, tmp_path)
    full = F.coalesce(functools.reduce(operator.or_, [b for b, _ in transforms._reject_rules()]), F.lit(False))
    checked = raw.select(F.col("transactionId").alias("id"), transforms.is_rejected().alias("fast"), full.alias("full"))
    verdicts = [(r["id"], r["fast"], r["full"]) for r in checked.collect()]
    assert len(verdicts) == len(edits) + 1
    assert [v for v in verdicts if v[1] != v[2]] == []
    # the contract refuses an identifier with a line break, also a final one (Java's "$" would let it through)
    breaks = {value if path == "transactionId" else f"tx-{n}" for n, (path, value) in enumerate(edits)
              if isinstance(value, str) and value[-1:] in {"\n", "\u2028"}}  # fmt: skip
    assert len(breaks) == 3 and all(fast for id_, fast, _ in verdicts if id_ in breaks)
    assert 10 < sum(v[2] for v in verdicts) < len(verdicts) - 5  # both verdicts, many times
