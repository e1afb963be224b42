"""The online server's settings: command-line flags over the ``serving:`` section of a pipeline file over
defaults. They travel to uvicorn's worker processes as JSON in an environment variable."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_nb import config, records
from mlops_nb.exceptions import ConfigError
from mlops_nb.serving.routing import Plan, parse_split

ENV_OPTIONS = "MLOPS_NB_SERVE_OPTIONS"
ENV_WEBHOOK_SECRET = "MLOPS_NB_WEBHOOK_SECRET"
SECTION_KEYS = {
    "alias", "canary", "shadow", "ab", "bandit", "log_dir", "max_body_bytes", "poll_seconds", "host", "port",
    "workers", "latency_budget_ms",
}  # fmt: skip


@dataclass
class ServeOptions:
    model: str
    plan: Plan = field(default_factory=Plan)
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    log: bool = True
    log_dir: str = ""
    feedback_dir: str = ""
    max_body_bytes: int = 10 * 2**20
    poll_seconds: float = 3.0
    webhook_secret: str | None = None
    seed: int | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["plan"] = self.plan.to_dict()
        data.pop("webhook_secret")  # travels in its own variable, never in the options
        return json.dumps(data)

    @classmethod
    def from_env(cls) -> ServeOptions:
        text = os.environ.get(ENV_OPTIONS)
        if not text:
            raise ConfigError(
                f"{ENV_OPTIONS} is not set.", hint="Start the server with `mlops-nb serve MODEL`."
            )
        data = json.loads(text)
        data["plan"] = Plan.from_dict(data["plan"])
        return cls(**data, webhook_secret=os.environ.get(ENV_WEBHOOK_SECRET) or None)


def model_folder(state: str, model: str) -> Path:
    """``<project>/.mlops/<state>/<model>``, the model's name made safe as a folder name."""
    return config.current().state_dir / state / re.sub(r"[^\w.\-]", "_", model)


def pipeline_section(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """The model name and the ``serving:`` section of a pipeline file."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Pipeline file {file} could not be read: {exc}") from None
    section = data.get("serving") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: 'serving' must be a mapping.")
    unknown = set(section) - SECTION_KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown keys in 'serving': {', '.join(sorted(unknown))}.",
                          hint=f"Use {', '.join(sorted(SECTION_KEYS))}.")  # fmt: skip
    model = (data.get("model") or {}).get("name") if isinstance(data.get("model"), dict) else None
    return model, section


def build(
    model: str | None,
    *,
    pipeline: str | None = None,
    flags: dict[str, Any] | None = None,
) -> ServeOptions:
    """Options from flags (None = not given) over the pipeline file's ``serving:`` section."""
    section: dict[str, Any] = {}
    if pipeline:
        pipeline_model, section = pipeline_section(pipeline)
        model = model or pipeline_model
    if not model:
        raise ConfigError("Name the model to serve (or give --pipeline with a model name).")
    merged = {**section, **{k: v for k, v in (flags or {}).items() if v is not None}}
    bandit = merged.get("bandit") or []
    if isinstance(bandit, str):
        bandit = [part.strip() for part in bandit.split(",") if part.strip()]
    plan = Plan(
        alias=str(merged.get("alias") or records.ALIAS_CHAMPION),
        canary=parse_split(merged["canary"], "--canary") if merged.get("canary") else None,
        ab=parse_split(merged["ab"], "--ab") if merged.get("ab") else None,
        bandit=[str(arm) for arm in bandit],
        shadow=str(merged["shadow"]) if merged.get("shadow") else None,
    )
    log_dir = merged.get("log_dir")
    options = ServeOptions(
        model=model,
        plan=plan,
        host=str(merged.get("host") or "127.0.0.1"),
        port=int(merged.get("port") or 5000),
        workers=int(merged.get("workers") or 1),
        log=not merged.get("no_log", False),
        log_dir=str(Path(log_dir).resolve())
        if log_dir
        else str(model_folder(records.STATE_INFERENCE_DIR, model)),
        feedback_dir=str(model_folder(records.STATE_FEEDBACK_DIR, model)),
        max_body_bytes=int(merged.get("max_body_bytes") or 10 * 2**20),
        poll_seconds=float(merged.get("poll_seconds") or 3.0),
        webhook_secret=merged.get("webhook_secret") or os.environ.get(ENV_WEBHOOK_SECRET) or None,
        seed=merged.get("seed"),
    )
    if options.workers < 1 or options.max_body_bytes < 1 or options.poll_seconds <= 0:
        raise ConfigError("workers, max_body_bytes and poll_seconds must be positive.")
    return options
