"""Result tables assembled from the per-job outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .stats import mean_ci95, paired_difference

# Accuracies are fractions (0-1); storage in bytes and MiB.
METRICS = ["top1", "top5", "top1_static", "top1_dynamic"]
# One evaluation setting: a method's rows are paired with random's of the same setting.
SETTING = ["dataset", "ipc", "arch", "protocol", "variant"]


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


def read_rows(paths, variants: list[str] | None = None) -> pd.DataFrame:
    """The rows of every file of ``paths``; with ``variants`` (one per path) each file's
    rows are reported as that evaluation variant."""
    frames = [pd.read_parquet(p) for p in paths]
    if variants is not None:
        frames = [frame.assign(variant=v) for frame, v in zip(frames, variants, strict=True)]
    return pd.concat(frames, ignore_index=True)


def summarise(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys``: mean and std over seeds of every accuracy, the 95 % interval of the
    mean top-1, the seeds, test clips, storage and the training budget that was run."""
    out = []
    for key, group in rows.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        for metric in METRICS:
            mean, std, low, high = mean_ci95(group[metric]) if metric in group else (float("nan"),) * 4
            row.update({f"{metric}_mean": mean, f"{metric}_std": std})
            if metric == "top1":
                row.update(top1_ci95_low=low, top1_ci95_high=high)
        first = group.iloc[0]
        row.update(
            n_seeds=group["seed"].nunique(),
            seeds=",".join(map(str, sorted(group["seed"]))),
            n_test=int(first["n_test"]),
            storage_bytes=first.get("storage_bytes"),
            condensation_ratio=first.get("condensation_ratio"),
            num_train=first.get("num_train"),
            steps=int(group["steps"].max()),
            epochs_run=int(group["epochs_run"].max()),
            final_loss_mean=float(group["final_loss"].mean()),
            train_seconds_mean=float(group["train_seconds"].mean()),
            config_hash=first.get("config_hash"),
            package_version=first.get("package_version"),
            git_commit=first.get("git_commit"),
        )
        out.append(row)
    table = pd.DataFrame(out)
    storage = table["storage_bytes"].astype("Float64")
    table.insert(table.columns.get_loc("storage_bytes") + 1, "storage_mib", storage / 2**20)
    if "ipc" in table:
        table["ipc"] = table["ipc"].astype("Int64")  # null for the full training set
    return table


# A random set "has the storage" of another within this relative slack: both store the
# same labels and metadata, a set's few extra bytes (a learned lr, soft labels) don't count.
STORAGE_SLACK = 0.01


def add_vs_random(table: pd.DataFrame, rows: pd.DataFrame, reference: str = "random") -> pd.DataFrame:
    """Per row of ``table``: the paired difference of top-1 to ``reference`` evaluated in the
    same setting (dataset, IPC, network, protocol, variant) with the same seeds, its 95 %
    interval, and the storage relative to the reference's. Also the paired difference to the
    reference at equal storage: at the smallest of its IPCs whose storage is at least the
    set's (the +SD sets store less than their IPC suggests, so random gets at least as many
    bytes, never fewer)."""
    keys = [k for k in SETTING if k in rows]
    by_setting, ipcs_by_rest = {}, {}
    rest_keys = [k for k in keys if k != "ipc"]
    for key, group in rows[rows["method"] == reference].groupby(keys, dropna=False):
        by_setting[key] = (dict(zip(group["seed"], group["top1"])), group["storage_bytes"].iloc[0])
        setting = dict(zip(keys, key))
        rest = tuple(setting[k] for k in rest_keys)
        ipcs_by_rest.setdefault(rest, []).append((setting["ipc"], key))
    diffs = []
    for key, group in rows.groupby(["method", *keys], dropna=False, sort=False):
        method, setting = key[0], key[1:]
        if method == reference:
            continue
        seeds_top1 = dict(zip(group["seed"], group["top1"]))
        storage = group["storage_bytes"].iloc[0]
        row = {"method": method, **dict(zip(keys, setting))}
        ref = by_setting.get(setting)
        if ref is not None:
            mean, low, high, pairs = paired_difference(seeds_top1, ref[0])
            ratio = storage / ref[1] if storage is not None and ref[1] else float("nan")
            row.update(vs_random=mean, vs_random_ci95_low=low, vs_random_ci95_high=high,
                       vs_random_pairs=pairs, storage_vs_random=ratio)
        matched = storage_matched(ipcs_by_rest.get(tuple(row[k] for k in rest_keys), []), by_setting, storage)
        if matched is not None:
            mean, low, high, _ = paired_difference(seeds_top1, by_setting[matched[1]][0])
            row.update(random_ipc_at_storage=matched[0], vs_random_at_storage=mean,
                       vs_random_at_storage_ci95_low=low, vs_random_at_storage_ci95_high=high)
        if len(row) > len(keys) + 1:
            diffs.append(row)
    columns = {"vs_random": float("nan"), "vs_random_ci95_low": float("nan"), "vs_random_ci95_high": float("nan"),
               "vs_random_pairs": 0, "storage_vs_random": float("nan"), "random_ipc_at_storage": pd.NA,
               "vs_random_at_storage": float("nan"), "vs_random_at_storage_ci95_low": float("nan"),
               "vs_random_at_storage_ci95_high": float("nan")}
    if not diffs:
        return table.assign(**columns)
    diffs = pd.DataFrame(diffs).reindex(columns=["method", *keys, *columns])
    diffs = diffs.fillna({"vs_random_pairs": 0}).astype({"vs_random_pairs": int})
    for column in ("ipc", "random_ipc_at_storage"):
        diffs[column] = diffs[column].astype("Int64")
    return table.merge(diffs, on=["method", *keys], how="left")


def storage_matched(candidates: list[tuple[int, tuple]], by_setting: dict, storage) -> tuple[int, tuple] | None:
    """Of the reference's (IPC, setting key) ``candidates``, the smallest IPC whose storage
    is at least ``storage`` (within :data:`STORAGE_SLACK`); None when none is."""
    if storage is None or pd.isna(storage):
        return None
    enough = [(ipc, key) for ipc, key in candidates if by_setting[key][1] >= storage * (1 - STORAGE_SLACK)]
    return min(enough, default=None, key=lambda c: c[0])


def main_table(rows: pd.DataFrame, datasets: pd.DataFrame) -> pd.DataFrame:
    """dataset x method x IPC x protocol: accuracy over seeds with its interval, the paired
    difference to random, storage and condensation ratio; ``full`` first (IPC null)."""
    table = summarise(rows, ["dataset", "method", "ipc", "protocol", "labels", "arch", "variant"])
    table = add_vs_random(table, rows)
    skipped = datasets.groupby("dataset")["videos_skipped"].sum().rename("videos_skipped")
    table = table.merge(skipped, left_on="dataset", right_index=True, how="left")
    table["_order"] = (table["method"] != "full").astype(int)
    order = ["dataset", "_order", "method", "ipc", "protocol"]
    return table.sort_values(order).drop(columns="_order").reset_index(drop=True)


LABEL_ORDER = {"hard": 0, "soft": 1, "multi_soft": 2}


def labels_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The label ablation (the video study's Tables 2-3): dataset x method x IPC x label mode
    x loss x CutMix, accuracy mean/std over seeds; ``variant`` names the evaluation setting."""
    keys = ["dataset", "method", "ipc", "arch", "protocol", "labels", "loss", "cutmix", "variant"]
    table = add_vs_random(summarise(rows, keys), rows)
    table["_order"] = table["labels"].map(LABEL_ORDER)
    order = ["dataset", "method", "ipc", "_order", "loss", "cutmix"]
    return table.sort_values(order).drop(columns="_order").reset_index(drop=True)


def cross_arch_table(rows: pd.DataFrame, main_rows: pd.DataFrame) -> pd.DataFrame:
    """dataset x method x IPC x evaluation network, with the main network alongside."""
    keys = set(zip(rows["dataset"], rows["method"], rows["ipc"], rows["protocol"]))
    same = main_rows[[k in keys for k in zip(main_rows["dataset"], main_rows["method"], main_rows["ipc"], main_rows["protocol"])]]
    both = pd.concat([same, rows], ignore_index=True)
    order = ["dataset", "method", "ipc", "protocol", "arch"]
    if both.empty:  # no cross-architecture evaluation (a KD-only config)
        return pd.DataFrame(columns=order)
    return summarise(both, order).sort_values(order).reset_index(drop=True)


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
        row["stage1_seconds_per_iteration"] = static.get("seconds_per_iteration")
        row["stage1_peak_mem_mib"] = static.get("peak_mem_mb")
        row["stage2_seconds"] = meta["wall_time_s"] if run["dpc"] else 0.0
        row["stage2_seconds_per_iteration"] = meta.get("seconds_per_iteration") if run["dpc"] else None
        table.append(row)
    columns = ["dataset", "ipc", "spc", "dpc", "run", "run_ipc"]
    metrics = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")] + ["top1_ci95_low", "top1_ci95_high"]
    cost = ["storage_bytes", "storage_mib", "storage_vs_base", "stage1_seconds", "stage1_seconds_per_iteration", "stage1_peak_mem_mib", "stage2_seconds", "stage2_seconds_per_iteration"]
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
    table = pd.concat(parts, ignore_index=True).rename(columns=BENCHMARK_COLUMNS)
    return table.drop(columns=["h:m:s"], errors="ignore")


# Snakemake's benchmark columns with their units (memory and I/O in MiB, load in percent
# of one core, CPU time in seconds).
BENCHMARK_COLUMNS = {
    "s": "wall_seconds",
    "max_rss": "peak_rss_mib",
    "max_vms": "peak_vms_mib",
    "max_uss": "peak_uss_mib",
    "max_pss": "peak_pss_mib",
    "io_in": "io_in_mib",
    "io_out": "io_out_mib",
    "mean_load": "mean_load_pct",
    "cpu_time": "cpu_seconds",
}


def temporal_table(rows: pd.DataFrame, metas: list[dict], runs: pd.DataFrame) -> pd.DataFrame:
    """The temporal taxonomy ("Dancing with Still Images", Fig. 5-6, Table 1): per dataset
    and (n_syn, n_real, segments, interpolation, syn_frames: the slide-window length of
    Video-DC, Sec. 3.1) and evaluation network ``arch``, accuracy over seeds next to the
    condensation's seconds per iteration, peak memory and wall time.

    ``runs`` holds one row per grid point (dataset, method, ipc and the resolved options) in
    the order of ``metas``, the sidecars of their condensed sets; ``rows`` the evaluations.
    """
    keys = ["dataset", "n_syn", "n_real", "segments", "interpolation", "syn_frames"]
    cost = pd.DataFrame(
        {
            "method": runs["method"],
            "dataset": runs["dataset"],
            "seconds_per_iteration": [m.get("seconds_per_iteration") for m in metas],
            "peak_mem_mib": [m.get("peak_mem_mb") for m in metas],
            "condense_seconds": [m.get("wall_time_s") for m in metas],
            "device": [m.get("device") for m in metas],
        }
    )
    accuracy = summarise(rows, ["dataset", "method", "ipc", "arch"])
    metrics = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")] + ["top1_ci95_low", "top1_ci95_high"]
    table = runs[keys + ["method", "ipc"]].merge(accuracy[["dataset", "method", "ipc", "arch", *metrics, "n_seeds", "storage_mib"]], on=["dataset", "method", "ipc"])
    table = table.merge(cost, on=["dataset", "method"])
    return table.sort_values(["arch", *keys]).reset_index(drop=True)


def diversity_table(paths) -> pd.DataFrame:
    """One row per condensed set: entropy, coverage, MPD and representativeness."""
    return read_rows(paths).sort_values(["dataset", "method", "ipc"]).reset_index(drop=True)
