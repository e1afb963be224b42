"""The snapshot copy never writes through a symbolic link out of the server root: a link planted by a
cloned repository gets a 400 before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.seeding import Seeded


def files(folder: Path) -> dict[str, str]:
    """Every path under `folder` with its text (folders as "<folder>")."""
    return {
        str(p.relative_to(folder)): p.read_text() if p.is_file() else "<folder>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the server root, holding one file an attacker would like overwritten."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "train.ipynb").write_text("ORIGINAL", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "link",
    [
        "mlops-snapshots",  # the whole snapshot folder
        "mlops-snapshots/{run}",  # the run's folder
        "mlops-snapshots/{run}/train.ipynb",  # the file, to an existing file
        "mlops-snapshots/{run}/train.ipynb:dangling",  # the file, to a file not yet there
    ],
)
async def test_a_link_out_of_the_root_is_refused_before_any_write(
    api, jp_root_dir: Path, outside: Path, seeded: Seeded, link: str
) -> None:
    path, _, kind = link.format(run=seeded.step_run).partition(":")
    planted = jp_root_dir / path
    planted.parent.mkdir(parents=True, exist_ok=True)
    if path.endswith(".ipynb"):
        planted.symlink_to(outside / ("new.ipynb" if kind == "dangling" else "train.ipynb"))
    else:
        planted.symlink_to(outside, target_is_directory=True)
    before = files(outside)

    status, body = await api(f"runs/{seeded.step_run}/snapshot", method="POST", body={})

    assert files(outside) == before  # nothing written, created or replaced out there
    assert status == 400, body
    assert "is a symbolic link" in body["message"] and "Nothing was written" in body["message"]
    assert str(planted) in body["message"] and "Remove the link" in body["hint"]
    assert planted.is_symlink()


async def test_a_link_inside_a_checked_folder_never_survives_a_copy(
    api, jp_root_dir: Path, seeded: Seeded
) -> None:
    status, body = await api(f"runs/{seeded.step_run}/snapshot", method="POST", body={})
    assert status == 200, body
    status, again = await api(f"runs/{seeded.step_run}/snapshot", method="POST", body={})
    assert status == 200 and again == body  # rewritten in place
    copied = jp_root_dir / body["path"]
    assert copied.is_file() and not copied.is_symlink()
    assert [p.name for p in copied.parent.iterdir()] == ["train.ipynb"]  # no temporary file left
