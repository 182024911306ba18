"""SplitFile: stream a dropped file (NDJSON or a JSON array, optionally gzip) into chunk objects.

The file is read as a stream (memory stays flat as it grows): NDJSON line by
line; a JSON array element by element with an incremental decoder. Each chunk is
an NDJSON object under ``chunks/<run_id>/`` of the raw bucket. A file that is
not JSON at all raises ``NotJsonFile`` (the run fails with that reason and the
file is moved aside, not lost); single malformed lines inside a valid NDJSON
file are kept and dead-lettered one by one by ProcessChunk.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from contracts.config import get_settings
from lambdas.common import batch_lineage
from lambdas.common.aws import client
from lambdas.common.errors import PipelineError, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("split-file")
tracer = get_tracer("split-file")
CHUNK_RECORDS = 50_000
_READ = 1 << 20


class NotJsonFile(PipelineError):
    pass


_BOM = b"\xef\xbb\xbf"


def _text_stream(body: Any) -> io.BufferedReader:
    """The file's bytes, gunzipped if it is gzip, without a UTF-8 byte order mark at its very start (a file
    marker that Windows tools write, not part of the first record; a BOM anywhere else is refused by the
    contract in the record that holds it)."""
    raw = io.BufferedReader(body, buffer_size=_READ)
    if raw.peek(2)[:2] == b"\x1f\x8b":
        gz: Any = gzip.GzipFile(fileobj=raw)
        raw = io.BufferedReader(gz, buffer_size=_READ)
    if raw.peek(3)[:3] == _BOM:
        raw.read(3)
    return raw


def _first_char(stream: io.BufferedReader) -> str:
    head = stream.peek(4096).lstrip(b" \t\r\n")
    return head[:1].decode("latin-1") if head else ""


#: The longest line or array element SplitFile carries whole. A record is at most MAX_TRANSACTION_BYTES
#: (ProcessChunk quarantines a longer one, kept whole up to this size); a longer NDJSON line or array
#: element is cut here (its first MAX_LINE bytes are quarantined, the rest skipped to the next line or
#: element without being held), so that one endless record (a gzip bomb of one line) cannot exhaust the
#: function's memory, and the records after it are kept.
MAX_LINE = 1 << 20


def _ndjson_lines(stream: io.BufferedReader) -> Iterator[bytes]:
    """Lines as bytes, as they are (ProcessChunk decodes them once and refuses one that is not UTF-8)."""
    while raw := stream.readline(MAX_LINE):
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):  # an endless line: cut, the rest skipped
            while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass
        line = raw.strip()
        if line:
            yield line


_OUTSIDE_STRING = re.compile(r'["\[\]{},]')
_INSIDE_STRING = re.compile(r'["\\]')


class _ElementScan:
    """Where an array element ends (the index of the ``,`` or ``]`` after it), found without parsing: strings
    skipped, brackets counted, across as many buffers as the element spans (the state is kept between
    calls). Used only for an element the JSON decoder could not read (malformed, too deep, a number too
    long, longer than MAX_LINE), so that it is passed on alone, to be refused alone, and the elements after
    it are kept."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = self.escaped = False

    def end(self, text: str, pos: int) -> int | None:
        """The element's end in ``text`` from ``pos`` on, or None when ``text`` ends first."""
        i, n = pos, len(text)
        while i < n:
            if self.in_string:
                if self.escaped:
                    self.escaped, i = False, i + 1
                    continue
                found = _INSIDE_STRING.search(text, i)
                if found is None:
                    return None
                i = found.start()
                if text[i] == "\\":
                    self.escaped = True
                else:
                    self.in_string = False
            else:
                found = _OUTSIDE_STRING.search(text, i)
                if found is None:
                    return None
                i = found.start()
                c = text[i]
                if c == '"':
                    self.in_string = True
                elif c in "[{":
                    self.depth += 1
                elif self.depth == 0:  # a "," or a closing bracket at the element's own level
                    return i
                elif c != ",":
                    self.depth -= 1
            i += 1
        return None


def _element_end(text: str, pos: int) -> int | None:
    return _ElementScan().end(text, pos)


def _line(text: str, parsed: bool) -> bytes:
    """An element's own text as one NDJSON line, its original bytes (a byte that was not UTF-8 included).

    A parsed element has line breaks only between tokens (the decoder refuses them in strings): they
    become spaces. An unparsed one keeps them out of the line as NULs, which no JSON text may hold, so
    it stays refused."""
    text = text.strip(" \t\r\n")
    text = text.replace("\r", " ").replace("\n", " ") if parsed else text.replace("\r", "\0").replace("\n", "\0")
    return text.encode("utf-8", "surrogateescape")


def _array_elements(stream: io.BufferedReader, key: str) -> Iterator[bytes]:
    """Elements of a top-level JSON array, one at a time, each as its own text (never re-serialised: a
    duplicate key, a number's digits and a byte that is not UTF-8 reach the contract as they were sent)."""
    decoder = json.JSONDecoder()
    reader = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    buf = ""
    pos = 0
    started = False
    eof = False

    def more() -> None:
        nonlocal buf, pos, eof
        data = stream.read(_READ)
        eof = not data
        buf = buf[pos:] + reader.decode(data, final=eof)
        pos = 0

    while True:
        if not eof and len(buf) - pos < _READ:
            more()
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if not started:
            if pos >= len(buf) and eof:
                raise NotJsonFile(f"s3 object {key}: empty file")
            if pos >= len(buf):
                continue
            if buf[pos] != "[":
                raise NotJsonFile(f"s3 object {key}: expected a JSON array")
            started = True
            pos += 1
            continue
        if pos < len(buf) and buf[pos] == "]":
            return
        if pos >= len(buf):
            if eof:
                raise NotJsonFile(f"s3 object {key}: the JSON array is not closed")
            continue
        try:
            _, end = decoder.raw_decode(buf, pos)
            parsed = True
        except (json.JSONDecodeError, RecursionError, ValueError):
            found = _element_end(buf, pos)
            if found is None:
                if eof:
                    raise NotJsonFile(f"s3 object {key}: the JSON array is not closed") from None
                if len(buf) - pos > MAX_LINE:  # cut: its first MAX_LINE bytes go on, the rest is skipped
                    head = _line(buf[pos : pos + MAX_LINE], parsed=False)[:MAX_LINE]
                    scan = _ElementScan()
                    while (found := scan.end(buf, pos)) is None:
                        if eof:
                            raise NotJsonFile(f"s3 object {key}: the JSON array is not closed") from None
                        pos = len(buf)  # scanned: dropped
                        more()
                    yield head
                    pos = found
                    continue
                more()  # the element goes on past the buffer
                continue
            # a stray "}" where an element should start is an element of its own (else nothing would move on)
            end, parsed = max(found, pos + 1), False
        yield _line(buf[pos:end], parsed)[:MAX_LINE]  # one the decoder read whole is cut at MAX_LINE too
        pos = end


def records(stream: io.BufferedReader, key: str) -> Iterator[bytes]:
    first = _first_char(stream)
    if first == "[":
        yield from _array_elements(stream, key)
    elif first == "{":
        yield from _ndjson_lines(stream)
    elif first == "":
        return
    else:
        raise NotJsonFile(f"s3 object {key}: not JSON or NDJSON (does not start with '[' or '{{')")


def split(bucket: str, key: str, run_id: str, chunk_records: int | None = None) -> dict[str, Any]:
    """Chunk objects of at most ``chunk_records`` (CHUNK_RECORDS) records; each chunk's descriptor says where
    it starts in the file (``first_record``, from 1), so that a record is named by its place in the file."""
    chunk_records = chunk_records or CHUNK_RECORDS
    settings = get_settings()
    s3 = client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    stream = _text_stream(body)
    chunks: list[dict[str, Any]] = []
    lines: list[bytes] = []
    total = 0

    def flush() -> None:
        if not lines:
            return
        chunk_key = f"chunks/{run_id}/{len(chunks):05d}.ndjson"
        count = len(lines)
        lines.append(b"")  # the last line's end
        s3.put_object(
            Bucket=settings.raw_bucket, Key=chunk_key, Body=b"\n".join(lines),
        )  # fmt: skip  # encrypted with the bucket's KMS key by default
        chunks.append({"bucket": settings.raw_bucket, "key": chunk_key, "index": len(chunks), "records": count,
                       "first_record": total - count + 1})  # fmt: skip
        lines.clear()

    try:
        for rec in records(stream, key):
            lines.append(rec)
            total += 1
            if len(lines) >= chunk_records:
                flush()
        flush()
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, OSError) as exc:
        raise NotJsonFile(f"s3 object {key}: unreadable ({type(exc).__name__})") from None
    if total == 0:
        raise NotJsonFile(f"s3 object {key}: no records")
    return {"chunks": chunks, "records": total}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch_lineage.started(event["bucket"], event["key"], event["run_id"])  # FinalizeRun reports the end
    return split(event["bucket"], event["key"], event["run_id"])
