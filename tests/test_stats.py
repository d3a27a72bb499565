"""Intervals over seeds, paired differences, verdicts and the claims built on them."""

import math

import numpy as np
import pandas as pd
import pytest

from vidcond.claims import claims_table, distillation_beats_random, soft_labels_shrink_gap
from vidcond.stats import binomial_se, mean_ci95, mean_normal_ci95, paired_difference, verdict
from vidcond.tables import add_vs_random, summarise


def test_mean_ci95_against_a_hand_computation():
    # mean 0.5, sample std 0.1, t(0.975, 2) = 4.302653, half width 4.302653 * 0.1 / sqrt(3)
    mean, std, low, high = mean_ci95([0.4, 0.5, 0.6])
    half = 4.302652729749464 * 0.1 / math.sqrt(3)
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.1)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))


def test_one_seed_has_no_interval():
    mean, std, low, high = mean_ci95([0.3])
    assert mean == 0.3 and math.isnan(std) and math.isnan(low) and math.isnan(high)


def test_paired_difference_uses_only_common_seeds():
    a = {0: 0.50, 1: 0.60, 2: 0.70, 7: 0.99}
    b = {0: 0.40, 1: 0.45, 2: 0.65, 9: 0.00}
    mean, low, high, pairs = paired_difference(a, b)
    diffs = [0.10, 0.15, 0.05]
    ref = mean_ci95(diffs)
    assert pairs == 3 and mean == pytest.approx(0.1) and (low, high) == pytest.approx(ref[2:])


def test_pairing_removes_the_shared_seed_noise():
    # the same seed effect in both: unpaired the interval straddles 0, paired it does not
    seed_effect = np.array([0.0, 0.2, -0.2, 0.1])
    a = dict(enumerate(0.50 + seed_effect + [0.02, 0.03, 0.02, 0.03]))
    b = dict(enumerate(0.45 + seed_effect))
    _, low, _, _ = paired_difference(a, b)
    assert low > 0
    assert mean_ci95(list(a.values()))[2] < mean_ci95(list(b.values()))[3]


@pytest.mark.parametrize("low, high, expected", [(0.01, 0.2, "true"), (-0.2, -0.01, "false"), (-0.1, 0.1, "unresolved"), (math.nan, math.nan, "unresolved")])
def test_verdict(low, high, expected):
    assert verdict(low, high) == expected


def test_binomial_standard_error_of_400_clips_is_at_most_2_5_points():
    assert binomial_se(0.5, 400) == pytest.approx(0.025)


def _rows(method, accuracies, protocol="dancing", ipc=1, storage=1000, dynamic=None):
    return pd.DataFrame({
        "dataset": "d", "method": method, "ipc": ipc, "arch": "miniC3D", "protocol": protocol,
        "variant": "default", "labels": "hard", "seed": range(len(accuracies)), "top1": accuracies,
        "top5": 1.0, "top1_static": accuracies, "top1_dynamic": dynamic or accuracies, "n_test": 400,
        "storage_bytes": storage, "condensation_ratio": 0.01, "num_train": 10, "steps": 300,
        "epochs_run": 300, "final_loss": 0.1, "train_seconds": 1.0, "config_hash": "x",
        "package_version": "0", "git_commit": None,
    })


def test_summary_and_paired_difference_to_random_in_the_same_setting():
    rows = pd.concat([
        _rows("random", [0.20, 0.30, 0.25]),
        _rows("dm", [0.30, 0.42, 0.33]),
        _rows("dm", [0.9, 0.9, 0.9], protocol="videodc"),  # no random under videodc: no pair
    ], ignore_index=True)
    table = add_vs_random(summarise(rows, ["dataset", "method", "ipc", "protocol", "arch", "variant"]), rows)
    dm = table[(table["method"] == "dm") & (table["protocol"] == "dancing")].iloc[0]
    assert dm["top1_mean"] == pytest.approx(0.35) and dm["n_seeds"] == 3 and dm["n_test"] == 400
    assert dm["vs_random"] == pytest.approx(0.10) and dm["vs_random_pairs"] == 3
    assert (dm["vs_random_ci95_low"], dm["vs_random_ci95_high"]) == pytest.approx(mean_ci95([0.10, 0.12, 0.08])[2:])
    assert math.isnan(table[table["protocol"] == "videodc"].iloc[0]["vs_random"])
    assert dm["storage_mib"] == pytest.approx(1000 / 2**20)


def test_comparison_at_equal_storage_takes_the_smallest_random_set_with_as_many_bytes():
    rows = pd.concat([
        _rows("random", [0.20, 0.30, 0.25], ipc=1, storage=1000),
        _rows("random", [0.40, 0.50, 0.45], ipc=5, storage=5000),
        _rows("dm_sd", [0.42, 0.49, 0.50], ipc=5, storage=2000),  # 5 videos' worth of IPC in 2 of storage
        _rows("mtt", [0.30, 0.31, 0.32], ipc=1, storage=1004),    # a learned lr: still random's IPC 1
        _rows("big", [0.9, 0.9, 0.9], ipc=1, storage=9000),       # more bytes than any random set
    ], ignore_index=True)
    table = add_vs_random(summarise(rows, ["dataset", "method", "ipc", "protocol", "arch", "variant"]), rows).set_index("method")
    sd = table.loc["dm_sd"]
    assert sd["storage_vs_random"] == pytest.approx(0.4)
    # random IPC 1 stores 1000 < 2000 bytes, so the equal-storage reference is random IPC 5
    assert sd["random_ipc_at_storage"] == 5
    assert sd["vs_random_at_storage"] == pytest.approx(0.02)
    assert (sd["vs_random_at_storage_ci95_low"], sd["vs_random_at_storage_ci95_high"]) == pytest.approx(
        mean_ci95([0.02, -0.01, 0.05])[2:])
    assert table.loc["mtt", "random_ipc_at_storage"] == 1
    assert table.loc["mtt", "vs_random_at_storage"] == pytest.approx(table.loc["mtt", "vs_random"])
    assert pd.isna(table.loc["big", "random_ipc_at_storage"]) and math.isnan(table.loc["big", "vs_random_at_storage"])


def test_claims_mark_true_false_and_unresolved():
    rows = pd.concat([
        _rows("random", [0.20, 0.30, 0.25]),
        _rows("dm", [0.30, 0.42, 0.33]),        # clearly above: true
        _rows("mtt", [0.10, 0.19, 0.16]),       # clearly below: false
        _rows("frepo", [0.25, 0.26, 0.24]),     # straddles: unresolved
    ], ignore_index=True)
    kinds = {"random": "random", "dm": "dm", "mtt": "mtt", "frepo": "frepo"}
    found = {r["subject"]: r["holds"] for r in distillation_beats_random(rows, kinds)}
    assert found == {"dm": "true", "mtt": "false", "frepo": "unresolved"}


def test_static_dynamic_claim_needs_less_storage():
    rows = pd.concat([
        _rows("dm", [0.3, 0.3, 0.3], dynamic=[0.10, 0.12, 0.11]),
        _rows("dm_sd", [0.3, 0.3, 0.3], storage=400, dynamic=[0.30, 0.33, 0.31]),
        _rows("random", [0.2, 0.3, 0.25]),
    ], ignore_index=True)
    table = claims_table(main_rows=rows, label_rows=None, kd_rows=None, covered={}, kinds={"dm": "dm", "dm_sd": "dm_sd", "random": "random"})
    sd = table[table["claim"] == "static_dynamic_beats_base"].iloc[0]
    assert sd["holds"] == "true" and sd["storage_ratio"] == pytest.approx(0.4) and sd["metric"] == "top1_dynamic"


def test_gap_shrink_is_computed_per_seed():
    def ablation(method, labels, accuracies):
        frame = _rows(method, accuracies, protocol="videodc")
        return frame.assign(labels=labels, loss="ce" if labels == "hard" else "mse_gt", cutmix=False, variant=labels)
    rows = pd.concat([
        ablation("random", "hard", [0.2, 0.2, 0.2]), ablation("dm", "hard", [0.4, 0.5, 0.45]),
        ablation("random", "multi_soft", [0.5, 0.5, 0.5]), ablation("dm", "multi_soft", [0.55, 0.52, 0.5]),
    ], ignore_index=True)
    claim = soft_labels_shrink_gap(rows, {"random": "random", "dm": "dm"})[0]
    # |gap| per seed: hard 0.2, 0.3, 0.25; multi-soft 0.05, 0.02, 0.0 -> shrink 0.15, 0.28, 0.25
    assert claim["difference"] == pytest.approx(np.mean([0.15, 0.28, 0.25]))
    assert claim["holds"] == "true"


def test_mean_normal_ci95_against_a_hand_computation():
    mean, low, high = mean_normal_ci95([0.0, 1.0, 1.0, 0.0])  # std 0.57735, n 4
    half = 1.959963984540054 * 0.5773502691896257 / 2
    assert mean == 0.5 and (low, high) == pytest.approx((0.5 - half, 0.5 + half))
