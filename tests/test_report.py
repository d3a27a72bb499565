"""Report pieces: HTML tables, preview strips and figures (`vidcond.report`)."""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vidcond.condensed import save_condensed, to_uint8
from vidcond.report import (
    format_cell,
    plot_accuracy_vs_ipc,
    plot_condensed_preview,
    plot_cross_arch,
    plot_runs,
    preview_grid,
    table_html,
)


class CellReader(HTMLParser):
    """Rows of header/data cell texts of an HTML table (the standard library's parser)."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None


def test_table_html_shows_every_cell_escaped_and_formatted():
    table = pd.DataFrame(
        {
            "method": ["random", "<dm & co>", "full"],
            "ipc": [1, 5, 0],
            "top1_mean": [19.875, 48.5, np.nan],
            "storage_bytes": [12345678, 3, 0],
            "wall_seconds": [1234.56, 0.000123, 7.0],
        }
    )
    reader = CellReader()
    reader.feed(table_html(table, "results/main.parquet"))
    assert reader.rows[0] == list(table.columns)
    assert reader.rows[1:] == [
        ["random", "1", "19.88", "12,345,678", "1,235"],
        ["<dm & co>", "5", "48.5", "3", "0.000123"],
        ["full", "0", "", "0", "7"],
    ]


@pytest.mark.parametrize(
    "value, text",
    [(3, "3"), (123456, "123,456"), (0.5, "0.5"), (2.0 / 3, "0.6667"), (float("nan"), ""), (None, ""), (True, "True")],
)
def test_format_cell(value, text):
    assert format_cell(value) == text


def test_preview_grid_takes_one_video_per_spread_class_and_even_frames():
    n, t, c, h, w = 20, 10, 3, 2, 3
    labels = np.repeat(np.arange(10), 2)
    # every pixel of frame f of video i holds the value (i * t + f) / 1000
    videos = (np.arange(n * t).reshape(n, t, 1, 1, 1) / 1000.0) * np.ones((1, 1, c, h, w))
    grid, rows = preview_grid(videos, labels, classes=4, frames=4)
    assert rows == [0, 3, 6, 9]
    assert grid.shape == (4 * (h + 1) - 1, 4 * (w + 1) - 1, c)
    for r, label in enumerate(rows):
        video = 2 * label  # the first video of the class
        for col, frame in enumerate([0, 3, 6, 9]):
            block = grid[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w]
            assert np.allclose(block, (video * t + frame) / 1000.0)
    assert (grid[h, :] == 1).all() and (grid[:, w] == 1).all()  # white gaps
    clipped, _ = preview_grid(videos * 1000 - 5, labels)
    assert clipped.min() == 0 and clipped.max() == 1


def png_pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_figures_are_written(tmp_path):
    main = pd.DataFrame(
        {
            "dataset": ["ds"] * 5,
            "method": ["full", "random", "random", "dm", "dm"],
            "ipc": [0, 1, 5, 1, 5],
            "labels": ["hard", "multi_soft", "multi_soft", "hard", "hard"],
            "arch": ["miniC3D"] * 5,
            "top1_mean": [90.0, 20.0, 45.0, 25.0, 40.0],
            "top1_std": [np.nan, 1.0, 2.0, 0.5, np.nan],
        }
    )
    plot_accuracy_vs_ipc(main, "ds", tmp_path / "acc.png")
    with pytest.raises(ValueError, match="no rows for dataset 'other'"):
        plot_accuracy_vs_ipc(main, "other", tmp_path / "none.png")
    cross = main[main["method"] != "full"].assign(arch=["miniC3D", "miniC3D", "i3d_r18", "i3d_r18"])
    plot_cross_arch(cross, "ds", tmp_path / "cross.png")
    runs = pd.DataFrame(
        {"rule": ["teacher", "evaluate", "evaluate"], "wall_seconds": [60.0, 30.0, 20.0], "peak_rss_mib": [500.0, np.nan, 300.0]}
    )
    plot_runs(runs, tmp_path / "runs.png")
    for name in ("acc.png", "cross.png", "runs.png"):
        pixels = png_pixels(tmp_path / name)
        assert pixels.shape[0] > 100 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    assert not (tmp_path / "none.png").exists()


def test_condensed_preview_shows_the_stored_frames(tmp_path):
    # 2 classes x 1 video, 4 frames of 8x8: class 0 black, class 1 pure red
    videos = torch.zeros(2, 4, 3, 8, 8)
    videos[1, :, 0] = 1.0
    save_condensed(tmp_path / "set", {"videos": to_uint8(videos), "labels": torch.tensor([0, 1])}, {"method": "x"})
    plot_condensed_preview(tmp_path / "set", ["Dark", "Red"], tmp_path / "preview.png", title="x")
    pixels = png_pixels(tmp_path / "preview.png").astype(int)
    black = (pixels == 0).all(axis=2).sum()
    red = ((pixels[..., 0] == 255) & (pixels[..., 1:] == 0).all(axis=2)).sum()
    # both rows drawn in full: four frames each, of equal area (text adds a few black pixels)
    assert red > 4 * 8 * 8 and 1.0 <= black / red < 1.2


def test_claim_verdicts_are_coloured():
    table = pd.DataFrame({"claim": ["a", "b", "c"], "holds": ["true", "false", "unresolved"]})
    page = table_html(table, "results/claims.parquet")
    for verdict in ("true", "false", "unresolved"):
        assert f'<td class="holds-{verdict}">{verdict}</td>' in page
    assert "td.holds-true { background: #c8ebc8; }" in page
