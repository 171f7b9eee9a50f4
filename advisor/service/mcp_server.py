"""The advisor for agents: an MCP server (``quant-advisor mcp``, stdio transport, the official
``mcp`` SDK) with the tools ``recommend``, ``memory``, ``models`` and ``hardware``.

Each tool is a thin adapter over the same core calls as the HTTP API's routes, so it answers
what ``GET /recommend``, ``/memory``, ``/models`` and ``/hardware`` answer for the same
inputs. Bad input comes back
as a tool error whose text is the API's error body (``error``, ``message``, ``parameter``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from advisor._version import __version__
from advisor.data.hardware import MAX_DEVICES, MAX_THREADS
from advisor.recommender.advisor import Advisor
from advisor.recommender.memory import CACHE_TYPES
from advisor.vocabulary.errors import InvalidInputError, NothingFitsError
from advisor.vocabulary.settings import Settings
from advisor.vocabulary.tasks import CATEGORIES

INSTRUCTIONS = (
    "Recommends which GGUF quantization of which open-weight LLM to run with llama.cpp for a "
    "memory budget and a task mix, with predicted quality, speed and memory, the repo to "
    "download and the llama-server command line. Call `recommend` with vram (e.g. '24GB') and "
    "optionally task, context and hardware (a name from `hardware`).")


@contextlib.contextmanager
def _tool_errors() -> Iterator[None]:
    """The project's errors as tool errors carrying the API's error body."""
    try:
        yield
    except NothingFitsError as e:
        raise ToolError(json.dumps({"error": "nothing_fits", "message": str(e),
                                    "smallest_budget_bytes": e.smallest_budget_bytes})) from e
    except InvalidInputError as e:
        raise ToolError(json.dumps({"error": "invalid_input", "message": str(e),
                                    "parameter": e.parameter})) from e


def build_server(advisor: Advisor) -> MCPServer:
    """An MCP server answering from ``advisor`` (loaded once by the caller)."""
    server: MCPServer = MCPServer(name="quant-advisor", version=__version__,
                                  instructions=INSTRUCTIONS)

    @server.tool(description="Recommend a model and GGUF quant for a memory budget and task "
                 "mix: the pick (memory, quality, speed, download repo, llama.cpp command "
                 "lines), alternatives and the Pareto front. Same answer as GET /recommend.")
    def recommend(
        vram: Annotated[str, Field(description="memory budget: 24GB, 24GiB, 24000MB or 24 (GB)")],
        task: Annotated[str, Field(description="a category or a weighted mix, e.g. reasoning "
                                   f"or reasoning:0.7,coding:0.3; categories: "
                                   f"{', '.join(CATEGORIES)}")] = "reasoning",
        context: Annotated[int | None, Field(description="context length, tokens")] = None,
        cache_type: Annotated[str, Field(description="KV cache type: "
                                         f"{', '.join(CACHE_TYPES)}")] = "f16",
        hardware: Annotated[str | None, Field(description="a device name from the hardware "
                                              "tool; 'RTX 3090 x2' for several GPUs")] = None,
        hardware_kind: Annotated[str | None, Field(description="gpu, apple, cpu or apu, for a "
                                                   "device given by its specs")] = None,
        bandwidth_gbs: Annotated[float | None, Field(description="memory bandwidth, GB/s")] = None,
        fp16_tflops: Annotated[float | None, Field(description="FP16 TFLOPS")] = None,
        hardware_memory_gb: Annotated[float | None, Field(description="device memory, GB")] = None,
        threads: Annotated[int | None, Field(ge=1, le=MAX_THREADS,
                                             description="CPU threads (CPU devices)")] = None,
        devices: Annotated[int | None, Field(ge=1, le=MAX_DEVICES,
                                             description="identical GPUs the layers are split "
                                             "over; vram is their total")] = None,
        min_tokens_per_s: Annotated[float | None, Field(description="minimum generation "
                                                        "tokens/s (needs hardware)")] = None,
        family: Annotated[str | None, Field(description="only this model family")] = None,
        models: Annotated[list[str] | None, Field(description="only these models")] = None,
        alternatives: Annotated[int | None, Field(ge=0, le=100, description="how many "
                                                  "alternatives (default 10)")] = None,
        mode: Annotated[str, Field(description="auto (rank each model in every mode it has), "
                                   "thinking or non-thinking; without context a thinking "
                                   "answer is sized for its reasoning trace")] = "auto",
    ) -> dict[str, Any]:
        with _tool_errors():
            query = advisor.parse_query(
                vram=vram, task=task, context=context, cache_type=cache_type,
                hardware=hardware, hardware_kind=hardware_kind, bandwidth_gbs=bandwidth_gbs,
                fp16_tflops=fp16_tflops, hardware_memory_gb=hardware_memory_gb,
                threads=threads, devices=devices, min_tokens_per_s=min_tokens_per_s,
                family=family, models=models or None, alternatives=alternatives, mode=mode)
            body: dict[str, Any] = json.loads(advisor.rank(query).model_dump_json())
        return body

    @server.tool(description="Memory (bytes) to run a catalog model at a quant with llama.cpp: "
                 "weights, KV cache, compute buffers and runtime overhead, with the assumptions "
                 "made; with hardware, where the weights live follows it and whether it fits. "
                 "Same answer as GET /memory.")
    def memory(
        model: Annotated[str, Field(description="a catalog model name (see the models tool)")],
        quant: Annotated[str, Field(description="a llama.cpp quant type, e.g. Q4_K_M")],
        context: Annotated[int | None, Field(description="context length, tokens")] = None,
        cache_type: Annotated[str, Field(description="KV cache type: "
                                         f"{', '.join(CACHE_TYPES)}")] = "f16",
        hardware: Annotated[str | None, Field(description="a device name from the hardware "
                                              "tool; 'RTX 3090 x2' for several GPUs")] = None,
    ) -> dict[str, Any]:
        with _tool_errors():
            answer = advisor.memory(model=model, quant=quant, context=context,
                                    cache_type=cache_type, hardware=hardware)
        return answer.model_dump(mode="json")

    @server.tool(description="The catalog's models with their architecture numbers (same as "
                 "GET /models).")
    def models() -> list[dict[str, Any]]:
        return [m.model_dump(mode="json") for m in advisor.catalog.models]

    @server.tool(description="The known devices with memory, bandwidth and FP16 TFLOPS (same "
                 "as GET /hardware).")
    def hardware() -> list[dict[str, Any]]:
        return [h.model_dump(mode="json") for h in advisor.hardware_table.values()]

    return server


def run_stdio(settings: Settings) -> None:
    """Load the advisor once and serve MCP on stdin/stdout until the client closes it."""
    build_server(Advisor.load(settings)).run("stdio")
