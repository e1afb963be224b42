"""``mlops-nb reproduce``: run a registered model's pipeline again from its record alone and compare the metrics.

1. Read the record (`lineage_record`): commit and uncommitted diff, notebook hash, pipeline file or release,
   parameters, seeds, data, environment.
2. Check the code out at that commit in a temporary worktree, apply the diff, check the notebook's hash (`checkout`).
3. Bring the data back: dataset version, ingested snapshot, or the source checked against its digest (`recorded_data`).
4. Compare the environment with the recorded packages (a warning; refused with `strict_env`).
5. Run the same pipeline (same parameters and environment, nothing registered) and compare its metrics with the
   recorded ones within `tolerance`. The reproduction run and the original are tagged with each other, and the
   verdict is tagged on both and on the model version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlops_nb import records, store
from mlops_nb.capture import code
from mlops_nb.exceptions import PipelineFailedError, ReproductionRefusedError, UsageError
from mlops_nb.pipelines import checkout as checkout_mod
from mlops_nb.pipelines import lineage_record, recorded_data
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.pipelines.lineage_record import Record


@dataclass(frozen=True)
class ReproduceOptions:
    """How to reproduce (see the module docstring)."""

    tolerance: float = 0.0  # largest absolute difference of a metric that still matches
    data: str = "auto"  # one of recorded_data.MODES
    allow_data_change: bool = False
    strict_env: bool = False
    progress: bool = True


@dataclass
class Reproduction:
    """What a reproduction found; ``to_dict()`` is the ``--json`` form."""

    record: Record
    verdict: str  # records.VERDICT_*
    reason: str
    run_id: str | None
    tolerance: float
    metrics: list[dict[str, Any]] = field(
        default_factory=list
    )  # metric, recorded, reproduced, difference, match
    data: dict[str, Any] = field(default_factory=dict)
    environment: list[dict[str, Any]] = field(default_factory=list)  # package, recorded, current
    seeds: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def matched(self) -> bool:
        """True when every recorded metric was reproduced within the tolerance."""
        return self.verdict == records.VERDICT_REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "run_id": self.run_id,
            "reproduces": self.record.pipeline_run_id,
            "tolerance": self.tolerance,
            "metrics": self.metrics,
            "data": self.data,
            "environment": self.environment,
            "seeds": self.seeds,
            "record": self.record.to_dict(),
            "seconds": self.seconds,
            "original_seconds": self.record.seconds,
        }


def reproduce(
    model: str | None = None,
    version: str | int | None = None,
    *,
    run_id: str | None = None,
    options: ReproduceOptions | None = None,
) -> Reproduction:
    """Reproduce version `version` of `model` (or the pipeline run `run_id`) from its record.

    Parameters
    ----------
    model, version : the registered model version to reproduce; or
    run_id : a pipeline run (or one of its step runs).
    options : tolerance, data mode, data-change and environment policies, progress bars.

    Raises
    ------
    NotFoundError : the version, its runs, its commit or its recorded files are missing.
    ConfigError : the recorded diff does not apply, or the notebook brought back has another content hash.
    ReproductionRefusedError : the data source changed (without ``allow_data_change``), or the environment
        differs (with ``strict_env``).
    A reproduction whose pipeline fails returns the verdict ``failed`` instead of raising.
    """
    options = options or ReproduceOptions()
    if not 0 <= options.tolerance <= math.inf:  # NaN too: no metric would ever match it
        raise UsageError(f"The tolerance must be 0 or more, not {options.tolerance}.")
    client = store.client()
    record = lineage_record.read(client, model, version, run_id)
    environment = environment_changes(record.packages or "", code.packages())
    if record.python and record.python != sys.version.split()[0]:
        environment.insert(
            0, {"package": "python", "recorded": record.python, "current": sys.version.split()[0]}
        )
    if options.strict_env and environment:
        raise ReproductionRefusedError(
            f"The environment differs from the one {record.what} was trained in: {_describe(environment)}.",
            hint="Install the recorded versions (environment/packages.txt of the training run), or reproduce "
            "without --strict-env to see whether the metrics still match.",
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlops-nb-reproduce-") as tmp, _code(record) as pipeline:
        spec = spec_mod.load(pipeline).for_env(record.env)
        data = recorded_data.restore(
            record,
            spec.data,
            Path(tmp) / "data",
            client,
            mode=options.data,
            allow_change=options.allow_data_change,
        )
        spec = dataclasses.replace(
            spec, data=data.source or spec.data, experiment=record.experiment, tracking_uri=None, env=None
        )
        result = _run(spec, record, data, options)
    reproduction = _verdict(client, record, result, options.tolerance)
    reproduction.data = data.to_dict()
    reproduction.environment = environment
    reproduction.seeds = record.seeds(spec.test_split.seed)
    reproduction.seconds = time.monotonic() - started
    _link(client, record, reproduction)
    return reproduction


@contextlib.contextmanager
def _code(record: Record) -> Iterator[Path]:
    """The pipeline file to run, with its notebook, as recorded: a release's pinned files, or the commit
    (plus the recorded diff) in a temporary worktree; the notebook's content hash checked."""
    from mlops_nb import config
    from mlops_nb.pipelines import release as release_mod

    root = config.current().root
    if record.release:
        env, _, number = record.release.partition("#")
        found = release_mod.get(record.pipeline_name, env, int(number))
        with contextlib.ExitStack() as stack:
            if record.commit:  # the release's notebook beside the code of its commit
                repo = checkout_mod.repository(root)
                worktree = stack.enter_context(
                    checkout_mod.checkout(repo, record.commit, None, what=record.what)
                )
                folder = worktree.path(root / found.pipeline_file).parent
            else:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlops-nb-release-")))
            pipeline = release_mod.materialize(found, folder)
            checkout_mod.check_notebook(
                spec_mod.load(pipeline).notebook, record.notebook_hash, what=record.what
            )
            yield pipeline
        return
    if not record.commit:
        raise UsageError(
            f"{record.what} records no git commit: its notebook was not in a git repository, so its code "
            "cannot be brought back.",
            hint="Keep notebooks in git; a release (mlops-nb release) also pins the notebook.",
        )
    original = Path(record.pipeline_file)
    repo = checkout_mod.repository(original if original.parent.is_dir() else root)
    with checkout_mod.checkout(repo, record.commit, record.diff, what=record.what) as worktree:
        pipeline = worktree.path(original)
        raw = yaml.safe_load(record.pipeline_text) or {}
        notebook = Path(_absolute(original.parent, str(raw.get("notebook", ""))))
        raw["notebook"] = str(worktree.path(notebook))
        for data in _data_sections(raw):  # the data is not in the code: its sources stay where they were
            data["source"] = _absolute(original.parent, data["source"])
        pipeline.parent.mkdir(parents=True, exist_ok=True)
        pipeline.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        _notebook_from_snapshot(record, worktree.path(notebook))
        checkout_mod.check_notebook(worktree.path(notebook), record.notebook_hash, what=record.what)
        yield pipeline


def _data_sections(raw: dict[str, Any]) -> list[dict[str, Any]]:
    envs = raw.get("environments") or {}
    sections = [raw.get("data"), *(e.get("data") for e in envs.values() if isinstance(e, dict))]
    return [d for d in sections if isinstance(d, dict) and isinstance(d.get("source"), str)]


def _absolute(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _notebook_from_snapshot(record: Record, path: Path) -> None:
    """A notebook that was never committed (git tracks no such file) comes from the training run's snapshot."""
    if path.exists() or not record.notebook_snapshot:
        return
    client = store.client()
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder, contextlib.suppress(Exception):
        local = Path(client.download_artifacts(record.training_run_id, record.notebook_snapshot, folder))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(local.read_bytes())


def _run(
    spec: spec_mod.PipelineSpec, record: Record, data: recorded_data.RestoredData, options: ReproduceOptions
) -> Any:
    """The reproduction's pipeline run: its result, finished or failed."""
    from mlops_nb.pipelines import run as run_mod

    run_options = run_mod.RunOptions(
        parameters=record.parameters,
        register=False,
        progress=options.progress,
        extra_tags={
            records.RUN_NAME: f"{spec.name} (reproduction)",
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_REPRODUCTION,
            records.TAG_REPRODUCTION_OF: record.pipeline_run_id,
            records.TAG_REPRODUCTION_DATA: data.origin,
            records.TAG_RELEASE: record.release or records.RELEASE_WORKING_COPY,
        },
        fixed_watermark=True,
        watermark_after=data.watermark_after,
        snapshot=data.snapshot,
        enforce_gates=False,
    )
    try:
        return run_mod.run(spec, run_options)
    except PipelineFailedError as exc:
        if exc.result is None:
            raise
        return exc.result


def _verdict(client: Any, record: Record, result: Any, tolerance: float) -> Reproduction:
    """Recorded vs reproduced metrics, and the verdict."""
    reproduction = Reproduction(record, records.VERDICT_REPRODUCED, "", result.run_id, tolerance)
    if result.status != "FINISHED":
        reproduction.verdict = records.VERDICT_FAILED
        reproduction.reason = f"the reproduction's pipeline run {result.status.lower()}: {result.error}"
        return reproduction
    reproduced = client.get_run(result.run_id).data.metrics
    differing = []
    for name in sorted(record.metrics):
        recorded, now = record.metrics[name], reproduced.get(name)
        difference = None if now is None else abs(now - recorded)
        match = difference is not None and difference <= tolerance
        reproduction.metrics.append(
            {
                "metric": name,
                "recorded": recorded,
                "reproduced": now,
                "difference": difference,
                "match": match,
            }
        )
        if not match:
            differing.append(name if now is not None else f"{name} (not reproduced)")
    if not record.metrics:
        reproduction.verdict, reproduction.reason = records.VERDICT_DIFFERS, "the record holds no metrics"
    elif differing:
        reproduction.verdict = records.VERDICT_DIFFERS
        reproduction.reason = f"{', '.join(differing)} differ by more than the tolerance {tolerance:g}"
    else:
        reproduction.reason = f"all {len(record.metrics)} metrics match within {tolerance:g}"
    return reproduction


def _link(client: Any, record: Record, reproduction: Reproduction) -> None:
    """Tag the reproduction run, the original pipeline run and the model versions with each other and the verdict."""
    if reproduction.run_id is None:
        return
    gateway = store.Writer(client)
    verdict = {records.TAG_REPRODUCE_VERDICT: reproduction.verdict}
    gateway.set_tags(reproduction.run_id, verdict)
    gateway.log_dict(reproduction.run_id, reproduction.to_dict(), records.ARTIFACT_REPRODUCTION)
    gateway.set_tags(record.pipeline_run_id, {records.TAG_REPRODUCED_BY: reproduction.run_id, **verdict})
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for name, number in record.versions:
        gateway.set_version_tags(
            name,
            number,
            {
                **verdict,
                records.TAG_REPRODUCE_RUN: reproduction.run_id,
                records.TAG_REPRODUCE_AT: at,
                records.TAG_REPRODUCE_SUMMARY: reproduction.reason,
            },
        )


def environment_changes(recorded: str, current: str) -> list[dict[str, Any]]:
    """The packages whose version differs between two ``name==version`` lists (None: absent from one)."""
    before, now = _packages(recorded), _packages(current)
    return [
        {"package": name, "recorded": before.get(name), "current": now.get(name)}
        for name in sorted(set(before) | set(now))
        if before.get(name) != now.get(name)
    ]


def _packages(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            found[name.lower().replace("_", "-").replace(".", "-")] = version
    return found


def _describe(changes: list[dict[str, Any]], limit: int = 8) -> str:
    shown = [f"{c['package']} {c['recorded'] or '(absent)'} -> {c['current'] or '(absent)'}" for c in changes]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def render(reproduction: Reproduction) -> str:
    """The readable report: what was reproduced, from what, the environment's differences and the metrics."""
    record = reproduction.record
    commit = (record.commit or "no commit")[:12] + (" + recorded diff" if record.diff else "")
    lines = [
        f"reproduce {record.what}: pipeline run {record.pipeline_run_id}",
        f"  code: {f'release {record.release}, ' if record.release else ''}commit {commit}",
        f"  parameters: {', '.join(f'{k}={v}' for k, v in sorted(record.parameters.items())) or '(none)'}",
        f"  seeds: {', '.join(f'{k}={v}' for k, v in reproduction.seeds.items())}",
        f"  data: {reproduction.data.get('origin', '?')}",
    ]
    change = reproduction.data.get("change")
    if change:
        lines.append("  data changed since the record (--allow-data-change): see the report's data.change")
    if reproduction.environment:
        lines.append(f"  warning: environment differs: {_describe(reproduction.environment)}")
    if reproduction.metrics:
        width = max(len(m["metric"]) for m in reproduction.metrics)
        lines.append(f"  {'metric':<{width}}  {'recorded':>12}  {'reproduced':>12}  {'difference':>10}")
        for m in reproduction.metrics:
            now = "-" if m["reproduced"] is None else f"{m['reproduced']:.6g}"
            diff = "-" if m["difference"] is None else f"{m['difference']:.3g}"
            mark = "ok" if m["match"] else "DIFFERS"
            lines.append(f"  {m['metric']:<{width}}  {m['recorded']:>12.6g}  {now:>12}  {diff:>10}  {mark}")
    lines.append(f"  tolerance {reproduction.tolerance:g}")
    original = record.seconds
    ratio = f" ({reproduction.seconds / original:.2f}x the original's {original:.1f} s)" if original else ""
    lines.append(
        f"{reproduction.verdict}: {reproduction.reason}; reproduction run {reproduction.run_id}, "
        f"{reproduction.seconds:.1f} s{ratio}"
    )
    return "\n".join(lines)
