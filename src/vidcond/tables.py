"""Result tables assembled from the per-job outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

METRICS = ["top1", "top5", "top1_static", "top1_dynamic"]


def dataset_table(manifests: dict[str, str], metas: list[str]) -> pd.DataFrame:
    """Per dataset, class and split: videos extracted / skipped and frame counts."""
    parts = []
    for (name, manifest_path), meta_path in zip(manifests.items(), metas):
        manifest = pd.read_parquet(manifest_path)
        classes = pd.DataFrame(json.loads(Path(meta_path).read_text())["classes"])
        manifest["ok"] = manifest["status"] == "ok"
        manifest["skipped"] = ~manifest["ok"]
        grouped = manifest.groupby(["label", "split"]).agg(
            videos_ok=("ok", "sum"),
            videos_skipped=("skipped", "sum"),
            source_frames=("n_frames", "sum"),
            stored_frames=("n_stored", "sum"),
        )
        grouped = grouped.reset_index().merge(classes, on="label")
        grouped.insert(0, "dataset", name)
        parts.append(grouped.rename(columns={"name": "class_name"}))
    columns = ["dataset", "class_name", "label", "group", "split", "videos_ok", "videos_skipped", "source_frames", "stored_frames"]
    return pd.concat(parts, ignore_index=True)[columns]


def read_rows(paths) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def summarise(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and std over seeds of every metric, per ``keys``."""
    agg = {}
    for metric in METRICS:
        agg[f"{metric}_mean"] = (metric, "mean")
        agg[f"{metric}_std"] = (metric, "std")
    agg.update(
        n_seeds=("seed", "nunique"),
        seeds=("seed", lambda s: ",".join(map(str, sorted(s)))),
        storage_bytes=("storage_bytes", "first"),
        condensation_ratio=("condensation_ratio", "first"),
        frames_pct=("frames_pct", "first"),
        num_train=("num_train", "first"),
        train_seconds=("train_seconds", "mean"),
        config_hash=("config_hash", "first"),
        package_version=("package_version", "first"),
        git_commit=("git_commit", "first"),
    )
    out = rows.groupby(keys, dropna=False, sort=False).agg(**agg).reset_index()
    out.insert(out.columns.get_loc("storage_bytes") + 1, "storage_mb", out["storage_bytes"] / 2**20)
    return out


def main_table(rows: pd.DataFrame, datasets: pd.DataFrame) -> pd.DataFrame:
    """dataset x method x IPC (x label mode): accuracy mean/std over seeds, storage, ratio."""
    table = summarise(rows, ["dataset", "method", "ipc", "labels", "arch"])
    skipped = datasets.groupby("dataset")["videos_skipped"].sum().rename("videos_skipped")
    table = table.merge(skipped, left_on="dataset", right_index=True, how="left")
    order = {"full": 0}
    table["_order"] = table["method"].map(order).fillna(1)
    return table.sort_values(["dataset", "_order", "method", "ipc"]).drop(columns="_order").reset_index(drop=True)


def cross_arch_table(rows: pd.DataFrame, main_rows: pd.DataFrame) -> pd.DataFrame:
    """dataset x method x IPC x evaluation network, with the main network alongside."""
    keys = set(zip(rows["dataset"], rows["method"], rows["ipc"]))
    same = main_rows[[k in keys for k in zip(main_rows["dataset"], main_rows["method"], main_rows["ipc"])]]
    both = pd.concat([same, rows], ignore_index=True)
    return summarise(both, ["dataset", "method", "ipc", "arch"]).sort_values(["dataset", "method", "ipc", "arch"]).reset_index(drop=True)


def runs_table(benchmark_files) -> pd.DataFrame:
    """Wall time and peak memory of every job, from Snakemake's benchmark files.

    A benchmark at ``benchmarks/<rule>/<job>.tsv`` gives the rule and the job's wildcards
    (the path below the rule folder)."""
    parts = []
    for path in map(Path, benchmark_files):
        frame = pd.read_csv(path, sep="\t")
        rel = path.relative_to(path.parts[0]) if path.parts[0] == "benchmarks" else path
        frame.insert(0, "rule", rel.parts[0])
        frame.insert(1, "job", str(Path(*rel.parts[1:]).with_suffix("")))
        parts.append(frame)
    table = pd.concat(parts, ignore_index=True).rename(columns={"s": "wall_seconds", "max_rss": "peak_rss_mb"})
    return table.drop(columns=["h:m:s"], errors="ignore")
