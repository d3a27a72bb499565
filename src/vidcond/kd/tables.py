"""The knowledge-distillation tables: the paper's Tables III-IV and its ablations (VII, VIII, Fig. 3)."""

from __future__ import annotations

import pandas as pd

from ..stats import mean_ci95

KD_METRICS = ["top1", "top5"]


def _summarise(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    agg = {}
    for metric in KD_METRICS:
        agg[f"{metric}_mean"] = (metric, "mean")
        agg[f"{metric}_std"] = (metric, "std")
    agg.update(
        top1_ci95_low=("top1", lambda top1: mean_ci95(top1)[2]),
        top1_ci95_high=("top1", lambda top1: mean_ci95(top1)[3]),
        n_test=("n_test", "first"),
        train_seconds=("train_seconds", "mean"),
        score_seconds=("score_seconds", "mean"),
        clips_trained=("clips_trained", "mean"),
        steps=("steps", "mean"),
        epochs=("epochs", "first"),
        ratio=("ratio", "first"),
        every=("every", "first"),
        teacher=("teacher", "first"),
        student=("student", "first"),
        n_seeds=("seed", "nunique"),
        config_hash=("config_hash", "first"),
        git_commit=("git_commit", "first"),
    )
    return rows.groupby(keys, dropna=False, sort=False).agg(**agg).reset_index()


def kd_table(rows: pd.DataFrame, teachers: dict[str, tuple[str, dict]], methods: list[str]) -> pd.DataFrame:
    """Per dataset: the teacher, then per student start (``pretrained`` on the source
    dataset, then ``scratch``) the student alone and every KD method vanilla and with SAKD
    in each mode: top-1/top-5 (mean, std over seeds, top-1's 95 % interval), training seconds and their ratio to
    the same method's vanilla run from the same start.

    ``teachers``: dataset -> (teacher name, the teacher's saved spec with ``train``/``test``);
    ``methods``: the KD methods in the order of the table.
    """
    rows = rows[rows["setting"].isin(["default", "scratch"])].copy()
    if "start" not in rows:  # rows written before students could start pretrained
        rows["start"] = "scratch"
    if "pretrain_seconds" not in rows:
        rows["pretrain_seconds"] = 0.0
    rows["start"] = rows["start"].fillna("scratch")
    rows["pretrain_seconds"] = rows["pretrain_seconds"].fillna(0.0)
    table = _summarise(rows, ["dataset", "start", "method", "mode"])
    table["pretrain_seconds"] = rows.groupby(["dataset", "start", "method", "mode"], sort=False)["pretrain_seconds"].mean().to_numpy()
    table.insert(4, "type", ["student" if m == "none" else ("vanilla" if mode == "vanilla" else "sakd") for m, mode in zip(table["method"], table["mode"])])
    vanilla = table[table["mode"] == "vanilla"].set_index(["dataset", "start", "method"])["train_seconds"]
    table["time_vs_vanilla"] = [
        seconds / vanilla.get((d, st, m), float("nan"))
        for d, st, m, seconds in zip(table["dataset"], table["start"], table["method"], table["train_seconds"])
    ]
    teacher_rows = pd.DataFrame(
        [
            {
                "dataset": dataset,
                "method": "none",
                "mode": "teacher",
                "type": "teacher",
                "top1_mean": spec["test"]["top1"],
                "top5_mean": spec["test"]["top5"],
                "train_seconds": spec["train"]["train_seconds"],
                "ratio": 1.0,
                "teacher": name,
                "n_seeds": 1,
            }
            for dataset, (name, spec) in teachers.items()
        ]
    )
    table = pd.concat([teacher_rows, table], ignore_index=True)
    table["_start"] = table["start"].map({"pretrained": 0, "scratch": 1}).fillna(-1)
    table["_method"] = table["method"].map({"none": -1, **{m: i for i, m in enumerate(methods)}})
    table["_mode"] = table["mode"].map(lambda m: {"teacher": -2, "vanilla": -1}.get(m) or int(m.removeprefix("sakd_every")))
    order = ["dataset", "_start", "_method", "_mode"]
    return table.sort_values(order, kind="stable").drop(columns=["_start", "_method", "_mode"]).reset_index(drop=True)


def kd_ablation_table(rows: pd.DataFrame, grid: dict[str, list]) -> pd.DataFrame:
    """One row per ablated hyperparameter value (``grid``: param -> [(value, setting)])."""
    parts = []
    for param, runs in grid.items():
        for value, setting in runs:
            chosen = rows[rows["setting"] == setting]
            summary = _summarise(chosen, ["dataset", "method", "mode"])
            summary.insert(3, "param", param)
            summary.insert(4, "value", float(value))
            parts.append(summary)
    return pd.concat(parts, ignore_index=True).sort_values(["dataset", "param", "value"], kind="stable").reset_index(drop=True)
