"""Stand-ins for dbt's cross-database macros, for SQLFluff's jinja templater only.

SQLFluff lints the models without a database (`make check`), so it cannot run
dbt's own macros; these render what dbt-postgres renders, which is all the
linter needs to parse the SQL.
"""


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def dateadd(datepart: str, interval: str, from_date_or_timestamp: str) -> str:
    return f"{from_date_or_timestamp} + ((interval '1 {datepart}') * ({interval}))"
