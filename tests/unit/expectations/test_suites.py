"""Suites built from the contract and the dbt YAML; PII helpers (no servers)."""

from __future__ import annotations

import re

import pytest

from contracts.warehouse import COLUMNS
from expectations import suites
from expectations.inputs import flatten_record
from expectations.report import CheckReport, FailedExpectation, SuiteSummary, alert_message

pytestmark = pytest.mark.unit


def _types(suite) -> set[tuple[str, str | None]]:
    return {(e.expectation_type, getattr(e, "column", None)) for e in suite.expectations}


def test_warehouse_suite_follows_the_contract() -> None:
    suite = suites.warehouse_raw_suite("s", "t")
    assert suite.name == "warehouse.s.t"
    ordered = next(e for e in suite.expectations if e.expectation_type == "expect_table_columns_to_match_ordered_list")
    assert ordered.column_list == [c.name for c in COLUMNS]
    types = _types(suite)
    # one row per stored version: the key is (transaction_id, version), versions from 1
    key = next(e for e in suite.expectations if e.expectation_type == "expect_compound_columns_to_be_unique")
    assert key.column_list == ["transaction_id", "version"]
    assert ("expect_column_values_to_be_between", "version") in types
    assert ("expect_column_values_to_not_be_null", "event_at") in types
    for col in ("item_type", "payment_method", "payment_gateway", "transaction_status", "server_region"):
        assert ("expect_column_values_to_be_in_set", col) in types
    statuses = next(e for e in suite.expectations if getattr(e, "column", None) == "transaction_status"
                    and e.expectation_type == "expect_column_values_to_be_in_set")  # fmt: skip
    assert "chargeback" in statuses.value_set
    moved_from = next(e for e in suite.expectations if getattr(e, "column", None) == "previous_status"
                      and e.expectation_type == "expect_column_values_to_be_in_set")  # fmt: skip
    assert set(moved_from.value_set) == {"pending", "completed"}


def test_analytics_suite_has_no_pii_columns_and_scans_extra_ones() -> None:
    suite = suites.analytics_objects_suite(["client_ip"])
    exact = next(e for e in suite.expectations if e.expectation_type == "expect_table_columns_to_match_set")
    assert exact.exact_match and not set(exact.column_set) & set(suites.PII_COLUMNS)
    assert ("expect_column_values_to_not_match_regex_list", "client_ip") in _types(suite)
    assert set(suites.PII_COLUMNS) == {"client_ip", "card_last4"}


@pytest.mark.parametrize("value", ["192.168.1.1", "ip 10.0.0.7 here", "2001:db8::1", "fe80::1", "::1"])
def test_ip_regexes_find_addresses(value: str) -> None:
    assert any(re.search(r, value) for r in suites.IP_REGEXES)


@pytest.mark.parametrize("value", ["1", "user_987654321", "Path Of Exile 2", "mtx_abyssal_wings", "1.2.3", "EU-West"])
def test_ip_regexes_leave_ordinary_values(value: str) -> None:
    assert not any(re.search(r, value) for r in suites.IP_REGEXES)


def test_marts_suites_read_keys_from_dbt_yaml() -> None:
    marts = suites.marts_suites("analytics")
    assert set(marts) == set(suites.MARTS)
    assert ("expect_column_values_to_be_unique", "transaction_id") in _types(marts["fct_transactions"])
    grain = next(
        e
        for e in marts["fct_daily_revenue"].expectations
        if e.expectation_type == "expect_compound_columns_to_be_unique"
    )
    assert grain.column_list == ["revenue_date", "game", "server_region", "item_type"]
    assert ("expect_column_values_to_be_between", "revenue_usd") in _types(marts["fct_daily_revenue"])
    hourly = marts["fct_hourly_revenue"]
    grain = next(e for e in hourly.expectations if e.expectation_type == "expect_compound_columns_to_be_unique")
    assert grain.column_list == ["game", "revenue_hour"]
    pairs = {
        (e.column_A, e.column_B)
        for e in hourly.expectations
        if e.expectation_type == "expect_column_pair_values_a_to_be_greater_than_b"
    }
    assert pairs == {("gross_usd", "refunded_usd"), ("gross_usd", "net_usd")}
    history = next(
        e
        for e in marts["fct_transaction_status_history"].expectations
        if e.expectation_type == "expect_compound_columns_to_be_unique"
    )
    assert history.column_list == ["transaction_id", "version"]


def test_flatten_record_uses_warehouse_names_and_keeps_pii_visible() -> None:
    flat = flatten_record(
        {"transactionId": "1", "item_purchased": {"price": {"amount": 5}}, "payment_details": {"card_last4": "1"}}
    )
    assert flat == {"transaction_id": "1", "price_amount": 5, "card_last4": "1"}


def test_alert_message_lists_failures_and_stays_small() -> None:
    failures = [FailedExpectation("s", "expect_x", f"c{i}", {"n": "x" * 1000}) for i in range(500)]
    report = CheckReport(False, None, [SuiteSummary("s", False, 500, 500)], failures)
    msg = alert_message(report)
    assert msg["failed_count"] == 500 and msg["truncated"] and msg["failed_expectations"][0]["column"] == "c0"


def test_sqlalchemy_url_from_libpq_forms() -> None:
    from expectations.inputs import sqlalchemy_url

    assert sqlalchemy_url("postgresql://u:p@h:5/d") == "postgresql+psycopg2://u:p@h:5/d"
    assert sqlalchemy_url("host=h port=5 user=u password=p dbname=d") == "postgresql+psycopg2://u:p@h:5/d"
    # run_data_checks' DSN in AWS: verify-full against the shipped bundle, kept for Great Expectations' engine
    tls = sqlalchemy_url("host=h port=5 user=u password=p dbname=d sslmode=verify-full sslrootcert=/var/task/ca.pem")
    assert tls == "postgresql+psycopg2://u:p@h:5/d?sslmode=verify-full&sslrootcert=%2Fvar%2Ftask%2Fca.pem"
