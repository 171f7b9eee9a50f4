"""Settings, read once from the environment (prefix ``ADVISOR_``); CLI flags override them.

Unsafe combinations are refused when the settings are built, so a misconfigured service never
starts: write endpoints (measurements, retraining, rollback) need ``ADVISOR_API_TOKEN`` unless
``ADVISOR_LOCAL_MODE`` is true; local mode defaults to true only on a loopback host.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ROOT = Path(__file__).resolve().parents[2]
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADVISOR_", extra="ignore")

    measurements_dir: Path = Field(_ROOT / "measurements",
                                   description="published and measured rows (training data)")
    models_dir: Path = Field(_ROOT / "models",
                             description="the shipped predictors and their card (read only)")
    catalog_dir: Path | None = Field(
        None, description="model catalog folder; default <measurements_dir>/catalog")
    data_dir: Path = Field(_ROOT / "var", description="service state: the embedded database "
                           "and retrained predictor versions")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@host/db; "
        "default: SQLite (WAL) at <data_dir>/advisor.sqlite3")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    default_context: int = Field(4096, ge=1)
    max_alternatives: int = Field(5, ge=0, le=100)
    answer_cache_entries: int = Field(
        1024, ge=0, le=1_000_000, description="/recommend answers kept, least recently used "
        "dropped first (about 40 kB each); 0 turns the cache off")
    # -- the team service -------------------------------------------------------------------
    api_token: SecretStr | None = Field(None, description="bearer token for write endpoints")
    local_mode: bool | None = Field(
        None, description="allow writes without a token; default: true on a loopback host")
    writes_enabled: bool = Field(True, description="serve the write endpoints at all")
    cors_origins: list[str] = Field(default_factory=list,
                                    description="origins allowed by CORS (JSON list)")
    max_request_bytes: int = Field(2_000_000, ge=1024, le=100_000_000)
    max_batch_rows: int = Field(1000, ge=1, le=100_000)
    retrain_tolerance: float = Field(
        0.10, ge=0, le=10, description="a retrained version may have held-out errors at most "
        "this fraction worse than the serving one and still be promoted")
    eval_device_folds: int | None = Field(
        None, ge=2, le=1000, description="groups of devices the speed evaluation of a "
        "retraining holds out in turn; default: one device at a time (a retraining takes "
        "about 18 minutes on 2 cores; with 10 groups about 6)")
    retrain_lease_s: float = Field(300.0, gt=0, description="retrain lock lease, renewed "
                                   "while training; a crashed holder loses it after this")
    log_json: bool = Field(True, description="JSON log lines (serve)")
    access_log: bool = Field(True, description="one log line per HTTP request (serve)")
    workers: int = Field(2, ge=1, le=64, description="uvicorn worker processes (serve); "
                         "2 measured best on a 2-core machine (benchmarks/load_recommend.py)")
    version_poll_s: float = Field(
        1.0, gt=0, le=3600, description="how often a process checks which predictor version "
        "the registry says serves, so every worker follows a promotion or rollback")

    @property
    def catalog_path(self) -> Path:
        return self.catalog_dir or self.measurements_dir / "catalog"

    @property
    def added_models_path(self) -> Path:
        """Models the user added from their GGUF files (``quant-advisor models add``)."""
        return self.data_dir / "models_added.csv"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'advisor.sqlite3'}"

    @property
    def versions_dir(self) -> Path:
        """Retrained predictor versions: ``<data_dir>/models/versions/<id>/``."""
        return self.data_dir / "models"

    @property
    def writes_open(self) -> bool:
        """Writes are allowed without a token (local mode and no token set)."""
        return self.api_token is None and bool(self.effective_local_mode)

    @property
    def effective_local_mode(self) -> bool:
        return is_loopback(self.host) if self.local_mode is None else self.local_mode

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        token = self.api_token.get_secret_value() if self.api_token is not None else None
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"ADVISOR_API_TOKEN must have at least {MIN_TOKEN_CHARS} "
                             f"characters, got {len(token)}")
        if self.writes_enabled and token is None and not self.effective_local_mode:
            raise ValueError(
                f"write endpoints are enabled without a token on host {self.host!r}; allowed: "
                "set ADVISOR_API_TOKEN, or ADVISOR_LOCAL_MODE=true, or "
                "ADVISOR_WRITES_ENABLED=false")
        if self.database_url is not None and not self.database_url.startswith(
                ("sqlite", "postgresql")):
            raise ValueError("ADVISOR_DATABASE_URL must be a sqlite:// or postgresql:// URL, "
                             f"got scheme {self.database_url.split(':', 1)[0]!r}")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
