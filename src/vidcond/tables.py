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


LABEL_ORDER = {"hard": 0, "soft": 1, "multi_soft": 2}


def labels_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The label ablation (the video study's Tables 2-3): dataset x method x IPC x label mode
    x loss x CutMix, accuracy mean/std over seeds; ``variant`` names the evaluation setting."""
    keys = ["dataset", "method", "ipc", "arch", "labels", "loss", "cutmix", "variant"]
    table = summarise(rows, keys)
    table["_order"] = table["labels"].map(LABEL_ORDER)
    order = ["dataset", "method", "ipc", "_order", "loss", "cutmix"]
    return table.sort_values(order).drop(columns="_order").reset_index(drop=True)


def cross_arch_table(rows: pd.DataFrame, main_rows: pd.DataFrame) -> pd.DataFrame:
    """dataset x method x IPC x evaluation network, with the main network alongside."""
    keys = set(zip(rows["dataset"], rows["method"], rows["ipc"]))
    same = main_rows[[k in keys for k in zip(main_rows["dataset"], main_rows["method"], main_rows["ipc"])]]
    both = pd.concat([same, rows], ignore_index=True)
    return summarise(both, ["dataset", "method", "ipc", "arch"]).sort_values(["dataset", "method", "ipc", "arch"]).reset_index(drop=True)


def static_dynamic_table(rows: pd.DataFrame, runs: list[dict], metas: list[dict], static_metas: list[dict], clip_frames: dict[str, int]) -> pd.DataFrame:
    """The SPC x DPC ablation of a +SD method ("Dancing with Still Images", Tables 5 and 8).

    ``runs`` (dataset, spc, dpc, the ablation's ``ipc`` and the ``method``/``run_ipc`` that
    condensed each: DPC 0 is the static set alone at IPC = SPC) align with
    the sidecars of their condensed sets (``metas``) and of the static sets they start from
    (``static_metas``). Per run: accuracy overall and on the static / dynamic class groups,
    storage, storage relative to the base method's full videos (IPC x ``clip_frames`` frames
    per class), and the cost of stage 1 (the static set) and of stage 2.
    """
    summary = summarise(rows, ["dataset", "method", "ipc"]).set_index(["dataset", "method", "ipc"])
    table = []
    for run, meta, static in zip(runs, metas, static_metas):
        row = {"dataset": run["dataset"], "ipc": run["ipc"], "spc": run["spc"], "dpc": run["dpc"], "run": run["method"], "run_ipc": run["run_ipc"]}
        row.update(summary.loc[(run["dataset"], run["method"], run["run_ipc"])].to_dict())
        classes = meta["num_videos"] // run["run_ipc"]
        base_storage = 4 * classes * run["ipc"] * clip_frames[run["dataset"]] * meta["channels"] * meta["height"] * meta["width"]
        row["storage_vs_base"] = meta["storage_bytes"] / base_storage
        row["stage1_seconds"] = static.get("wall_time_s")
        row["stage1_s_per_iter"] = static.get("seconds_per_iteration")
        row["stage1_peak_mem_mb"] = static.get("peak_mem_mb")
        row["stage2_seconds"] = meta["wall_time_s"] if run["dpc"] else 0.0
        row["stage2_s_per_iter"] = meta.get("seconds_per_iteration") if run["dpc"] else None
        table.append(row)
    columns = ["dataset", "ipc", "spc", "dpc", "run", "run_ipc"]
    metrics = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    cost = ["storage_bytes", "storage_mb", "storage_vs_base", "stage1_seconds", "stage1_s_per_iter", "stage1_peak_mem_mb", "stage2_seconds", "stage2_s_per_iter"]
    out = pd.DataFrame(table)
    return out[columns + metrics + ["n_seeds"] + cost].sort_values(["dataset", "spc", "dpc"]).reset_index(drop=True)


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


def temporal_table(rows: pd.DataFrame, metas: list[dict], runs: pd.DataFrame) -> pd.DataFrame:
    """The temporal taxonomy ("Dancing with Still Images", Fig. 5-6, Table 1): per dataset
    and (n_syn, n_real, segments, interpolation), accuracy over seeds next to the
    condensation's seconds per iteration, peak memory and wall time.

    ``runs`` holds one row per grid point (dataset, method, ipc and the resolved options) in
    the order of ``metas``, the sidecars of their condensed sets; ``rows`` the evaluations.
    """
    keys = ["dataset", "n_syn", "n_real", "segments", "interpolation"]
    cost = pd.DataFrame(
        {
            "method": runs["method"],
            "dataset": runs["dataset"],
            "s_per_iter": [m.get("seconds_per_iteration") for m in metas],
            "peak_mem_mb": [m.get("peak_mem_mb") for m in metas],
            "condense_seconds": [m.get("wall_time_s") for m in metas],
            "device": [m.get("device") for m in metas],
        }
    )
    accuracy = summarise(rows, ["dataset", "method", "ipc"])
    metrics = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    table = runs[keys + ["method", "ipc"]].merge(accuracy[["dataset", "method", "ipc", *metrics, "n_seeds", "storage_mb"]], on=["dataset", "method", "ipc"])
    table = table.merge(cost, on=["dataset", "method"])
    return table.sort_values(keys).reset_index(drop=True)


def diversity_table(paths) -> pd.DataFrame:
    """One row per condensed set: entropy, coverage, MPD and representativeness."""
    return read_rows(paths).sort_values(["dataset", "method", "ipc"]).reset_index(drop=True)
