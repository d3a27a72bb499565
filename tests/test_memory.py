"""Memory estimates: activation counts by hand, the condensation estimate's parts."""

import pytest

from vidcond.memory import activation_profile, condense_estimate, estimate_line, mtt_unroll_mb, peak_memory_mb
from vidcond.models import build_model

TINY = {"channels": [2, 2, 2], "norm": "none", "head": "linear"}


def test_activation_profile_of_a_tiny_minic3d_by_hand():
    profile = activation_profile("miniC3D", 5, (4, 3, 16, 16), TINY)
    # conv/identity/relu 2x4x8x8 = 512 each, pool 2x4x4x4 = 128; conv/identity/relu
    # 2x4x2x2 = 32, pool 2x2x1x1 = 4; conv/identity/relu 4, pool 2x1x1x1 = 2; dropout 2, fc 5
    assert profile.saved == 3 * 512 + 128 + 3 * 32 + 4 + 3 * 4 + 2 + 2 + 5
    assert profile.largest == 512
    assert profile.params == sum(p.numel() for p in build_model("miniC3D", 5, (4, 3, 16, 16), **TINY).parameters())


def test_condense_estimate_parts():
    models = {"miniC3D": TINY}
    profile = activation_profile("miniC3D", 5, (4, 3, 16, 16), TINY)
    dm = condense_estimate("dm", {"batch_real": 10}, 2, 5, (4, 3, 16, 16), models)
    mb = 4 / 2**20
    assert dm["synthetic"] == round(3 * 10 * 4 * 3 * 16 * 16 * mb)
    assert dm["activations"] == round((10 * profile.saved + 2 * 10 * profile.largest) * mb)
    assert dm["total"] == pytest.approx(dm["synthetic"] + dm["network"] + dm["activations"] + dm["runtime"], abs=2)
    mtt = condense_estimate("mtt", {"syn_steps": 20}, 2, 5, (4, 3, 16, 16), models)
    low = condense_estimate("mtt", {"syn_steps": 20, "low_memory": True}, 2, 5, (4, 3, 16, 16), models)
    assert mtt["activations"] == round(mtt_unroll_mb(profile, 10, 20, False))
    assert low["activations"] < mtt["activations"]
    assert estimate_line(dm).startswith(f"memory estimate (dm, miniC3D): {dm['total']} MB (synthetic ")


def test_a_condensation_job_logs_its_estimate(tiny_store_dir, tmp_path, capsys):
    from vidcond.condense import run_condense
    from vidcond.memory import job_estimate

    params = {"arch": "miniC3D", "batch_real": 3, "iterations": 1}
    models = {"miniC3D": TINY}
    clip = {"num_frames": 4, "stride": 2}
    run_condense(tiny_store_dir, tmp_path / "set", dataset="tiny", method="dm", kind="dm", ipc=1, params=params,
                 clip=clip, seed=0, model_options=models, progress=False)
    expected = estimate_line(job_estimate("dm", params, 1, tiny_store_dir, clip, models))
    assert expected in capsys.readouterr().out.splitlines()
    assert expected.startswith("memory estimate (dm, miniC3D): ")


def test_a_job_reads_its_own_peak_not_its_parents():
    """ru_maxrss carries a parent's peak into a child it starts: a small job started by a
    large snakemake read the parent's. The child here holds ~100 MB, the parent ~1 GB more."""
    import subprocess
    import sys

    held = bytearray(1024 * 2**20)
    held[:: 4096] = b"\x01" * len(held[:: 4096])  # resident, not just reserved
    child = "from vidcond.memory import peak_memory_mb; print(peak_memory_mb('cpu'))"
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert float(done.stdout) < 700 < peak_memory_mb("cpu")
    del held
