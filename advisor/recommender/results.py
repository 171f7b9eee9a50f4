"""What a recommendation answers with: typed, JSON-ready, every number with its provenance."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: llama-bench tests an answer reports for every candidate when the hardware is known:
#: test -> (prompt tokens, generated tokens).
SPEED_TESTS: dict[str, tuple[int, int]] = {"pp512": (512, 0), "tg128": (0, 128)}

ProvenanceKind = Literal["measured", "published", "predicted", "catalog", "computed"]


class Figure(BaseModel):
    """A number, its 90% interval when it has one, and where it came from."""

    model_config = ConfigDict(frozen=True)

    value: float
    low: float | None = None
    high: float | None = None
    unit: str = ""
    provenance: ProvenanceKind
    source: str = Field(description="source ids (published/measured), model version "
                        "(predicted), or the formula (computed)")


class MemoryFigures(BaseModel):
    """Memory needed to run the file, in bytes, each part computed by advisor.recommender.memory."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_buffer_bytes: int
    overhead_bytes: int
    total_bytes: int
    context: int
    cache_type: str
    assumptions: list[str] = Field(default_factory=list)


class Download(BaseModel):
    """Where to get the pick's GGUF file (cited data; nothing is looked up online)."""

    repo: str = Field(description="Hugging Face repo id, e.g. bartowski/Qwen_Qwen3-14B-GGUF")
    url: str
    kind: str = Field(description="official (the model maker's), bartowski, unsloth, "
                      "lmstudio-community, ggml-org or other")
    quant: str
    file_pattern: str | None = Field(
        None, description="the file name in the repo (* stands for the parts of a split file)")
    file_pattern_basis: str | None = Field(
        None, description="published (seen in a source) or convention (the uploader's naming)")
    quant_basis: Literal["listed", "assumed"] = Field(
        description="listed: a source shows this quant in the repo; assumed: the uploader "
        "publishes every llama.cpp quant type, this one was not itself seen")
    ollama_tag: str | None = Field(
        None, description="the model's Ollama library tag; Ollama chooses its quant")
    other_repos: list[str] = Field(default_factory=list,
                                   description="other repos holding this quant, by preference")
    source: str = Field(description="where the repo and its file names were read: source keys "
                        "(cited in measurements/sources_gguf.csv) or the page's URL")


class RunCommands(BaseModel):
    """Command lines that run the pick with llama.cpp (``-hf`` downloads the file on first use)."""

    llama_server: str
    llama_cli: str
    gpu_layers: int = Field(description="layers offloaded to the GPU (-ngl)")
    notes: list[str] = Field(default_factory=list)


class Placement(BaseModel):
    """Where a candidate's weights go when it runs split between the GPU and system RAM
    (``None`` on a candidate: everything on the device)."""

    kind: Literal["experts_on_cpu", "layers_on_cpu"] = Field(
        description="MoE routed experts of some layers in RAM (--n-cpu-moe), or whole layers "
        "in RAM (-ngl)")
    gpu_bytes: int
    cpu_bytes: int = Field(description="system RAM it needs: the tensors kept there, the token "
                           "embedding and the CPU's compute buffer")
    n_gpu_layers: int = Field(description="repeating layers on the GPU (-ngl)")
    n_cpu_moe: int = Field(description="MoE layers whose routed experts stay in RAM")
    flags: list[str] = Field(description="llama-server / llama-cli flags of the placement")
    host_bandwidth_gbs: float = Field(description="system memory bandwidth the speed assumes")
    source: str


class Candidate(BaseModel):
    """One model, answering in one mode, at one quant level."""

    model: str
    mode: str = Field(description="thinking (a reasoning trace before the answer) or "
                      "non-thinking; its capability and context are this mode's")
    family: str
    params_b: float
    quant: str
    quant_family: str
    bpw: Figure
    file_bytes: int
    memory: MemoryFigures
    fits: bool
    quality_score: Figure = Field(
        description="task-weighted full-precision capability x retention x the KV cache's "
        "cost, 0-100 scale (each category's scale: its anchor benchmark)")
    retention: Figure = Field(description="task-weighted fraction of full-precision quality kept "
                              "(the weights' and the KV cache's)")
    quality_by_task: dict[str, Figure] = Field(
        description="per task category: predicted score on the category's 0-100 scale (the "
        "weights' retention; the KV cache's cost is the answer's kv_cache_quality)")
    retention_by_task: dict[str, Figure]
    capability_by_task: dict[str, Figure] = Field(
        description="full-precision score per category (catalog), the scale of quality_by_task")
    placement: Placement | None = Field(
        None, description="set when the candidate runs with part of it in system RAM")
    speed: dict[str, Figure] = Field(
        default_factory=dict, description="tokens/s per llama-bench test (pp512, tg128), "
        "present when the hardware is known")
    download: Download | None = Field(
        None, description="where to get the file (the pick only; None where no repo is known)")
    run: RunCommands | None = Field(
        None, description="llama.cpp command lines for the pick (the pick only)")


class FrontPoint(BaseModel):
    """A point of the quality-against-memory Pareto front (compact, for charts)."""

    model: str
    mode: str
    quant: str
    params_b: float
    bpw: float
    total_bytes: int
    quality_score: float
    fits: bool


class RequestEcho(BaseModel):
    budget_bytes: int = Field(description="memory the answer is held to: vram, or the "
                              "hardware's own memory when that is known and smaller")
    budget: str
    task_mix: dict[str, float]
    context: int
    cache_type: str
    hardware: str | None
    threads: int | None = Field(
        None, description="CPU threads llama.cpp runs with that the speed figures assume "
        "(given or the device's; None = the speed predictor's default)")
    n_devices: int | None = Field(
        None, description="identical GPUs the model's layers are split over (llama.cpp "
        "--split-mode layer); None = one device. The budget is over all of them")
    min_tokens_per_s: float | None
    family: str | None
    models: list[str] | None
    mode: str = Field("auto", description="auto (every mode a model has), thinking or "
                      "non-thinking")
    contexts: dict[str, int] = Field(
        default_factory=dict, description="tokens each mode's answers are sized for: the "
        "context asked for, or the defaults (non-thinking: a prompt and a reply; thinking: "
        "room for the reasoning trace)")
    context_given: bool = True
    ram_bytes: int | None = Field(None, description="system RAM offloaded placements may use")
    ram_bandwidth_gbs: float | None = None
    gpu_limit_bytes: int | None = Field(
        None, description="on unified memory (Apple, AMD APUs, DGX Spark): what the GPU may use "
        "by default, bytes; the budget is held to it")


class Recommendation(BaseModel):
    request: RequestEcho
    pick: Candidate
    alternatives: list[Candidate]
    pareto_front: list[FrontPoint] = Field(
        description="candidates no other candidate beats on both quality and memory, by memory")
    explanation: str
    notes: list[str] = Field(default_factory=list)
    kv_cache_quality: Figure | None = Field(
        None, description="what the KV cache type costs retention, as a factor (1 = none; f16 "
        "is the reference): every candidate's quality_score and retention include it, its "
        "per-task figures do not. None: no published rows price this cache type")
    predictor_version: str
    candidates_considered: int
    candidates_fitting: int
