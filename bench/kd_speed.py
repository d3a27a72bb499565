"""Training time of vanilla KD against SAKD (r = 10 %) on the same data, teacher and student:
the embedded default's KD settings, SAKD selecting every epoch and every 5 epochs.

    python bench/kd_speed.py [--method kd] [--epochs 10] [--teacher results/teachers/synthaction/miniC3D]

Builds the embedded dataset in a temporary directory unless results/frames/synthaction exists;
without --teacher, trains a throw-away teacher for 2 epochs (its quality does not change the
timings). Prints seconds, the share spent in SAKD's scoring passes, and the ratio to vanilla.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from evaluator_speed import frame_store_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="kd", choices=["kd", "dkd", "ctkd", "fea"])
    parser.add_argument("--epochs", type=int, default=None, help="default: kd.training.epochs of the config")
    parser.add_argument("--teacher", type=Path, default=None, help="a teacher stem (path without suffix)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from vidcond.data.framestore import FrameStore
    from vidcond.pretrain.teacher import train_teacher
    from vidcond.kd.loop import train_student
    from vidcond.kd.sakd import SakdSettings
    from vidcond.models import build_model, load_model
    from vidcond.training import RealClips, TrainSettings

    torch.set_num_threads(args.threads)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    kd = config["kd"]
    clip = config["datasets"]["synthaction"]["clip"]
    training = {**kd["training"], **({"epochs": args.epochs} if args.epochs else {})}
    settings = TrainSettings.from_dict(training)
    student_options = config["models"][kd["student"]]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch)
        store = FrameStore(store_dir)
        teacher_stem = args.teacher
        if teacher_stem is None:
            teacher_stem = scratch / "teacher"
            train_teacher(store_dir, teacher_stem, arch=kd["teacher"], model_options=config["models"].get(kd["teacher"], {}),
                          training={**config["teacher"]["training"], "epochs": 2}, clip=clip, seed=0, progress=False)
        teacher = load_model(teacher_stem)
        source = RealClips(store, clip["num_frames"], clip["stride"])
        shape = (clip["num_frames"], 3, *store.frame_size)
        sakd_base = {k: v for k, v in kd["sakd"].items() if k != "every"}
        runs = {"vanilla": None, "sakd every 1": SakdSettings.from_dict({**sakd_base, "every": 1}),
                "sakd every 5": SakdSettings.from_dict({**sakd_base, "every": 5})}
        results = {}
        for name, sakd in runs.items():
            torch.manual_seed(0)
            student = build_model(kd["student"], store.num_classes, shape, **student_options)
            results[name] = train_student(student, source, settings, teacher=teacher, method=args.method,
                                          method_options=kd["methods"][args.method], sakd=sakd, progress=False)

    print(f"{args.method}: student {kd['student']} {student_options}, teacher {kd['teacher']}, {len(source)} clips "
          f"{tuple(shape)}, {settings.epochs} epochs, {args.threads} thread(s), r = {sakd_base['ratio']}")
    base = results["vanilla"]["train_seconds"]
    for name, stats in results.items():
        seconds = stats["train_seconds"]
        print(f"{name:13s}: {seconds:7.2f} s  (scoring {stats['score_seconds']:6.2f} s, {stats['clips_trained']:5d} clips "
              f"trained)  ratio to vanilla {seconds / base:5.2f}")


if __name__ == "__main__":
    sys.exit(main())
