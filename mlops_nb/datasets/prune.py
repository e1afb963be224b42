"""Deleting snapshots that nothing needs any more.

A snapshot is needed while a dataset version record names it (a version whose run was deleted in MLflow no
longer does), or while a registered model version's lineage does: the run the version was registered from,
and its pipeline run, name the dataset version they read (``mlops_nb.dataset.name``/``.version``, looked up
among deleted version records too) or the digest of their data. Everything else under ``snapshots/``,
including temporary files an interrupted add left behind, is deleted. Prune holds the store's lock, so an
add that is writing a snapshot finishes recording it first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_nb import config, records, store
from mlops_nb.datasets import repository


@dataclass
class PruneReport:
    """The snapshots a prune deleted (or would delete, in a dry run) and how many it kept."""

    deleted: list[Path] = field(default_factory=list)
    freed: int = 0  # bytes
    kept: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "deleted": [str(p) for p in self.deleted],
            "freed_bytes": self.freed,
            "kept": self.kept,
            "dry_run": self.dry_run,
        }

    def render(self) -> str:
        """The listing ``mlops-nb data prune`` prints."""
        verb = "would delete" if self.dry_run else "deleted"
        lines = [f"{verb} {p}" for p in self.deleted]
        lines.append(
            f"{verb} {len(self.deleted)} snapshot file(s), {self.freed / 1e6:.1f} MB; kept {self.kept}"
        )
        return "\n".join(lines)


def model_versions(settings: config.Settings) -> Iterator[tuple[Any, list[dict[str, str]]]]:
    """Every registered model version with the tags of its lineage runs: the run it was registered from
    and its pipeline run (a deleted or unknown run is left out). Those runs name the dataset version they
    read (``records.TAG_DATASET_NAME``/``TAG_DATASET_VERSION``) or the digest of their data."""
    client = store.client(settings)
    runs: dict[str, Any] = {}

    def run(run_id: str | None) -> Any:
        if run_id and run_id not in runs:
            runs[run_id] = None
            with contextlib.suppress(Exception):  # a deleted or unknown run names nothing
                runs[run_id] = client.get_run(run_id)
        return runs.get(run_id or "")

    token = None
    while True:
        page = client.search_model_versions(max_results=1000, page_token=token)
        for mv in page:
            found = (run(mv.run_id), run(dict(mv.tags or {}).get(records.TAG_PIPELINE_RUN)))
            yield mv, [r.data.tags for r in found if r is not None]
        token = page.token
        if not token:
            return


def dataset_ref(run_tags: dict[str, str]) -> tuple[str, str] | None:
    """(name, version) of the dataset version a lineage run read, if it read one."""
    name, version = run_tags.get(records.TAG_DATASET_NAME), run_tags.get(records.TAG_DATASET_VERSION)
    return (name, version) if name and version else None


def _model_digests(settings: config.Settings, by_ref: dict[tuple[str, str], str]) -> set[str]:
    """Digests the lineage of some registered model version names."""
    needed: set[str] = set()
    for mv, lineage in model_versions(settings):
        tags = dict(mv.tags or {})
        needed.update(v for k, v in tags.items() if k.startswith(records.TAG_MV_DATASET_DIGEST_PREFIX))
        for run_tags in lineage:
            ref = dataset_ref(run_tags)
            if ref in by_ref:
                needed.add(by_ref[ref])
            if records.TAG_DATA_DIGEST in run_tags:
                needed.add(run_tags[records.TAG_DATA_DIGEST])
    return needed


def needed(settings: config.Settings | None = None) -> set[str]:
    """Digests of the snapshots some live dataset version or registered model version needs."""
    settings = store.ensure_store(settings)
    every = repository.versions(settings=settings, deleted=True)
    live = {v.run_id for v in repository.versions(settings=settings)}
    by_ref = {(v.name, str(v.version)): v.digest for v in every}
    return {v.digest for v in every if v.run_id in live} | _model_digests(settings, by_ref)


def prune(*, dry_run: bool = False, settings: config.Settings | None = None) -> PruneReport:
    """Delete (or, with `dry_run`, only list) the snapshot files nothing needs."""
    settings = store.ensure_store(settings)
    report = PruneReport(dry_run=dry_run)
    snapshots = repository.folder(settings) / "snapshots"
    with repository.lock(settings):
        keep = needed(settings)
        for path in sorted(snapshots.glob("*/*")) if snapshots.is_dir() else []:
            if path.suffix == ".parquet" and path.stem in keep:
                report.kept += 1
                continue
            report.deleted.append(path)
            report.freed += path.stat().st_size
            if not dry_run:
                path.unlink()
    return report
