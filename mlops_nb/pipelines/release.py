"""Releases: a pipeline's content pinned per environment, what scheduled and triggered runs execute.

A release of pipeline P to environment E is one MLflow run in the experiment ``mlops-nb-releases`` (so releases
live in whichever store the project uses): the pipeline file and the notebook themselves are its artifacts; its
tags give the number (1, 2, ... per (P, E)), the notebook's content hash, the pipeline file's hash, the git
commit, the author, the time and the smoke test's result.

- ``release()`` runs the pipeline's smoke test (``validate`` with E's data) on the pinned copy and refuses the
  release when it fails, leaving the previous release current. An environment after another in the pipeline's
  ``release_order`` (prod after staging) needs the same content released there first, unless forced with a reason.
- The current release of (P, E) is the highest-numbered one that passed and was not rolled back; ``rollback()``
  marks the current one rolled back (who, when, why), so the previous one is current again.
- Numbers are claimed before the smoke test. On the embedded store the claim holds a file lock; on a tracking
  server (no shared lock) a claim writes the number, then the time it was claimed (taken once the number is
  visible), then reads the other claims of that number: it holds only if all of them claimed later; otherwise it
  takes the next number (two claims may both move on, leaving a gap). Two claims never both hold as long as the
  hosts' clocks agree to within the time a write takes.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlops_nb import config, records, store
from mlops_nb.exceptions import NotFoundError, ReleaseRefusedError, StoreError, UsageError

_PAGE = 1000


@dataclass(frozen=True)
class Release:
    """One numbered release of a pipeline to an environment."""

    pipeline: str  # the pipeline's `name`
    env: str
    number: int  # 1, 2, ... per (pipeline, env)
    notebook_hash: str
    commit: str | None
    created: str  # ISO 8601 UTC
    author: str
    smoke_passed: bool
    run_id: str = ""  # the release's run in RELEASE_EXPERIMENT
    pipeline_hash: str = ""
    pipeline_file: str = ""  # the pipeline file's path when released (relative to the project root)
    smoke_run_id: str | None = None
    forced_reason: str | None = None  # why the release order was overridden
    rolled_back: str | None = None  # JSON {by, at, reason, to} once rolled back
    pending: bool = False  # its smoke test has not finished

    @property
    def tag_value(self) -> str:
        """The value of the tag ``mlops_nb.release`` on runs of this release."""
        return f"{self.env}#{self.number}"

    @property
    def live(self) -> bool:
        """True when the release may be current: it passed its smoke test and was not rolled back."""
        return self.smoke_passed and not self.pending and not self.rolled_back

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {**dataclasses.asdict(self), "tag_value": self.tag_value}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _from_run(run: Any) -> Release:
    tags = run.data.tags
    smoke = tags.get(records.TAG_RELEASE_SMOKE, "pending")
    return Release(
        pipeline=tags[records.TAG_RELEASE_PIPELINE],
        env=tags[records.TAG_RELEASE_ENV],
        number=int(tags[records.TAG_RELEASE_NUMBER]),
        notebook_hash=tags.get(records.TAG_NOTEBOOK_HASH, ""),
        commit=tags.get(records.SOURCE_GIT_COMMIT),
        created=tags.get(records.TAG_RELEASE_CREATED, ""),
        author=tags.get(records.TAG_RELEASE_AUTHOR, ""),
        smoke_passed=smoke == "passed" and run.info.status == "FINISHED",
        run_id=run.info.run_id,
        pipeline_hash=tags.get(records.TAG_RELEASE_PIPELINE_HASH, ""),
        pipeline_file=tags.get(records.TAG_RELEASE_PIPELINE_FILE, ""),
        smoke_run_id=tags.get(records.TAG_RELEASE_SMOKE_RUN),
        forced_reason=tags.get(records.TAG_RELEASE_FORCED),
        rolled_back=tags.get(records.TAG_RELEASE_ROLLED_BACK),
        pending=smoke == "pending" and run.info.status == "RUNNING",
    )


def _experiment(settings: config.Settings | None) -> str | None:
    found = store.client(settings).get_experiment_by_name(records.RELEASE_EXPERIMENT)
    return found.experiment_id if found is not None else None


def _quoted(value: str) -> str:
    """`value` inside a single-quoted MLflow filter string (a name typed on the command line)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _runs(pipeline: str, env: str | None, settings: config.Settings | None) -> list[Any]:
    experiment = _experiment(settings)
    if experiment is None:
        return []
    query = f"tags.`{records.TAG_RELEASE_PIPELINE}` = '{_quoted(pipeline)}'"
    if env is not None:
        query += f" and tags.`{records.TAG_RELEASE_ENV}` = '{_quoted(env)}'"
    client = store.client(settings)
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment], query, max_results=_PAGE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def releases(pipeline: str, env: str | None = None, settings: config.Settings | None = None) -> list[Release]:
    """Every release of `pipeline` (in `env`, or in every environment), by environment then number."""
    found = [_from_run(run) for run in _runs(pipeline, env, settings)]
    return sorted(found, key=lambda r: (r.env, r.number, r.created))


def current(pipeline: str, env: str, settings: config.Settings | None = None) -> Release | None:
    """The release of `pipeline` that runs in `env`: the newest that passed and was not rolled back."""
    live = [r for r in releases(pipeline, env, settings) if r.live]
    return live[-1] if live else None


def get(
    pipeline: str, env: str, number: int | None = None, settings: config.Settings | None = None
) -> Release:
    """Release `number` of `pipeline` in `env` (default: the current one); NotFoundError when there is none."""
    if number is None:
        found = current(pipeline, env, settings)
    else:
        found = next((r for r in releases(pipeline, env, settings) if r.number == number), None)
    if found is None:
        which = "no current release" if number is None else f"no release {number}"
        raise NotFoundError(
            f"{pipeline} has {which} in {env}.",
            hint=f"List them with `mlops-nb release list {pipeline} --env {env}`.",
        )
    return found


def status(release: Release, current_number: int | None) -> str:
    """How `release` stands: current, superseded, rolled back, refused or pending."""
    if release.pending:
        return "pending"
    if not release.smoke_passed:
        return "refused"
    if release.rolled_back:
        return "rolled back"
    return "current" if release.number == current_number else "superseded"


# the pinned files


@dataclass(frozen=True)
class _Content:
    """The pipeline file's text and the notebook's bytes, read once: what is tested is what is stored."""

    name: str
    pipeline_name: str  # the pipeline file's name
    pipeline_text: str
    notebook_name: str
    notebook_bytes: bytes
    origin: Path  # the folder of the pipeline file in the working copy (for relative data paths)

    @property
    def pipeline_hash(self) -> str:
        return hashlib.sha256(self.pipeline_text.encode()).hexdigest()

    @property
    def notebook_hash(self) -> str:
        from mlops_nb.capture.code import notebook_hash

        return notebook_hash(json.loads(self.notebook_bytes))


def _read_content(pipeline: Path) -> tuple[_Content, Path]:
    """The content to release and the working copy's notebook path."""
    from mlops_nb.pipelines import spec as spec_mod

    spec = spec_mod.load(pipeline)  # checks the file (and the notebook's parameters cell) first
    text = spec.path.read_text(encoding="utf-8")
    content = _Content(
        spec.name, spec.path.name, text, spec.notebook.name, spec.notebook.read_bytes(), spec.path.parent
    )
    return content, spec.notebook


def _absolute(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _write(content: _Content, folder: Path, label: str) -> Path:
    """Write the pinned notebook and a pipeline file pointing at it into `folder`; returns the pipeline file.

    The pipeline file is the released one with its `name` made explicit, `notebook` naming the pinned copy and
    relative data sources made absolute (against the released file's folder): the data is not pinned."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / content.notebook_name).write_bytes(content.notebook_bytes)
    raw = yaml.safe_load(content.pipeline_text)
    raw["name"] = content.name
    raw["notebook"] = content.notebook_name
    envs = raw.get("environments") or {}
    for data in [raw.get("data"), *(e.get("data") for e in envs.values() if isinstance(e, dict))]:
        if isinstance(data, dict) and isinstance(data.get("source"), str):
            data["source"] = _absolute(content.origin, data["source"])
    path = folder / content.pipeline_name
    header = f"# {label}: the released pipeline file, paths pinned by mlops-nb (do not edit)\n"
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def materialize(release: Release, folder: Path, settings: config.Settings | None = None) -> Path:
    """Write `release`'s pinned pipeline file and notebook (nothing from the working copy) into `folder`, so that
    ``run.run(path, RunOptions(env=release.env))`` runs exactly the release; returns the pipeline file's path."""
    if not release.run_id:
        raise UsageError(
            "This release has no run to read its files from.", hint="Get it with release.current()."
        )
    client = store.client(settings)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        pipeline_dir = client.download_artifacts(release.run_id, records.ARTIFACT_RELEASE_PIPELINE_DIR, tmp)
        notebook_dir = client.download_artifacts(release.run_id, records.ARTIFACT_RELEASE_NOTEBOOK_DIR, tmp)
        pipeline_file = next(Path(pipeline_dir).iterdir())
        notebook_file = next(Path(notebook_dir).iterdir())
        root = (settings or config.current()).root
        content = _Content(
            release.pipeline,
            pipeline_file.name,
            pipeline_file.read_text(encoding="utf-8"),
            notebook_file.name,
            notebook_file.read_bytes(),
            (root / release.pipeline_file).parent,
        )
    return _write(content, Path(folder), f"{release.pipeline} release {release.tag_value}")


# making releases


def _claim(content: _Content, env: str, tags: dict[str, str], settings: config.Settings) -> tuple[str, int]:
    """Create the release's run with the next free number of (pipeline, env); returns (run id, number)."""
    experiment = store.experiment_id(records.RELEASE_EXPERIMENT, settings)
    writer = store.writer(settings)

    def claim(run_id: str | None) -> tuple[str, int, int]:
        number = max((int(_number(r)) for r in _runs(content.name, env, settings)), default=0) + 1
        pending = {records.TAG_RELEASE_NUMBER: str(number), records.TAG_RELEASE_CLAIMED: "0"}
        if run_id is None:
            run_id = writer.create_run(experiment, {**tags, **pending}).info.run_id
        else:
            writer.set_tags(run_id, pending)
        claimed = time.time_ns()  # taken once the number is visible
        writer.set_tags(run_id, {records.TAG_RELEASE_CLAIMED: str(claimed)})
        return run_id, number, claimed

    if settings.embedded:
        db = Path(settings.tracking_uri[len("sqlite:///") :])
        with store.file_lock(db.with_name(db.name + ".releases.lock")):
            run_id, number, claimed = claim(None)
    else:
        run_id, number, claimed = claim(None)
    for _ in range(50):  # a claim holds when every other claim of its number is later (a pending one is not)
        rivals = [
            (int(r.data.tags.get(records.TAG_RELEASE_CLAIMED, "0")), r.info.run_id)
            for r in _runs(content.name, env, settings)
            if _number(r) == str(number) and r.info.run_id != run_id
        ]
        if all(rival > (claimed, run_id) for rival in rivals):
            return run_id, number
        run_id, number, claimed = claim(run_id)
    raise StoreError(
        f"Could not claim a release number of {content.name} in {env}: other releases kept claiming the same.",
        hint="Release again.",
    )


def _number(run: Any) -> str:
    return run.data.tags[records.TAG_RELEASE_NUMBER]


def _check_order(
    content: _Content,
    env: str,
    before: str | None,
    forced: str | None,
    *,
    given: str | Path,
    settings: config.Settings,
) -> str | None:
    """None when `env` may receive this content; the recorded reason when the order is overridden."""
    if before is None:
        return None
    done = [
        r
        for r in releases(content.name, before, settings)
        if r.live and r.notebook_hash == content.notebook_hash and r.pipeline_hash == content.pipeline_hash
    ]
    if done:
        return None
    if forced:
        return forced
    raise ReleaseRefusedError(
        f"{content.name} cannot be released to {env}: this content (notebook {content.notebook_hash[:12]}, "
        f"pipeline file {content.pipeline_hash[:12]}) has not been released to {before} first.",
        hint=f"Run `mlops-nb release {given} --to {before}` first, or override the order with "
        "--force --reason TEXT (recorded).",
    )


def release(
    pipeline: str | Path,
    env: str,
    *,
    force: bool = False,
    reason: str | None = None,
    timeout: float = 600.0,
    settings: config.Settings | None = None,
) -> Release:
    """Release the pipeline file `pipeline` (and its notebook) to `env` after a passing smoke test.

    Raises ReleaseRefusedError (carrying the refused release, when one was recorded) when the smoke test fails or
    the release order is not met (unless `force` with a `reason`); the previous release stays current."""
    from mlops_nb.capture.code import git_state
    from mlops_nb.pipelines import spec as spec_mod
    from mlops_nb.pipelines import validate

    if force and not (reason or "").strip():
        raise UsageError(
            "--force needs --reason TEXT: an overridden release order is recorded with its reason."
        )
    settings = store.ensure_store(settings)
    spec_mod.load(pipeline).for_env(env)  # errors (an unknown environment) name this file, not the copy
    content, notebook = _read_content(Path(pipeline))
    with tempfile.TemporaryDirectory(prefix="release-smoke-") as tmp:
        pinned = _write(content, Path(tmp), f"{content.name} release to {env}")
        spec = spec_mod.load(pinned).for_env(env)
        forced = _check_order(
            content, env, spec.requires(env), reason if force else None, given=pipeline, settings=settings
        )
        git = git_state(notebook)
        root = settings.root
        origin = Path(pipeline).resolve()
        tags = {
            records.RUN_NAME: f"release {content.name} to {env}",
            records.TAG_RELEASE_PIPELINE: content.name,
            records.TAG_RELEASE_ENV: env,
            records.TAG_NOTEBOOK_HASH: content.notebook_hash,
            records.TAG_RELEASE_PIPELINE_HASH: content.pipeline_hash,
            records.TAG_RELEASE_PIPELINE_FILE: str(
                origin.relative_to(root) if origin.is_relative_to(root) else origin
            ),
            records.TAG_RELEASE_NOTEBOOK_FILE: content.notebook_name,
            records.SOURCE_GIT_COMMIT: git.commit if git else "",
            records.TAG_GIT_DIRTY: str(git.dirty).lower() if git else "",
            records.TAG_RELEASE_AUTHOR: _author(),
            records.TAG_RELEASE_CREATED: _now(),
            records.TAG_RELEASE_SMOKE: "pending",
            records.TAG_RELEASE_FORCED: forced or "",
        }
        run_id, number = _claim(content, env, tags, settings)
        writer = store.writer(settings)
        try:
            writer.log_artifact(
                run_id, pinned.parent / content.notebook_name, records.ARTIFACT_RELEASE_NOTEBOOK_DIR
            )
            writer.log_text(
                run_id,
                content.pipeline_text,
                f"{records.ARTIFACT_RELEASE_PIPELINE_DIR}/{content.pipeline_name}",
            )
            report = validate.validate(
                pinned.parent / content.notebook_name, pipeline=pinned, env=env, timeout=timeout
            )
        except BaseException as exc:
            writer.fail_run(run_id, f"release interrupted: {exc!r}", {records.TAG_RELEASE_SMOKE: "failed"})
            raise
    writer.set_tags(run_id, {records.TAG_RELEASE_SMOKE_RUN: report.dynamic.get("run_id", "")})
    if not report.passed:
        problems = "; ".join(p.message for p in report.problems)
        writer.fail_run(run_id, f"smoke test failed: {problems}", {records.TAG_RELEASE_SMOKE: "failed"})
        refused = get(content.name, env, number, settings)
        kept = current(content.name, env, settings)
        raise ReleaseRefusedError(
            f"{content.name} was not released to {env}: its smoke test failed ({problems}). "
            + (f"Release {kept.tag_value} stays current." if kept else f"{env} has no release yet."),
            release=refused,
            hint=f"Fix the notebook, check it with `mlops-nb validate {notebook} --pipeline {pipeline}`, and "
            "release again.",
        )
    writer.set_tags(run_id, {records.TAG_RELEASE_SMOKE: "passed"})
    writer.end_run(run_id, "FINISHED")
    return get(content.name, env, number, settings)


def rollback(
    pipeline: str, env: str, *, reason: str | None = None, settings: config.Settings | None = None
) -> Release:
    """Mark the current release of `pipeline` in `env` rolled back (recorded on it); returns the release that
    is current again. UsageError when there is no earlier release to go back to."""
    live = [r for r in releases(pipeline, env, settings) if r.live]
    if len(live) < 2:
        raise UsageError(
            f"{pipeline} has {'no release' if not live else 'only one release'} in {env}: nothing to roll back to.",
            hint=f"See `mlops-nb release list {pipeline} --env {env}`; release a fixed version instead.",
        )
    undone, back = live[-1], live[-2]
    record = {"by": _author(), "at": _now(), "reason": reason or "", "to": back.number}
    store.writer(settings).set_tags(undone.run_id, {records.TAG_RELEASE_ROLLED_BACK: json.dumps(record)})
    return back


def pipeline_name(pipeline: str) -> str:
    """The pipeline's name from a pipeline file's path, or `pipeline` itself when it names no file."""
    from mlops_nb.pipelines import spec as spec_mod

    path = Path(pipeline)
    return spec_mod.load(path).name if path.suffix in (".yaml", ".yml") and path.is_file() else pipeline


def render(found: list[Release], settings: config.Settings | None = None) -> str:
    """A table of releases with their status."""
    if not found:
        return "no releases"
    currents = {env: current(found[0].pipeline, env, settings) for env in {r.env for r in found}}
    rows = [("release", "status", "notebook", "commit", "created", "author", "note")]
    for r in found:
        now = currents[r.env]
        note = f"forced: {r.forced_reason}" if r.forced_reason else ""
        if r.rolled_back:
            done = json.loads(r.rolled_back)
            note = f"rolled back by {done['by']} at {done['at']}" + (
                f": {done['reason']}" if done["reason"] else ""
            )
        rows.append(
            (
                r.tag_value,
                status(r, now.number if now else None),
                r.notebook_hash[:12],
                (r.commit or "-")[:10],
                r.created,
                r.author,
                note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows)
