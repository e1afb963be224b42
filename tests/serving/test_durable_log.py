"""The inference log after a crash: a writer process killed with SIGKILL loses none of the rows it had
drained (its open part is an Arrow stream, turned into a Parquet part by the next writer on the folder), a
torn last batch costs only that batch, and two writers starting at once recover an orphan exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from mlops_nb.serving import inference_log
from mlops_nb.serving.inference_log import InferenceLog
from mlops_nb.serving.log_reader import parts, read_table
from tests.serving.server_process import ROOT, wait_until

# A writer process: for each "N:kind" argument it appends N rows (predictions of that kind, a new kind
# starting a new part), waits until they are on disk (in its stream file or a part), says so; then waits
# to be killed.
WRITER = """
import sys, time
from pathlib import Path
from mlops_nb.serving import inference_log, log_reader

folder = Path(sys.argv[1])
log = inference_log.InferenceLog(folder)
total = 0
for spec in sys.argv[2:]:
    n, kind = spec.split(":")
    rows = [{"request_id": f"{kind}{total + i}", "ts": inference_log.now_us(), "model_version": "1",
             "prediction": float(i) if kind == "f" else f"label {i}"} for i in range(int(n))]
    log.append(rows)
    total += len(rows)
    deadline = time.monotonic() + 60
    def on_disk():
        found = sum(t.num_rows for t in [log_reader.read_table(folder)] if t is not None)
        for path in folder.glob(".part-*.arrows.tmp"):
            found += sum(batch.num_rows for batch in inference_log._read_stream(path) or [])
        return found
    while on_disk() < total:
        assert time.monotonic() < deadline, "rows never reached the stream file"
        time.sleep(0.02)
    print("drained", total, flush=True)
time.sleep(600)
"""


def _crashed_writer(folder: Path, *specs: str) -> int:
    """Run a writer process, SIGKILL it once every row is drained; its pid."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), *specs], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in specs:
            assert process.stdout.readline().startswith("drained"), "the writer process failed"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        process.stdout.close()
    return process.pid


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_writer_loses_no_drained_row_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    _crashed_writer(folder, "3:f", "4:f", "2:s")  # the string predictions start a second part
    assert len(list(folder.glob(".part-*.arrows.tmp"))) == 1 and len(parts(folder)) == 1
    InferenceLog(folder).close()
    assert _leftovers(folder) == []
    assert len(parts(folder)) == 2
    ids = sorted(read_table(folder, columns=["request_id"])["request_id"].to_pylist())
    assert ids == sorted([f"f{i}" for i in range(7)] + ["s7", "s8"])


def test_a_torn_last_batch_leaves_the_complete_ones(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    _crashed_writer(folder, "3:f", "5:f")
    (stream,) = folder.glob(".part-*.arrows.tmp")
    os.truncate(stream, stream.stat().st_size - 7)  # the machine went down while the second batch was written
    InferenceLog(folder).close()
    assert _leftovers(folder) == []
    assert sorted(read_table(folder)["request_id"].to_pylist()) == ["f0", "f1", "f2"]


def test_two_writers_starting_at_once_recover_an_orphan_exactly_once(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    _crashed_writer(folder, "50:f")
    go = tmp_path / "go"
    starter = (
        "import sys, time; from pathlib import Path\n"
        "from mlops_nb.serving.inference_log import InferenceLog\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
        "InferenceLog(sys.argv[1]).close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    starters = [
        subprocess.Popen([sys.executable, "-c", starter, str(folder), str(go)], env=env) for _ in range(2)
    ]
    go.touch()
    assert [p.wait(60) for p in starters] == [0, 0]
    assert _leftovers(folder) == []
    ids = read_table(folder)["request_id"].to_pylist()
    assert sorted(ids) == sorted(f"f{i}" for i in range(50))


def _stream(path: Path, ids: list[str]) -> None:
    table = pa.table({"request_id": ids})
    with path.open("wb") as file, pa.ipc.new_stream(file, table.schema) as writer:
        writer.write_table(table)


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_what_cannot_be_read_is_kept_for_a_human_and_live_writers_are_left_alone(
    tmp_path: Path, dead_pid: int
) -> None:
    alive = subprocess.Popen(["sleep", "60"])
    try:
        live = tmp_path / f".part-20260101T000000-{alive.pid}-1.arrows.tmp"
        _stream(live, ["theirs"])
        (tmp_path / f".part-20260101T000000-{dead_pid}-2.arrows.tmp").write_bytes(b"not an arrow stream")
        (tmp_path / f".part-20260101T000000-{dead_pid}-3.parquet.tmp").write_bytes(b"PAR1 footerless")
        (tmp_path / f".part-20260101T000000-{dead_pid}-4.arrows.tmp").write_bytes(b"")  # killed at once
        # a part written aside by a dead converter, whose stream is still there
        (tmp_path / f".part-20260101T000000-{dead_pid}-5.parquet.{dead_pid}.tmp").write_bytes(b"PAR1")
        _stream(tmp_path / f".part-20260101T000000-{dead_pid}-5.arrows.{dead_pid}.claim", ["claimed"])
        # made into a part by a writer killed before it deleted the stream
        _stream(tmp_path / f".part-20260101T000000-{dead_pid}-6.arrows.tmp", ["done"])
        _stream(tmp_path / "made.arrows", ["done"])
        (tmp_path / "made.arrows").rename(tmp_path / "staged")
        inference_log._convert(tmp_path / "staged", tmp_path / f"part-20260101T000000-{dead_pid}-6.parquet")
        InferenceLog(tmp_path).close()
        assert _leftovers(tmp_path) == [live.name]
        assert sorted(p.name for p in tmp_path.glob("*.unreadable")) == [
            f"part-20260101T000000-{dead_pid}-2.arrows.unreadable",
            f"part-20260101T000000-{dead_pid}-3.parquet.tmp.unreadable",
        ]
        assert sorted(read_table(tmp_path)["request_id"].to_pylist()) == ["claimed", "done"]
    finally:
        alive.kill()
        alive.wait()


def test_a_restarted_process_with_the_dead_ones_pid_recovers_its_stream(tmp_path: Path) -> None:
    """In a container the server is often pid 1 again after a restart: a stream of our pid that this process
    did not open is an orphan."""
    _stream(tmp_path / f".part-20260101T000000-{os.getpid()}-1.arrows.tmp", ["before the restart"])
    log = InferenceLog(tmp_path)
    log.append([{"request_id": "after", "ts": inference_log.now_us()}])
    wait_until(lambda: list(tmp_path.glob(".part-*.arrows.tmp")), 30, "the open stream")
    InferenceLog(tmp_path).close()  # a second writer in this process leaves the first one's stream alone
    log.close()
    assert _leftovers(tmp_path) == []
    assert sorted(read_table(tmp_path)["request_id"].to_pylist()) == ["after", "before the restart"]
