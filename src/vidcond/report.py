"""Figures and HTML tables for ``snakemake --report``.

Every function takes the tables the workflow wrote (``results/*.parquet``) or a condensed
set and writes one file: an HTML rendering of a table, accuracy-vs-IPC curves per dataset
(as Fig. 4 of the video condensation study), a cross-architecture heat map, a strip of
frames of a few condensed videos and of their inter-frame differences, and the time and
memory of the workflow's jobs.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path

PREVIEW_CLASSES = 4  # condensed videos shown per preview (one per class, spread over the classes)
PREVIEW_FRAMES = 8  # frames shown per video (evenly spaced)
PREVIEW_MIN_PIXELS = 48  # frames smaller than this are enlarged (nearest neighbour)

_CSS = """
body { font-family: sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; white-space: nowrap; }
th { background: #f0f0f0; position: sticky; top: 0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f7f7ff; }
td.holds-true { background: #c8ebc8; }
td.holds-false { background: #f4c4c4; }
td.holds-unresolved { background: #e4e4e4; }
"""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def format_cell(value) -> str:
    """Numbers with four significant digits (thousands without decimals), NaN as blank."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return "" if value is None else str(value)


def _cell_class(column: str, value, numeric: bool) -> str:
    """``num`` for numbers; a claim's verdict (column ``holds``) is green, red or grey."""
    if column == "holds":
        return f' class="holds-{html.escape(str(value))}"'
    return ' class="num"' if numeric else ""


def table_html(table: pd.DataFrame, title: str) -> str:
    """A self-contained HTML page showing every row and column of ``table``."""
    numeric = [pd.api.types.is_numeric_dtype(dtype) for dtype in table.dtypes]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for values in table.itertuples(index=False):
        cells = (
            f"<td{_cell_class(column, v, is_num)}>" + html.escape(format_cell(v)) + "</td>"
            for column, v, is_num in zip(table.columns, values, numeric)
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n<h3>{html.escape(title)}</h3>\n"
        f"<p>{len(table)} rows, {len(table.columns)} columns</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></body></html>\n"
    )


def write_table_html(parquet: str | Path, out: str | Path, title: str) -> pd.DataFrame:
    table = pd.read_parquet(parquet)
    with atomic_path(out) as tmp:
        tmp.write_text(table_html(table, title))
    return table


def _curve_label(method: str, protocol: str | None, several_protocols: bool) -> str:
    return f"{method} ({protocol})" if several_protocols and protocol is not None else method


def plot_accuracy_vs_ipc(main: pd.DataFrame, dataset: str, out: str | Path, metric: str = "top1") -> None:
    """Top-1 (mean ± std over seeds) against IPC, one curve per method and evaluation
    protocol; colour tells methods apart, line style protocols; full-data training as a
    dashed line."""
    plt = _pyplot()
    rows = main[main["dataset"] == dataset]
    if rows.empty:
        raise ValueError(f"main table has no rows for dataset {dataset!r}")
    mean, std = f"{metric}_mean", f"{metric}_std"
    condensed = rows[rows["method"] != "full"]
    keys = ["method", "protocol"] if "protocol" in rows else ["method"]
    protocols = sorted(condensed["protocol"].dropna().unique()) if "protocol" in rows else []
    styles = dict(zip(protocols, ["-", "--", ":", "-."] * 4))
    methods = list(dict.fromkeys(condensed["method"]))
    colours = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, group in condensed.groupby(keys, sort=False, dropna=False):
        method, protocol = key[0], (key[1] if len(key) > 1 else None)
        group = group.sort_values("ipc")
        colour = colours(methods.index(method) % colours.N)
        ax.errorbar(  # accuracies are fractions in the tables, percent on the axis
            group["ipc"], 100 * group[mean], yerr=100 * group[std].fillna(0), color=colour,
            linestyle=styles.get(protocol, "-"), marker="o", markersize=4, capsize=3,
            label=_curve_label(method, protocol, len(protocols) > 1),
        )
    for _, full in rows[rows["method"] == "full"].iterrows():
        ax.axhline(100 * full[mean], color="0.4", linestyle="--", linewidth=1)
        ax.annotate(f"full data {100 * full[mean]:.1f}", (0.01, 100 * full[mean]), xycoords=("axes fraction", "data"),
                    va="bottom", fontsize=8, color="0.3")
    ipcs = sorted(condensed["ipc"].unique())
    if len(ipcs) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xticks(ipcs, [str(i) for i in ipcs])
    ax.minorticks_off()
    ax.set_xlabel("instances per class (IPC)")
    ax.set_ylabel(f"{metric.replace('top', 'top-')} accuracy (%)")
    ax.set_title(f"{dataset}: accuracy vs IPC")
    ax.grid(alpha=0.3)
    if len(condensed):
        ax.legend(fontsize=8, ncol=2 if len(methods) > 6 else 1)
    _save(fig, out)


def plot_cross_arch(cross: pd.DataFrame, dataset: str, out: str | Path, metric: str = "top1") -> None:
    """Heat map of accuracy: rows method × IPC, columns the evaluation network."""
    plt = _pyplot()
    rows = cross[cross["dataset"] == dataset]
    if rows.empty:
        raise ValueError(f"cross-architecture table has no rows for dataset {dataset!r}")
    rows = rows.assign(setting=rows["method"] + " IPC " + rows["ipc"].astype(str))
    means = 100 * rows.pivot_table(index="setting", columns="arch", values=f"{metric}_mean", sort=False)
    stds = 100 * rows.pivot_table(index="setting", columns="arch", values=f"{metric}_std", sort=False).reindex_like(means)
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * means.shape[1], 0.9 + 0.45 * means.shape[0]))
    image = ax.imshow(means.to_numpy(), cmap="viridis", aspect="auto")
    low, high = np.nanmin(means.to_numpy()), np.nanmax(means.to_numpy())
    for (i, j), value in np.ndenumerate(means.to_numpy()):
        if not np.isnan(value):
            spread = stds.iat[i, j]
            text = f"{value:.1f}" + ("" if np.isnan(spread) else f"\n±{spread:.1f}")
            light = high == low or value < (low + high) / 2
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if light else "black")
    ax.set_xticks(range(means.shape[1]), means.columns, rotation=30, ha="right")
    ax.set_yticks(range(means.shape[0]), means.index)
    ax.set_title(f"{dataset}: {metric.replace('top', 'top-')} (%) per evaluation network")
    fig.colorbar(image, ax=ax, shrink=0.8)
    _save(fig, out)


def preview_grid(videos: np.ndarray, labels: np.ndarray, classes: int = PREVIEW_CLASSES,
                 frames: int = PREVIEW_FRAMES) -> tuple[np.ndarray, list[int]]:
    """Frames of one video for each of up to ``classes`` classes (spread over the labels
    present), ``frames`` evenly spaced frames each: a [rows*H, cols*W, C] image in [0, 1]
    with a one-pixel white gap, and the label of each row.

    ``videos`` is [N, T, C, H, W] in [0, 1]; values outside are clipped.
    """
    present = np.unique(labels)
    chosen = present[np.linspace(0, len(present) - 1, min(classes, len(present))).round().astype(int)]
    n, t, c, h, w = videos.shape
    frame_index = np.linspace(0, t - 1, min(frames, t)).round().astype(int)
    grid = np.ones((len(chosen) * (h + 1) - 1, len(frame_index) * (w + 1) - 1, c), dtype=np.float32)
    for row, label in enumerate(chosen):
        video = videos[np.flatnonzero(labels == label)[0]]
        for col, f in enumerate(frame_index):
            grid[row * (h + 1) : row * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = video[f].transpose(1, 2, 0)
    return np.clip(grid, 0, 1), chosen.tolist()


def plot_condensed_preview(stem: str | Path, class_names: list[str], out: str | Path, title: str) -> None:
    """A strip of frames of a few condensed videos (the stored frames, before any interpolation)."""
    from .condensed import load_condensed

    condensed = load_condensed(stem)
    videos = condensed.base_videos().numpy()
    grid, rows = preview_grid(videos, condensed.labels.numpy())
    h = videos.shape[3]
    scale = max(1, math.ceil(PREVIEW_MIN_PIXELS / h))
    grid = grid.repeat(scale, 0).repeat(scale, 1)
    if grid.shape[2] == 1:
        grid = grid[..., 0]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.0, grid.shape[1] / 80), 0.6 + grid.shape[0] / 80))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([(r * (h + 1) + h / 2) * scale for r in range(len(rows))], [class_names[r] for r in rows])
    ax.set_xticks([])
    ax.set_title(title, fontsize=9)
    _save(fig, out)


def frame_differences(videos: np.ndarray) -> np.ndarray:
    """Inter-frame differences |x_{t+1} - x_t| averaged over the colour channels:
    videos [N, T, C, H, W] -> [N, T - 1, H, W] (as Fig. 9 of "Dancing with Still Images")."""
    return np.abs(np.diff(videos, axis=1)).mean(axis=2)


def plot_frame_differences(stem: str | Path, class_names: list[str], out: str | Path, title: str) -> None:
    """Inter-frame differences of one condensed video for each of a few classes (rows), all on
    one grey scale (black: no change; white: the largest change in the figure). A factorised
    set is decoded with its first static and dynamic memory."""
    from .condensed import load_condensed

    condensed = load_condensed(stem)
    videos = condensed.base_videos().numpy()
    if videos.shape[1] < 2:
        raise ValueError(f"{stem}: videos of one frame have no inter-frame differences")
    diffs = frame_differences(videos)
    grid, rows = preview_grid(diffs[:, :, None] / max(float(diffs.max()), 1e-12), condensed.labels.numpy(), frames=diffs.shape[1])
    h = videos.shape[3]
    scale = max(1, math.ceil(PREVIEW_MIN_PIXELS / h))
    grid = grid[..., 0].repeat(scale, 0).repeat(scale, 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.0, grid.shape[1] / 80), 0.6 + grid.shape[0] / 80))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([(r * (h + 1) + h / 2) * scale for r in range(len(rows))], [class_names[r] for r in rows])
    ax.set_xticks([])
    ax.set_title(f"{title}\n|frame t+1 - frame t|, max {diffs.max():.3g}", fontsize=9)
    _save(fig, out)


def plot_runs(runs: pd.DataFrame, out: str | Path) -> None:
    """Per rule: total wall time of its jobs (with the job count) and the largest peak memory."""
    plt = _pyplot()
    per_rule = runs.groupby("rule").agg(
        jobs=("wall_seconds", "size"), wall_minutes=("wall_seconds", "sum"), peak_rss_mib=("peak_rss_mib", "max")
    )
    per_rule["wall_minutes"] /= 60
    per_rule = per_rule.sort_values("wall_minutes")
    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(9, 0.8 + 0.35 * len(per_rule)), sharey=True)
    bars = time_ax.barh(per_rule.index, per_rule["wall_minutes"], color="tab:blue")
    time_ax.bar_label(bars, [f"{n} job{'s' if n > 1 else ''}" for n in per_rule["jobs"]], fontsize=8, padding=2)
    time_ax.set_xlabel("wall time, all jobs (min)")
    time_ax.margins(x=0.2)  # room for the job counts
    mem_ax.barh(per_rule.index, per_rule["peak_rss_mib"].fillna(0), color="tab:orange")
    mem_ax.set_xlabel("largest peak memory of a job (MiB)")
    for ax in (time_ax, mem_ax):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{len(runs)} jobs, {runs['wall_seconds'].sum() / 60:.1f} min in total")
    _save(fig, out)
