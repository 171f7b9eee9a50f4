"""Settings, read once from the environment (prefix ``ADVISOR_``); CLI flags override them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADVISOR_", extra="ignore")

    measurements_dir: Path = Field(_ROOT / "measurements",
                                   description="published and measured rows (training data)")
    models_dir: Path = Field(_ROOT / "models", description="fitted predictors and their card")
    catalog_dir: Path | None = Field(
        None, description="model catalog folder; default <measurements_dir>/catalog")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    default_context: int = Field(4096, ge=1)
    max_alternatives: int = Field(10, ge=0, le=100)

    @property
    def catalog_path(self) -> Path:
        return self.catalog_dir or self.measurements_dir / "catalog"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
