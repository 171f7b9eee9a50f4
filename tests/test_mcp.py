"""The MCP server (``quant-advisor mcp``) driven through the official SDK's client: its tools
answer what the HTTP API answers for the same inputs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402

from advisor.service.app import create_app  # noqa: E402
from advisor.service.mcp_server import build_server  # noqa: E402
from advisor.vocabulary.settings import Settings  # noqa: E402

RTX = "NVIDIA GeForce RTX 3090"
TOOLS = {"recommend", "memory", "models", "hardware"}


@pytest.fixture(scope="module")
def api(fake_advisor, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("mcp-api"))
    with TestClient(create_app(settings, advisor_factory=lambda _: fake_advisor)) as client:
        yield client


def _session(server: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    """List the tools of ``server`` and make ``calls`` in one client session."""

    async def run() -> tuple[Any, list[Any]]:
        async with Client(server) as client:
            tools = await client.list_tools()
            return tools, [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(run)


def _body(result: Any) -> Any:
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if set(data) == {"result"} else data


def test_tools_have_json_schema_inputs(fake_advisor):
    tools, _ = _session(build_server(fake_advisor), [])
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == TOOLS
    recommend = by_name["recommend"].input_schema
    assert recommend["type"] == "object" and recommend["required"] == ["vram"]
    assert {"task", "context", "cache_type", "hardware", "devices"} <= set(recommend["properties"])
    assert by_name["memory"].input_schema["required"] == ["model", "quant"]
    assert all(t.description for t in tools.tools)


def test_tools_answer_as_the_api_does(fake_advisor, api):
    query = {"vram": "24GB", "task": "reasoning:0.7,coding:0.3", "hardware": RTX,
             "context": 8192}
    footprint = {"model": "Qwen3-14B", "quant": "Q4_K_M", "context": 8192, "hardware": RTX}
    _, (rec, models, hardware, memory) = _session(build_server(fake_advisor), [
        ("recommend", query), ("models", {}), ("hardware", {}), ("memory", footprint)])
    assert _body(rec) == api.get("/recommend", params=query).json()
    assert _body(rec)["pick"]["run"]["llama_server"].startswith("llama-server -hf ")
    assert _body(models) == api.get("/models").json()
    assert _body(hardware) == api.get("/hardware").json()
    assert _body(memory) == api.get("/memory", params=footprint).json()


@pytest.mark.parametrize("tool, args, error, parameter", [
    ("recommend", {"vram": "lots"}, "invalid_input", "vram"),
    ("recommend", {"vram": "24GB", "hardware": "toaster"}, "invalid_input", "hardware"),
    ("recommend", {"vram": "1MB"}, "nothing_fits", None),
    ("memory", {"model": "no-such-model", "quant": "Q4_K_M"}, "invalid_input", "model"),
    ("memory", {"model": "Qwen3-14B", "quant": "Q9_X"}, "invalid_input", "quant"),
])
def test_bad_input_is_a_tool_error_with_the_api_error_body(fake_advisor, tool, args, error,
                                                           parameter):
    _, (result,) = _session(build_server(fake_advisor), [(tool, args)])
    assert result.is_error
    text = result.content[0].text
    body = json.loads(text[text.index("{"):])
    assert body["error"] == error and body.get("parameter") == parameter


def test_stdio_server_gives_the_pick_of_get_recommend(tmp_path):
    """The real command over stdio, with the shipped predictors, against the real API."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "advisor", "mcp"],
                                   env=dict(os.environ))
    query = {"vram": "16GB", "task": "coding"}
    tools, (result,) = _session(params, [("recommend", query)])
    assert {t.name for t in tools.tools} == TOOLS
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        expected = client.get("/recommend", params=query).json()
    got = _body(result)
    assert (got["pick"]["model"], got["pick"]["quant"]) == (expected["pick"]["model"],
                                                            expected["pick"]["quant"])
    assert got["pick"]["download"] == expected["pick"]["download"]
    assert got["pick"]["run"] == expected["pick"]["run"]
