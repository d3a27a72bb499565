"""The planner (vidcond.plan): config mistakes, derived ablation entries, per-job settings
and the exact job grids, without a Snakemake run; and the dry runs of the saved configs
plan the same jobs as before the planner existed (tests/data/*_jobs.txt)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from snakemake.utils import validate

from helpers import REPO, embedded_config, extended_config, tiny_config, with_methods
from joblist import planned_jobs, saved_jobs
from vidcond.config_checks import ConfigError
from vidcond.methods import method_class
from vidcond.plan import SCHEMA_PATH, Job, Plan, check_method_params, method_requirements


def plan_of(cfg: dict) -> Plan:
    """The plan of ``cfg`` with the schema's defaults filled in, as the workflow sees it."""
    cfg = copy.deepcopy(cfg)
    validate(cfg, schema=str(SCHEMA_PATH))
    return Plan(cfg)


def small_config() -> dict:
    """The tiny config with four methods (selection with and without the teacher, a
    video-study method, trajectory matching) and none of the ablations."""
    cfg = tiny_config()
    methods = {name: cfg["methods"][name] for name in ("random", "herding", "rded", "mtt")}
    cfg = with_methods(cfg, methods)
    for section in ("kd", "diversity", "temporal", "static_dynamic", "guidance_ablation"):
        cfg.pop(section, None)
    return cfg


SYNTH = {"dataset": "synthaction"}


def condense(method, ipc=1):
    return Job("condense", {**SYNTH, "method": method, "ipc": ipc})


def evaluate(method, protocol, variant="default", ipc=1):
    return Job(
        "evaluate",
        {
            **SYNTH,
            "method": method,
            "ipc": ipc,
            "arch": "miniC3D",
            "protocol": protocol,
            "variant": variant,
        },
    )


def test_the_exact_jobs_of_a_small_config():
    plan = plan_of(small_config())
    assert plan.condense_jobs() == [
        condense("random"),
        condense("herding"),
        condense("rded"),
        condense("mtt"),
    ]
    # common protocol `dancing` for all; rded's own paper is the video study (videodc), so
    # the reference `random` is evaluated under both
    assert plan.eval_jobs() == [
        evaluate("random", "dancing"),
        evaluate("random", "videodc"),
        evaluate("herding", "dancing"),
        evaluate("rded", "dancing"),
        evaluate("rded", "videodc"),
        evaluate("mtt", "dancing"),
        Job("evaluate_full", {**SYNTH, "arch": "miniC3D"}),
    ]
    assert plan.cross_arch_jobs() == [
        Job("cross_arch", {**SYNTH, "method": "random", "ipc": 1, "arch": "convnet_gru"})
    ]
    # herding and rded read the teacher, and so do the videodc evaluations (soft labels);
    # dancing and the full training set use hard labels
    assert plan.teacher_jobs() == [Job("teacher", {**SYNTH, "arch": "miniC3D_wide"})]
    assert plan.experts_jobs() == [Job("experts", {**SYNTH, "arch": "miniC3D_mtt"})]
    assert plan.diffusion_jobs() == plan.interpolator_jobs() == plan.kd_jobs() == []
    assert (
        plan.labels_ablation_jobs()
        == plan.temporal_condense_jobs()
        == plan.sd_ablation_runs()
        == []
    )
    assert plan.tables() == ["datasets", "main", "cross_arch", "runs", "claims"]
    assert [job.rule for job in plan.run_jobs()] == (
        ["generate_synthetic", "extract_frames", "teacher"]
        + ["condense"] * 4
        + ["evaluate"] * 6
        + ["evaluate_full", "cross_arch", "experts"]
    )
    assert plan.preview_sets() == {
        ("synthaction", m): 1 for m in ("random", "herding", "rded", "mtt")
    }
    assert plan.differenced_sets() == {("synthaction", "mtt"): 1}  # the base of mtt_sd


def test_settings_resolve_base_then_dataset_then_ipc():
    cfg = small_config()
    cfg["ipcs"] = [1, 2]
    cfg["methods"]["mtt"].update(
        by_dataset={"synthaction": {"syn_steps": 3, "iterations": 7}},
        by_ipc={"2": {"iterations": 9}},
        evaluation={"epochs": 5},
    )
    plan = plan_of(cfg)
    assert plan.method_params("mtt", "synthaction", 1)["iterations"] == 7
    assert plan.method_params("mtt", "synthaction", 2)["iterations"] == 9
    assert plan.method_params("mtt", "synthaction", 2)["syn_steps"] == 3
    assert "requires" not in plan.method_params("mtt", "synthaction", 1)
    # protocol < overrides < dataset < method < variant
    settings = plan.eval_settings("synthaction", "mtt", "soft_kl", "videodc")
    assert settings["epochs"] == 5 and settings["optimizer"] == "adamw"
    assert (settings["labels"], settings["loss"]) == ("soft", "kl")
    assert plan.eval_teacher_arch(settings) == "miniC3D_wide"
    assert (
        plan.eval_teacher_arch(plan.eval_settings("synthaction", "mtt")) is None
    )  # dancing: hard labels


def test_a_condensation_gets_the_options_of_the_networks_its_defaults_name():
    """FRePo's entry names no `arch`: its pool is the class default `miniC3D`, built with
    the config's `models.miniC3D` options (it was the 64-128-128 network, 7x the time)."""
    plan = plan_of(embedded_config())
    assert "arch" not in plan.method_params("frepo", "synthaction", 1)
    assert plan.method_models("frepo", "synthaction", 1) == {"miniC3D": plan.models["miniC3D"]}
    assert "miniC3D" in plan.method_models("frepo_sd", "synthaction", 1)
    assert set(plan.method_models("dc_static", "synthaction", 1)) == {"convnet_d4"}


def test_a_label_variant_that_trains_as_the_default_reads_the_default_evaluation():
    """The video study's multi-soft MSE-GT is its protocol's default: random and edc (evaluated
    under videodc in the main grid, same seeds) are not trained twice; herding and dm (whose
    own protocol is dancing) and any change of seeds or settings still get their own job."""
    plan = plan_of(extended_config())  # herding among the ablation's methods
    runs = {(job.wildcards["method"], variant): job.wildcards["variant"] for job, variant in plan.labels_ablation_runs()}
    assert runs[("random", "multi_soft_mse_gt")] == runs[("edc", "multi_soft_mse_gt")] == "default"
    assert runs[("herding", "multi_soft_mse_gt")] == runs[("dm", "multi_soft_mse_gt")] == "multi_soft_mse_gt"
    assert runs[("random", "hard_ce")] == "hard_ce"
    assert evaluate("random", "videodc") in plan.labels_ablation_jobs()
    assert evaluate("random", "videodc", "multi_soft_mse_gt") not in plan.run_jobs()

    cfg = embedded_config()
    cfg["evaluation"]["labels_ablation"]["seeds"] = [0, 1]
    assert all(job.wildcards["variant"] == variant for job, variant in plan_of(cfg).labels_ablation_runs())


def test_static_dynamic_ablation_derives_one_entry_per_new_pair():
    cfg = tiny_config()  # dm_sd: static dc_static at SPC 1, DPC 1
    cfg["static_dynamic"]["grid"] = [[1, 0], [1, 1], [1, 2], [2, 2]]
    plan = plan_of(cfg)
    runs = [(r["spc"], r["dpc"], r["method"], r["run_ipc"]) for r in plan.sd_ablation_runs()]
    assert runs == [
        (1, 0, "dc_static", 1),
        (1, 1, "dm_sd", 1),
        (1, 2, "dm_sd_s1d2", 1),
        (2, 2, "dm_sd_s2d2", 1),
    ]
    derived = plan.entries["dm_sd_s2d2"]
    assert plan.method_kind("dm_sd_s2d2") == "dm_sd" and plan.method_ipcs("dm_sd_s2d2") == [1]
    params = plan.method_params("dm_sd_s2d2", "synthaction", 1)
    assert (params["static"], params["dpc"]) == ({"method": "dc_static", "spc": 2}, 2)
    assert derived["lr_dynamic"] == plan.methods["dm_sd"]["lr_dynamic"]
    # SPC 2 needs the static memory condensed at IPC 2 (not in dc_static's own IPCs)
    assert condense("dc_static", 2) in plan.static_memory_jobs()
    assert "dm_sd_s2d2" not in plan.methods  # derived entries stay out of the main table


def test_temporal_grid_derives_entries_and_the_parametric_one_reads_the_interpolator():
    plan = plan_of(tiny_config())  # grid (1,4) duplicate, (2,4) parametric, (4,4) K=2 on dm
    names = [p["method"] for p in plan.temporal_points()]
    assert names == [
        "dm_syn1_real4_k1_duplicate",
        "dm_syn2_real4_k1_parametric",
        "dm_syn4_real4_k2_duplicate",
    ]
    params = plan.method_params("dm_syn4_real4_k2_duplicate", "synthaction", 1)
    assert (params["n_syn"], params["n_real"], params["segments"], params["interpolation"]) == (
        4,
        4,
        2,
        "duplicate",
    )
    assert plan.requirements("dm_syn2_real4_k1_parametric") == ("interpolator",)
    assert plan.requirements("dm_syn1_real4_k1_duplicate") == ()
    assert plan.interpolator_jobs() == [Job("interpolator", SYNTH)]
    assert plan.eval_seeds("dm_syn1_real4_k1_duplicate", "default") == [0]
    # frame counts 0 resolve to the clip length (4 frames in the tiny config)
    cfg = tiny_config()
    cfg["temporal"]["grid"] = [{"n_syn": 0, "n_real": 0}]
    run = plan_of(cfg).temporal_runs()[0]
    assert (run["method"], run["n_syn"], run["n_real"]) == ("dm_syn0_real0_k1_duplicate", 4, 4)


def test_a_slide_window_point_is_evaluated_by_every_temporal_arch():
    cfg = tiny_config()
    cfg["temporal"].update(archs=["miniC3D", "convnet_gru"], grid=[{"n_syn": 1, "n_real": 4}, {"syn_frames": 8}])
    plan = plan_of(cfg)
    window = "dm_syn0_real0_k1_duplicate_window8"
    assert [p["method"] for p in plan.temporal_points()] == ["dm_syn1_real4_k1_duplicate", window]
    assert plan.method_params(window, "synthaction", 1)["syn_frames"] == 8
    assert [(wc["method"], wc["arch"]) for _, wc in plan.temporal_eval_jobs()] == [
        ("dm_syn1_real4_k1_duplicate", "miniC3D"),
        ("dm_syn1_real4_k1_duplicate", "convnet_gru"),
        (window, "miniC3D"),
        (window, "convnet_gru"),
    ]
    run = plan.temporal_runs()[1]
    assert (run["n_syn"], run["syn_frames"]) == (4, 8)  # 0 frames: the clip length
    assert plan.temporal_runs()[0]["syn_frames"] == 4
    # without `archs`: the main table's network
    del cfg["temporal"]["archs"]
    assert {wc["arch"] for _, wc in plan_of(cfg).temporal_eval_jobs()} == {"miniC3D"}


def test_guidance_ablation_derives_one_gvd_entry_per_strength():
    plan = plan_of(extended_config())  # gvd at IPC 5, strengths 0.0 and 0.3
    assert plan.guidance_runs() == [("gvd_strength0", 0.0), ("gvd_strength0p3", 0.3)]
    assert plan.method_params("gvd_strength0p3", "synthaction", 5)["strength"] == 0.3
    assert condense("gvd_strength0p3", 5) in plan.guidance_condense_jobs()
    assert [m for m, _ in plan.diversity_sets("synthaction")][-2:] == [
        "gvd_strength0",
        "gvd_strength0p3",
    ]


def test_kd_grid_and_ablation_settings():
    plan = plan_of(extended_config())  # every KD method, scratch rows, the whole ablation
    jobs = [job.wildcards for job in plan.kd_jobs()]
    assert {wc["seed"] for wc in jobs} == {0, 1, 2}  # kd.seeds
    jobs = [wc for wc in jobs if wc["seed"] == 0]
    # from the pretrained student: 4 methods x (vanilla, every1, every5) + the student alone
    assert sum(wc["setting"] == "default" for wc in jobs) == 1 + 4 * 3
    # from scratch: the student alone and vanilla KD in the three modes
    scratch = sorted((wc["kd_method"], wc["mode"]) for wc in jobs if wc["setting"] == "scratch")
    assert scratch == [("kd", "sakd_every1"), ("kd", "sakd_every5"), ("kd", "vanilla"), ("none", "vanilla")]
    assert plan.kd_starts_pretrained("default") and not plan.kd_starts_pretrained("scratch")
    # one pretrained student per dataset, and its cost in the runs table
    assert plan.student_jobs() == [Job("pretrain_student", {"dataset": "synthaction", "arch": "miniC3D"})]
    assert plan.student_jobs()[0] in plan.run_jobs()
    assert plan.kd_sakd("sakd_every5", "scratch")["every"] == 5
    # eta 0.5, lam 0.5, ratio 0.1 are the configured values: one shared `default` run
    assert {job.wildcards["seed"] for job in plan.kd_ablation_jobs()} == {0}  # kd.ablation.seeds
    settings = sorted({job.wildcards["setting"] for job in plan.kd_ablation_jobs()})
    assert settings == ["default", "eta0", "eta1", "lam0.1", "lam0.9", "ratio0.05", "ratio0.3"]
    sakd = plan.kd_sakd("sakd_every5", "lam0.9")
    assert (sakd["every"], sakd["lam"], sakd["eta"]) == (5, 0.9, 0.5)
    assert plan.kd_sakd("vanilla", "default") == {}


EDITS = {
    "a misspelt method key": (
        lambda c: c["methods"]["dm"].update(batch_rael=2),
        "config methods.dm: batch_rael: unknown key\n  allowed: arch, batch_real, checkpoint_every,",
    ),
    "a misspelt key of a +SD method": (
        lambda c: c["methods"]["dm_sd"].update(batch_rael=2),
        "config methods.dm_sd: batch_rael: unknown key\n  allowed: arch, batch_real, checkpoint_every,",
    ),
    "a bad by_ipc value": (
        lambda c: c["methods"]["dm"].update(by_ipc={"1": {"iterations": 0}}),
        "config methods.dm.by_ipc.1: iterations: 0 is below its minimum 1",
    ),
    "an unknown kind": (
        lambda c: c["methods"].update(magic={}),
        "config methods.magic: unknown method kind 'magic'",
    ),
    "an IPC above a class size": (
        lambda c: c["methods"]["random"].update(ipcs=[50]),
        "config: IPC 50 of method 'random' exceeds the 2 training videos of class 'RedCircle' "
        "(and every other class; 1 more are its validation split) of dataset 'synthaction'",
    ),
    "an unknown label variant": (
        lambda c: c["evaluation"]["labels_ablation"].update(variants=["nope"]),
        "config evaluation.labels_ablation.variants: 'nope' is not in evaluation.variants",
    ),
    "a labels IPC not condensed": (
        lambda c: c["evaluation"]["labels_ablation"].update(ipcs=[2]),
        "config evaluation.labels_ablation.ipcs: method 'random' is not condensed at IPC 2",
    ),
    "an unknown protocol": (
        lambda c: c["temporal"].update(protocol="nope"),
        "config temporal.protocol: 'nope' is not in evaluation.protocols (videodc, dancing, gvd)",
    ),
    "a models entry without arch": (
        lambda c: c["models"].update(wide={"channels": [8]}),
        "config models.wide: not an architecture",
    ),
    "an unknown kd student": (
        lambda c: c["kd"].update(student="nope"),
        "config kd.student: 'nope' is neither an architecture nor a `models` entry",
    ),
    "an unknown teacher_arch": (
        lambda c: c["evaluation"]["protocols"]["gvd"].update(teacher_arch="nope"),
        "config evaluation.protocols.gvd.teacher_arch: 'nope' is neither an architecture nor a `models` entry",
    ),
    "an unknown diversity arch": (
        lambda c: c["diversity"].update(arch="nope"),
        "config diversity.arch: 'nope' is neither an architecture nor a `models` entry",
    ),
    "a teacher_arch in teacher training": (
        lambda c: c["teacher"]["training"].update(teacher_arch="videomae"),
        "config teacher.training: `teacher_arch` applies to evaluations only",
    ),
    "a method entry that lists its inputs": (
        lambda c: c["methods"]["dm_sd"].update(requires=["static"]),
        "config methods.dm_sd.requires: a method's inputs are declared by its class",
    ),
    "a +SD static memory that is no entry": (
        lambda c: c["methods"]["dm_sd"]["static"].update(method="nope"),
        "config methods.dm_sd.static.method: unknown method 'nope'",
    ),
    "a +SD method without lr_hal": (
        lambda c: c["methods"]["dm_sd"].pop("lr_hal"),
        "config methods.dm_sd: lr_hal: required (no default)",
    ),
    "a static/dynamic ablation of a plain method": (
        lambda c: c["static_dynamic"].update(method="dm"),
        "config static_dynamic.method: 'dm' is not a +SD method entry",
    ),
    "a temporal method without temporal options": (
        lambda c: c["temporal"].update(method="random"),
        "config temporal.method: 'random' is not a methods entry whose kind takes n_syn",
    ),
    "a temporal point twice": (
        lambda c: c["temporal"]["grid"].append({"n_syn": 1, "n_real": 4}),
        "config temporal.grid: a point is listed twice",
    ),
    "a slide-window point shorter than the clip": (
        lambda c: c["temporal"]["grid"].append({"syn_frames": 3}),
        "config temporal.grid[3]: syn_frames 3 is shorter than dataset synthaction's clip (4 frames)",
    ),
    "a slide-window point with n_syn": (
        lambda c: c["temporal"]["grid"].append({"syn_frames": 8, "n_syn": 2}),
        "config temporal.grid[3]: syn_frames: slide windows take whole learnable videos",
    ),
    "experts shorter than a trajectory method reads": (
        lambda c: c["methods"]["mtt"].update(max_start_epoch=3),  # the tiny experts train 2 epochs
        "config methods.mtt: max_start_epoch 3 and expert_epochs 1 read expert epoch 3, but experts.epochs is 2",
    ),
    "a guidance ablation of another kind": (
        lambda c: c["guidance_ablation"].update(method="gvd_naive"),
        "config guidance_ablation.method: 'gvd_naive' is not a methods entry of kind gvd",
    ),
}


# Every place a config names a network: a misspelt name is reported with its key.
ARCH_KEYS = {
    "evaluation.arch": lambda c, a: c["evaluation"].update(arch=a),
    "teacher.arch": lambda c, a: c["teacher"].update(arch=a),
    "experts.arch": lambda c, a: c["experts"].update(arch=a),
    "evaluation.cross_arch.archs[0]": lambda c, a: c["evaluation"]["cross_arch"].update(archs=[a]),
    "temporal.archs[1]": lambda c, a: c["temporal"].update(archs=["miniC3D", a]),
    "methods.dm.arch": lambda c, a: c["methods"]["dm"].update(arch=a),
    "methods.dm.by_ipc.1.arch": lambda c, a: c["methods"]["dm"].update(by_ipc={"1": {"arch": a}}),
    "methods.edc.condensation_models[1]": lambda c, a: c["methods"]["edc"].update(
        condensation_models=["miniC3D", a]
    ),
}


@pytest.mark.parametrize("where", list(ARCH_KEYS))
def test_an_unknown_architecture_anywhere_is_named_with_its_key(where):
    cfg = tiny_config()
    ARCH_KEYS[where](cfg, "miniC3d")
    with pytest.raises(ConfigError) as caught:
        plan_of(cfg)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"config {where}: unknown architecture 'miniC3d'"
    assert lines[2] == "  did you mean 'miniC3D'?"


@pytest.mark.parametrize("edit, message", list(EDITS.values()), ids=list(EDITS))
def test_config_mistakes_are_named(edit, message):
    cfg = tiny_config()
    edit(cfg)
    with pytest.raises(ConfigError) as caught:
        plan_of(cfg)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "paper", sorted((REPO / "config" / "paper").glob("*.yaml")), ids=lambda p: p.stem
)
def test_the_paper_configs_plan_every_dataset_method_and_ipc(tmp_path, paper):
    cfg = yaml.safe_load(paper.read_text())
    for dataset in cfg["datasets"].values():
        dataset["root"] = str(tmp_path)  # the planner only checks that a root is a folder
    plan = plan_of(cfg)
    expected = [
        condense_job
        for d in cfg["datasets"]
        for m, entry in cfg["methods"].items()
        for condense_job in [
            Job("condense", {"dataset": d, "method": m, "ipc": ipc})
            for ipc in entry.get("ipcs", cfg["ipcs"])
        ]
    ]
    assert plan.condense_jobs() == expected


def test_the_method_hooks_ask_the_method_classes():
    assert check_method_params("dm", {"iterations": 3, "n_syn": 2}) == []
    (problem,) = check_method_params("dm", {"iterations": -1})
    assert "iterations: -1 is below its minimum 1" in problem
    sd = method_class("dm_sd").tiny_params
    # a +SD kind takes its base kind's keys too
    assert check_method_params("dm_sd", {**sd, "batch_real": 4}) == []
    assert method_requirements("mtt_sd", method_class("mtt_sd").tiny_params) == ("static", "experts")
    assert method_requirements("dm", {"interpolation": "parametric"}) == ("interpolator",)
    assert method_requirements("random", {}) == ()


# ---------------------------------------------------------------- the saved dry runs


def test_the_planner_grid_matches_the_saved_default_dry_run():
    """Without Snakemake: the condense, evaluate, teacher and kd jobs of the plan are those
    of the saved dry run of the default config."""
    plan = plan_of(embedded_config())
    templates = {
        "condense": r"results/condensed/(?P<dataset>\w+)/(?P<method>\w+)/ipc(?P<ipc>\d+)\.json",
        "evaluate": r"results/eval/(?P<dataset>\w+)/(?P<method>\w+)/ipc(?P<ipc>\d+)/(?P<arch>\w+)/(?P<protocol>\w+)/(?P<variant>\w+)\.parquet",
        "cross_arch": r"results/cross_arch/(?P<dataset>\w+)/(?P<method>\w+)/ipc(?P<ipc>\d+)/(?P<arch>\w+)\.parquet",
        "teacher": r"results/teachers/(?P<dataset>\w+)/(?P<arch>\w+)\.json",
        "kd": r"results/kd/(?P<dataset>\w+)/(?P<kd_method>\w+)/(?P<mode>\w+)/(?P<setting>[\w.]+)/seed(?P<seed>\d+)\.parquet",
    }
    saved = {rule: set() for rule in templates}
    for line in saved_jobs("default"):
        rule, outputs = line.split("\t")[:2]
        for output in outputs.split(", ") if rule in templates else []:
            match = re.fullmatch(templates[rule], output)
            if match:
                saved[rule].add(tuple(sorted(match.groupdict().items())))
    planned = {rule: set() for rule in templates}
    jobs = plan.run_jobs() + plan.static_memory_jobs()
    for rule, wildcards in jobs:
        if rule in templates:
            planned[rule].add(tuple(sorted((k, str(v)) for k, v in wildcards.items())))
    assert planned == saved


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "extended", "tiny", "videodc"])
def test_the_dry_run_plans_the_saved_jobs(tmp_path, name):
    """Every job (rule, outputs, inputs) of the dry run, as saved before the planner."""
    assert planned_jobs(tmp_path, name) == saved_jobs(name)


def test_random_is_evaluated_under_a_papers_protocol_only_where_it_is_compared():
    plan = plan_of(embedded_config())
    random = {(j.wildcards["ipc"], j.wildcards["protocol"]) for j in plan.eval_jobs() if j.wildcards.get("method") == "random"}
    # the common protocol at both IPCs; videodc where RDED/DATM/EDC are (IPC 1), gvd where GVD is (IPC 5)
    assert random == {(1, "dancing"), (5, "dancing"), (1, "videodc"), (5, "gvd")}
