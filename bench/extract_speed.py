"""Frame extraction speed: the workflow's extraction (`vidcond.data.framestore.extract`:
sequential decode resizing while decoding, write the frame store) against plain decord on
the same files.

    python bench/extract_speed.py [--per-class 4] [--frames 64] [--size 112] [--out 32] [--workers 1]

Generates synthaction videos (10 classes, AVI with B-frames and MP4, `--size` pixels) in a
temporary directory and prints decoded source frames per second of

* vidcond extract  — the whole extraction into a frame store of `--out` pixels
  (`--workers` processes; one by default, as the decord figures);
* vidcond decode   — sequential decoding at native size alone (`iter_frames`), no write;
* decord get_batch — plain decord: one `VideoReader` per file, all frames in one
  `get_batch` call, native size (fast random access; wrong frames on AVI with B-frames,
  the reason extraction decodes sequentially);
* decord resize    — plain decord resizing while decoding (`width`/`height` arguments).

The variants run in turn, `--repeats` rounds (alternating, in the same process); each
figure is the median, one thread. Last line: the ratio of the extraction's rate to decord
resizing while decoding, per round, and its median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=4, help="videos per class")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=112, help="height and width of the videos")
    parser.add_argument("--out", type=int, default=32, help="height and width of the frame store")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="extraction processes")
    args = parser.parse_args()

    import decord
    import torch

    from vidcond.data.framestore import ExtractOptions, extract
    from vidcond.data.layouts import list_dataset
    from vidcond.data.synthetic import GeneratorConfig, generate
    from vidcond.data.videoio import iter_frames

    torch.set_num_threads(1)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    generator = dict(config["datasets"]["synthaction"]["generator"])
    generator.update(train_per_class=args.per_class, test_per_class=0, frames=args.frames,
                     height=args.size, width=args.size)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        generate(scratch / "videos", GeneratorConfig.from_dict(generator), progress=False)
        listing = list_dataset({"format": "synthetic", "root": str(scratch / "videos")})
        paths = list(listing.videos["path"])
        frames = sum(len(decord.VideoReader(p, num_threads=1)) for p in paths)
        print(f"{len(paths)} videos ({', '.join(sorted({Path(p).suffix for p in paths}))}), {frames} frames of "
              f"{args.size}x{args.size}; frame store {args.out}x{args.out}")

        options = ExtractOptions(height=args.out, width=args.out)
        rates = {
            "vidcond extract": lambda: extract(listing, scratch / "store", options, progress=False, workers=args.workers),
            "vidcond decode": lambda: [sum(1 for _ in iter_frames(p)) for p in paths],
            "decord get_batch": lambda: [
                (r := decord.VideoReader(p, num_threads=1)).get_batch(list(range(len(r)))).asnumpy() for p in paths
            ],
            "decord resize": lambda: [
                (r := decord.VideoReader(p, num_threads=1, width=args.out, height=args.out))
                .get_batch(list(range(len(r)))).asnumpy()
                for p in paths
            ],
        }
        seconds = {name: [] for name in rates}
        for _ in range(args.repeats):
            for name, fn in rates.items():
                seconds[name].append(timed(fn))
        for name, times in seconds.items():
            print(f"{name:17s} {frames / statistics.median(times):8.0f} frames/s")
        ratios = [r / e for e, r in zip(seconds["vidcond extract"], seconds["decord resize"])]
        print(f"extract / decord resize: {statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
