"""The local moto server keeps connections open between requests, as AWS's endpoints do
(orchestration/runtime/moto_keepalive.py), and only when it is safe: a request body the application did not read
never reaches the next request, a chunked request body or a client's ``Connection: close`` closes the connection,
and stopping the server closes the connections still open."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from orchestration.runtime.moto_keepalive import KeepAliveHandler, KeepAliveMotoServer
from orchestration.runtime.ports import free_port

pytestmark = pytest.mark.unit

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" * 200  # a body that reads as requests if left behind


@pytest.fixture
def server(fake_aws_env: None) -> Iterator[KeepAliveMotoServer]:
    srv = KeepAliveMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _echo_path(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the request's path and never reads the body."""
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _port(srv: KeepAliveMotoServer) -> int:
    return srv.get_host_and_port()[1]


def test_an_sdk_client_makes_its_calls_over_one_connection(server: KeepAliveMotoServer) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{_port(server)}")
    ddb.create_table(
        TableName="keepalive", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )  # fmt: skip
    for i in range(20):
        ddb.put_item(TableName="keepalive", Item={"pk": {"S": f"k{i}"}})
    assert ddb.scan(TableName="keepalive")["Count"] == 20
    assert server.connections.accepted == 1
    assert len(server.connections) == 1


def test_a_body_left_unread_never_reaches_the_next_request(server: KeepAliveMotoServer) -> None:
    server._server.app = _echo_path  # type: ignore[union-attr]
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=10)
    for path in ("/first", "/second", "/third"):
        conn.request("POST", path, body=SMUGGLED)
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (200, path.encode())
        assert answer.getheader("Connection") is None
    conn.close()
    assert server.connections.accepted == 1


def test_a_chunked_body_or_a_close_asked_for_closes_the_connection(server: KeepAliveMotoServer) -> None:
    server._server.app = _echo_path  # type: ignore[union-attr]
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=10)
    conn.request("POST", "/chunked", body=iter([b"a" * 100, b"b" * 100]), encode_chunked=True)
    answer = conn.getresponse()
    assert (answer.read(), answer.getheader("Connection")) == (b"/chunked", "close")
    conn.request("GET", "/asked", headers={"Connection": "close"})
    answer = conn.getresponse()
    assert (answer.read(), answer.getheader("Connection")) == (b"/asked", "close")
    conn.close()
    assert server.connections.accepted == 2  # each answer closed its connection


def test_stopping_the_server_closes_the_open_connections(fake_aws_env: None) -> None:
    srv = KeepAliveMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    srv.start()
    srv._server.app = _echo_path  # type: ignore[union-attr]
    sock = socket.create_connection(("127.0.0.1", _port(srv)), timeout=10)
    sock.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while not got.endswith(b"/one"):  # headers and body come in separate writes
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    assert len(srv.connections) == 1
    srv.stop()
    assert sock.recv(4096) == b""  # closed by the server, not left to a stopped server's thread
    sock.close()


def test_an_idle_connection_is_closed_after_the_timeout_without_an_error_logged(
    fake_aws_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(KeepAliveHandler, "timeout", 0.3)
    srv = KeepAliveMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    srv.start()
    try:
        srv._server.app = _echo_path  # type: ignore[union-attr]
        sock = socket.create_connection(("127.0.0.1", _port(srv)), timeout=10)
        sock.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"/idle"):
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        assert sock.recv(4096) == b""  # the server closed it once idle for the timeout
        sock.close()
    finally:
        srv.stop()
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]


def test_the_terraform_providers_go_sdk_is_served_as_before(server: KeepAliveMotoServer) -> None:
    server._server.app = _echo_path  # type: ignore[union-attr]
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=10)
    conn.request(
        "POST", "/go", body=b"{}", headers={"User-Agent": "APN/1.0 HashiCorp/1.0 Terraform/1.9 aws-sdk-go-v2/1.30"}
    )
    answer = conn.getresponse()
    assert (answer.read(), answer.getheader("Connection")) == (b"/go", "close")
    conn.close()
