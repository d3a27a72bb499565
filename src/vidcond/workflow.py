"""Glue for the thin scripts under ``workflow/scripts``: logging, threads, provenance."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import traceback
from functools import lru_cache
from pathlib import Path

from . import __version__


def run(smk, main) -> None:
    """Run ``main(smk)`` with stdout/stderr (progress bars included) going to the job's log."""
    log_path = Path(smk.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log:
        sys.stdout = sys.stderr = log
        logging.basicConfig(stream=log, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
        try:
            threads = max(1, int(smk.threads))
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(threads)
            else:  # torch reads it if imported later; scripts that never need torch skip its import
                os.environ["OMP_NUM_THREADS"] = str(threads)
            # Where the job ran and which GPUs the scheduler gave it (SLURM sets the variable).
            logging.info(
                "rule %s on %s, %s threads, CUDA_VISIBLE_DEVICES=%s",
                smk.rule, socket.gethostname(), smk.threads, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
            )
            main(smk)
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def config_hash(params) -> str:
    """A short stable hash of the settings a job ran with (recorded in its outputs)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout this package runs from, or None outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def provenance(params, seed: int | None = None) -> dict:
    """Columns every result row carries."""
    return {
        "config_hash": config_hash(params),
        "package_version": __version__,
        "git_commit": git_commit(),
        "seed": seed,
    }
