"""``quant-advisor export``: the database's rows, written in the ``measurements/`` format.

Register with ``cli.add_command(export)`` in :mod:`advisor.cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from advisor.data.dataset import write_rows
from advisor.service.store import Store, StoreError
from advisor.vocabulary.schema import QualityRow, SpeedRow
from advisor.vocabulary.settings import get_settings


def export_rows(store: Store, out_dir: Path) -> dict[str, int]:
    """Write ``quality.jsonl`` and ``speed.jsonl`` (atomically) under ``out_dir``."""
    rows = list(store.iter_rows())
    out_dir = Path(out_dir)
    return {
        "quality": write_rows(out_dir / "quality.jsonl",
                              [r for r in rows if isinstance(r, QualityRow)]),
        "speed": write_rows(out_dir / "speed.jsonl",
                            [r for r in rows if isinstance(r, SpeedRow)]),
    }


@click.command("export")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder to write quality.jsonl and speed.jsonl to (e.g. "
              "measurements/service/ to train on them from files).")
@click.option("--json", "as_json", is_flag=True, help="Print the row counts as JSON.")
def export(out: Path, as_json: bool) -> None:
    """Write the service database's measurement rows in the measurements/ format."""
    settings = get_settings()
    try:
        store = Store.open(settings.sqlalchemy_url)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    try:
        counts = export_rows(store, out)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"wrote {counts['quality']} quality and {counts['speed']} speed rows "
                   f"to {out}", err=True)
