"""Schemathesis: every endpoint of the OpenAPI schema, fuzzed; no 5xx, answers as declared."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from service_fixtures import TOKEN, FakeTrainer, service_settings

from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings

MAX_EXAMPLES = 60  # per operation: the whole run stays well under a minute on 2 cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
CALLS: list[str] = []
OPERATIONS = sorted(f"{method.upper()} {path}"
                    for path, ops in create_app(Settings(api_token=TOKEN)).openapi()["paths"]
                    .items() for method in ops)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, fake_advisor):
    settings_ = service_settings(tmp_path_factory.mktemp("fuzz"), api_token=TOKEN)
    app = create_app(settings_, advisor_factory=lambda _: fake_advisor, trainer=FakeTrainer())
    yield schemathesis.openapi.from_asgi("/openapi.json", app)  # runs the app's lifespan
    print(f"\nschemathesis: {len(CALLS)} calls over {len(set(CALLS))} operations")


def test_every_path_is_fuzzed():
    assert len(OPERATIONS) >= 15


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(api_schema, label):
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        CALLS.append(label)
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

    run()
