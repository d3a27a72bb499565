"""Checkpoint and resume for long jobs, and a clean exit on SIGTERM.

SLURM sends SIGTERM at time-out and pre-emption. A job using :class:`Checkpointer` saves
its state every ``every`` steps and when SIGTERM arrives, then exits with status 143; the
rerun (Snakemake marks the job incomplete) resumes from the last saved step. Checkpoints
are written atomically and loaded with ``torch.load(weights_only=True)``, so they hold
tensors and plain Python values only (numpy generator states are plain dicts).

:class:`TrainingState` is the one description of what a loop must save to resume
exactly: its tensors, modules, optimizers, schedulers and random generators (numpy and
torch), plus the global torch (and CUDA) random state. Typical loop::

    state = TrainingState(model=model, optimizer=opt, schedule=sched, rng=rng)
    ckpt = Checkpointer(work_dir, every=50)
    start, extra = ckpt.resume(state, {"losses": []})
    with ckpt.handle_sigterm():
        for step in range(start, total):
            ...one step...
            ckpt.step(step + 1, state, {"losses": losses})
    ckpt.clear()

The guarantee: wherever the process is killed (SIGTERM or SIGKILL; before the first
checkpoint, between checkpoints, while a checkpoint is written, during the SIGTERM save),
the rerun ends with exactly the result of an uninterrupted run. A checkpoint is only ever
taken at the end of a step, never from inside one.

Fault injection (tests only): ``VIDCOND_FAULT`` holds comma-separated faults
``<point>:<step>[:term|kill]`` (default ``kill``). ``step:N`` signals the process itself
once step N has ended (before that step's checkpoint); ``write:N`` signals it while the
checkpoint of step N is being written (the temporary file complete, not yet renamed). So
``step:1:kill`` kills before the first checkpoint, ``write:6`` kills mid-write, and
``step:5:term,write:5`` kills during the save that SIGTERM triggers.
"""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .io import atomic_path

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = 1  # the layout of a checkpoint of a TrainingState
SIGTERM_EXIT = 128 + signal.SIGTERM
FAULT_VARIABLE = "VIDCOND_FAULT"
FAULT_SIGNALS = {"term": signal.SIGTERM, "kill": signal.SIGKILL}


def _fault_signals(point: str, step: int) -> list[int]:
    """The signals ``VIDCOND_FAULT`` asks for at ``point`` of ``step``."""
    found = []
    for fault in filter(None, os.environ.get(FAULT_VARIABLE, "").split(",")):
        where, at, *how = fault.split(":")
        if where == point and int(at) == step:
            found.append(FAULT_SIGNALS[how[0] if how else "kill"])
    return found


def inject_fault(point: str, step: int) -> None:
    """Signal this process as ``VIDCOND_FAULT`` asks (no-op without it)."""
    for sig in _fault_signals(point, step):
        signal.raise_signal(sig)


class TrainingState:
    """Named objects that change across the steps of a loop, saved and restored as one.

    An object is a tensor (restored in place), a numpy or torch random generator, or
    anything with ``state_dict``/``load_state_dict`` (modules, optimizers, schedulers,
    small helper classes). The global torch random state (and CUDA's) always belongs to
    the state: weight initialisation, dropout and random networks draw from it.
    """

    def __init__(self, **objects: Any):
        self.objects = objects

    def state_dict(self) -> dict:
        saved = {"objects": {name: _state_of(obj) for name, obj in self.objects.items()}, "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            saved["cuda_rng"] = torch.cuda.get_rng_state_all()
        return saved

    def load_state_dict(self, saved: dict) -> None:
        missing = sorted(set(self.objects) - set(saved["objects"]))
        if missing:
            raise KeyError(f"checkpoint lacks {missing}")
        for name, obj in self.objects.items():
            _restore(obj, saved["objects"][name])
        torch.set_rng_state(saved["torch_rng"])
        if "cuda_rng" in saved and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])


def _state_of(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, torch.nn.Module):  # copies, so that a later step cannot change a saved state
        return {k: v.detach().cpu().clone() for k, v in obj.state_dict().items()}
    return obj.state_dict()


def _restore(obj: Any, state) -> None:
    if isinstance(obj, torch.Tensor):
        with torch.no_grad():
            obj.copy_(state.to(obj.device))
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    elif isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


class Checkpointer:
    def __init__(self, directory: str | Path | None, every: int, unit: str = "step"):
        self.directory = Path(directory) if directory else None
        self.every = max(1, int(every))
        self.unit = unit  # what a step is (iteration, epoch), for the resume message
        self.stop_requested = False

    @property
    def path(self) -> Path | None:
        return self.directory / CHECKPOINT_FILE if self.directory else None

    def load(self) -> dict | None:
        """The last saved state, or None (no directory, or nothing saved yet)."""
        if self.path is None or not self.path.is_file():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def save(self, state: dict, step: int | None = None) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)
            if step is not None:
                inject_fault("write", step)

    def latest(self) -> dict | None:
        """The last checkpoint :meth:`step` took of a :class:`TrainingState` (``step``,
        ``training_state``, ``extra``), or None: nothing saved, or a checkpoint of another
        layout (an older version of the package), which is ignored so the job starts over."""
        saved = self.load()
        if saved is None or saved.get("format") != CHECKPOINT_FORMAT:
            return None
        return saved

    def resume(self, state: TrainingState, extra: dict | None = None) -> tuple[int, dict]:
        """Restore ``state`` from the last checkpoint taken by :meth:`step`; returns the step
        to continue from and the saved plain values (``extra`` when nothing was saved)."""
        saved = self.latest()
        if saved is None:
            return 0, dict(extra or {})
        state.load_state_dict(saved["training_state"])
        print(f"resumed from {self.unit} {saved['step']}")
        return int(saved["step"]), saved["extra"]

    def step(self, step: int, state: TrainingState | Callable[[], dict], extra: dict | None = None, always: bool = False) -> None:
        """Call at the end of each step (``step`` steps done): saves every ``every`` steps
        (``always``: at this one too); after SIGTERM saves and exits with status 143.
        ``state`` may also be a function returning the whole checkpoint, for a loop that
        restores itself from :meth:`load`."""
        inject_fault("step", step)
        if always or self.stop_requested or step % self.every == 0:
            if callable(state):
                self.save(state(), step)
            else:
                saved = {"format": CHECKPOINT_FORMAT, "step": step, "training_state": state.state_dict(), "extra": dict(extra or {})}
                self.save(saved, step)
        if self.stop_requested:  # also when SIGTERM arrived during the periodic save
            raise SystemExit(SIGTERM_EXIT)

    def clear(self) -> None:
        """Remove the checkpoints once the job's output is written."""
        if self.directory is not None and self.directory.exists():
            shutil.rmtree(self.directory)

    @contextmanager
    def handle_sigterm(self):
        """Within the block, SIGTERM only sets a flag that the next :meth:`step` acts on."""

        def request_stop(signum, frame):
            self.stop_requested = True

        previous = signal.signal(signal.SIGTERM, request_stop)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)
