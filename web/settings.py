"""Settings of the web app, read from ``ORGLOAD_WEB_*`` environment variables (one typed object)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from orgload.errors import ConfigurationError


class WebSettings(BaseSettings):
    """How the web app serves: address, cookies, upload size, Prefect."""

    model_config = SettingsConfigDict(env_prefix="ORGLOAD_WEB_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address uvicorn listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port uvicorn listens on.")
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The app's public address, for the set-password links.",
    )
    secure_cookies: bool = Field(
        default=True,
        description="Mark cookies Secure (HTTPS only). Turn off only for http://127.0.0.1 "
        "in development and tests: browsers drop Secure cookies over plain HTTP.",
    )
    upload_overhead_kb: int = Field(
        default=64,
        ge=1,
        le=10_240,
        description="Bytes of multipart framing allowed on top of the upload size limit, in KB.",
    )
    workers: int = Field(
        default=1, ge=1, le=8, description="Background threads that apply confirmed loads."
    )
    off_peak_poll_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How often the app's worker looks for uploads waiting for the off-peak "
        "window (without a Prefect API; with one, the scheduled-validation job applies them).",
    )
    sign_in_slow_seconds: float = Field(
        default=1.0,
        ge=0.1,
        le=600,
        description="After the third failed sign-in of an address, how long its next attempt "
        "must wait (doubling with each further failure); the fifth failure locks it.",
    )
    prefect_api_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PREFECT_API_URL", "ORGLOAD_WEB_PREFECT_API_URL"),
        description="Set: a confirm triggers the monthly-load deployment instead of a worker.",
    )
    prefect_ui_url: str | None = Field(
        default=None, description="Base URL of the Prefect UI, for links to flow runs."
    )
    deployment: str = Field(
        default="monthly-load/monthly-load", description="The deployment a confirm triggers."
    )


def load_web_settings() -> WebSettings:
    try:
        return WebSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid web configuration: {problems}") from exc
