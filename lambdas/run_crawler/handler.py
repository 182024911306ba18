"""CrawlAnalyticsData: catalogue the analytics objects (Glue crawler).

Start the Terraform-created crawler (definition: ``glue_jobs/crawlers/transactions.json``)
and wait for it (a crawl of new folders takes a minute or two, well inside the Lambda limit).
Only the Glue API: locally the runtime (``orchestration/runtime/glue.py``) runs a crawl behind
moto's StartCrawler/GetCrawler, as AWS Glue does behind its own.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.config import get_settings
from lambdas.common.aws import client, poll_waits
from lambdas.common.errors import PipelineError, stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("run-crawler")
#: ``name_suffix`` of glue_jobs/crawlers/transactions.json (Terraform names the crawler <prefix>-<suffix>)
CRAWLER_SUFFIX = "transactions-crawler"


class CrawlerFailed(PipelineError):
    pass


def run_crawler(poll_seconds: float = 10.0, timeout: float = 840.0) -> dict[str, Any]:
    s = get_settings()
    name = f"{s.name_prefix}-{CRAWLER_SUFFIX}"
    glue = client("glue")
    glue.start_crawler(Name=name)
    deadline = time.monotonic() + timeout
    waits = poll_waits(poll_seconds)
    while time.monotonic() < deadline:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        if crawler["State"] == "READY":
            last = crawler.get("LastCrawl", {})
            if last.get("Status") != "SUCCEEDED":
                raise CrawlerFailed(f"crawler {name}: {last.get('Status')}: {last.get('ErrorMessage', '')}")
            return {"crawler": name, "summary": f"{name}: {last.get('Status')}"}
        time.sleep(next(waits))
    raise CrawlerFailed(f"crawler {name} still running after {timeout} s")


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_crawler()
