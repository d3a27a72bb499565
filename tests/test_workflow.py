"""The workflow itself: config errors before any job, an end-to-end run, rerun semantics."""

import copy

import pandas as pd
import pytest

from helpers import run_workflow, tiny_config
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


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["datasets"]["synthaction"].update(extrct={}), "'extrct' was unexpected"),
        (lambda c: c["datasets"].update(bad={"format": "avi_folder", "root": "/tmp"}), "avi_folder"),
        (lambda c: c["datasets"].update(ucf={"format": "ucf101", "root": "/no/such/dir"}), "datasets.ucf.root"),
        (lambda c: c["methods"].update(magic={}), "methods.magic: unknown method kind 'magic'"),
        (lambda c: c["methods"]["random"].update(ipcs=[50]), "IPC 50 of method 'random' exceeds"),
        (lambda c: c["evaluation"]["overrides"].update(lr=-1), "-1"),
        (lambda c: c["models"].update(wide={"channels": [8]}), "models.wide: not an architecture"),
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
    assert set(datasets["split"]) == {"train", "test"} and datasets["videos_ok"].sum() == 4 * 5
    manifest = pd.read_parquet(tiny_run / "results" / "frames" / "synthaction" / "manifest.parquet")
    assert (manifest["status"] == "ok").all() and (manifest["n_frames"] == 12).all()
    main = pd.read_parquet(tiny_run / "results" / "main.parquet")
    assert set(zip(main["method"], main["ipc"])) == {("full", 0), ("random", 1)}
    assert (main["n_seeds"] == 2).all() and main["top1_mean"].between(0, 100).all()
    assert {"config_hash", "package_version", "git_commit", "storage_mb", "frames_pct"} <= set(main.columns)
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
    assert [(m, mode) for m, mode in zip(kd["method"][2:], kd["mode"][2:])] == [
        (m, mode) for m in ["kd", "dkd", "ctkd", "fea"] for mode in modes
    ]
    assert kd["top1_mean"].between(0, 100).all() and (kd["train_seconds"] > 0).all()
    sakd = kd[kd["type"] == "sakd"]
    assert (sakd["ratio"] == 0.1).all() and (sakd["clips_trained"] == 2 * 1).all()  # 1 of 12 clips
    assert (kd.loc[kd["type"] == "vanilla", "time_vs_vanilla"] == 1).all()
    ablation = pd.read_parquet(tiny_run / "results" / "kd_ablation.parquet")
    assert list(zip(ablation["param"], ablation["value"])) == [("eta", 0.5), ("lam", 0.5), ("ratio", 0.1), ("ratio", 0.5)]
    assert (ablation["clips_trained"] == [2, 2, 2, 12]).all()
    runs = pd.read_parquet(tiny_run / "results" / "runs.parquet")
    assert (runs["rule"] == "kd").sum() == 1 + 4 * 2 + 1
    cfg = tiny_config()
    cfg["kd"]["sakd"]["gamma"] = 0.8  # reruns the SAKD runs only
    assert planned_jobs(run_workflow(tiny_run, cfg, "-n"))["kd"] == 4 + 1


@pytest.mark.slow
def test_rerun_plans_exactly_the_stale_jobs(tiny_run):
    assert planned_jobs(run_workflow(tiny_run, tiny_config(), "-n")) == {}
    cfg = tiny_config()
    cfg["evaluation"]["overrides"]["lr"] = 0.005
    planned = planned_jobs(run_workflow(tiny_run, cfg, "-n"))
    assert planned["evaluate"] == 2 and planned["cross_arch"] == 1
    assert not {"generate_synthetic", "extract_frames", "teacher", "condense", "evaluate_full"} & set(planned)
    cfg = copy.deepcopy(tiny_config())
    cfg["models"]["convnet_gru"]["width"] = 16  # only the cross-architecture network changes
    planned = planned_jobs(run_workflow(tiny_run, cfg, "-n"))
    assert planned["cross_arch"] == 1 and not {"evaluate", "condense", "teacher"} & set(planned)


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
        assert {k: (r.class_name, r.split) for k, r in good.iterrows()} == {
            k: v for k, v in fact["videos"].items() if k not in fact["bad"]
        }
    table = pd.read_parquet(tmp_path / "work" / "results" / "datasets.parquet")
    assert table.groupby("dataset")["videos_skipped"].sum().to_dict() == {"hmdb": 1, "k400": 1, "ucf": 1}


@pytest.mark.slow
def test_report_shows_every_table_and_figure(tiny_run):
    tables = sorted(p.stem for p in (tiny_run / "results").glob("*.parquet"))
    assert tables == sorted(p.stem for p in (tiny_run / "results" / "report" / "tables").glob("*.html"))
    run_workflow(tiny_run, tiny_config(), "--report", "results/report.html")
    report = (tiny_run / "results" / "report.html").read_text()
    for category in ("Tables", "Runs", "Accuracy vs IPC", "Cross-architecture", "Condensed videos"):
        assert f'"{category}"' in report
    figures = ["accuracy_ipc/synthaction.png", "cross_arch/synthaction.png", "previews/synthaction/random/ipc1.png", "runs.png"]
    for name in [f"tables/{t}.html" for t in tables] + figures:
        assert (tiny_run / "results" / "report" / name).stat().st_size > 0
        assert f'"{name.rsplit("/", 1)[-1]}"' in report
