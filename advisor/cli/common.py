"""What the commands share: the error-to-exit-status mapping and the options of a recommendation
(``recommend`` and ``plot recommend`` take the same ones)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from advisor.vocabulary.errors import AdvisorError, InvalidInputError, NothingFitsError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_INPUT, EXIT_NOTHING_FITS, EXIT_FAILURE = 2, 3, 1


def errors_to_exit(func: F) -> F:
    """Turn the project's errors into a one-line message on stderr and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NothingFitsError as e:
            click.echo(f"quant-advisor: {e}", err=True)
            sys.exit(EXIT_NOTHING_FITS)
        except InvalidInputError as e:
            where = f" ({e.parameter})" if e.parameter else ""
            click.echo(f"quant-advisor: bad input{where}: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except AdvisorError as e:
            click.echo(f"quant-advisor: {e}", err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]



_VRAM_HELP = "Memory budget: 24GB, 24GiB, 24000MB or 24 (GB)."
_RECOMMEND_OPTIONS: list[Callable[[F], F]] = [
    click.option("--task", default="reasoning", show_default=True,
                  help="Category or mix: reasoning, math, coding, knowledge, "
                  "instruction_following, language; e.g. reasoning:0.7,coding:0.3."),
    click.option("--context", type=int, default=None, help="Context length in tokens [4096]."),
    click.option("--cache-type", default="f16", show_default=True,
                 help="KV cache: f16, q8_0, q4_0."),
    click.option("--hardware", default=None,
                  help="A device name from `quant-advisor hardware`; several identical GPUs as "
                  "'RTX 3090 x2' or '2x RTX 3090' (or use --devices)."),
    click.option("--hardware-kind", default=None, help="gpu, apple, cpu or apu (with specs)."),
    click.option("--bandwidth-gbs", type=float, default=None, help="Memory bandwidth, GB/s."),
    click.option("--fp16-tflops", type=float, default=None, help="FP16 TFLOPS."),
    click.option("--hardware-memory-gb", type=float, default=None, help="Device memory, GB."),
    click.option("--threads", type=int, default=None,
                  help="CPU threads llama.cpp runs with, 1-1024 (needs hardware; overrides the "
                  "device's; only changes the speed of CPU devices)."),
    click.option("--devices", type=int, default=None,
                  help="Identical GPUs the model's layers are split over, 1-16 (llama.cpp "
                  "--split-mode layer; needs hardware); --vram is then the budget over all of "
                  "them."),
    click.option("--min-tokens-per-s", type=float, default=None,
                  help="Minimum generation speed (needs hardware)."),
    click.option("--family", default=None, help="Only models of this family."),
    click.option("--model", "models", multiple=True, help="Only these models (repeatable)."),
    click.option("--alternatives", type=int, default=None, help="How many alternatives [10]."),
    click.option("--ram", default=None,
                 help="System RAM beside the GPU that offloaded placements may use (MoE "
                 "experts or layers on the CPU), e.g. 64GB; needs --hardware."),
    click.option("--ram-bandwidth-gbs", type=float, default=None,
                 help="System memory bandwidth, GB/s [51.2: dual-channel DDR4-3200]."),
    click.option("--mode", default="auto", show_default=True,
                 help="auto (rank each model in every mode it has), thinking or non-thinking; "
                 "without --context a thinking answer is sized for 32768 tokens."),
]


def recommend_options(command: F | None = None, *, detect: bool = False) -> Any:
    """Add the options of a recommendation (budget, task, context, hardware, filters); with
    ``detect``, also ``--detect`` (fill the budget and hardware from this machine), and
    ``--vram`` is then optional."""

    def add(command: F) -> F:
        vram = click.option("--vram", required=not detect, default=None,
                            help=_VRAM_HELP + (" Optional with --detect." if detect else ""))
        options = [vram, *_RECOMMEND_OPTIONS]
        if detect:
            options.append(click.option(
                "--detect", is_flag=True, help="Fill --vram, the RAM and --hardware from this "
                "machine (see `quant-advisor detect`) where they are not given."))
        for option in reversed(options):
            command = option(command)
        return command

    return add(command) if command is not None else add
