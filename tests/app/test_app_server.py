"""The request guards of app/server.py at the WSGI level (a bare Flask app: fast, no model)."""

from __future__ import annotations

import pytest
from flask import Flask

from app.server import install_host_check, origin_host


@pytest.fixture
def client():
    server = Flask(__name__)

    @server.route("/", methods=["GET", "POST"])
    def index() -> str:
        return "ok"

    install_host_check(server, ["mybox.lan", "0.0.0.0"])
    return server.test_client()


@pytest.mark.parametrize(
    "value,expected",
    [
        ("http://127.0.0.1:8050", "127.0.0.1"),
        ("http://LOCALHOST:8050/", "localhost"),
        ("http://[::1]:8050/page?x=1", "::1"),
        ("https://evil.example", "evil.example"),
        ("null", ""),
        ("", ""),
        ("http://[::1", ""),
    ],
)
def test_origin_host(value, expected):
    assert origin_host(value) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1.nip.io:8050"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page.html"},
        {"Origin": "http://evil.example", "Referer": "http://127.0.0.1:8050/"},  # Origin wins
    ],
)
def test_post_from_a_foreign_origin_is_refused(client, headers):
    r = client.post("/", headers={"Host": "127.0.0.1:8050", **headers})
    assert r.status_code == 403 and b"Forbidden" in r.data


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:8050"},
        {"Origin": "http://localhost:8050"},
        {"Origin": "http://[::1]:8050"},
        {"Origin": "http://mybox.lan:8050"},  # --allow-host
        {"Referer": "http://localhost:8050/"},
        {},  # scripts and curl send neither
    ],
)
def test_post_from_a_loopback_origin_passes(client, headers):
    assert client.post("/", headers={"Host": "127.0.0.1:8050", **headers}).status_code == 200


def test_get_needs_no_origin(client):
    assert client.get("/", headers={"Host": "localhost:8050"}).status_code == 200
    # a page may link or embed the dashboard; reads change nothing
    assert client.get("/", headers={"Host": "localhost:8050", "Referer": "http://evil.example/"}).status_code == 200


def test_wildcard_bind_address_is_not_an_allowed_origin(client):
    r = client.post("/", headers={"Host": "127.0.0.1:8050", "Origin": "http://0.0.0.0:8050"})
    assert r.status_code == 403


def test_foreign_host_is_still_refused(client):
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 403
