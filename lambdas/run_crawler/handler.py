"""CrawlAnalyticsData: catalogue the analytics objects (Glue crawler).

In AWS: start the Terraform-created crawler and wait for it (a crawl of new
folders takes a minute or two, well inside the Lambda limit). Locally (moto's
crawler only changes state): the local crawler in ``glue_jobs/crawler.py`` does
what the crawler does, from the same definition file.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.errors import PipelineError, stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("run-crawler")


class CrawlerFailed(PipelineError):
    pass


def run_crawler(poll_seconds: float = 10.0, timeout: float = 840.0) -> dict[str, Any]:
    from glue_jobs.crawler import crawl, load_definition

    s = get_settings()
    definition = load_definition()
    name = definition.crawler_name(s.name_prefix)
    glue = client("glue")
    if s.aws_endpoint_url:
        report = crawl(client("s3"), glue, s.analytics_bucket, s.glue_database, definition, name_prefix=s.name_prefix)
        if report.pii_fields_found:
            raise CrawlerFailed(f"PII fields in the analytics objects: {report.pii_fields_found}")
        return {"crawler": name, "summary": report.summary(), **asdict(report)}
    glue.start_crawler(Name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        if crawler["State"] == "READY":
            last = crawler.get("LastCrawl", {})
            if last.get("Status") != "SUCCEEDED":
                raise CrawlerFailed(f"crawler {name}: {last.get('Status')}: {last.get('ErrorMessage', '')}")
            return {"crawler": name, "summary": f"{name}: {last.get('Status')}"}
        time.sleep(poll_seconds)
    raise CrawlerFailed(f"crawler {name} still running after {timeout} s")


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_crawler()
