"""The Glue crawler and the Glue job, run behind moto's Glue API (local runtime only).

moto 5.2.5 keeps the state of Glue crawlers and job runs but runs nothing: StartCrawler appends a
crawl that only changes state (and its LastCrawl status reads "COMPLETED", not one of AWS's
SUCCEEDED/CANCELLED/FAILED); StartJobRun appends a run that walks STARTING -> RUNNING -> SUCCEEDED
without running a script. The analytics refresh state machine calls StartCrawler/GetCrawler
(aws-sdk:glue) and StartJobRun/GetJobRun (glue:startJobRun.sync, which the local Step Functions
runtime provides: orchestration/runtime/sfn.py), exactly as in AWS, and ``mtx glue`` does the same by hand, so
the local runtime does here what AWS Glue does behind those calls:

- StartCrawler of our crawler (name ``<prefix>-<definition name_suffix>``): the local crawler
  (``orchestration/runtime/glue_crawler.py``, the same definition file Terraform reads) runs in a
  background thread against the crawler's S3 target and database. GetCrawler reports State RUNNING,
  then READY with LastCrawl Status SUCCEEDED, or FAILED with its ErrorMessage.
- StartJobRun of our job (``<prefix>-flatten-transactions``): the job's ``run_job``
  (``glue_jobs/flatten_transactions/run.py``, what ``job.py`` runs in Glue) runs on a local
  SparkSession in a background thread with the run's arguments (job defaults + run arguments, as Glue merges them, plus
  ``--JOB_NAME``/``--JOB_RUN_ID``). GetJobRun reports RUNNING, then SUCCEEDED, or FAILED with its
  ErrorMessage.

GetCrawlerMetrics (moto 5.2.5 lacks it) reports the last crawl's runtime and table counts.
Other crawlers and jobs keep moto's behaviour, except that LastCrawl reports AWS's statuses.
The patch is idempotent; covered by tests/unit/test_glue_standins.py.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

JOB_SUFFIX = "flatten-transactions"
#: moto's LastCrawl status -> AWS's LastCrawlInfo.Status (SUCCEEDED | CANCELLED | FAILED)
_LAST_CRAWL_STATUS = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED", "FAILED": "FAILED"}

_endpoint: dict[str, str | None] = {"url": None, "region": None}
_patched = False
_spark: Any = None
_spark_lock = threading.Lock()
_threads: list[threading.Thread] = []


def configure(endpoint_url: str | None, region: str | None = None) -> None:
    """Where the stand-ins' own S3/Glue/Secrets Manager calls go (the moto server), and patch moto."""
    _endpoint["url"] = endpoint_url
    _endpoint["region"] = region
    patch_moto_glue()


def _client(service: str) -> Any:
    import boto3

    region = _endpoint["region"] or os.environ.get("MTX_REGION") or boto3.session.Session().region_name or "us-east-1"
    make: Callable[..., Any] = boto3.client
    return make(service, endpoint_url=_endpoint["url"], region_name=region)


# --- what runs behind StartCrawler / StartJobRun ----------------------------------------------


def run_crawler(crawler: Any) -> dict[str, Any] | None:
    """Crawl for ``crawler`` (moto's FakeCrawler); None if it is not ours, else its summary and table
    counts (GetCrawlerMetrics). Raises on failure."""
    from orchestration.runtime.glue_crawler import crawl, load_definition

    definition = load_definition()
    suffix = f"-{definition.name_suffix}"
    if not crawler.name.endswith(suffix):
        return None
    targets = (crawler.targets or {}).get("S3Targets") or []
    path = str(targets[0]["Path"]) if targets else ""
    bucket = path.removeprefix("s3://").split("/", 1)[0]
    if not bucket:
        raise ValueError(f"crawler {crawler.name} has no S3 target")
    report = crawl(_client("s3"), _client("glue"), bucket, crawler.database_name, definition,
                   name_prefix=crawler.name.removesuffix(suffix))  # fmt: skip
    if report.pii_fields_found:
        raise ValueError(f"PII fields in the analytics objects: {report.pii_fields_found}")
    return {
        "summary": report.summary(),
        "TablesCreated": int(report.table_created),
        "TablesUpdated": int(report.changed and not report.table_created),
        "TablesDeleted": 0,  # DeleteBehavior LOG: nothing is deleted
    }


def local_spark() -> Any:
    """The SparkSession the local Glue job runs on (one per process, started on first use)."""
    global _spark
    with _spark_lock:
        if _spark is None:
            from glue_jobs.flatten_transactions.run import local_spark_session

            _spark = local_spark_session(master="local[2]")
        return _spark


def stop_spark() -> None:
    """Stop the local SparkSession (its JVM) if a job run started one."""
    global _spark
    with _spark_lock:
        if _spark is not None:
            _spark.stop()
            _spark = None


def run_job(job_name: str, run_id: str, arguments: dict[str, str]) -> str | None:
    """One run of our Glue job; None if ``job_name`` is not ours. Raises on failure."""
    if not job_name.endswith(f"-{JOB_SUFFIX}"):
        return None
    from glue_jobs.flatten_transactions import job, run

    argv = ["flatten_transactions", "--JOB_NAME", job_name, "--JOB_RUN_ID", run_id]
    for key, value in arguments.items():
        if key.startswith("--") and key not in ("--JOB_NAME", "--JOB_RUN_ID"):
            argv += [key, str(value)]
    args = job.parse_args(argv)
    result = run.run_job(args, spark=local_spark(), s3=_client("s3"), glue=_client("glue"),
                         secrets=_client("secretsmanager"))  # fmt: skip
    return (f"{result.status}: {len(result.partitions)} partitions, {result.rows_read} read, "
            f"{result.rows_rejected} rejected, {result.rows_loaded} loaded")  # fmt: skip


#: What runs behind the APIs; tests replace them.
RUNNERS: dict[str, Callable[..., Any]] = {"crawler": run_crawler, "job": run_job}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2048]


def _background(name: str, work: Callable[[], None]) -> None:
    thread = threading.Thread(target=work, name=name, daemon=True)
    _threads[:] = [t for t in _threads if t.is_alive()]
    _threads.append(thread)
    thread.start()


def wait_for_runs(timeout: float | None = None) -> None:
    """Wait for the crawls and job runs started so far (tests, and a clean stop)."""
    for thread in list(_threads):
        thread.join(timeout)


# --- the patch on moto's Glue backend ---------------------------------------------------------


def patch_moto_glue() -> None:
    """StartCrawler / StartJobRun of our crawler and job run them; Get* report it as AWS does (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.glue.models import FakeCrawl, FakeCrawler, FakeJob, FakeJobRun

    managed_crawl_status = inspect.getattr_static(FakeCrawl, "status")
    managed_run_status = inspect.getattr_static(FakeJobRun, "status")

    def status_of(managed: property) -> property:
        def get(self: Any) -> str | None:
            own = self.__dict__.get("_mtx_status")
            return own if own is not None else managed.fget(self)  # type: ignore[misc]

        def put(self: Any, value: str) -> None:
            if "_mtx_status" in self.__dict__:
                self.__dict__["_mtx_status"] = value
            else:
                managed.fset(self, value)  # type: ignore[misc]

        return property(get, put)

    original_start_crawler = FakeCrawler.start_crawler
    original_crawler_dict = FakeCrawler.as_dict

    def start_crawler(self: Any) -> None:
        original_start_crawler(self)  # CrawlerRunningException if a crawl is running, as in AWS
        crawl = self.crawls[-1]
        crawl.__dict__["_mtx_status"] = "RUNNING"
        crawler = self

        def work() -> None:
            try:
                summary = RUNNERS["crawler"](crawler)
            except Exception as exc:  # noqa: BLE001 - the crawl failed: LastCrawl FAILED with its message, as in AWS
                logger.warning("crawler %s failed: %s\n%s", crawler.name, exc, traceback.format_exc())
                crawl.__dict__["_mtx_error"] = _error(exc)
                crawl.__dict__["_mtx_status"] = "FAILED"
            else:
                if summary is None:  # not ours: moto's own crawl, which only changes state
                    del crawl.__dict__["_mtx_status"]
                    return
                crawl.__dict__["_mtx_metrics"] = summary if isinstance(summary, dict) else {"summary": summary}
                crawl.__dict__["_mtx_status"] = "COMPLETED"
            crawl.end_time = dt.datetime.now(dt.UTC).replace(tzinfo=None)

        _background(f"glue-crawler-{self.name}", work)

    def crawler_dict(self: Any) -> dict[str, Any]:
        data = dict(original_crawler_dict(self))
        finished = [c for c in self.crawls if c.status not in ("RUNNING", "STOPPING")]
        if not finished:
            data.pop("LastCrawl", None)  # AWS: no LastCrawl until a crawl has finished
            return data
        last = finished[-1]
        data["LastCrawl"] = {
            "LogGroup": last.log_group, "LogStream": last.log_stream, "MessagePrefix": last.message_prefix,
            "StartTime": last.start_time, "Status": _LAST_CRAWL_STATUS.get(str(last.status), str(last.status)),
        }  # fmt: skip
        if last.__dict__.get("_mtx_error"):
            data["LastCrawl"]["ErrorMessage"] = last.__dict__["_mtx_error"]
        return data

    original_start_job_run = FakeJob.start_job_run
    original_run_dict = FakeJobRun.as_dict

    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = str(original_start_job_run(self, *args, **kwargs))
        run = next(r for r in self.job_runs if r.job_run_id == run_id)
        run.__dict__["_mtx_status"] = "RUNNING"
        job_name, arguments = self.name, dict(run.arguments or {})

        def work() -> None:
            try:
                outcome = RUNNERS["job"](job_name, run_id, arguments)
            except Exception as exc:  # noqa: BLE001 - the run failed: JobRunState FAILED with its message, as in AWS
                logger.warning("job %s run %s failed: %s\n%s", job_name, run_id, exc, traceback.format_exc())
                run.__dict__["_mtx_error"] = _error(exc)
                run.__dict__["_mtx_status"] = "FAILED"
            else:
                if outcome is None:  # not ours: moto's own run, which only changes state
                    del run.__dict__["_mtx_status"]
                    return
                run.__dict__["_mtx_status"] = "SUCCEEDED"
            run.completed_on = run.modified_on = dt.datetime.now(dt.UTC).replace(tzinfo=None)

        _background(f"glue-job-{run_id}", work)
        return run_id

    def run_dict(self: Any) -> dict[str, Any]:
        data = dict(original_run_dict(self))
        if "_mtx_status" in self.__dict__:
            running = self.__dict__["_mtx_status"] == "RUNNING"
            if running:
                data.pop("CompletedOn", None)
            data["ExecutionTime"] = int(((data.get("CompletedOn") or dt.datetime.now(dt.UTC).replace(tzinfo=None))
                                         - self.started_on).total_seconds())  # fmt: skip
        if self.__dict__.get("_mtx_error"):
            data["ErrorMessage"] = self.__dict__["_mtx_error"]
        return data

    def get_crawler_metrics(self: Any) -> Any:
        # GetCrawlerMetrics (moto 5.2.5 has none): AWS's fields, from the crawls this runtime ran
        from moto.core.responses import ActionResult

        names = self._get_param("CrawlerNameList") or list(self.glue_backend.crawlers)
        metrics = []
        for name in names:
            crawler = self.glue_backend.get_crawler(name)  # EntityNotFoundException for an unknown name
            done = [c for c in crawler.crawls if c.status not in ("RUNNING", "STOPPING")]
            runtimes = sorted(((c.end_time or c.start_time) - c.start_time).total_seconds() for c in done)
            last = done[-1].__dict__.get("_mtx_metrics", {}) if done else {}
            running = crawler.status == "RUNNING"
            last_runtime = (
                ((done[-1].end_time or done[-1].start_time) - done[-1].start_time).total_seconds() if done else 0.0
            )
            metrics.append({
                "CrawlerName": name, "TimeLeftSeconds": 0.0, "StillEstimating": running,
                "LastRuntimeSeconds": last_runtime,
                "MedianRuntimeSeconds": runtimes[len(runtimes) // 2] if runtimes else 0.0,
                "TablesCreated": int(last.get("TablesCreated", 0)), "TablesUpdated": int(last.get("TablesUpdated", 0)),
                "TablesDeleted": int(last.get("TablesDeleted", 0)),
            })  # fmt: skip
        return ActionResult({"CrawlerMetricsList": metrics})

    from moto.glue.responses import GlueResponse

    if not hasattr(GlueResponse, "get_crawler_metrics"):
        GlueResponse.get_crawler_metrics = get_crawler_metrics  # type: ignore[attr-defined]
    FakeCrawl.status = status_of(managed_crawl_status)  # type: ignore[assignment,method-assign]
    FakeJobRun.status = status_of(managed_run_status)  # type: ignore[assignment,method-assign]
    FakeCrawler.start_crawler = start_crawler  # type: ignore[method-assign]
    FakeCrawler.as_dict = crawler_dict  # type: ignore[method-assign]
    FakeJob.start_job_run = start_job_run  # type: ignore[method-assign]
    FakeJobRun.as_dict = run_dict  # type: ignore[method-assign]
    _patched = True
