"""Writes need the bearer token; unsafe settings refuse to start; the token is never logged."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from service_fixtures import TOKEN, FakeTrainer, quality_row, service_settings

from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings


def _app(tmp_path, fake_advisor, **changes):
    settings = service_settings(tmp_path, **changes)
    return create_app(settings, advisor_factory=lambda _: fake_advisor, trainer=FakeTrainer())


def _write_routes(app):
    return sorted((m.upper(), path) for path, ops in app.openapi()["paths"].items()
                  for m in ops if m.upper() in ("POST", "PUT", "PATCH", "DELETE"))


def _protected_routes(app):
    """Every route that needs the token: the writes and the quarantine listing."""
    return sorted({*_write_routes(app), ("GET", "/v1/quarantine")})


def _url(path):
    return path.replace("{version}", "shipped").replace("{row_id}", "1")


@pytest.fixture
def client(tmp_path, fake_advisor):
    with TestClient(_app(tmp_path, fake_advisor, api_token=TOKEN)) as c:
        yield c


def test_the_write_endpoints_are_the_expected_ones(client):
    assert _write_routes(client.app) == [
        ("DELETE", "/v1/quarantine/{row_id}"), ("POST", "/v1/measurements"),
        ("POST", "/v1/predictors/{version}/rollback"),
        ("POST", "/v1/quarantine/{row_id}/restore"), ("POST", "/v1/retrain")]
    spec = client.app.openapi()["paths"]
    for method, path in _protected_routes(client.app):
        responses = spec[path][method.lower()]["responses"]
        assert {"401", "403", "415"} <= set(responses), (method, path)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
])
def test_every_write_endpoint_rejects_missing_or_wrong_tokens(client, headers):
    for method, path in _protected_routes(client.app):
        url = _url(path)
        body = {"json": quality_row(0)} if method == "POST" else {}
        r = client.request(method, url, headers=headers, **body)
        assert r.status_code == 401, (url, r.text)
        assert r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in r.text
    assert client.get("/v1/measurements").json()["items"] == []


def test_the_right_token_writes_and_reads_stay_open(client):
    r = client.post("/v1/measurements", json=quality_row(0),
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert client.get("/v1/measurements").status_code == 200
    assert client.get("/v1/predictors").status_code == 200


def test_the_token_is_never_logged(tmp_path, fake_advisor, caplog):
    caplog.set_level(logging.DEBUG)
    with TestClient(_app(tmp_path, fake_advisor, api_token=TOKEN)) as c:
        c.post("/v1/measurements", json=quality_row(0), headers={"Authorization": f"Bearer {TOKEN}"})
        c.post("/v1/measurements", json=quality_row(0), headers={"Authorization": "Bearer nope"})
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(Settings(api_token=TOKEN))


def test_local_mode_without_token_opens_writes(tmp_path, fake_advisor):
    with TestClient(_app(tmp_path, fake_advisor)) as c:  # loopback host, no token
        assert c.post("/v1/measurements", json=quality_row(0)).status_code == 200


def test_writes_disabled_removes_the_write_routes(tmp_path, fake_advisor):
    with TestClient(_app(tmp_path, fake_advisor, writes_enabled=False, host="0.0.0.0")) as c:
        assert _write_routes(c.app) == []
        assert c.post("/v1/measurements", json=quality_row(0)).status_code == 405


@pytest.mark.parametrize("values, words", [
    ({"host": "0.0.0.0"}, "without a token"),
    ({"host": "10.1.2.3", "local_mode": False}, "without a token"),
    ({"host": "127.0.0.1", "local_mode": False}, "without a token"),
    ({"api_token": "short"}, "at least 16"),
    ({"database_url": "mysql://x"}, "sqlite:// or postgresql://"),
])
def test_unsafe_settings_refuse_to_start(values, words):
    with pytest.raises(ValidationError, match=words):
        Settings(**values)


@pytest.mark.parametrize("values", [
    {"host": "0.0.0.0", "api_token": TOKEN}, {"host": "0.0.0.0", "local_mode": True},
    {"host": "0.0.0.0", "writes_enabled": False}, {"host": "localhost"}, {"host": "::1"},
])
def test_safe_settings_start(values):
    Settings(**values)


@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("0.0.0.0", False)])
def test_serve_checks_the_cli_host(host, ok):
    from advisor.service.app import effective_settings
    from advisor.vocabulary.errors import InvalidInputError

    if ok:
        assert effective_settings(Settings(), host=host).host == host
    else:
        with pytest.raises(InvalidInputError, match="without a token"):
            effective_settings(Settings(), host=host)
    assert effective_settings(Settings(api_token=TOKEN), host="0.0.0.0").api_token is not None


# -- cross-site requests in local mode --------------------------------------------------------

FOREIGN = "https://evil.example"


@pytest.fixture
def local(tmp_path, fake_advisor):
    with TestClient(_app(tmp_path, fake_advisor)) as c:  # loopback host, no token: open writes
        yield c


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "text/plain;charset=UTF-8"])
@pytest.mark.parametrize("origin", [None, FOREIGN])
def test_a_body_that_is_not_json_is_refused_and_nothing_is_stored(local, content_type, origin):
    headers = {"Content-Type": content_type, **({"Origin": origin} if origin else {})}
    r = local.post("/v1/measurements", content=json.dumps(quality_row(0)), headers=headers)
    assert r.status_code == (403 if origin else 415), r.text
    assert r.json()["error"] == ("cross_site" if origin else "unsupported_media_type")
    assert local.get("/v1/measurements").json()["items"] == []


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/retrain"), ("POST", "/v1/predictors/shipped/rollback"),
    ("POST", "/v1/quarantine/1/restore"), ("DELETE", "/v1/quarantine/1"),
    ("GET", "/v1/quarantine")])
def test_every_write_refuses_a_foreign_origin(local, method, path):
    r = local.request(method, path, headers={"Origin": FOREIGN})
    assert r.status_code == 403 and r.json()["error"] == "cross_site", r.text
    r = local.request(method, path, content="x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["message"]
    assert local.get("/v1/retrain").json() is None  # nothing started


@pytest.mark.parametrize("origin, host, ok", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),   # the page this service serves
    ("http://localhost:8000", "localhost:8000", True),
    ("http://[::1]:8000", "[::1]:8000", True),
    ("http://evil.example:8000", "evil.example:8000", False),  # DNS rebound to 127.0.0.1
    ("http://127.0.0.1:8000", "127.0.0.1:9000", False), ("null", "127.0.0.1:8000", False),
    ("https://team.example", "127.0.0.1:8000", True),  # ADVISOR_CORS_ORIGINS
])
def test_origins_allowed_in_local_mode(origin, host, ok):
    from advisor.service.auth import origin_ok

    settings = Settings(cors_origins=["https://team.example"])
    assert origin_ok(settings, origin, host) is ok
    assert origin_ok(settings, None, host)  # not a browser


def test_own_origin_under_any_name_outside_local_mode():
    from advisor.service.auth import origin_ok

    settings = Settings(host="0.0.0.0", api_token=TOKEN)
    assert origin_ok(settings, "https://advisor.team.example", "advisor.team.example")
    assert not origin_ok(settings, FOREIGN, "advisor.team.example")


def test_json_writes_from_the_own_origin_work(local):
    r = local.post("/v1/measurements", json=quality_row(0),
                   headers={"Origin": "http://127.0.0.1", "Host": "127.0.0.1"})
    assert r.status_code == 200, r.text
    r = local.post("/v1/measurements", json=quality_row(1),  # TestClient's Host: testserver
                   headers={"Origin": "http://testserver"})
    assert r.status_code == 403  # same origin, but not a loopback name in local mode
    r = local.post("/v1/measurements", json=quality_row(2),
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200
