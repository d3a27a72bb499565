"""The workflow itself: config errors before any job, an end-to-end run, rerun semantics."""

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest

from helpers import REPO, run_workflow, tiny_config
from vidcond.protocols import evaluation_protocols
from layouts import make_hmdb51, make_kinetics400, make_ucf101


def planned_jobs(result) -> dict[str, int]:
    """Rule -> job count from the "Job stats" table of a dry run (empty when nothing to do)."""
    counts, inside = {}, False
    for line in result.stdout.splitlines():
        if line.startswith("Job stats:"):
            inside = True
        elif inside and line.split() and line.split()[0] == "total":
            break
        elif inside and len(line.split()) == 2 and line.split()[1].isdigit():
            counts[line.split()[0]] = int(line.split()[1])
    return counts


def assert_top1_means_count_test_videos(table, num_test=8):
    """Each top-1 mean (a fraction) is the mean over `n_seeds` runs of correct test videos
    out of `num_test` (4 classes x 2 videos: 4 static, 4 dynamic), so the groups weigh equally."""
    correct = table["top1_mean"] * table["n_seeds"] * num_test
    assert np.allclose(correct, correct.round()), table["top1_mean"]
    if "top1_static_mean" in table:
        assert np.allclose(table["top1_mean"], (table["top1_static_mean"] + table["top1_dynamic_mean"]) / 2)


def seed_rows(run_dir, pattern) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(run_dir.glob(pattern))])


def main_protocols(cfg) -> dict[str, list[str]]:
    """method -> the protocols of its main-table evaluations."""
    kinds = {m: e.get("kind", m) for m, e in cfg["methods"].items()}
    return evaluation_protocols(kinds, cfg["evaluation"]["protocol"], cfg["evaluation"]["protocols"])


# One mistake per kind of check (schema, dataset root, planner): the planner's checks are
# unit-tested in test_plan.py, the schema's in test_config_checks.py.
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["datasets"]["synthaction"].update(extrct={}), "did you mean 'extract'?"),
        (lambda c: c["datasets"].update(ucf={"format": "ucf101", "root": "/no/such/dir"}), "datasets.ucf.root"),
        (lambda c: c["methods"]["dm_sd"].update(batch_rael=2), "methods.dm_sd: batch_rael: unknown key"),
    ],
)
def test_config_errors_stop_before_any_job(tmp_path, edit, message):
    cfg = tiny_config()
    edit(cfg)
    result = run_workflow(tmp_path, cfg, "-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    run_workflow(workdir, tiny_config(), "all_tables")
    return workdir


@pytest.mark.slow
def test_end_to_end_tables(tiny_run):
    datasets = pd.read_parquet(tiny_run / "results" / "datasets.parquet")
    assert set(datasets["split"]) == {"train", "val", "test"} and datasets["videos_ok"].sum() == 4 * 5
    # the validation split: 1 of the 3 training videos of each class (fraction 0.15, at least 1)
    assert (datasets[datasets["split"] == "val"]["videos_ok"] == 1).all()
    manifest = pd.read_parquet(tiny_run / "results" / "frames" / "synthaction" / "manifest.parquet")
    assert (manifest["status"] == "ok").all() and (manifest["n_frames"] == 12).all()
    main = pd.read_parquet(tiny_run / "results" / "main.parquet")
    cfg = tiny_config()
    protocols = main_protocols(cfg)
    expected = {(m, 1, p) for m in cfg["methods"] for p in protocols[m]}
    condensed = main[main["method"] != "full"]
    assert set(zip(condensed["method"], condensed["ipc"], condensed["protocol"])) == expected
    full = main[main["method"] == "full"]
    assert len(full) == 1 and full["ipc"].isna().all() and full["protocol"].item() == "full"
    assert (main["n_seeds"] == 3).all() and (main["n_test"] == 8).all()
    assert main["top1_ci95_low"].le(main["top1_mean"]).all() and main["top1_ci95_high"].ge(main["top1_mean"]).all()
    assert_top1_means_count_test_videos(main)
    for method, protocol, top1 in zip(main["method"], main["protocol"], main["top1_mean"]):  # the mean of its seeds' rows
        path = "eval/synthaction/full/miniC3D.parquet" if method == "full" else f"eval/synthaction/{method}/ipc1/miniC3D/{protocol}/default.parquet"
        rows = seed_rows(tiny_run / "results", path)
        assert top1 == pytest.approx(rows["top1"].mean()) and sorted(rows["seed"]) == [0, 1, 2], method
    # the step budget that ran: 4-clip sets, at least 12 clips presented = 3 epochs of one step
    assert (condensed["steps"] == 3).all() and (condensed["epochs_run"] == 3).all()
    # paired with random: the same seeds, in the same protocol
    compared = condensed[condensed["method"] != "random"]
    assert (compared["vs_random_pairs"] == 3).all()
    for row in compared.itertuples():
        own = seed_rows(tiny_run / "results", f"eval/synthaction/{row.method}/ipc1/miniC3D/{row.protocol}/default.parquet")
        ref = seed_rows(tiny_run / "results", f"eval/synthaction/random/ipc1/miniC3D/{row.protocol}/default.parquet")
        assert row.vs_random == pytest.approx(own["top1"].mean() - ref["top1"].mean())
    assert {"config_hash", "package_version", "git_commit", "storage_mib", "vs_random_ci95_low"} <= set(main.columns)
    cross = pd.read_parquet(tiny_run / "results" / "cross_arch.parquet")
    assert set(cross["arch"]) == {"miniC3D", "convnet_gru"}
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    assert {"extract_frames", "teacher", "condense", "evaluate", "evaluate_full", "cross_arch"} <= set(runs["rule"])
    assert (tiny_run / "logs" / "condense" / "synthaction" / "random" / "ipc1.log").exists()


@pytest.mark.slow
def test_kd_tables(tiny_run):
    kd = pd.read_parquet(tiny_run / "results" / "kd.parquet")
    assert list(kd["type"][:2]) == ["teacher", "student"]
    modes = ["vanilla", "sakd_every1"]
    methods = list(tiny_config()["kd"]["methods"])
    assert [(m, mode) for m, mode in zip(kd["method"][2:], kd["mode"][2:])] == [(m, mode) for m in methods for mode in modes]
    assert_top1_means_count_test_videos(kd)
    for _, row in kd[kd["type"] != "teacher"].iterrows():  # the mean of its seeds' rows
        rows = seed_rows(tiny_run / "results", f"kd/synthaction/{row['method']}/{row['mode']}/default/seed*.parquet")
        assert row["top1_mean"] == pytest.approx(rows["top1"].mean()) and row["n_seeds"] == len(rows)
    assert (kd["train_seconds"] > 0).all()
    sakd = kd[kd["type"] == "sakd"]
    assert (sakd["ratio"] == 0.1).all() and (sakd["clips_trained"] == 2 * 1).all()  # 1 of 8 clips
    assert (kd.loc[kd["type"] == "vanilla", "time_vs_vanilla"] == 1).all()
    ablation = pd.read_parquet(tiny_run / "results" / "kd_ablation.parquet")
    assert list(zip(ablation["param"], ablation["value"])) == [("eta", 0.5), ("lam", 0.5), ("ratio", 0.1), ("ratio", 0.5)]
    assert (ablation["clips_trained"] == [2, 2, 2, 8]).all()
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    assert (runs["rule"] == "kd").sum() == 1 + len(methods) * 2 + 1
    cfg = tiny_config()
    cfg["kd"]["sakd"]["gamma"] = 0.8  # reruns the SAKD runs only: one a method, and the ablation's ratio 0.5
    assert planned_jobs(run_workflow(tiny_run, cfg, "-n"))["kd"] == len(methods) + 1


@pytest.mark.slow
def test_rerun_plans_exactly_the_stale_jobs(tiny_run):
    assert planned_jobs(run_workflow(tiny_run, tiny_config(), "-n")) == {}
    cfg = tiny_config()
    cfg["evaluation"]["overrides"]["lr"] = 0.005
    planned = planned_jobs(run_workflow(tiny_run, cfg, "-n"))
    ablation = cfg["evaluation"]["labels_ablation"]
    main_evals = sum(len(p) for p in main_protocols(cfg).values())  # one job per set and protocol
    sd = cfg["static_dynamic"]
    own = (cfg["methods"][sd["method"]]["static"]["spc"], cfg["methods"][sd["method"]]["dpc"])
    sd_evals = sum(1 for spc, dpc in sd["grid"] if dpc and (spc, dpc) != own)  # derived runs
    temporal_evals = len(cfg["temporal"]["grid"]) * len(cfg["temporal"]["archs"])  # each point under each network
    assert planned["evaluate"] == main_evals + len(ablation["methods"]) * len(ablation["variants"]) + sd_evals + temporal_evals
    assert planned["cross_arch"] == 1
    assert not {"generate_synthetic", "extract_frames", "teacher", "condense", "evaluate_full"} & set(planned)
    cfg = copy.deepcopy(tiny_config())
    cfg["models"]["convnet_gru"]["width"] = 16  # only the jobs that train ConvNet+GRU change
    planned = planned_jobs(run_workflow(tiny_run, cfg, "-n"))
    assert "convnet_gru" in cfg["temporal"]["archs"]  # each temporal point is evaluated by it too
    assert planned["cross_arch"] == 1 and planned["evaluate"] == len(cfg["temporal"]["grid"])
    assert not {"condense", "teacher"} & set(planned)


@pytest.mark.slow
def test_labels_ablation_table(tiny_run):
    main = pd.read_parquet(tiny_run / "results" / "main.parquet")
    # each protocol's own label mode: Dancing hard, the video study multi-soft, GVD soft
    assert dict(main[["protocol", "labels"]].drop_duplicates().values) == {
        "dancing": "hard", "videodc": "multi_soft", "gvd": "soft", "full": "hard"
    }
    labels = pd.read_parquet(tiny_run / "results" / "labels.parquet")
    settings = [("hard", "ce", True, "hard_ce_cutmix"), ("soft", "kl", False, "soft_kl"), ("multi_soft", "mse_gt", False, "multi_soft_mse_gt")]
    methods = tiny_config()["evaluation"]["labels_ablation"]["methods"]
    assert sorted(zip(labels["method"], labels["labels"], labels["loss"], labels["cutmix"], labels["variant"])) == sorted(
        (m, *s) for m in methods for s in settings
    )
    assert (labels["ipc"] == 1).all() and (labels["n_seeds"] == 1).all() and (labels["protocol"] == "videodc").all()
    for method, variant, top1 in zip(labels["method"], labels["variant"], labels["top1_mean"]):  # its one seed's row
        assert top1 == seed_rows(tiny_run / "results", f"eval/synthaction/{method}/ipc1/miniC3D/videodc/{variant}.parquet")["top1"].item()
    cfg = tiny_config()
    cfg["evaluation"]["variants"]["soft_kl"]["temperature"] = 4.0  # reruns that setting only
    planned = planned_jobs(run_workflow(tiny_run, cfg, "-n"))
    assert planned["evaluate"] == len(methods) and planned["labels_table"] == 1
    assert not {"condense", "teacher", "main_table", "cross_arch"} & set(planned)


@pytest.mark.slow
def test_real_layouts_extract_every_good_video(tmp_path):
    facts = {
        "ucf": make_ucf101(tmp_path / "UCF101"),
        "hmdb": make_hmdb51(tmp_path / "HMDB51"),
        "k400": make_kinetics400(tmp_path / "K400"),
    }
    cfg = tiny_config()
    clip = {"num_frames": 4, "stride": 2}
    extract = {"height": 16, "width": 16}
    cfg["datasets"] = {
        "ucf": {"format": "ucf101", "root": str(tmp_path / "UCF101"), "split": 1, "extract": extract, "clip": clip},
        "hmdb": {"format": "hmdb51", "root": str(tmp_path / "HMDB51"), "extract": extract, "clip": clip},
        "k400": {"format": "kinetics400", "root": str(tmp_path / "K400"), "extract": extract, "clip": clip},
    }
    run_workflow(tmp_path / "work", cfg, "all_frames", "results/datasets.parquet")
    for name, fact in facts.items():
        manifest = pd.read_parquet(tmp_path / "work" / "results" / "frames" / name / "manifest.parquet").set_index("video_id")
        assert set(manifest.index[manifest["status"] == "error"]) == fact["bad"]
        good = manifest[manifest["status"] == "ok"]
        # the validation split is carved from the training videos
        assert {k: (r.class_name, r.split.replace("val", "train")) for k, r in good.iterrows()} == {
            k: v for k, v in fact["videos"].items() if k not in fact["bad"]
        }
        assert set(manifest.index[manifest["split"] == "val"]) <= {k for k, v in fact["videos"].items() if v[1] == "train"}
    table = pd.read_parquet(tmp_path / "work" / "results" / "datasets.parquet")
    assert table.groupby("dataset")["videos_skipped"].sum().to_dict() == {"hmdb": 1, "k400": 1, "ucf": 1}


@pytest.mark.slow
def test_report_shows_every_table_and_figure(tiny_run):
    tables = sorted(p.stem for p in (tiny_run / "results").glob("*.parquet"))
    assert tables == sorted(p.stem for p in (tiny_run / "results" / "report" / "tables").glob("*.html"))
    run_workflow(tiny_run, tiny_config(), "--report", "results/report.html")
    report = (tiny_run / "results" / "report.html").read_text()
    for category in ("Tables", "Runs", "Accuracy vs IPC", "Cross-architecture", "Condensed videos", "Inter-frame differences"):
        assert f'"{category}"' in report
    figures = ["accuracy_ipc/synthaction.png", "cross_arch/synthaction.png", "previews/synthaction/random/ipc1.png", "runs.png"]
    for name in [f"tables/{t}.html" for t in tables] + figures:
        assert (tiny_run / "results" / "report" / name).stat().st_size > 0
        assert f'"{name.rsplit("/", 1)[-1]}"' in report


@pytest.mark.slow
def test_static_dynamic_table_and_frame_differences(tiny_run):
    cfg = tiny_config()
    table = pd.read_parquet(tiny_run / "results" / "static_dynamic.parquet")
    assert [list(pair) for pair in zip(table["spc"], table["dpc"])] == sorted(cfg["static_dynamic"]["grid"])
    assert (table["n_seeds"] == 3).all()
    assert_top1_means_count_test_videos(table)
    assert table[["top1_static_mean", "top1_dynamic_mean"]].notna().all().all()
    # 4 classes, 4-frame clips of 16x16: static 3x16x16 and dynamic 4x1x16x16 per memory, H 327
    # parameters; DPC 0 is the static set alone; every element counted as a float32
    by_hand = [4 * (4 * spc * 768 + 4 * dpc * 1024 + (327 if dpc else 0)) for spc, dpc in zip(table["spc"], table["dpc"])]
    assert table["storage_bytes"].tolist() == by_hand
    assert table["storage_vs_base"].tolist() == pytest.approx([b / (4 * 4 * 4 * 768) for b in by_hand])
    assert (table["stage1_seconds"] > 0).all() and (table["stage1_peak_mem_mib"] > 0).all()
    assert (table.loc[table["dpc"] > 0, "stage2_seconds"] > 0).all()
    main = pd.read_parquet(tiny_run / "results" / "main.parquet").set_index("method")
    for sd, base in [("dm_sd", "dm"), ("mtt_sd", "mtt"), ("frepo_sd", "frepo")]:
        if sd in cfg["methods"]:
            assert main.loc[sd, "storage_bytes"] < main.loc[base, "storage_bytes"]
    for method in ("dm", "dm_sd"):
        figure = tiny_run / "results" / "report" / "frame_differences" / "synthaction" / method / "ipc1.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    condensed = set(runs.loc[runs["rule"] == "condense", "job"])
    assert {"synthaction/dc_static/ipc2", "synthaction/dm_sd_s2d2/ipc1"} <= condensed  # outside the main table



@pytest.mark.slow
def test_temporal_table(tiny_run):
    temporal = pd.read_parquet(tiny_run / "results" / "temporal.parquet")
    points = set(zip(temporal["n_syn"], temporal["n_real"], temporal["segments"], temporal["interpolation"]))
    assert points == {(1, 4, 1, "duplicate"), (2, 4, 1, "parametric"), (4, 4, 2, "duplicate")}
    # every point under each of temporal.archs (the tiny config keeps the default's ConvNet+GRU)
    assert sorted(temporal["arch"]) == ["convnet_gru"] * 3
    assert (temporal["syn_frames"] == 4).all()  # no slide-window point: the clip length
    assert_top1_means_count_test_videos(temporal)
    assert (temporal["seconds_per_iteration"] > 0).all()
    assert (temporal["peak_mem_mib"] > 0).all() and (temporal["n_seeds"] == 1).all()
    main = pd.read_parquet(tiny_run / "results" / "main.parquet")
    assert not set(temporal["method"]) & set(main["method"])  # the grid stays out of the main table
    parametric = json.loads((tiny_run / "results" / "condensed" / "synthaction" / "dm_syn2_real4_k1_parametric" / "ipc1.json").read_text())
    assert parametric["frames"] == 2 and parametric["interpolator"]["name"] == "interpolator_timesformer"
    assert (tiny_run / "results" / "interpolators" / "synthaction.json").exists()


@pytest.mark.slow
def test_diversity_table(tiny_run):
    table = pd.read_parquet(tiny_run / "results" / "diversity.parquet")
    condensed = sorted(p.parent.name + "/" + p.stem for p in (tiny_run / "results" / "condensed" / "synthaction").glob("*/ipc*.json"))
    sets = table[table["method"] != "real_train"]
    assert sorted(f"{m}/ipc{i}" for m, i in zip(sets["method"], sets["ipc"])) == condensed  # one row per set
    assert "gvd_strength0p3/ipc1" in condensed  # the guidance ablation is measured here
    real = table[table["method"] == "real_train"].iloc[0]  # the reference: the real training set itself
    assert pd.isna(real["ipc"]) and real["coverage"] == 1.0 and real["num_videos"] == 8
    assert (table["arch"] == "videomae").all() and (table["clusters"] == 8).all()  # k <= 8 real videos
    assert table["coverage"].between(0, 1).all() and table["representativeness"].between(0, 1).all()
    assert (table["entropy"] >= 0).all() and (table["entropy"] <= table["entropy_max"] + 1e-9).all()
    assert (table["mpd"] >= 0).all() and (table["mpd"] <= 2).all()  # unit-norm features
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    assert "synthaction/videomae" in set(runs.loc[runs["rule"] == "teacher", "job"])
    assert (runs["rule"] == "diversity").sum() == 1  # one job per dataset


def evaluate_teachers(result) -> set[str]:
    """Teacher files read by the evaluate jobs of a dry run."""
    blocks = re.split(r"\n(?=\[)", result.stdout)
    inputs = [line for b in blocks if "rule evaluate:" in b for line in b.splitlines() if "input:" in line]
    assert inputs
    return {m for line in inputs for m in re.findall(r"results/teachers/[^,\s]+", line)}


def test_soft_label_evaluations_read_the_configured_teacher(tmp_path):
    cfg = tiny_config()
    cfg["diversity"]["arch"] = "miniC3D"
    cfg["evaluation"]["protocol"] = "gvd"  # teacher_arch: videomae
    cfg["evaluation"]["protocols"] = {"gvd": cfg["evaluation"]["protocols"]["gvd"]}  # no paper protocols
    cfg["evaluation"].pop("labels_ablation")
    cfg["evaluation"]["overrides"].update(labels="soft", loss="kd_ce")
    dry_run = run_workflow(tmp_path, cfg, "-n", "results/main.parquet")
    assert evaluate_teachers(dry_run) == {"results/teachers/synthaction/videomae.safetensors"}
    cfg["evaluation"]["protocols"]["gvd"].pop("teacher_arch")  # back to teacher.arch
    dry_run = run_workflow(tmp_path, cfg, "-n", "results/main.parquet")
    assert evaluate_teachers(dry_run) == {"results/teachers/synthaction/miniC3D_wide.safetensors"}


@pytest.mark.slow
def test_experts_feed_mtt_and_datm(tiny_run):
    experts = tiny_run / "results" / "experts" / "synthaction" / "miniC3D_mtt"
    index = json.loads(experts.with_suffix(".json").read_text())
    assert [e["file"] for e in index["experts"]] == ["expert_000.safetensors", "expert_001.safetensors"]
    assert all((experts / e["file"]).exists() for e in index["experts"])
    assert all(e["top1"] * 8 == pytest.approx(round(e["top1"] * 8)) for e in index["experts"])  # of 8 test videos
    assert index["top1_mean"] == pytest.approx(np.mean([e["top1"] for e in index["experts"]]))
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    assert "experts" in set(runs["rule"])
    for method, label_kind in (("mtt", "hard"), ("datm", "soft")):
        meta = json.loads((tiny_run / "results" / "condensed" / "synthaction" / method / "ipc1.json").read_text())
        assert meta["label_kind"] == label_kind and meta["num_videos"] == 4


@pytest.mark.slow
def test_claims_table(tiny_run):
    claims = pd.read_parquet(tiny_run / "results" / "claims.parquet")
    assert set(claims["holds"]) <= {"true", "false", "unresolved"}
    beats = claims[claims["claim"] == "distillation_beats_random"]
    assert set(beats["subject"]) == {"dc_static", "dm", "mtt", "frepo", "datm", "edc"}
    assert (beats["protocol"] == "dancing").all() and (beats["n_pairs"] == 3).all()
    main = pd.read_parquet(tiny_run / "results" / "main.parquet").set_index(["method", "protocol"])
    for row in beats.itertuples():  # the same paired difference as the main table's
        assert row.difference == pytest.approx(main.loc[(row.subject, "dancing"), "vs_random"])
    assert {"static_dynamic_beats_base", "soft_labels_raise_accuracy", "soft_labels_shrink_gap",
            "rded_competitive", "sakd_fast_and_accurate"} <= set(claims["claim"])


@pytest.mark.slow
def test_every_column_is_documented(tiny_run):
    documented = (REPO / "docs" / "results.md").read_text()
    for table in sorted((tiny_run / "results").glob("*.parquet")):
        for column in pd.read_parquet(table).columns:
            assert f"`{column}`" in documented, f"{table.name}: column {column!r} is not in docs/results.md"
