"""The artifact browser's routes on a real jupyter_server: listing, reading (inert, size-limited) and opening
a notebook; paths that leave the run's artifacts, symbolic links and bad parameters get a 4xx."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops_nb import records, store
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import artifacts, checks
from tests.server import contract
from tests.server.seeding import XSS_NAME, Seeded, seed_project

HTML = "<html><body><script>alert(1)</script><p>report</p></body></html>"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A project of its own (these tests plant links in the run's artifact folder)."""
    seeded = seed_project(tmp_path_factory.mktemp("artifacts-project"))
    client = store.client(seeded.settings)
    run_id = seeded.step_run
    source = tmp_path_factory.mktemp("artifact-files")
    (source / "gates").mkdir()
    (source / "gates" / "data.json").write_text(json.dumps({"passed": True, "checks": []}), encoding="utf-8")
    (source / "report.html").write_text(HTML, encoding="utf-8")
    (source / f"{XSS_NAME}.txt").write_text("hostile name", encoding="utf-8")
    (source / "run.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    (source / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            folder = path.parent.relative_to(source).as_posix()
            client.log_artifact(run_id, str(path), None if folder == "." else folder)
    root = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("SECRET", encoding="utf-8")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    with (root / "big.txt").open("wb") as big:
        big.truncate(artifacts.MAX_BYTES + 1)
    return seeded


async def raw(jp_fetch, run_id: str, **params: str):
    """GET the file route; the response (raise_error off)."""
    return await jp_fetch(
        "mlops-nb", "api", "runs", run_id, "artifacts", "file", params=params, raise_error=False
    )


async def test_listing_folders_first_with_kinds(api, seeded: Seeded) -> None:
    status, body = await api(f"runs/{seeded.step_run}/artifacts")
    assert status == 200, body
    entries = {e["name"]: e for e in body["entries"]}
    assert entries["gates"]["is_dir"] and body["entries"][0]["is_dir"]
    assert entries["report.html"]["kind"] == "html" and entries["plot.png"]["kind"] == "image"
    assert entries["run.ipynb"]["kind"] == "notebook" and entries[f"{XSS_NAME}.txt"]["kind"] == "text"
    assert "link.txt" not in entries and "linked" not in entries  # links are not listed
    status, body = await api(f"runs/{seeded.step_run}/artifacts", params={"path": "gates"})
    assert status == 200 and [e["path"] for e in body["entries"]] == ["gates/data.json"]


async def test_a_json_file_is_read_as_inert_text(jp_fetch, seeded: Seeded) -> None:
    response = await raw(jp_fetch, seeded.step_run, path="gates/data.json")
    assert response.code == 200
    assert json.loads(response.body) == {"passed": True, "checks": []}
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_html_is_never_served_as_html_and_images_as_images(jp_fetch, seeded: Seeded) -> None:
    response = await raw(jp_fetch, seeded.step_run, path="report.html")
    assert response.code == 200 and response.body.decode() == HTML
    assert response.headers["Content-Type"].startswith("text/plain")
    response = await raw(jp_fetch, seeded.step_run, path="plot.png")
    assert response.code == 200 and response.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("../../../etc/passwd", 400, "not a path inside"),
        ("gates/../../x", 400, "not a path inside"),
        ("/etc/passwd", 400, "not a path inside"),
        ("gates//data.json", 400, "not a path inside"),
        ("./gates/data.json", 400, "not a path inside"),
        ("gates\\data.json", 400, "not a path inside"),
        ("", 400, "path is missing"),
        ("link.txt", 400, "symbolic link"),
        ("linked/secret.txt", 400, "symbolic link"),
        ("missing.txt", 404, "no artifact"),
        ("gates", 400, "is a folder"),
        ("big.txt", 413, "more than"),
    ],
)
async def test_bad_paths_links_and_large_files_are_refused(
    jp_fetch, seeded: Seeded, path: str, status: int, words: str
) -> None:
    response = await raw(jp_fetch, seeded.step_run, path=path)
    body = json.loads(response.body)
    assert response.code == status, body
    assert words in body["message"], body
    assert b"SECRET" not in response.body
    contract.check(f"runs/{seeded.step_run}/artifacts/file", "GET", response.code, body)


async def test_bad_parameters_are_refused(api, jp_fetch, seeded: Seeded) -> None:
    status, body = await api(f"runs/{seeded.step_run}/artifacts", params={"path": "../x"})
    assert status == 400
    status, body = await api(f"runs/{seeded.step_run}/artifacts", params={"folder": "gates"})
    assert status == 400 and "Unknown query parameter" in body["message"]
    status, body = await api("runs/not-a-run/artifacts")
    assert status == 400 and "not a run id" in body["message"]
    status, body = await api(f"runs/{seeded.step_run}/artifacts", params={"path": "linked"})
    assert status == 400 and "symbolic link" in body["message"]
    response = await raw(jp_fetch, "0" * 32, path="gates/data.json")
    assert response.code == 404


async def test_a_notebook_opens_as_a_copy_under_the_server_root(
    api, jp_root_dir: Path, seeded: Seeded
) -> None:
    status, body = await api(
        f"runs/{seeded.step_run}/artifacts/open", method="POST", body={}, params={"path": "run.ipynb"}
    )
    assert status == 200, body
    copy = jp_root_dir / body["path"]
    assert body["path"] == f"mlops-snapshots/{seeded.step_run}/artifacts/run.ipynb"
    assert copy.is_file() and json.loads(copy.read_text())["nbformat"] == 4
    status, body = await api(
        f"runs/{seeded.step_run}/artifacts/open", method="POST", body={}, params={"path": "report.html"}
    )
    assert status == 400 and "not a notebook" in body["message"]


async def test_a_link_planted_where_the_copy_goes_is_refused(
    api, jp_root_dir: Path, tmp_path: Path, seeded: Seeded
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    planted = jp_root_dir / "mlops-snapshots" / seeded.step_run / "artifacts"
    planted.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, planted)
    status, body = await api(
        f"runs/{seeded.step_run}/artifacts/open", method="POST", body={}, params={"path": "run.ipynb"}
    )
    assert status == 400 and "symbolic link" in body["message"]
    assert list(outside.iterdir()) == []


def test_the_refusal_names_one_backslash() -> None:
    """The hint once showed two backslashes (an over-escaped string literal)."""
    with pytest.raises(UsageError) as refused:
        checks.artifact_path("a\\b")
    assert refused.value.hint.endswith("'//' or '\\'.")


@pytest.mark.parametrize("path", ["a/\x00b", "a\nb", "a/\x7f", "x" * 1001, "a/./b", "a/", "..", "C:\\x"])
def test_paths_with_control_characters_or_odd_parts_are_refused(path: str) -> None:
    with pytest.raises(UsageError):
        checks.artifact_path(path)


async def test_a_run_with_hostile_outcome_tags_still_answers(api, seeded: Seeded, tmp_path: Path) -> None:
    """Tags anyone can write (a quote in a run id tag, a snapshot path out of the run, a linked gate report)
    are not followed into MLflow filters or files."""
    client = store.client(seeded.settings)
    run = client.create_run(
        seeded.experiment_id,
        tags={
            records.TAG_PIPELINE_RUN: "x' or '1'='1",
            records.TAG_PIPELINE_STEP: records.STEP_MODEL_VALIDATION,
            records.TAG_ERROR: XSS_NAME,
            records.TAG_ERROR_CELL: "0",
            records.TAG_NOTEBOOK_SNAPSHOT: "../../../../../../etc/passwd.ipynb",
            records.TAG_MODEL_VERSION: "1",
        },
    )
    run_id = run.info.run_id
    outside = tmp_path / "report.json"
    outside.write_text(json.dumps({"passed": True, "summary": "SECRET", "checks": []}), encoding="utf-8")
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    (root / "gates").mkdir(parents=True)
    (root / "gates" / "model.json").symlink_to(outside)
    client.set_terminated(run_id, "FAILED")
    status, body = await api(f"runs/{run_id}")
    assert status == 200, body
    assert body["error"]["message"] == XSS_NAME
    assert body["error"]["cell"] == {"index": 0, "source": None, "notebook": None}
    assert body["gates"] == {}  # the linked report is not read
    assert body["registration"]["name"] is None and body["registration"]["version"] == "1"
