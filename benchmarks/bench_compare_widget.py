"""Speed of ``%mlops compare --last 5`` in a warm kernel (issue 8, item 5: ≤ 2 s), against the widget it
replaced, measured in the same run on the same runs.

Seeds an experiment the way real runs write it (tests/integration/compare_project.py: autolog's ~30 params
and estimator reprs, curves over 15 epochs, pipeline runs with their six steps and slice metrics), starts a
real ipykernel per widget and warms it as a tracked training notebook leaves it (mlops_nb loaded; mlflow, its
SQL store module, pandas, sklearn imported). Then it times the widget from the execute request to the kernel's
idle (everything drawn and sent): the first draw, then REPEAT more. The old widget is the module at
BASELINE_COMMIT, loaded from git into its own kernel, warmed the same way.

Usage: python benchmarks/bench_compare_widget.py [--dir /tmp/mlops-nb-bench-widget] [--runs 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "8a9cd20"  # the widget before issue 8
NEW = "%mlops compare --last 5"
OLD = "display(old_widgets.compare_widget(last=5))"
# What a kernel holds after a tracked training notebook on the embedded store: the SQL store module is imported.
WARM = (
    "%load_ext mlops_nb\nimport mlflow, pandas, sklearn.linear_model\n"
    "import mlflow.store.tracking.sqlalchemy_store\nfrom mlops_nb import explore"
)


def _execute(client, code: str) -> float:
    """Seconds from sending `code` to the kernel's idle; raises on an error in the cell."""
    started = time.perf_counter()
    msg_id = client.execute(code)
    error = None
    while True:
        msg = client.get_iopub_msg(timeout=300)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            error = "\n".join(msg["content"]["traceback"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    elapsed = time.perf_counter() - started
    if error:
        raise RuntimeError(f"{code!r} failed:\n{error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlops-nb-bench-widget"))
    parser.add_argument(
        "--runs", type=int, default=12, help="interactive runs (plus a third as many pipelines)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from jupyter_client.manager import start_new_kernel

    sys.path.insert(0, str(REPO))
    from tests.integration.compare_project import seed

    shutil.rmtree(args.dir, ignore_errors=True)
    root = args.dir / "proj"
    os.environ["MLOPS_NB_PROJECT"] = str(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    seed(root, interactive=args.runs, pipelines=max(1, args.runs // 3))
    old = args.dir / "old" / "old_widgets.py"
    old.parent.mkdir(parents=True)
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:mlops_nb/ipython/widgets.py"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    old.write_text(source, encoding="utf-8")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(old.parent)])}
    first: dict[str, float] = {}
    again: dict[str, list[float]] = {}
    for code in (NEW, OLD):  # each in its own kernel, warmed as after running a training notebook
        manager, client = start_new_kernel(kernel_name="python3", cwd=str(root), env=env)
        try:
            for warm_up in (WARM, "import old_widgets\nfrom IPython.display import display"):
                _execute(client, warm_up)
            first[code] = _execute(client, code)
            again[code] = [_execute(client, code) for _ in range(args.repeat)]
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)

    print(f"experiment: {args.runs} interactive + {max(1, args.runs // 3)} pipeline runs (6 steps each)")
    print(
        "warm kernel: %load_ext mlops_nb; mlflow, its SQL store, pandas, sklearn imported (as after a training notebook)"
    )
    for label, code in (("new widget", NEW), (f"old widget ({BASELINE_COMMIT})", OLD)):
        print(
            f"{label:<22} first draw {first[code]:.3f} s, then median {statistics.median(again[code]):.3f} s "
            f"(max {max(again[code]):.3f}) over {args.repeat} draws"
        )
    print("goal: <= 2 s for the first draw of `%mlops compare --last 5`")
    print(f"ratio old / new, first draw: {first[OLD] / first[NEW]:.1f}x; "
          f"later draws: {statistics.median(again[OLD]) / statistics.median(again[NEW]):.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
