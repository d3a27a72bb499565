"""Memory estimates: a model's activations from a forward pass on the meta device (shapes
only, no arithmetic), and what a condensation job holds at its peak.

The figures are estimates for planning (the log line of every condensation job, the SLURM
memory request, MTT's ``low_memory: auto``), within a small factor of what a run measures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

FLOAT_BYTES = 4
RUNTIME_MB = 400  # Python, torch and the libraries, before any tensor (measured: ~390 MB)


@dataclass(frozen=True)
class ActivationProfile:
    """Per clip of a model's forward pass: every leaf module's output (what backpropagation
    keeps, in floats), the largest single output, and the parameter count."""

    saved: int
    largest: int
    params: int


def activation_profile(arch: str, num_classes: int, clip_shape, options: dict) -> ActivationProfile:
    return _profile(arch, num_classes, tuple(clip_shape), json.dumps(options, sort_keys=True))


@lru_cache(maxsize=64)
def _profile(arch: str, num_classes: int, clip_shape: tuple, options: str) -> ActivationProfile:
    import torch

    from .models import build_model

    sizes: list[int] = []
    with torch.device("meta"):
        model = build_model(arch, num_classes, clip_shape, **json.loads(options))
        hooks = [
            m.register_forward_hook(lambda _m, _i, out: sizes.append(_numel(out)))
            for m in model.modules()
            if not list(m.children())
        ]
        with torch.no_grad():
            model(torch.empty(1, *clip_shape))
    for hook in hooks:
        hook.remove()
    params = sum(p.numel() for p in model.parameters())
    return ActivationProfile(saved=sum(sizes), largest=max(sizes, default=0), params=params)


def _numel(out) -> int:
    import torch

    if isinstance(out, torch.Tensor):
        return out.numel()
    if isinstance(out, (tuple, list)):
        return sum(_numel(o) for o in out)
    return sum(_numel(v) for v in getattr(out, "values", lambda: [])())


def mtt_unroll_mb(profile: ActivationProfile, batch: int, syn_steps: int, low_memory: bool) -> float:
    """The unrolled student of MTT/DATM: every step's graph (twice its activations: the
    forward and the double-backward's buffers) and parameter vector, or with ``low_memory``
    the N parameter vectors plus one step's graph."""
    step_graph = 2 * batch * profile.saved + 3 * profile.params
    steps_kept = 1 if low_memory else syn_steps
    return (syn_steps * profile.params + steps_kept * step_graph) * FLOAT_BYTES / 2**20


def condense_estimate(
    kind: str, params: dict, ipc: int, num_classes: int, clip_shape, model_options: dict, arch: str | None = None
) -> dict:
    """What a condensation job holds at its peak, in MB: ``synthetic`` (the learnable set
    with its gradient and optimizer state), ``network`` (weights), ``activations`` (the
    largest batch's saved activations), ``runtime``, and their ``total``. ``arch`` overrides
    the method's network (MTT/DATM: the experts' architecture)."""
    arch = arch or params.get("arch") or "miniC3D"
    options = model_options.get(arch, {})
    profile = activation_profile(arch, num_classes, clip_shape, options)
    frames, channels, height, width = clip_shape
    n_syn = num_classes * ipc
    clip_floats = frames * channels * height * width
    syn_steps = int(params.get("syn_steps", 0))
    if syn_steps:  # trajectory matching
        batch = int(params.get("batch_syn", 0)) or n_syn
        activations = mtt_unroll_mb(profile, batch, syn_steps, bool(params.get("low_memory") is True))
    else:
        # the synthetic set's graph, plus one class's real batch without a graph
        real = int(params.get("batch_real", 64))
        activations = (n_syn * profile.saved + 2 * real * profile.largest) * FLOAT_BYTES / 2**20
    parts = {
        "synthetic": 3 * n_syn * clip_floats * FLOAT_BYTES / 2**20,
        "network": 2 * profile.params * FLOAT_BYTES / 2**20,
        "activations": activations,
        "runtime": RUNTIME_MB,
    }
    parts["total"] = sum(parts.values())
    return {"arch": arch, "kind": kind, **{k: round(v) for k, v in parts.items()}}


def estimate_line(estimate: dict) -> str:
    parts = ", ".join(f"{k} {estimate[k]}" for k in ("synthetic", "network", "activations", "runtime"))
    return f"memory estimate ({estimate['kind']}, {estimate['arch']}): {estimate['total']} MB ({parts})"


def peak_memory_mb(device) -> float:
    """The job's peak: allocated CUDA memory on a GPU, else the process's resident peak.

    On Linux the peak of the process's own memory (VmHWM): ``ru_maxrss`` starts from the
    parent's peak across fork and exec, so a job started by a large snakemake read that.
    """
    import resource

    import torch

    if getattr(device, "type", device) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):  # no procfs (macOS: ru_maxrss in bytes)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def available_mb(device) -> float:
    """Memory a job may still take: the GPU's total on CUDA, MemAvailable on the host."""
    import torch

    if getattr(device, "type", device) == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / 2**20
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def job_estimate(
    kind: str, params: dict, ipc: int, store_dir, clip: dict, model_options: dict, inputs: dict | None = None
) -> dict:
    """:func:`condense_estimate` of a condensation job on the frame store at ``store_dir``
    (its classes and frame size from ``store.json``); with an ``experts`` input (a path stem),
    the student is the experts' network."""
    from pathlib import Path

    meta = json.loads((Path(store_dir) / "store.json").read_text())
    clip_shape = (clip["num_frames"], 3, meta["height"], meta["width"])
    arch = None
    if inputs and "experts" in inputs:
        spec = json.loads(Path(inputs["experts"]).with_suffix(".json").read_text())["spec"]
        arch, model_options = spec["arch"], {spec["arch"]: spec["options"]}
    return condense_estimate(kind, params, ipc, len(meta["classes"]), clip_shape, model_options, arch=arch)
