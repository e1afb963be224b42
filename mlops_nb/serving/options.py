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
    if not isinstance(bandit, list) or (merged.get("bandit") and not bandit):
        raise ConfigError("bandit must list aliases, e.g. --bandit champion,challenger.")
    plan = Plan(
        alias=_text(merged, "alias") or records.ALIAS_CHAMPION,
        canary=parse_split(merged["canary"], "--canary") if merged.get("canary") else None,
        ab=parse_split(merged["ab"], "--ab") if merged.get("ab") else None,
        bandit=[str(arm) for arm in bandit],
        shadow=_text(merged, "shadow"),
    )
    log_dir = _text(merged, "log_dir")
    options = ServeOptions(
        model=model,
        plan=plan,
        host=_text(merged, "host") or "127.0.0.1",
        port=int(_number(merged, "port", int, 5000, low=1, high=65535)),
        workers=int(_number(merged, "workers", int, 1, low=1, high=512)),
        log=not merged.get("no_log", False),
        log_dir=str(Path(log_dir).resolve())
        if log_dir
        else str(model_folder(records.STATE_INFERENCE_DIR, model)),
        feedback_dir=str(model_folder(records.STATE_FEEDBACK_DIR, model)),
        max_body_bytes=int(_number(merged, "max_body_bytes", int, 10 * 2**20, low=1, high=2**40)),
        poll_seconds=_number(merged, "poll_seconds", float, 3.0, low=0.01, high=86400.0),
        webhook_secret=merged.get("webhook_secret") or os.environ.get(ENV_WEBHOOK_SECRET) or None,
        seed=merged.get("seed"),
    )
    if options.log:
        _check_folder(options.log_dir)
    return options


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')} (serving.{key})"


def _text(merged: dict[str, Any], key: str) -> str | None:
    value = merged.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"{_flag(key)} must be a single value, not {type(value).__name__}.")
    return str(value)


def _number(
    merged: dict[str, Any], key: str, kind: type, default: float, *, low: float, high: float
) -> float:
    """A numeric setting in [low, high] (the default when not given); a ConfigError naming it otherwise."""
    value = merged.get(key)
    if value is None:
        return default
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{_flag(key)} must be {what} from {low} to {high}; it is {value!r:.60}.")
    return number


def _check_folder(folder: str) -> None:
    """The inference log folder exists or can be made, and is writable."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"The inference log folder {path} cannot be created: {exc.strerror}.",
            hint="Give a writable --log-dir (serving.log_dir), or --no-log.",
        ) from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"The inference log folder {path} is not writable.",
                          hint="Give a writable --log-dir (serving.log_dir), or --no-log.")  # fmt: skip
