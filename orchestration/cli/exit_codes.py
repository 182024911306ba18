"""What an ``mtx`` command's exit status means: one definition, used by every command and printed in
``docs/cli.md`` (``python -m orchestration.cli.docs``).

A script can tell apart a command line it got wrong (2), a stack it forgot to start (3), a run that went
through but left some records behind (4: each of them rejected or dead-lettered with its reason, never
lost) and a check or run that failed (1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    STACK_NOT_RUNNING = 3
    PARTIAL = 4


#: one line each for ``docs/cli.md`` and ``mtx --help``
MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "done; everything it checked passed",
    ExitCode.FAILED: "a check or a run failed: data checks failed, the refresh or a Glue run did not succeed, "
    "a batch run FAILED, the demo's or the soak's exactly-once audit found a loss, a request was refused "
    "(a producer that exists already or is unknown), no lineage for the run asked for",
    ExitCode.USAGE: "the command line is wrong: an unknown option (argparse) or a value the command refuses",
    ExitCode.STACK_NOT_RUNNING: "the command needs the local stack and none is running in --home "
    "(start it with `mtx up`)",
    ExitCode.PARTIAL: "the command ran, but some records did not get through: rejected by the API (400) or not "
    "answered (send those again), dead-lettered or quarantined (each with its reason), refused by the stream after "
    "every retry, or left in the dead-letter queue (or parked) by a redrive",
}

_STACK = (ExitCode.USAGE, ExitCode.STACK_NOT_RUNNING)
#: the codes each command can end with (``docs/cli.md``); a command not named here ends 0 or 2
EXITS: dict[str, tuple[ExitCode, ...]] = {
    "up": (ExitCode.OK, ExitCode.USAGE),
    "api": (ExitCode.OK, ExitCode.USAGE),
    "down": (ExitCode.OK, ExitCode.USAGE),
    # status: 1 when the running stack needs a look (docs/observability.md), 3 when none runs (the last run shown)
    "status": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "report": (ExitCode.OK, ExitCode.USAGE),
    "send": (ExitCode.OK, *_STACK, ExitCode.PARTIAL),
    "producers": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "dlq": (ExitCode.OK, *_STACK, ExitCode.PARTIAL),
    "glue": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "migrate": (ExitCode.OK, *_STACK),
    "sweep": (ExitCode.OK, *_STACK, ExitCode.PARTIAL),
    "refresh": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "check": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "dbt": (ExitCode.OK, ExitCode.FAILED, *_STACK),
    "ingest": (ExitCode.OK, ExitCode.FAILED, *_STACK, ExitCode.PARTIAL),
    "runs": (ExitCode.OK, *_STACK),
    "stream": (ExitCode.OK, *_STACK, ExitCode.PARTIAL),
    "cost": (ExitCode.OK, ExitCode.USAGE),
    "generate": (ExitCode.OK, ExitCode.USAGE),
    "demo": (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE),
    "soak": (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE),
    "lineage": (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE),
}


class CommandError(Exception):
    """A command that ends without its result: the message goes to stderr (and into the --json document)."""

    code = ExitCode.FAILED

    def __init__(self, message: str, code: ExitCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CommandError):
    code = ExitCode.USAGE


class StackNotRunning(CommandError):
    code = ExitCode.STACK_NOT_RUNNING


def partial_if(left_behind: int) -> ExitCode:
    """OK, or PARTIAL when some records were rejected, dead-lettered or not taken."""
    return ExitCode.PARTIAL if left_behind else ExitCode.OK
