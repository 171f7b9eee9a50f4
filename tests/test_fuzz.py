"""Schemathesis over every operation of the OpenAPI schema with all its checks: no 5xx,
answers as declared (status, content type, headers, body), schema-invalid requests refused,
schema-valid ones accepted, methods the schema does not list refused with the right `Allow`,
writes refused without the token. Bounded: MAX_EXAMPLES per operation and phase.

One allowance, for the operations whose inputs have meanings a JSON schema cannot state (a
budget nothing fits, a hardware name or model we do not know, `threads` without hardware; a speed row
faster than its device allows, an unknown quant name): a schema-valid request there may be
refused with 422, and `semantic_refusal_is_explained` checks that such a 422 says which
parameter or row and why.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from service_fixtures import TOKEN, FakeTrainer, service_settings

from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings

MAX_EXAMPLES = 40  # per operation and phase: about 2 minutes in all on 2 cores
SEMANTIC = ["/recommend", "/v1/recommend", "/v1/candidates", "/v1/measurements", "/memory",
            "/v1/memory"]
# The token goes in as configured auth (not a header added to every call), so a case that leaves
# the Authorization header out on purpose is sent without it and must be refused.
CONFIG = """
[auth.openapi.HTTPBearer]
bearer = "{token}"

[[operations]]
include-path = [{paths}]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
""".format(token=TOKEN, paths=", ".join(f'"{p}"' for p in SEMANTIC))
CALLS: list[str] = []
OPERATIONS = sorted(f"{method.upper()} {path}"
                    for path, ops in create_app(Settings(api_token=TOKEN)).openapi()["paths"]
                    .items() for method in ops)


@schemathesis.check
def semantic_refusal_is_explained(ctx, response, case):
    """A 422 names what was wrong: the parameter (or every refused row) and a message."""
    if response.status_code != 422:
        return None
    body = response.json()
    if "rows" in body:  # POST /v1/measurements: every row refused, each with its reasons
        assert body["stored"] == 0 and body["rejected"] == len(body["rows"]) > 0, body
        assert all(row["problems"] and row["problems"][0]["message"] for row in body["rows"])
    else:
        assert body["message"] and body["error"] in ("invalid_input", "nothing_fits",
                                                      "still_invalid"), body
        assert body["detail"] or body["error"] == "nothing_fits", body
    return None


def _app():
    """The service over the fake predictors, in a data folder of its own (module level:
    schemathesis loads the schema when the module is collected and keeps the app running)."""
    from conftest import HARDWARE, FakeCard, FakePredictors, FakeQuality, FakeSpeed

    from advisor.data.catalog import load_catalog
    from advisor.data.dataset import default_measurements_dir
    from advisor.recommender.advisor import Advisor

    advisor = Advisor(load_catalog(default_measurements_dir() / "catalog"),
                      FakePredictors(FakeQuality(), FakeSpeed(), FakeCard()), None,
                      dict(HARDWARE), Settings())
    data = Path(tempfile.mkdtemp(prefix="advisor-fuzz-"))
    atexit.register(shutil.rmtree, data, ignore_errors=True)
    return create_app(service_settings(data, api_token=TOKEN),
                      advisor_factory=lambda _: advisor, trainer=FakeTrainer())


schema = schemathesis.openapi.from_asgi("/openapi.json", _app(),
                                        config=SchemathesisConfig.from_str(CONFIG))


@pytest.fixture(scope="module", autouse=True)
def _count_calls():
    yield
    print(f"\nschemathesis: {len(CALLS)} calls over {len(set(CALLS))} operations")


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) >= 18
    assert {"DELETE /v1/quarantine/{row_id}", "POST /v1/measurements"} <= set(OPERATIONS)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_operation(case):
    """Every operation: the examples, coverage and fuzzing phases, every check."""
    CALLS.append(case.operation.label)
    case.call_and_validate()
