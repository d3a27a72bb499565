"""Checkpoint and resume for long jobs, and a clean exit on SIGTERM.

SLURM sends SIGTERM at time-out and pre-emption. A job using :class:`Checkpointer` saves
its state every ``every`` steps and when SIGTERM arrives, then exits with status 143; the
rerun (Snakemake marks the job incomplete) resumes from the last saved step. Checkpoints
are written atomically and loaded with ``torch.load(weights_only=True)``, so they hold
tensors and plain Python values only (numpy generator states are plain dicts).

Typical loop::

    ckpt = Checkpointer(work_dir, every=50)
    state = ckpt.load() or {"step": 0, ...initial state...}
    with ckpt.handle_sigterm():
        for step in range(state["step"], total):
            ...one step...
            ckpt.step(step + 1, lambda: {...current state, "step": step + 1})
    ckpt.clear()
"""

from __future__ import annotations

import shutil
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

from .io import atomic_path

CHECKPOINT_FILE = "checkpoint.pt"
SIGTERM_EXIT = 128 + signal.SIGTERM


class Checkpointer:
    def __init__(self, directory: str | Path | None, every: int):
        self.directory = Path(directory) if directory else None
        self.every = max(1, int(every))
        self.stop_requested = False

    @property
    def path(self) -> Path | None:
        return self.directory / CHECKPOINT_FILE if self.directory else None

    def load(self) -> dict | None:
        """The last saved state, or None (no directory, or nothing saved yet)."""
        if self.path is None or not self.path.is_file():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def save(self, state: dict) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)

    def step(self, step: int, get_state: Callable[[], dict]) -> None:
        """Call after each step: saves every ``every`` steps; on SIGTERM saves and exits."""
        if self.stop_requested:
            self.save(get_state())
            raise SystemExit(SIGTERM_EXIT)
        if step % self.every == 0:
            self.save(get_state())

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
