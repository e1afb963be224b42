"""Notebook hashing, secret filtering, parameters-cell parsing, execution order: no kernel needed."""

from __future__ import annotations

import subprocess

import nbformat
import pytest

from mlops_nb.capture import code, history, notebook


def _nb(*sources: str, tags: dict[int, list[str]] | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for index, cell_tags in (tags or {}).items():
        nb.cells[index].metadata["tags"] = cell_tags
    return nbformat.from_dict(nb)


def test_notebook_hash_ignores_outputs_and_injected_parameters() -> None:
    a = _nb("x = 1", "print(x)")
    b = _nb("x = 1", "print(x)")
    b.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    b.cells[1].execution_count = 7
    assert code.notebook_hash(a) == code.notebook_hash(b)
    injected = _nb("x = 1", "x = 5", "print(x)", tags={1: ["injected-parameters"]})
    assert code.notebook_hash(injected) == code.notebook_hash(a)


def test_notebook_hash_sees_source_and_cell_type_changes() -> None:
    base = code.notebook_hash(_nb("x = 1", "print(x)"))
    assert code.notebook_hash(_nb("x = 2", "print(x)")) != base
    assert code.notebook_hash(_nb("x = 1print(x)")) != base  # cell boundaries count
    md = _nb("x = 1", "print(x)")
    md.cells[1] = nbformat.v4.new_markdown_cell("print(x)")
    assert code.notebook_hash(md) != base


@pytest.mark.parametrize(
    "name",
    [
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "api_key",
        "MY_PASSWD",
        "OPENAI_API_KEY",
        "AZURE_CLIENT_CREDENTIALS",
        "HTTP_AUTHORIZATION",
        "SSH_PRIVATE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "MYSQL_PWD",
        "SMTP_PASS",
        "GPG_PASSPHRASE",
        "PGPASSFILE",
        "APP_SIGNING_SALT",
        "SENTRY_DSN",
    ],
)
def test_secret_names_are_recognised(name: str) -> None:
    assert code.is_secret(name)


@pytest.mark.parametrize(
    "name", ["PATH", "HOME", "PWD", "OLDPWD", "LANG", "MLFLOW_TRACKING_URI", "PYTHONPATH", "TERM"]
)
def test_ordinary_names_are_kept(name: str) -> None:
    assert not code.is_secret(name)


def test_environment_drops_secrets_and_redacts_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_TOKEN", "t0ps3cret")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:pa55@mlflow.example.com/")
    env = code.environment("python3")
    assert "SERVICE_TOKEN" not in env["environment_variables"]
    assert env["environment_variables"]["MLFLOW_TRACKING_URI"] == "https://***@mlflow.example.com/"
    assert "t0ps3cret" not in str(env) and "pa55" not in str(env)


def test_parameter_names_from_cell_and_papermill_history() -> None:
    nb = _nb(
        "import os",
        "alpha: float = 0.1\nepochs = 3\n(a, b) = (1, 2)\nname: str | None = None",
        tags={1: ["parameters"]},
    )
    history_ = ["", "%load_ext mlops_nb", "# Parameters\nepochs = 10\nextra = 'x'\n"]
    assert notebook.parameter_names(nb, history_) == ["alpha", "epochs", "a", "b", "name", "extra"]
    assert notebook.assigned_names("x = (") == []


def test_execution_order_in_order_and_rerun_of_the_same_cell() -> None:
    nb = _nb("a = 1", "b = a + 1", "c = b + 1")
    runs = [
        history.Execution(1, "a = 1"),
        history.Execution(2, "b = a + 1"),
        history.Execution(3, "b = a + 1"),
        history.Execution(4, "c = b + 1"),
        history.Execution(5, "print('scratch')"),
    ]
    report = history.check_order(nb, runs)
    assert report.in_order and report.problems == []
    assert [s["cell_index"] for s in report.sequence] == [0, 1, 1, 2, None]


def test_execution_order_flags_an_earlier_cell_run_after_later_ones() -> None:
    nb = _nb("a = 1", "b = a + 1", "c = b + 1")
    ids = [c["id"] for c in nb.cells]
    runs = [
        history.Execution(1, "a = 1", ids[0]),
        history.Execution(2, "c = b + 1", ids[2]),
        history.Execution(3, "b = a + 1", ids[1]),
    ]
    report = history.check_order(nb, runs)
    assert not report.in_order
    assert report.problems == ["cell 2 ('b = a + 1') ran (execution 3) after cell 3 ('c = b + 1')"]


def test_a_notebook_git_does_not_track_makes_the_state_dirty(tmp_path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True)

    (tmp_path / "committed.ipynb").write_text("{}", encoding="utf-8")
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "init")
    (tmp_path / "new.ipynb").write_text("{}", encoding="utf-8")  # not in the commit the run names
    clean = code.git_state(tmp_path / "committed.ipynb")
    assert clean is not None and not clean.dirty and not clean.untracked
    new = code.git_state(tmp_path / "new.ipynb")
    assert new is not None and new.dirty and new.untracked
