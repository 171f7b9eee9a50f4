import pytest
from fastapi.testclient import TestClient

from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings
from advisor.vocabulary.units import GB


@pytest.fixture(scope="module")
def client(fake_advisor, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("api"))
    app = create_app(settings, advisor_factory=lambda _: fake_advisor)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_recommend_exactly_as_documented(client, prefix):
    r = client.get(f"{prefix}/recommend?vram=24GB&task=reasoning")
    assert r.status_code == 200
    body = r.json()
    assert body["pick"]["memory"]["total_bytes"] <= 24 * GB
    for key in ("pick", "alternatives", "pareto_front", "explanation", "predictor_version",
                "request"):
        assert key in body
    for key in ("model", "quant", "file_bytes", "memory", "quality_by_task", "retention",
                "bpw"):
        assert key in body["pick"]


def test_recommend_with_hardware_has_speed(client):
    r = client.get("/recommend", params={"vram": "24 GB", "task": "reasoning:0.7,coding:0.3",
                                         "hardware": "NVIDIA GeForce RTX 3090",
                                         "context": 8192})
    assert r.status_code == 200, r.text
    speed = r.json()["pick"]["speed"]
    assert speed["tg128"]["unit"] == "tokens/s" and speed["tg128"]["provenance"]


@pytest.mark.parametrize("query, parameter, given", [
    ("vram=lots", "vram", "lots"),
    ("vram=24GB&task=poetry", "task", "poetry"),
    ("vram=24GB&context=abc", "context", "abc"),
    ("vram=24GB&context=5", "context", "5"),
    ("vram=24GB&cache_type=q3", "cache_type", "q3"),
    ("vram=24GB&min_tokens_per_s=-4", "min_tokens_per_s", "-4"),
    ("task=reasoning", "vram", None),
    ("vram=24GB&bandwidth_gbs=fast", "bandwidth_gbs", "fast"),
])
def test_bad_input_is_422_with_parameter_and_given(client, query, parameter, given):
    r = client.get(f"/recommend?{query}")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert body["detail"][0]["parameter"] == parameter
    assert body["detail"][0]["given"] == given
    assert body["message"]


@pytest.mark.parametrize("query", ["vram=24GB&hardware=toaster", "vram=24GB&family=Nope",
                                   "vram=24GB&models=gpt-5"])
def test_unknown_names_are_422_with_suggestions(client, query):
    r = client.get(f"/recommend?{query}")
    assert r.status_code == 422
    assert "Known" in r.json()["message"] or "known" in r.json()["message"]


def test_nothing_fits_is_422_with_smallest_budget(client):
    r = client.get("/recommend?vram=10MB")
    assert r.status_code == 422
    assert r.json()["error"] == "nothing_fits"
    assert r.json()["smallest_budget_bytes"] > 10e6


def test_listing_endpoints(client):
    assert client.get("/health").json()["status"] == "ok"
    quants = client.get("/quants").json()
    assert {"Q4_K_M", "IQ2_XXS", "TQ1_0"} <= {q["name"] for q in quants}
    models = client.get("/v1/models").json()
    assert any(m["name"] == "Llama-3.1-8B" for m in models)
    assert client.get("/hardware").json()[0]["name"]
    assert "/recommend" in client.get("/openapi.json").json()["paths"]


def test_ready_health_and_metrics(client):
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() | {"model_version": "shipped"} == {
        "status": "ready", "model_loaded": True, "store_reachable": True,
        "model_version": "shipped"}
    client.get("/recommend?vram=24GB")
    text = client.get("/metrics").text
    for name in ("advisor_http_requests_total", "advisor_http_request_seconds_bucket",
                 "advisor_model_info", "advisor_measurements_stored_total"):
        assert name in text
    assert 'route="/recommend"' in text


def test_request_ids_are_kept_or_made(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers[
        "x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert len(made) == 32


@pytest.mark.parametrize("method, path, status, error", [
    ("get", "/nowhere", 404, "not_found"), ("delete", "/recommend", 405, "method_not_allowed"),
])
def test_every_error_is_a_json_body(client, method, path, status, error):
    r = getattr(client, method)(path)
    assert r.status_code == status and r.json()["error"] == error and r.json()["request_id"]


@pytest.fixture
def json_logs():
    """The service's JSON log lines (as `serve` configures them) written since the last call."""
    import io
    import json
    import logging

    from advisor.service.observability import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(as_json=True)
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)

    def lines():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in text.splitlines()]

    try:
        yield lines
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.mark.parametrize("sent", [None, "client-chosen-id.1"])
def test_unhandled_errors_hide_the_trace_and_carry_the_request_id(fake_advisor, tmp_path,
                                                                   json_logs, sent):
    def boom(**_):
        raise RuntimeError("secret internals")

    app = create_app(Settings(data_dir=tmp_path), advisor_factory=lambda _: fake_advisor)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.app.state.advisor = type("Broken", (), {"parse_query": staticmethod(boom)})()
        json_logs()  # start-up lines
        r = c.get("/recommend?vram=24GB", headers={"X-Request-ID": sent} if sent else {})
        lines = json_logs()
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text
    rid = r.headers["x-request-id"]
    assert rid == (sent or rid) and len(rid) >= 16
    assert r.json()["request_id"] == rid and rid in r.json()["message"]
    lines = [line for line in lines if line["logger"].startswith("advisor")]  # not the client's
    assert [line["level"] for line in lines] == ["ERROR", "INFO"]  # the error, the access line
    assert all(line["request_id"] == rid for line in lines)
    assert "secret internals" in lines[0]["message"] and lines[1]["status"] == 500


def test_plain_log_lines_carry_the_request_id():
    import logging

    from advisor.service.observability import configure_logging, request_id

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(as_json=False)
        token = request_id.set("rid-7")
        try:
            record = logging.LogRecord("advisor.x", logging.INFO, "f", 1, "hi", None, None)
            handler = root.handlers[0]
            handler.filter(record)
            line = handler.format(record)
        finally:
            request_id.reset(token)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert "[rid-7]: hi" in line


def test_cors_is_configurable(fake_advisor, tmp_path):
    settings = Settings(data_dir=tmp_path, cors_origins=["https://team.example"])
    with TestClient(create_app(settings, advisor_factory=lambda _: fake_advisor)) as c:
        r = c.get("/health", headers={"Origin": "https://team.example"})
        assert r.headers["access-control-allow-origin"] == "https://team.example"
        other = c.get("/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_json_log_lines_carry_the_request_id():
    import json
    import logging

    from advisor.service.observability import JsonFormatter, request_id

    token = request_id.set("rid-1")
    try:
        record = logging.LogRecord("advisor.x", logging.INFO, "f", 1, "hello %s", ("you",), None)
        record.status = 200
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "hello you" and line["request_id"] == "rid-1"
    assert line["status"] == 200 and line["level"] == "INFO"


CPU_SPECS = "hardware=My%20box&hardware_kind=cpu&bandwidth_gbs=80&hardware_memory_gb=64"


@pytest.mark.parametrize("threads", ["0", "-1", "1.5", "abc", "true", "1025"])
def test_bad_threads_are_422_naming_threads(client, threads):
    r = client.get(f"/recommend?vram=64GB&{CPU_SPECS}&threads={threads}")
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert (item["parameter"], item["given"]) == ("threads", threads)


def test_threads_need_the_hardware_422(client):
    r = client.get("/recommend?vram=24GB&threads=8")
    assert r.status_code == 422
    body = r.json()
    assert body["detail"][0]["parameter"] == "threads" and body["detail"][0]["given"] == "8"
    assert "threads needs the hardware" in body["message"]


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_threads_are_echoed(client, prefix):
    body = client.get(f"{prefix}/recommend?vram=64GB&{CPU_SPECS}&threads=12").json()
    assert (body["request"]["hardware"], body["request"]["threads"]) == ("My box", 12)
    assert client.get(f"{prefix}/recommend?vram=64GB&{CPU_SPECS}").json()["request"][
        "threads"] is None
    points = client.get(f"/v1/candidates?vram=64GB&{CPU_SPECS}&threads=12").json()
    assert points["threads"] == 12
    spec = client.get("/openapi.json").json()["paths"]["/recommend"]["get"]["parameters"]
    threads = next(p for p in spec if p["name"] == "threads")
    assert "CPU threads" in threads["description"]


# -- several identical GPUs ------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "/v1"])
@pytest.mark.parametrize("params", [{"hardware": "RTX 3090 x2"}, {"hardware": "2x RTX 3090"},
                                    {"hardware": "NVIDIA GeForce RTX 3090", "devices": "2"}])
def test_several_gpus_by_name_or_devices(client, prefix, params):
    r = client.get(f"{prefix}/recommend", params={"vram": "48GB", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["request"]["hardware"], body["request"]["n_devices"]) == (
        "NVIDIA GeForce RTX 3090 x2", 2)
    assert body["pick"]["speed"]["tg128"]["source"].endswith("on NVIDIA GeForce RTX 3090 x2")
    assert any("2 devices" in a for a in body["pick"]["memory"]["assumptions"])
    points = client.get("/v1/candidates", params={"vram": "48GB", **params}).json()
    assert (points["hardware"], points["n_devices"]) == ("NVIDIA GeForce RTX 3090 x2", 2)
    one = client.get(f"{prefix}/recommend", params={"vram": "48GB", "hardware": "RTX 3090",
                                                     "devices": "1"}).json()
    assert (one["request"]["hardware"], one["request"]["n_devices"]) == (
        "NVIDIA GeForce RTX 3090", None)


@pytest.mark.parametrize(("query", "parameter", "fragment"), [
    ("hardware=RTX%203090&devices=0", "devices", "greater than or equal to 1"),
    ("hardware=RTX%203090&devices=17", "devices", "less than or equal to 16"),
    ("hardware=RTX%203090&devices=two", "devices", "valid integer"),
    ("hardware=RTX%203090%20x17", "hardware", "asks for 17 devices"),
    ("hardware=RTX%203090%20x2&devices=4", "devices", "disagrees"),
    ("hardware=Apple%20M2%20Pro%20x2", "hardware", "only discrete GPUs"),
    ("devices=2", "devices", "devices needs the hardware"),
])
@pytest.mark.parametrize("path", ["/recommend", "/v1/candidates"])
def test_bad_device_counts_are_422(client, path, query, parameter, fragment):
    r = client.get(f"{path}?vram=48GB&{query}")
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["parameter"] == parameter and fragment in item["message"]


def test_hardware_lists_single_devices_and_devices_is_documented(client):
    assert all(not h["n_devices"] for h in client.get("/hardware").json())
    spec = client.get("/openapi.json").json()["paths"]["/recommend"]["get"]["parameters"]
    devices = next(p for p in spec if p["name"] == "devices")
    assert "identical GPUs" in devices["description"]
    hardware = next(p for p in spec if p["name"] == "hardware")
    assert "RTX 3090 x2" in hardware["description"]


@pytest.mark.parametrize("path, name, fragment", [
    ("/recommend?vram=24GB&vrma=24GB", "vrma", "Did you mean 'vram'?"),
    ("/v1/measurements?limt=5", "limt", "Did you mean 'limit'?"),
    ("/health?verbose=1", "verbose", "Known: (none)"),
])
def test_an_unknown_query_parameter_is_422_naming_it(client, path, name, fragment):
    r = client.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["parameter"] == name and fragment in r.json()["message"]


def test_the_page_keeps_its_form_in_the_query_string(client):
    assert client.get("/?vram=24GB&task=coding").status_code == 200


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/v1/measurements", "GET, POST"), ("OPTIONS", "/v1/retrain", "GET, POST"),
    ("DELETE", "/recommend", "GET"), ("GET", "/v1/predictors/shipped/rollback", "POST"),
])
def test_405_lists_every_method_of_the_path(client, method, path, allow):
    r = client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow


def test_every_422_is_documented_as_the_error_body(client):
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert body["$ref"].endswith(("/ErrorBody", "/IngestResult")), (method, path)


@pytest.mark.parametrize("task", ["reasoning:1e308,coding:1e308", "reasoning:inf",
                                  "reasoning:nan,coding:1", "reasoning:1e999"])
@pytest.mark.parametrize("path", ["/recommend", "/v1/recommend", "/v1/candidates"])
def test_overflowing_or_non_finite_task_weights_are_422_naming_task(client, path, task):
    r = client.get(path, params={"vram": "24GB", "task": task})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["parameter"] == "task"
    assert r.json()["detail"][0]["given"] == task
