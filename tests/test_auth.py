"""Writes need the bearer token; unsafe settings refuse to start; the token is never logged."""

from __future__ import annotations

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


@pytest.fixture
def client(tmp_path, fake_advisor):
    with TestClient(_app(tmp_path, fake_advisor, api_token=TOKEN)) as c:
        yield c


def test_the_write_endpoints_are_the_expected_ones(client):
    assert _write_routes(client.app) == [
        ("POST", "/v1/measurements"), ("POST", "/v1/predictors/{version}/rollback"),
        ("POST", "/v1/retrain")]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
])
def test_every_write_endpoint_rejects_missing_or_wrong_tokens(client, headers):
    for _, path in _write_routes(client.app):
        url = path.replace("{version}", "shipped")
        r = client.post(url, json=quality_row(0), headers=headers)
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
