"""One paper config through the workflow's rules at the paper's clip size and network widths
(tests/paper_smoke.py: the real layout's small copy, every count shortened), so that a shape,
memory or dtype bug that only paper sizes reach fails here. bench/paper_scale.py runs every
paper config this way and prints the costs (docs/paper_scale.md)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from paper_smoke import paper_config, run_smoke, smoke_config, write_inputs
from vidcond.condensed import load_condensed
from vidcond.tables import cross_arch_table


@pytest.mark.slow
def test_gvd_paper_config_runs_its_rules_at_paper_scale(tmp_path):
    """GVD at 16x112x112 (the most rule kinds that fit the budget): the videomae-base teacher,
    the ModelScope-layout diffusion pipeline, one guided generation with MVIC (4,4,4,4), its
    evaluation on MiniC3D (64, 128, 128) under the GVD protocol (soft labels of the VideoMAE
    teacher). Left out for time: the coresets, the ablation variants, cross-architecture and
    diversity (all in bench/paper_scale.py). 64 s at one thread (docs/paper_scale.md)."""
    paper = paper_config("gvd")
    cfg = smoke_config(paper, write_inputs(tmp_path / "inputs", paper), iterations=1, epochs=1, methods=["gvd"])
    cfg["diffusion"]["quality_samples"] = 0  # the quality check alone takes a minute (run by the bench)
    target = "results/eval/miniucf/gvd/ipc1/miniC3D/gvd/default.parquet"
    done = run_smoke(tmp_path / "run", cfg, target)
    assert done.returncode == 0, done.stderr[-4000:]
    results = tmp_path / "run" / "results"

    ran = {path.name for path in (tmp_path / "run" / "benchmarks").iterdir()}
    assert ran == {"extract_frames", "teacher", "diffusion", "condense", "evaluate"}
    condensed = load_condensed(results / "condensed" / "miniucf" / "gvd" / "ipc1")
    # the paper's clip, 16 frames of 112x112, for one video per class of the copy's four
    assert tuple(condensed.tensors["videos"].shape) == (4, 16, 3, 112, 112)
    assert condensed.meta["mvic_pattern"] == [4, 4, 4, 4] and condensed.meta["sampling_steps"] == 1
    teacher = json.loads((results / "teachers" / "miniucf" / "videomae.json").read_text())
    assert teacher["clip_shape"] == [16, 3, 112, 112] and teacher["options"]["hidden_size"] == 768
    row = pd.read_parquet(results / "eval" / "miniucf" / "gvd" / "ipc1" / "miniC3D" / "gvd" / "default.parquet")
    assert list(row["seed"]) == [0] and row["labels"].iloc[0] == "soft" and row["teacher"].iloc[0] == "videomae"


def test_cross_arch_table_without_cross_arch_rows_is_empty():
    # a KD-only config (sakd): only the full-set row, no cross-architecture evaluation
    main_rows = pd.DataFrame({"dataset": ["ucf101"], "method": ["full"], "ipc": [None], "protocol": ["full"], "arch": ["miniC3D"], "seed": [0], "top1": [0.5]})
    no_rows = pd.DataFrame(columns=["dataset", "method", "ipc", "protocol", "arch"])
    table = cross_arch_table(no_rows, main_rows)
    assert table.empty and list(table.columns) == ["dataset", "method", "ipc", "protocol", "arch"]
