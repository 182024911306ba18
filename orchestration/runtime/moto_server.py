"""moto as the local AWS: a threaded server on 127.0.0.1 inside this process.

Running it in-process lets the Step Functions interpreter (which lives in the
server) dispatch Lambda tasks to the Python handlers of this process, while
``aws --endpoint-url`` and boto3 in other processes reach the same state over HTTP.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestration.runtime import glue, moto_inprocess, sfn
from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from orchestration.runtime.moto_kinesis import patch_moto_kinesis_put_counts, patch_moto_kinesis_shards, put_count
from orchestration.runtime.moto_sfn import (
    ENDED,
    patch_moto_sfn_copies,
    patch_moto_sfn_end_journal,
    patch_moto_sfn_executions,
    patch_moto_sfn_json_paths,
    patch_moto_sfn_threads,
)
from orchestration.runtime.ports import free_port
from orchestration.runtime.stream_poller import patch_moto_kinesis_mappings

if TYPE_CHECKING:
    from orchestration.runtime.faults import FaultInjector

#: moto accepts any credentials; these make boto3 and the aws CLI sign requests.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


_sqs_fast = threading.local()
#: SQS FIFO deduplication interval (AWS: 5 minutes).
DEDUPLICATION_WINDOW_SECONDS = 300.0
_sqs_patched = False


def patch_moto_sqs_send() -> None:
    """Make moto's SendMessage O(1) in the queue's length (idempotent).

    moto 5.2.5 reads ``queue.attributes`` on every SendMessage only for
    ``ContentBasedDeduplication``, and building that dict counts every message
    in the queue (ApproximateNumberOfMessages...): sending n messages costs
    O(n^2), hours for a dead-letter queue of 40,000 records. During SendMessage
    the attributes are reduced to the one key it reads. AWS's SQS has no such
    cost; this only removes a local artefact. Covered by tests/unit/test_moto_patches.py.
    """
    global _sqs_patched
    if _sqs_patched:
        return
    from moto.sqs.models import Queue, SQSBackend

    full_attributes = Queue.__dict__["attributes"].fget
    original_send = SQSBackend.send_message

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_sqs_fast, "deduplicated", False):
            return {}  # add_message below has deduplicated already: no scan of the queue
        if getattr(_sqs_fast, "on", False):
            if not self.fifo_queue:
                return {}
            value = self.content_based_deduplication  # stored as bool; the full dict says "true"/"false"
            return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}
        return full_attributes(self)

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sqs_fast.on = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _sqs_fast.on = False

    original_validate = SQSBackend._validate_message

    def validate_message(self: Any, *args: Any, **kwargs: Any) -> None:
        # SendMessageBatch validates each entry against a FIFO queue's ContentBasedDeduplication, read from the
        # same attributes dict: without this each entry counted the whole queue, O(n^2) a dead-letter queue
        previous = getattr(_sqs_fast, "on", False)
        _sqs_fast.on = True
        try:
            original_validate(self, *args, **kwargs)
        finally:
            _sqs_fast.on = previous

    original_add = Queue.add_message

    def add_message(self: Any, message: Any) -> None:
        # A FIFO queue's deduplication, as SQS does it (an id seen in the last 5 minutes is dropped), from an
        # index instead of moto's scan of every message in the queue (O(n) a send, O(n^2) a dead-letter queue)
        dedup_id = message.deduplication_id
        if not (self.fifo_queue and dedup_id):
            original_add(self, message)
            return
        seen: dict[str, float] = self.__dict__.setdefault("_mtx_deduplication_ids", {})
        now = time.time()
        if now - seen.get(dedup_id, -1e18) < DEDUPLICATION_WINDOW_SECONDS:
            return
        seen[dedup_id] = now
        message.deduplication_id = None  # no scan in moto's add_message: not the id, not the queue attribute
        _sqs_fast.deduplicated = True
        try:
            original_add(self, message)
        finally:
            _sqs_fast.deduplicated = False
            message.deduplication_id = dedup_id

    from moto.core.utils import unix_time

    original_valid = SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # moto reads the retention through GetQueueAttributes, which counts the queue twice, for every
        # message a ReceiveMessage returns: O(n) a message; the queue's own field is the same number
        retention = getattr(self.get_queue(queue_name), "message_retention_period", None)
        if retention is None or message.sent_timestamp is None:
            return bool(original_valid(self, queue_name, message))
        return bool(int(retention) + message.sent_timestamp / 1000 > unix_time())

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    Queue.add_message = add_message  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend._validate_message = validate_message  # type: ignore[method-assign]
    _sqs_patched = True


_event_ids_patched = False


def patch_moto_event_ids() -> None:
    """Give every event moto's S3 sends to EventBridge its own id (idempotent).

    moto 5.2.5 stamps each such event with one fixed id; in AWS every event has its own. The batch trigger
    names a run after its event's id (one event, one run, however often it is relayed), so the same file
    dropped twice would start one run instead of two. Covered by tests/unit/test_moto_patches.py.
    """
    global _event_ids_patched
    if _event_ids_patched:
        return
    from moto.events.models import Rule
    from moto.events.utils import _BASE_EVENT_MESSAGE

    fixed_id = _BASE_EVENT_MESSAGE["id"]
    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if isinstance(original_event, dict) and original_event.get("id") == fixed_id:
            original_event["id"] = str(uuid.uuid4())
        original(self, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    _event_ids_patched = True


class _ClassMethodNames:
    """A response class's function names, listed once; a name not found is looked up again (a method patched in
    later is found). moto only asks ``action in names`` of it."""

    def __init__(self, list_names: Any, clazz: type) -> None:
        self._list, self._clazz = list_names, clazz
        self._names = frozenset(list_names(clazz))

    def __contains__(self, name: object) -> bool:
        if name in self._names:
            return True
        self._names = frozenset(self._list(self._clazz))
        return name in self._names


class _MethodNames:
    """moto's ``method_names_from_class``, one listing per class."""

    def __init__(self, list_names: Any) -> None:
        self._list = list_names
        self._by_class: dict[type, _ClassMethodNames] = {}

    def __call__(self, clazz: type) -> _ClassMethodNames:
        found = self._by_class.get(clazz)
        if found is None:
            found = self._by_class[clazz] = _ClassMethodNames(self._list, clazz)
        return found


def patch_moto_dispatch() -> None:
    """List moto's service packages once, not on every request (idempotent).

    moto 5.2.5's server resolves the service of every HTTP request through
    ``moto.backends.list_of_moto_modules()``, which lists moto's package folder and
    stats each of its ~150 entries: about 0.7 ms of a 4-5 ms SQS request here. The
    folder does not change while the server runs.

    And the action's method names of a response class once per class (``_MethodNames``), not
    ``inspect.getmembers`` of the class on every request (~2.5% of the stack's CPU on the per-transaction
    path, yappi). Covered by tests/unit/test_moto_patches.py.
    """
    import moto.backends
    import moto.core.responses

    if not isinstance(moto.core.responses.method_names_from_class, _MethodNames):
        moto.core.responses.method_names_from_class = _MethodNames(moto.core.responses.method_names_from_class)  # type: ignore[assignment]
    if isinstance(getattr(moto.backends.list_of_moto_modules, "cached", None), tuple):
        return
    listing = tuple(moto.backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return listing

    list_of_moto_modules.cached = listing  # type: ignore[attr-defined]
    moto.backends.list_of_moto_modules = list_of_moto_modules


#: moto's own key lookup, which the cache below calls on a miss (a test counts the calls through it)
_serializer_keys: dict[str, Any] = {}


def patch_moto_serializer_keys() -> None:
    """The keys moto's response serializer tries for a field of a plain dict, worked out once (idempotent).

    moto 5.2's serializer looks each field of a response up by a list of candidate keys, and builds that
    list for every field of every response: six alias-provider objects and ``xform_name`` per field. For a
    ``dict`` the list depends only on the field's name and its botocore shape (and the shape's parent):
    no ``Meta`` aliases, and the class name is always ``dict``. So it is kept per (name, shape, parent).
    Other objects (moto's models) go the original way. On the per-transaction path this was ~7% of the
    stack's CPU (yappi): every DynamoDB and Step Functions answer, the ListExecutions of the senders most.
    Covered by tests/unit/test_moto_patches.py.
    """
    from moto.core import serialize

    picker = serialize.XFormedAttributePicker
    if getattr(picker, "_mtx_cached_keys", False):
        return
    _serializer_keys["original"] = picker.get_possible_keys
    cache: dict[tuple[str, int, int], tuple[Any, Any, tuple[str, ...]]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        if type(context.obj) is not dict or self.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS:
            return _serializer_keys["original"](self, context)
        shape = context.shape
        parent = getattr(shape, "parent", None)
        key = (context.key, id(shape), id(parent))
        hit = cache.get(key)  # the entry holds the shape and its parent: their ids stay theirs while it lives
        if hit is None:
            if len(cache) > 100_000:
                cache.clear()
            hit = cache[key] = (shape, parent, tuple(_serializer_keys["original"](self, context)))
        return hit[2]

    picker.get_possible_keys = get_possible_keys  # type: ignore[method-assign]
    picker._mtx_cached_keys = True  # type: ignore[attr-defined]


_policy_patched = False


def patch_moto_policy_conditions() -> None:
    """A policy statement applies only when its Condition matches the request (idempotent).

    moto 5.2.5 evaluates a statement's Condition only with the values the caller supplies, and a
    condition key it has no value for counts as matched: for S3 bucket policies it supplies none. So
    the usual bucket-policy statement "Deny s3:* if aws:SecureTransport is false"
    (infra/terraform/modules/storage) denied every object request: a Terraform-provisioned local
    stack could not write a single object. In IAM a condition on a key absent from the request
    context does not match, so the statement does not apply: NEUTRAL. Operators that match an absent key
    (...IfExists, Null, the negated ones such as StringNotEquals, ForAllValues:...) are left to moto.
    That is what AWS decides for our HTTPS clients. Unconditioned statements are untouched.
    Covered by tests/unit/test_moto_patches.py.
    """
    global _policy_patched
    if _policy_patched:
        return
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(
        self: Any, action: str, resource: str = "*", principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> PermissionResult:  # fmt: skip
        for operator, keys in (self._statement.get("Condition") or {}).items():
            absent = [key for key in keys if key not in (incoming_condition_values or {})]
            base = operator.split(":")[-1].removesuffix("IfExists")
            matches_absent = operator.endswith("IfExists") or operator.startswith("ForAllValues:")
            if absent and not (matches_absent or base == "Null" or "Not" in base):
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
    _policy_patched = True


_rest_api_policy_patched = False


def patch_moto_rest_api_policy() -> None:
    """GetRestApi returns a REST API's resource policy escaped, as API Gateway does (idempotent).

    API Gateway answers ``"policy": "{\\"Version\\": ...}"``: the policy document with its quotes
    escaped. The Terraform provider reads it back by wrapping it in quotes and decoding that JSON string;
    moto 5.2.5 returns the document as stored, so `terraform apply` of aws_api_gateway_rest_api_policy
    (infra/terraform/modules/api) failed on the local stack ("invalid character ... after top-level
    value"). Stored as given, returned as AWS returns it. Covered by tests/unit/test_moto_patches.py.
    """
    global _rest_api_policy_patched
    if _rest_api_policy_patched:
        return
    import json

    from moto.apigateway.models import RestAPI

    original = RestAPI.to_dict

    def to_dict(self: Any) -> dict[str, Any]:
        out = original(self)
        if out.get(RestAPI.PROP_POLICY):
            out[RestAPI.PROP_POLICY] = json.dumps(out[RestAPI.PROP_POLICY])[1:-1]
        return dict(out)

    RestAPI.to_dict = to_dict  # type: ignore[method-assign]
    _rest_api_policy_patched = True


@dataclass
class MotoServer:
    port: int = 0
    time_scale: float = 1.0
    _server: Any = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from orchestration.runtime.moto_keepalive import KeepAliveMotoServer

        self.port = self.port or free_port()
        # The interpreter's own service calls go to http://localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        for key, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        sfn.install(time_scale=self.time_scale)
        patch_moto_sqs_send()
        patch_moto_policy_conditions()
        patch_moto_rest_api_policy()
        patch_moto_dispatch()
        patch_moto_serializer_keys()
        patch_moto_event_ids()
        patch_moto_kinesis_mappings()  # the stream's mapping is played by the runtime (stream_poller.py)
        patch_moto_kinesis_shards()  # O(1) per record put or read, not O(records in the shard) (moto_kinesis.py)
        patch_moto_kinesis_put_counts()  # records put per stream: an idle stream is not read (moto_kinesis.py)
        patch_moto_dynamodb_writes()  # each write and transaction atomic, as in AWS (moto_dynamodb.py)
        patch_moto_sfn_executions()  # O(1) Start/DescribeExecution, not O(executions so far) (moto_sfn.py)
        patch_moto_sfn_json_paths()  # each JSONPath parsed once, not a new parser per evaluation (moto_sfn.py)
        patch_moto_sfn_copies()  # the JSON passed between states copied by type, not by copy.deepcopy (moto_sfn.py)
        patch_moto_sfn_threads()  # the interpreter no longer keeps every thread it started (moto_sfn.py)
        patch_moto_sfn_end_journal()  # each ended execution recorded, for the status-change rules (moto_sfn.py)
        # StartCrawler/StartJobRun of our crawler and job run them, as AWS Glue does (orchestration/runtime/glue.py)
        glue.configure(self.endpoint_url)
        # One line per HTTP request and a stack dump per Fail state are noise here;
        # executions are inspected through the API (describe_execution, history).
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # connections kept open between requests, as AWS's endpoints do (moto_keepalive.py)
        self._server = KeepAliveMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        # the interpreter's service integrations are served by this server's application in-process, through
        # the same WSGI layers (the fault injector's too), not through a socket to itself (moto_inprocess.py)
        moto_inprocess.serve_with(self._application, self.port)

    def _application(self) -> Any:
        server = self._server
        return server._server.app if server is not None and server._server is not None else None

    def inject(self, injector: FaultInjector | None) -> None:
        """Put the fault injector in front of the server's WSGI app (None takes it away)."""
        wsgi = self._server._server
        original = getattr(wsgi, "_mtx_original_app", wsgi.app)
        wsgi._mtx_original_app = original
        wsgi.app = original if injector is None else injector.wrap(original)
        sfn.REGISTRY.times_out = None if injector is None else injector.lambda_times_out

    def ended_executions(self, cursor: int | None) -> tuple[int, list[tuple[str, str, str]]] | None:
        """What the interpreter ended since ``cursor`` (``moto_sfn.EndedExecutions.since``)."""
        return ENDED.since(cursor)

    def stream_puts(self, stream_arn: str) -> int:
        """Records put to the stream so far (``moto_kinesis.put_count``)."""
        return put_count(stream_arn)

    def stop(self) -> None:
        moto_inprocess.stop_serving(self.port)
        if self._server is not None:
            self._server.stop()
            self._server = None
