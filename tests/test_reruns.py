"""Code-aware reruns: code versions of jobs (vidcond.codeversion) and what a code edit reruns."""

import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from helpers import REPO, run_workflow, tiny_config
from test_workflow import planned_jobs
from vidcond.codeversion import CodeVersions


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def package(tmp_path):
    """A package `pkg`: `a` (a leaf), `b` imports `a`, `c` imports `b` lazily in a function,
    `d` imports nothing; `methods/` discovers its modules at run time like vidcond's."""
    root = tmp_path / "pkg"
    write(root / "__init__.py", '"""pkg"""\n')
    write(root / "a.py", "X = 1\n")
    write(root / "b.py", "from .a import X\n")
    write(root / "c.py", "def f():\n    from pkg import b\n    return b\n")
    write(root / "d.py", "import os\n")
    write(
        root / "methods" / "__init__.py",
        """\
        import importlib, pkgutil
        from .base import Method
        def discover():
            for m in pkgutil.iter_modules(__path__):
                importlib.import_module(f"{__name__}.{m.name}")
        """,
    )
    write(root / "methods" / "base.py", "from ..a import X\nclass Method:\n    pass\n")
    write(
        root / "methods" / "one.py",
        'from .base import Method\nclass One(Method):\n    name = "one"\n',
    )
    write(
        root / "methods" / "two.py",
        'from . import base\nclass Two(base.Method):\n    name = "two"\n',
    )
    write(
        root / "methods" / "two_plus.py",
        """\
        from .two import Two
        class TwoPlus(Two):
            name = "two_plus"
        """,
    )
    write(tmp_path / "scripts" / "run_c.py", "from pkg.c import f\nf()\n")
    write(tmp_path / "scripts" / "run_d.py", "import pkg.d\n")
    write(tmp_path / "scripts" / "condense.py", "from pkg.methods import discover\n")
    return root


def test_closure_follows_relative_absolute_lazy_and_parent_imports(package):
    code = CodeVersions(package, package.parent / "scripts")
    assert code.closure(["pkg.c"]) == {"pkg", "pkg.c", "pkg.b", "pkg.a"}
    assert code.closure(["pkg.d"]) == {"pkg", "pkg.d"}
    # the registry's run-time discovery is not followed: one method, not all of them
    assert code.closure(["pkg.methods.one"]) == {
        "pkg",
        "pkg.a",
        "pkg.methods",
        "pkg.methods.base",
        "pkg.methods.one",
    }
    assert code.closure(["pkg.methods.two"]) == {
        "pkg",
        "pkg.a",
        "pkg.methods",
        "pkg.methods.base",
        "pkg.methods.two",
    }
    assert code.script_modules(package.parent / "scripts" / "run_c.py") == {
        "pkg",
        "pkg.c",
        "pkg.b",
        "pkg.a",
    }
    assert code.method_modules("one") == {"pkg.methods.one"}
    assert code.method_modules("two_plus") == {"pkg.methods.two_plus"}
    assert "pkg.methods.two" in code.closure(code.method_modules("two_plus"))  # its base, imported
    with pytest.raises(KeyError, match="three"):
        code.method_modules("three")


def versions(package):
    code = CodeVersions(package, package.parent / "scripts")
    return {
        "run_c": code.script_version("run_c"),
        "run_d": code.script_version("run_d"),
        **{kind: code.condense_version("condense", kind) for kind in ("one", "two", "two_plus")},
    }


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def test_editing_a_module_changes_the_versions_of_its_importers_only(package):
    before = versions(package)
    assert len(set(before.values())) == len(before)
    with open(package / "a.py", "a") as f:
        f.write("# a comment is an edit\n")
    after = versions(package)
    assert changed(before, after) == {"run_c", "one", "two", "two_plus"}  # all but run_d
    before = after
    with open(package / "methods" / "two.py", "a") as f:
        f.write("# edited\n")
    after = versions(package)
    assert changed(before, after) == {"two", "two_plus"}  # two_plus loads two by name
    before = after
    with open(package.parent / "scripts" / "run_d.py", "a") as f:
        f.write("# edited\n")
    assert changed(before, versions(package)) == {"run_d"}


def test_touching_without_editing_changes_nothing(package):
    before = versions(package)
    for path in [*package.rglob("*.py"), *(package.parent / "scripts").glob("*.py")]:
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 100))
    assert versions(package) == before


def test_imports_from_outside_the_package_are_ignored(tmp_path, package):
    write(package / "e.py", "import numpy\nimport os.path\nfrom pkg.a import X as Y\n")
    code = CodeVersions(package, tmp_path / "scripts")
    assert code.closure(["pkg.e"]) == {"pkg", "pkg.e", "pkg.a"}


# ------------------------------------------------------------------ the workflow itself


def dry_run_blocks(result) -> list[str]:
    return re.split(r"\n(?=\[)", result.stdout)


def repo_copy_args(workdir: Path) -> tuple[str, ...]:
    # the later --snakefile wins: the copy of the repository beside the working directory
    return ("--snakefile", str(workdir.parent / "repo" / "Snakefile"))


COPIED = {"Snakefile", "workflow", "src", "config", "profiles", "envs"}


def touch_every_output(workdir: Path, config: dict, target: str) -> set[tuple[str, str]]:
    """Record every job of ``target`` as done without running it: empty outputs and
    benchmark files, then `--touch` of every job (which records its params).
    Returns its condensation jobs."""
    result = run_workflow(workdir, config, "-n", target, *repo_copy_args(workdir))
    for block in dry_run_blocks(result):
        for line in block.splitlines():
            key, _, files = line.strip().partition(": ")
            if key not in ("output", "benchmark"):
                continue
            for name in files.split(", "):
                path = workdir / name
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                else:  # directory outputs (the generated dataset, expert shards, diffusion model)
                    path.mkdir(parents=True, exist_ok=True)
    # --forceall: without it a job whose outputs exist but have no metadata is not run,
    # so not touched, and its params are never recorded
    run_workflow(workdir, config, "--touch", "--forceall", target, *repo_copy_args(workdir))
    return planned_condensations(result)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """A copy of the repository (so that tests may edit its code) and a working directory
    in which every job of the tiny config's `all_tables` is recorded as done; with the
    condensation jobs."""
    root = tmp_path_factory.mktemp("reruns")
    repo = root / "repo"
    shutil.copytree(
        REPO,
        repo,
        ignore=lambda d, names: [n for n in names if Path(d) == REPO and n not in COPIED],
    )
    workdir = root / "work"
    condensed = touch_every_output(workdir, tiny_config(), "all_tables")
    assert (
        planned_jobs(
            run_workflow(workdir, tiny_config(), "-n", "all_tables", *repo_copy_args(workdir))
        )
        == {}
    )
    return workdir, condensed


def planned_condensations(result) -> set[tuple[str, str]]:
    """(method, IPC) of the condensation jobs of a dry run."""
    return {
        re.search(r"wildcards: dataset=\S+, method=([^,\s]+), ipc=(\d+)", block).groups()
        for block in dry_run_blocks(result)
        if "rule condense:" in block
    }


# Rules that no edit of a condensation method or of the condense script may rerun.
UPSTREAM_RULES = {"generate_synthetic", "extract_frames", "teacher", "experts", "diffusion", "kd"}


@pytest.mark.slow
def test_editing_a_method_reruns_its_jobs_only(done_run):
    workdir, all_condensed = done_run
    cfg = tiny_config()
    dm = workdir.parent / "repo" / "src" / "vidcond" / "methods" / "dm.py"
    original = dm.read_text()
    try:
        dm.write_text(original + "# a comment edit\n")
        result = run_workflow(workdir, cfg, "-n", "all_tables", *repo_copy_args(workdir))
    finally:
        dm.write_text(original)
    planned = planned_jobs(result)
    # dm, dm_sd (which loads dm's objective) and the entries derived from them: the
    # temporal grid on dm (dm_syn*), the static/dynamic grid on dm_sd (dm_sd_s*d*)
    expected = {
        (m, i)
        for m, i in all_condensed
        if m in ("dm", "dm_sd") or m.startswith(("dm_syn", "dm_sd_"))
    }
    assert {("dm", "1"), ("dm_sd", "1"), ("dm_sd_s2d2", "1")} < expected < all_condensed
    assert planned_condensations(result) == expected
    assert {"evaluate", "diversity", "main_table", "temporal_table", "static_dynamic_table"} <= set(
        planned
    )
    assert not UPSTREAM_RULES & set(planned)
    # the edit undone: nothing left to do
    assert (
        planned_jobs(run_workflow(workdir, cfg, "-n", "all_tables", *repo_copy_args(workdir))) == {}
    )


@pytest.mark.slow
def test_touching_a_script_reruns_nothing_and_editing_it_reruns_its_rule(done_run):
    workdir, all_condensed = done_run
    cfg = tiny_config()
    script = workdir.parent / "repo" / "workflow" / "scripts" / "condense.py"
    original = script.read_text()
    os.utime(script)  # newer than every output
    assert (
        planned_jobs(run_workflow(workdir, cfg, "-n", "all_tables", *repo_copy_args(workdir))) == {}
    )
    try:
        script.write_text(original + "# a comment edit\n")
        result = run_workflow(workdir, cfg, "-n", "all_tables", *repo_copy_args(workdir))
    finally:
        script.write_text(original)
    assert planned_condensations(result) == all_condensed
    planned = planned_jobs(result)
    assert not UPSTREAM_RULES & set(planned)
