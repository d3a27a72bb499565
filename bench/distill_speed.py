"""Seconds per iteration and peak memory of every distillation method of the embedded config
at its default sizes: each `methods` entry is condensed in a fresh process (so that peak
memory is its own) with `iterations` shortened, and the iterations of its DistillLoop are
timed. Entries that run no DistillLoop (selection methods) are listed as such.

    python bench/distill_speed.py [--ipc 1 5] [--iterations 5] [--methods dm dc_static]
                                  [--input experts=results/experts/synthaction/miniC3D]

Inputs a method `requires` are made quickly when they can be (`teacher`/`teachers`: one
epoch; `interpolator`: a few steps) or passed with --input name=path-stem; otherwise the
entry is skipped. Builds the embedded dataset in a temporary directory unless
results/frames/synthaction exists. Peak memory: allocated CUDA memory on a GPU, the
process's resident peak (including the Python runtime) on CPU.

With --vs-official, instead: DM's iteration (`DMObjective.loss`, backward, SGD step) against
a loop written in the style of the official "Dancing with Still Images" DM (a fresh frozen
network each iteration; per class: a batch of real clips drawn from a preloaded, normalised
float tensor, `embed(real).detach()`, `embed(syn)`, squared distance of the means; one
backward). Same network (MiniC3D 64-128-128, no norm, conv_max head, the paper's), same
seeds, IPC 1, at 8x32x32 with 10 classes and 16x112x112 with 2 classes. Milliseconds per
iteration: the two alternate in one process, `--repeats` rounds after one warm-up each,
median; peak memory: each run alone in a fresh process (setup plus 2 iterations), the
resident peak and its growth over the setup (allocated CUDA memory on a GPU).

With --vs-official --method mtt: MTT's iteration (`MTTObjective.loss`, backward, one SGD
step of the videos and the learnable lr) against the official MTT branch's loop (see
`OfficialStyleMTT`), on one synthetic expert of the same network without dropout (epoch 0
a fresh network, epoch 1 a small random step; start epoch 0, expert_epochs 1, batch_syn =
the whole set as the official scripts, lr_teacher 0.01), N = `--syn-steps` student steps,
our `low_memory` off (the official keeps the whole unrolled graph). Both start from the
same videos (the official's normalised once, as its data). Before timing, the first
iteration is checked: the relative difference of the two losses ("loss diff"), and each
one's gradient with respect to the pixels against the official-style loop's in float64
(largest absolute error over the largest gradient, "grad error"). Timing and peak memory
are measured as for DM.

    python bench/distill_speed.py --vs-official [--method mtt] [--syn-steps 5 20]
                                  [--sizes 8x32x32] [--repeats 5] [--threads 2]

Measured 2026-11-30 (2 threads, a shared 2-core machine; MiniC3D's stem convolving
space-to-depth where the input's gradient is wanted, backward only to the optimised tensors):

    DM: case                       official ms  ours ms  ratio  peak MB off/ours  ratio  growth MB off/ours
    8x32x32 10 cl, 64 real/cl             1747     1284   0.73      663/545        0.82       165/159
    16x112x112 2 cl, 4 real/cl             847      737   0.87      656/615        0.94       234/228
    MTT: case                      official ms  ours ms  ratio  peak MB off/ours  ratio  growth MB off/ours  loss diff  grad error off/ours
    8x32x32 10 cl, N=5                    1134     1062   0.94      861/830        0.96       427/433        0.0e+00    1.2e-03/2.0e-06
    8x32x32 10 cl, N=20                   4491     4249   0.95     1505/1505       1.00      1078/1107       1.2e-07    8.4e-03/8.4e-03
    16x112x112 2 cl, N=5                  5223     4865   0.93     1296/1307       1.01       857/906        0.0e+00    1.2e-02/1.2e-06
    16x112x112 2 cl, N=20                21078    19884   0.94     2943/3023       1.03      2512/2621       7.2e-05    5.0e-02/5.2e-02
    16x112x112 N=20 in three more runs: 0.95, 0.94, 0.94. Before the stem: MTT 0.97-1.02x
    (1.00-1.02x at 16x112x112, N=20), its gradients equal to the official's (both through
    the same kernels). At N=20 both gradients are as far from float64: the unrolled student
    amplifies rounding in every layer.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def method_params(entry: dict, ipc: int) -> dict:
    reserved = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")
    params = {k: v for k, v in entry.items() if k not in reserved}
    params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
    return params


def make_inputs(
    requires, params, config, store_dir: Path, scratch: Path, given: dict
) -> dict | str:
    """Paths of the inputs a method reads, or the reason it cannot run."""
    from vidcond.pretrain.teacher import train_teacher
    from vidcond.pretrain.interpolator import train_interpolator

    clip = config["datasets"]["synthaction"]["clip"]
    inputs = {}
    for name in requires:
        if name in given:
            inputs[name] = given[name]
        elif name in ("teacher", "teachers"):
            archs = (
                [config["teacher"]["arch"]]
                if name == "teacher"
                else params.get("condensation_models", ["miniC3D"])
            )
            for arch in archs:
                stem = scratch / f"teacher_{arch}"
                if not stem.with_suffix(".json").exists():
                    options = config["models"].get(arch, {})
                    train_teacher(
                        store_dir,
                        stem,
                        arch=arch,
                        model_options=options,
                        training={**config["teacher"]["training"], "epochs": 1},
                        clip=clip,
                        seed=0,
                        progress=False,
                    )
                inputs[name if name == "teacher" else f"teacher_{arch}"] = str(stem)
        elif name == "interpolator":
            stem = scratch / "interpolator"
            if not stem.with_suffix(".json").exists():
                training = {**config.get("interpolator", {}).get("training", {}), "steps": 5}
                train_interpolator(
                    store_dir,
                    stem,
                    options=config.get("interpolator", {}).get("model", {}),
                    training=training,
                    clip=clip,
                    seed=0,
                    progress=False,
                )
            inputs[name] = str(stem)
        elif name == "experts":
            from vidcond.pretrain.experts import train_experts

            experts = config["experts"]
            stem = scratch / "experts"
            if not stem.with_suffix(".json").exists():
                options = config["models"].get(experts["arch"], {})
                train_experts(
                    store_dir,
                    stem,
                    arch=experts["arch"],
                    model_options=options,
                    num_experts=1,
                    epochs=experts["epochs"],
                    training=experts["training"],
                    clip=clip,
                    seed=0,
                    progress=False,
                )
            inputs[name] = str(stem)
        else:
            return f"needs input {name!r} (pass --input {name}=<path stem>)"
    return inputs


def run_one(
    method: str, ipc: int, iterations: int, store_dir: Path, scratch: Path, given: dict
) -> dict:
    """Condense one entry in this process; the DistillLoops it runs are timed."""
    import torch

    from vidcond.condense import run_condense
    from vidcond.methods import distill

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    entry = config["methods"][method]
    params = method_params(entry, ipc)
    if "iterations" in params:
        params["iterations"] = iterations
    inputs = make_inputs(entry.get("requires", []), params, config, store_dir, scratch, given)
    if isinstance(inputs, str):
        return {"method": method, "ipc": ipc, "skipped": inputs}
    loops = []
    original = distill.DistillLoop.run

    def timed_run(self, step):
        losses = original(self, step)
        loops.append(
            {
                "desc": self.desc,
                "iterations": self.iterations,
                "s_per_iter": self.seconds_per_iteration,
            }
        )
        return losses

    distill.DistillLoop.run = timed_run
    torch.set_num_threads(2)
    meta = run_condense(
        store_dir,
        scratch / f"{method}_ipc{ipc}",
        dataset="synthaction",
        method=method,
        kind=entry.get("kind", method),
        ipc=ipc,
        params=params,
        clip=config["datasets"]["synthaction"]["clip"],
        seed=0,
        inputs=inputs,
        model_options=config["models"],
        progress=False,
    )
    return {
        "method": method,
        "ipc": ipc,
        "loops": loops,
        "peak_mem_mb": meta["peak_mem_mb"],
        "device": meta["device"],
        "wall_s": meta["wall_time_s"],
    }


# (frames, size, classes, real clips per class); batch_real 64 is the paper's, 4 at 112x112
# keeps a CPU iteration near a second.
OFFICIAL_SIZES = {"8x32x32": (8, 32, 10, 64), "16x112x112": (16, 112, 2, 4)}
PAPER_MINIC3D = {"channels": [64, 128, 128], "norm": "none", "head": "conv_max"}


def write_random_store(directory: Path, classes: int, per_class: int, frames: int, size: int, test_per_class: int = 0) -> None:
    """A frame store of random uint8 videos: ``per_class`` training and ``test_per_class``
    test videos of ``frames`` frames a class."""
    import numpy as np
    import pandas as pd

    from vidcond.data.framestore import FRAMES_FILE, MANIFEST_FILE, META_FILE

    directory.mkdir(parents=True, exist_ok=True)
    n_stored, videos = frames, classes * (per_class + test_per_class)
    rng = np.random.default_rng(0)
    rng.integers(0, 256, (videos * n_stored, size, size, 3), dtype=np.uint8).tofile(directory / FRAMES_FILE)
    labels = np.repeat(np.arange(classes), per_class + test_per_class)
    split = np.tile(["train"] * per_class + ["test"] * test_per_class, classes)
    pd.DataFrame({
        "video_id": [f"v{i}" for i in range(videos)], "path": "", "class_name": [f"c{c}" for c in labels],
        "label": labels, "split": split, "n_frames": n_stored, "fps": 25.0, "status": "ok", "error": "",
        "offset": np.arange(videos) * n_stored, "n_stored": n_stored,
    }).to_parquet(directory / MANIFEST_FILE)
    meta = {"height": size, "width": size, "total_frames": videos * n_stored,
            "classes": [{"label": c, "name": f"c{c}", "group": None} for c in range(classes)]}
    (directory / META_FILE).write_text(json.dumps(meta))


def official_network(net):
    """``net`` with the official ConvNet3D's first convolution: a plain ``nn.Conv3d`` (our
    stem convolves space-to-depth when the input's gradient is wanted; same parameters)."""
    import torch

    net.blocks[0].__class__ = torch.nn.Conv3d
    return net


class OfficialStyleDM:
    """The official DM iteration, on clips preloaded once (one fixed clip per video, as its
    --preload), normalised in the data pipeline as there."""

    def __init__(self, ctx, syn, labels, lr):
        import torch

        from vidcond.data.sampling import center_clip, to_clip_tensor

        self.ctx, self.syn, self.labels = ctx, syn, labels
        videos = ctx.train_videos
        clips = [ctx.store.frames[o + center_clip(n, ctx.clip["num_frames"], ctx.clip["stride"])]
                 for o, n in zip(videos["offset"], videos["n_stored"])]
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
        self.images_all = ((to_clip_tensor(__import__("numpy").stack(clips)) - mean) / std).contiguous()
        self.indices_class = [list(videos.index[videos["label"] == c]) for c in range(ctx.num_classes)]
        self.optimizer = torch.optim.SGD([syn], lr=lr, momentum=0.5)
        self.batch_real = int(ctx.params["batch_real"])

    def get_images(self, c, n):
        import numpy as np

        idx_shuffle = np.random.permutation(self.indices_class[c])[:n]
        return self.images_all[idx_shuffle]

    def step(self) -> float:
        import torch

        net = official_network(self.ctx.build_model("miniC3D").train())  # the official leaves it in train mode
        for p in net.parameters():
            p.requires_grad = False

        def embed(x):  # the official ConvNet3D.embed: flattened conv features
            return net.blocks(x.permute(0, 2, 1, 3, 4)).flatten(1)

        ipc = len(self.labels) // self.ctx.num_classes
        loss = torch.tensor(0.0)
        for c in range(self.ctx.num_classes):
            img_real = self.get_images(c, self.batch_real)
            img_syn = self.syn[c * ipc : (c + 1) * ipc]
            output_real = embed(img_real).detach()
            output_syn = embed(img_syn)
            loss += torch.sum((torch.mean(output_real, dim=0) - torch.mean(output_syn, dim=0)) ** 2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class OursIteration:
    """vidcond's iteration of a distillation objective: what `distill_videos` runs each step
    (the videos and the objective's own parameters, e.g. MTT's learnable lr, in one optimizer)."""

    def __init__(self, objective_class, ctx, syn, labels, lr):
        import numpy as np
        import torch

        self.objective = objective_class(ctx, np.random.default_rng(1))
        self.syn, self.labels = syn, labels
        groups = [{"params": [syn], "lr": lr}, *self.objective.param_groups()]
        self.optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.5)

    def pixel_grad(self):
        return self.syn.grad

    def step(self) -> float:
        loss = self.objective.loss(self.syn, self.labels, 0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=[p for group in self.optimizer.param_groups for p in group["params"]])
        self.optimizer.step()
        return loss.item()


def random_store(size: str, scratch: Path, per_class: int) -> Path:
    frames, pixels, classes, _ = OFFICIAL_SIZES[size]
    store_dir = scratch / f"{size}_{per_class}"
    if not (store_dir / "store.json").exists():
        write_random_store(store_dir, classes, per_class, 2 * frames, pixels)
    return store_dir


def dm_runner(kind: str, case: str, scratch: Path):
    import torch

    from vidcond.data.framestore import FrameStore
    from vidcond.methods import CondenseContext

    frames, pixels, classes, batch_real = OFFICIAL_SIZES[case]
    store_dir = random_store(case, scratch, max(batch_real, 4))
    ctx = CondenseContext(store=FrameStore(store_dir), dataset="random", ipc=1, params={"arch": "miniC3D", "batch_real": batch_real},
                          clip={"num_frames": frames, "stride": 1}, model_options={"miniC3D": PAPER_MINIC3D}, progress=False)
    torch.manual_seed(0)
    syn = torch.rand(classes, frames, 3, pixels, pixels).requires_grad_(True)
    labels = torch.arange(classes)
    if kind == "ours":
        from vidcond.methods.dm import DMObjective

        return OursIteration(DMObjective, ctx, syn, labels, lr=1.0)
    return OfficialStyleDM(ctx, syn, labels, lr=1.0)


# The student of the trajectory-matching comparison: the paper's MiniC3D without dropout
# (MTT needs a deterministic student); experts trained with the official lr_teacher.
MTT_STUDENT = {**PAPER_MINIC3D, "dropout": 0.0}
MTT_LR_TEACHER = 0.01
MTT_SETTINGS = {"expert_epochs": 1, "max_start_epoch": 1, "batch_syn": 0, "lr_lr": 1e-5, "lr_momentum": 0.5, "min_syn_lr": 1e-3}


def write_random_experts(stem: Path, classes: int, clip_shape: list[int]) -> None:
    """One synthetic expert in the format ExpertBank reads: epoch 0 a fresh network, epoch 1
    the same plus a random step about as long as five student steps (so that the loss
    depends on the student; no expert training needed)."""
    import torch
    from safetensors.torch import save_file

    from vidcond.models import build_model
    from vidcond.pretrain.experts import ParamLayout

    torch.manual_seed(1)
    net = build_model("miniC3D", classes, clip_shape, **MTT_STUDENT)
    layout = ParamLayout.of(net)
    start = layout.flatten(net)
    target = start + 2e-5 * torch.randn_like(start)
    stem.mkdir(parents=True, exist_ok=True)
    save_file({"trajectory": torch.stack([start, target]).contiguous()}, str(stem / "expert_000.safetensors"))
    index = {
        "spec": {"arch": "miniC3D", "num_classes": classes, "clip_shape": clip_shape, "options": MTT_STUDENT},
        "param_names": list(layout.names), "param_shapes": [list(s) for s in layout.shapes],
        "num_params": layout.num_params, "num_experts": 1, "epochs": 1,
        "training": {"lr": MTT_LR_TEACHER}, "experts": [{"file": "expert_000.safetensors"}],
    }
    stem.with_suffix(".json").write_text(json.dumps(index))


class OfficialStyleMTT:
    """The official MTT iteration (distill_baseline.py's MTT branch): the expert buffer held in
    memory as lists of parameter tensors, concatenated into flat vectors each iteration; the
    student a ReparamModule-style functional forward over the last flat vector (the official
    ConvNet3D forward: permute to [B, C, T, H, W], conv blocks, head); ``syn_steps`` SGD steps
    on chunks of a permutation of the synthetic set (normalised once, as the official data)
    with the learnable syn_lr; the summed squared distances each divided by the number of
    parameters; one backward; syn_lr clamped to >= 1e-3 after its step (the Dancing code)."""

    def __init__(self, ctx, syn, labels, lr, syn_steps):
        import torch
        from torch.func import functional_call

        from vidcond.pretrain.experts import ExpertBank

        bank = ExpertBank(ctx.require("experts"))
        net = official_network(bank.build_model().train())
        self.names, self.shapes = bank.layout.names, bank.layout.shapes
        self.numels = bank.layout.sizes
        dtype = torch.get_default_dtype()  # float64 for the reference gradient
        self.buffer = [[[p.to(dtype, copy=True) for p in bank.layout.unflatten(bank.snapshot(e, t)).values()]
                        for t in range(bank.epochs + 1)] for e in range(bank.num_experts)]

        def student_net(x, flat_param):
            params = {n: t.view(s) for n, t, s in zip(self.names, flat_param.split(self.numels), self.shapes)}
            return functional_call(net, params, (x.permute(0, 2, 1, 3, 4),))

        # the official network's forward on [B, C, T, H, W]
        net.forward = lambda x: net.head(net.blocks(x))
        self.student_net = student_net
        # the official set lives in the normalised space of its data pipeline
        syn = ((syn.detach() - net.mean) / net.std).requires_grad_(True)
        self.syn, self.labels, self.syn_steps = syn, labels, syn_steps
        self.batch_syn = len(syn)
        self.syn_lr = torch.tensor(bank.lr).requires_grad_(True)
        self.optimizer_img = torch.optim.SGD([syn], lr=lr, momentum=0.5)
        self.optimizer_lr = torch.optim.SGD([self.syn_lr], lr=MTT_SETTINGS["lr_lr"], momentum=MTT_SETTINGS["lr_momentum"])
        self.criterion = torch.nn.CrossEntropyLoss()
        self.std = net.std

    def pixel_grad(self):
        """The last gradient with respect to the videos on the [0, 1] pixel scale."""
        return self.syn.grad / self.std

    def step(self) -> float:
        import numpy as np
        import torch

        expert_trajectory = self.buffer[np.random.randint(0, len(self.buffer))]
        start_epoch = np.random.randint(0, MTT_SETTINGS["max_start_epoch"])
        starting_params = expert_trajectory[start_epoch]
        target_params = expert_trajectory[start_epoch + MTT_SETTINGS["expert_epochs"]]
        target_params = torch.cat([p.reshape(-1) for p in target_params], 0)
        student_params = [torch.cat([p.reshape(-1) for p in starting_params], 0).requires_grad_(True)]
        starting_params = torch.cat([p.reshape(-1) for p in starting_params], 0)
        num_params = sum(self.numels)
        indices_chunks = []
        for _ in range(self.syn_steps):
            if not indices_chunks:
                indices = torch.randperm(len(self.syn))
                indices_chunks = list(torch.split(indices, self.batch_syn))
            these_indices = indices_chunks.pop()
            x = self.syn[these_indices]
            this_y = self.labels[these_indices]
            out = self.student_net(x, flat_param=student_params[-1])
            ce_loss = self.criterion(out, this_y)
            grad = torch.autograd.grad(ce_loss, student_params[-1], create_graph=True)[0]
            student_params.append(student_params[-1] - self.syn_lr * grad)
        param_loss = torch.nn.functional.mse_loss(student_params[-1], target_params, reduction="sum") / num_params
        param_dist = torch.nn.functional.mse_loss(starting_params, target_params, reduction="sum") / num_params
        grand_loss = param_loss / param_dist
        self.optimizer_img.zero_grad()
        self.optimizer_lr.zero_grad()
        grand_loss.backward()
        self.optimizer_img.step()
        self.optimizer_lr.step()
        with torch.no_grad():
            self.syn_lr.clamp_(min=0.001)
        return grand_loss.item()


def mtt_runner(kind: str, case: str, scratch: Path):
    import torch

    from vidcond.data.framestore import FrameStore
    from vidcond.methods import CondenseContext

    size, steps = case.split("-N")
    frames, pixels, classes, _ = OFFICIAL_SIZES[size]
    stem = scratch / f"experts_{size}"
    if not stem.with_suffix(".json").exists():
        write_random_experts(stem, classes, [frames, 3, pixels, pixels])
    params = {**MTT_SETTINGS, "syn_steps": int(steps), "low_memory": False}
    ctx = CondenseContext(store=FrameStore(random_store(size, scratch, 1)), dataset="random", ipc=1, params=params,
                          clip={"num_frames": frames, "stride": 1}, inputs={"experts": str(stem)}, progress=False)
    torch.manual_seed(0)
    # drawn in float32 whatever the default dtype, so that the float64 reference starts alike
    syn = torch.rand(classes, frames, 3, pixels, pixels, dtype=torch.float32).to(torch.get_default_dtype()).requires_grad_(True)
    labels = torch.arange(classes)
    if kind == "ours":
        from vidcond.methods.mtt import MTTObjective

        return OursIteration(MTTObjective, ctx, syn, labels, lr=100.0)
    return OfficialStyleMTT(ctx, syn, labels, lr=100.0, syn_steps=int(steps))


RUNNERS = {"dm": dm_runner, "mtt": mtt_runner}


def official_cases(args) -> list[tuple[str, str]]:
    """(case key, description) of each comparison row of ``args.method``."""
    sizes = args.sizes or list(OFFICIAL_SIZES)
    if args.method == "dm":
        return [(s, f"{s} {OFFICIAL_SIZES[s][2]} cl, {OFFICIAL_SIZES[s][3]} real/cl") for s in sizes]
    return [(f"{s}-N{n}", f"{s} {OFFICIAL_SIZES[s][2]} cl, N={n}") for s in sizes for n in args.syn_steps]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def runner_memory(method: str, kind: str, case: str, scratch: Path) -> dict:
    """Peak memory of setup plus 2 iterations of one runner (run in a fresh process)."""
    from vidcond.memory import peak_memory_mb

    runner = RUNNERS[method](kind, case, scratch)
    before = rss_mb()
    for _ in range(2):
        runner.step()
    peak = peak_memory_mb("cpu")
    return {"peak_mb": peak, "growth_mb": peak - before}


def float64_gradient(method: str, case: str, scratch: Path):
    """The first iteration's gradient with respect to the pixels of the official-style loop
    run in float64: what both float32 loops' gradients are measured against."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        runner = RUNNERS[method]("official", case, scratch)
        runner.step()
        return runner.pixel_grad()
    finally:
        torch.set_default_dtype(previous)


def vs_official(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.method.upper()}: ours against an official-style loop; MiniC3D {PAPER_MINIC3D}, IPC 1, "
          f"{args.threads} threads, median of {args.repeats} alternating rounds after a warm-up")
    print(f"{'case':<30} {'official ms':>11} {'ours ms':>8} {'ratio':>6} {'peak MB off/ours':>17} {'ratio':>6} "
          f"{'growth MB off/ours':>19}  loss diff  grad error off/ours")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for case, description in official_cases(args):
            memory = {}
            for kind in ("official", "ours"):
                child = [sys.executable, __file__, f"--official-memory={args.method},{kind},{case},{scratch}",
                         f"--threads={args.threads}"]
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"{kind} {case} memory run failed:\n{done.stderr}")
                memory[kind] = json.loads(done.stdout.strip().splitlines()[-1])
            runners = {kind: RUNNERS[args.method](kind, case, scratch) for kind in ("official", "ours")}
            # the warm-up: both start from identical tensors, so their first losses agree
            first = {kind: runner.step() for kind, runner in runners.items()}
            check = "-"
            if all(hasattr(runner, "pixel_grad") for runner in runners.values()):
                reference = float64_gradient(args.method, case, scratch)
                errors = [(runners[kind].pixel_grad().double() - reference).abs().max() / reference.abs().max()
                          for kind in ("official", "ours")]
                check = (f"{abs(first['ours'] - first['official']) / abs(first['official']):.1e}    "
                         f"{errors[0]:.1e}/{errors[1]:.1e}")
            seconds = {kind: [] for kind in runners}
            for _ in range(args.repeats):
                for kind, runner in runners.items():
                    started = time.perf_counter()
                    runner.step()
                    seconds[kind].append(time.perf_counter() - started)
            off, ours = (1000 * statistics.median(seconds[k]) for k in ("official", "ours"))
            mo, mu = memory["official"], memory["ours"]
            print(f"{description:<30} {off:11.0f} {ours:8.0f} {ours / off:6.2f} "
                  f"{mo['peak_mb']:8.0f}/{mu['peak_mb']:<8.0f} {mu['peak_mb'] / mo['peak_mb']:6.2f} "
                  f"{mo['growth_mb']:9.0f}/{mu['growth_mb']:<9.0f}  {check}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ipc", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--iterations",
        type=int,
        default=5,
        help="iterations run per method (its configured count is shortened)",
    )
    parser.add_argument(
        "--methods", nargs="+", help="entries of config/config.yaml `methods` (default: all)"
    )
    parser.add_argument(
        "--input", action="append", default=[], help="name=path stem of a required input"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: method,ipc,store,scratch
    parser.add_argument("--vs-official", action="store_true", help="one method against an official-style loop")
    parser.add_argument("--method", choices=sorted(RUNNERS), default="dm", help="--vs-official: the method")
    parser.add_argument("--sizes", nargs="+", choices=list(OFFICIAL_SIZES), help="--vs-official: clip sizes (default: all)")
    parser.add_argument("--syn-steps", type=int, nargs="+", default=[5, 20], help="--vs-official mtt: student steps N")
    parser.add_argument("--repeats", type=int, default=5, help="--vs-official: alternating rounds")
    parser.add_argument("--threads", type=int, default=2, help="--vs-official: torch threads")
    parser.add_argument("--official-memory", help=argparse.SUPPRESS)  # child process: method,kind,case,scratch
    args = parser.parse_args()
    if args.official_memory:
        import torch

        torch.set_num_threads(args.threads)
        method, kind, case, scratch = args.official_memory.split(",", 3)
        print(json.dumps(runner_memory(method, kind, case, Path(scratch))))
        return
    if args.vs_official:
        vs_official(args)
        return
    given = dict(item.split("=", 1) for item in args.input)

    if args.one:
        method, ipc, store_dir, scratch = args.one.split(",")
        print(
            json.dumps(
                run_one(method, int(ipc), args.iterations, Path(store_dir), Path(scratch), given)
            )
        )
        return

    from evaluator_speed import frame_store_dir

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    methods = args.methods or list(config["methods"])
    synth = config["datasets"]["synthaction"]
    clip = synth["clip"]
    print(
        f"clips [B, {clip['num_frames']}, 3, {synth['extract']['height']}, {synth['extract']['width']}], {len(synth['generator']['classes'])} classes, {args.iterations} iterations per method"
    )
    print(f"{'method':<14} {'ipc':>3} {'loop':<14} {'s/iter':>8} {'peak MB':>9}  device")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch)
        for method in methods:
            for ipc in args.ipc:
                extra = [f"--input={item}" for item in args.input]
                child = [
                    sys.executable,
                    __file__,
                    f"--one={method},{ipc},{store_dir},{scratch}",
                    f"--iterations={args.iterations}",
                    *extra,
                ]
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0:
                    print(
                        f"{method:<14} {ipc:>3} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
                    )
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if "skipped" in result:
                    print(f"{method:<14} {ipc:>3} skipped: {result['skipped']}")
                elif not result["loops"]:
                    print(
                        f"{method:<14} {ipc:>3} {'(no loop)':<14} {'-':>8} {result['peak_mem_mb']:9.0f}  {result['device']}"
                    )
                for loop in result.get("loops", []):
                    print(
                        f"{method:<14} {ipc:>3} {loop['desc']:<14} {loop['s_per_iter']:8.3f} {result['peak_mem_mb']:9.0f}  {result['device']}"
                    )


if __name__ == "__main__":
    sys.exit(main())
