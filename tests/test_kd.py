"""Knowledge distillation and SAKD: the greedy DPP against brute force, SAKD's equations,
the temporal interruption, every KD loss against a direct formula, a tiny training run."""

import itertools

import numpy as np
import pytest
import torch
from helpers import embedded_config, tiny_config
from safetensors.torch import load_file

from vidcond.data.synthetic import GeneratorConfig
from vidcond.kd.dpp import greedy_map_dpp_matrix, select_easy_diverse
from vidcond.kd.losses import (
    CurriculumTemperatureKD,
    DecoupledKD,
    FeatureKD,
    HintonKD,
    dkd_parts,
    sakd_loss,
    vanilla_loss,
)
from vidcond.kd.loop import kd_row, train_student
from vidcond.kd.sakd import (
    SakdSettings,
    SakdState,
    interrupt,
    interruption_rate,
    selection_probability,
    update_strength,
)
from vidcond.models import build_model, save_model
from vidcond.pretrain.student import check_disjoint, load_pretrained_backbone, pretrain_student, shared_classes
from vidcond.training import RealClips, TrainSettings

# ---------------------------------------------------------------- greedy MAP DPP


def _gram(seed, n=7, d=5):
    b = np.random.default_rng(seed).normal(size=(n, d))
    return b @ b.T


def _logdet(kernel, subset):
    sign, value = np.linalg.slogdet(kernel[np.ix_(subset, subset)])
    return value if sign > 0 else -np.inf


def _naive_greedy(kernel, k):
    """Each step adds the item whose inclusion gives the largest log det (by determinants)."""
    chosen = []
    for _ in range(k):
        gains = {i: _logdet(kernel, chosen + [i]) for i in range(len(kernel)) if i not in chosen}
        chosen.append(max(gains, key=gains.get))
    return chosen


@pytest.mark.parametrize("seed", range(6))
def test_greedy_dpp_finds_the_brute_force_map(seed):
    kernel = _gram(seed)
    for k in (1, 2, 3, 4):
        best = max(itertools.combinations(range(len(kernel)), k), key=lambda s: _logdet(kernel, list(s)))
        assert set(greedy_map_dpp_matrix(kernel, k)) == set(best)


@pytest.mark.parametrize("seed", range(6, 16))
def test_greedy_dpp_is_the_determinant_greedy(seed):
    # The exact property of the fast algorithm: the same choices, in the same order, as the
    # greedy computed with determinants (which is not always the MAP, e.g. seed 9 at k = 3).
    kernel = _gram(seed, n=9, d=6)
    for k in (2, 4, 6):
        assert greedy_map_dpp_matrix(kernel, k) == _naive_greedy(kernel, k)


def test_greedy_dpp_stops_at_the_rank_and_selection_fills_up():
    features = np.random.default_rng(0).normal(size=(10, 3))
    assert len(greedy_map_dpp_matrix(features @ features.T, 6)) == 3  # rank 3: det of 4 items is 0
    ease = np.linspace(0, 1, 10)
    chosen, from_dpp = select_easy_diverse(features, ease, 6, gamma=0.5, jitter=0.0)
    assert from_dpp == 3 and len(set(chosen.tolist())) == 6
    chosen, from_dpp = select_easy_diverse(features, ease, 6, gamma=0.5, jitter=1e-4)
    assert from_dpp == 6  # the jitter makes the kernel positive definite


def test_selection_trades_ease_against_diversity():
    rng = np.random.default_rng(1)
    features, ease = rng.normal(size=(8, 4)), rng.random(8)
    assert sorted(select_easy_diverse(features, ease, 3, gamma=1.0)[0]) == sorted(np.argsort(-ease)[:3])
    # gamma in (0, 1): the greedy of gamma * sum(ease) + (1 - gamma) * log det(S_A), S the
    # cosine kernel (+ jitter), evaluated directly.
    gamma, jitter = 0.6, 1e-4
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T + jitter * np.eye(8)
    chosen = []
    for _ in range(3):
        score = {i: gamma * ease[chosen + [i]].sum() + (1 - gamma) * _logdet(similarity, chosen + [i]) for i in range(8) if i not in chosen}
        chosen.append(max(score, key=score.get))
    assert select_easy_diverse(features, ease, 3, gamma, jitter)[0].tolist() == chosen


# ---------------------------------------------------------------- SAKD equations


def test_interruption_rate():
    assert interruption_rate(10, 10) == 1.0
    assert interruption_rate(5, 10) == pytest.approx(1 - 0.5**0.9)
    assert interruption_rate(1, 10) == pytest.approx(1 - 0.9**0.9)
    assert interruption_rate(3, 4, theta=2.0) == pytest.approx(1 - 0.25**2)
    rates = [interruption_rate(n, 50) for n in range(1, 51)]
    assert all(a < b for a, b in zip(rates, rates[1:]))
    with pytest.raises(ValueError):
        interruption_rate(0, 10)


def test_strength_update_and_selection_probability():
    alpha, ease = torch.tensor([0.0, 0.2, 0.9, 0.99995]), torch.tensor([1.0, 0.5, 0.0, 1.0])
    got = update_strength(alpha, 0.6, ease, 0.3)
    expected = (0.3 * alpha + 0.7 * 0.6 * ease).clamp(1e-4, 1 - 1e-4)
    assert torch.allclose(got, expected)
    assert got[0] == pytest.approx(0.42) and got[2] == pytest.approx(0.27) and 0 < got.min() and got.max() < 1
    p = selection_probability(torch.tensor([0.0, 2.0, 4.0]), epsilon=1.0)  # counts / max -> 0, 0.5, 1
    assert torch.allclose(p, torch.tensor([1.0, 1 / 1.5, 0.5]))


def test_state_follows_equations_3_6_7():
    settings = SakdSettings(lam=0.5, epsilon=1.0)
    state = SakdState(3)
    state.mark_selected(torch.tensor([1]))
    state.mark_selected(torch.tensor([1, 2]))  # counts 0, 2, 1 -> p = 1, 0.5, 1 / 1.5
    loss, features = torch.tensor([2.0, 6.0, 3.0]), torch.ones(3, 2)
    ease = state.update(loss, features, beta=0.4, settings=settings)
    raw = np.array([2.0, 3.0, 2.0])  # p * loss
    assert np.allclose(ease.numpy(), raw / 3.0)
    assert np.allclose(state.strength.numpy(), np.clip(0.5 * 0.4 * raw / 3.0, 1e-4, 1))
    state.update(loss, 3 * features, beta=0.4, settings=settings)
    assert torch.allclose(state.fused, torch.full((3, 2), 2.0, dtype=torch.float64))


@pytest.mark.parametrize("beta, eta", [(0.3, 0.5), (0.05, 0.5), (0.7, 0.5), (1.0, 0.5), (0.6, 1.0)])
def test_interruption_keeps_shapes_and_touches_only_its_share(beta, eta):
    b, t = 6, 8
    clips = torch.arange(1, b * t + 1, dtype=torch.float32).view(b, t, 1, 1, 1).expand(b, t, 3, 2, 2).contiguous()
    out, touched = interrupt(clips, beta, eta, torch.Generator().manual_seed(0))
    assert out.shape == clips.shape
    share = min(round(beta * t), t - 1) if beta < eta else round(eta * t)
    assert (touched.sum(1) == share).all()
    assert torch.equal(out[~touched], clips[~touched])  # the other frames are untouched
    if beta < eta:
        assert (out[touched] == 0).all()
    else:  # the same frames, moved among the chosen slots, across clips
        assert sorted(out[touched][:, 0, 0, 0].tolist()) == sorted(clips[touched][:, 0, 0, 0].tolist())
        came_from = (out[touched][:, 0, 0, 0].long() - 1) // t
        assert (came_from != touched.nonzero()[:, 0]).any()


# ---------------------------------------------------------------- KD losses


@pytest.fixture()
def logits():
    g = torch.Generator().manual_seed(0)
    return 2 * torch.randn(5, 6, generator=g), 2 * torch.randn(5, 6, generator=g), torch.tensor([0, 3, 5, 1, 3])


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum(1)


def test_hinton_kd(logits):
    s, t, y = logits
    tau = 4.0
    expected = tau**2 * _kl(_softmax(t.numpy() / tau), _softmax(s.numpy() / tau))
    assert np.allclose(HintonKD(tau).per_sample(s, None, t, None, y).numpy(), expected, rtol=1e-5)


def test_dkd_decomposition(logits):
    s, t, y = logits
    tau, yn = 2.0, y.numpy()
    ps, pt = _softmax(s.numpy() / tau), _softmax(t.numpy() / tau)
    rows = np.arange(len(yn))
    bs = np.stack([ps[rows, yn], 1 - ps[rows, yn]], 1)
    bt = np.stack([pt[rows, yn], 1 - pt[rows, yn]], 1)
    keep = np.ones_like(ps, dtype=bool)
    keep[rows, yn] = False
    ns = ps[keep].reshape(len(yn), -1)
    nt = pt[keep].reshape(len(yn), -1)
    tckd, nckd = _kl(bt, bs), _kl(nt / nt.sum(1, keepdims=True), ns / ns.sum(1, keepdims=True))
    got_t, got_n = dkd_parts(s, t, y, tau)
    assert np.allclose(got_t.numpy(), tckd, rtol=1e-5) and np.allclose(got_n.numpy(), nckd, rtol=1e-5)
    # KL = TCKD + (1 - p_target^teacher) NCKD (the identity DKD is built on)
    assert np.allclose(_kl(pt, ps), tckd + (1 - pt[rows, yn]) * nckd, rtol=1e-5)
    dkd = DecoupledKD(tau, alpha=0.7, beta=3.0, warmup_epochs=4)
    dkd.set_epoch(2)
    assert np.allclose(dkd.per_sample(s, None, t, None, y).numpy(), 0.5 * tau**2 * (0.7 * tckd + 3.0 * nckd), rtol=1e-5)


def test_ctkd_temperature_is_trained_against_the_loss(logits):
    s, t, y = logits
    ctkd = CurriculumTemperatureKD(t_start=1.0, t_range=20.0, ramp_epochs=10)
    ctkd.set_epoch(5)
    assert ctkd.reversal == pytest.approx(0.5)
    tau = 1 + 20 / (1 + np.exp(-1.0))
    assert ctkd.temperature().item() == pytest.approx(tau)
    expected = tau**2 * _kl(_softmax(t.numpy() / tau), _softmax(s.numpy() / tau))
    loss = ctkd.per_sample(s, None, t, None, y)
    assert np.allclose(loss.detach().numpy(), expected, rtol=1e-4)  # float32 KL at a high temperature
    loss.sum().backward()
    raw = torch.tensor(1.0, requires_grad=True)
    plain = 1 + 20 * torch.sigmoid(raw)
    (plain**2 * (torch.softmax(t / plain, 1) * (torch.log_softmax(t / plain, 1) - torch.log_softmax(s / plain, 1))).sum(1)).sum().backward()
    assert ctkd.raw.grad.item() == pytest.approx(-0.5 * raw.grad.item(), rel=1e-4)


def test_feature_kd():
    fea = FeatureKD(3, 2)
    with torch.no_grad():
        fea.mapping.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]]))
        fea.mapping.bias.copy_(torch.tensor([0.5, 0.0]))
    student, teacher = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[7.0, 0.0]])
    # mapped student: [1 + 6 + 0.5, -2 + 3] = [7.5, 1]; squared error [0.25, 1]
    assert fea.per_sample(None, student, None, teacher, None).item() == pytest.approx(1.25)  # eq. (1): squared l2


# ---------------------------------------------------------------- training


def _tiny_teacher(store, path, clip_shape):
    teacher = build_model("miniC3D", store.num_classes, clip_shape, channels=[8, 8, 8])
    spec = {"arch": "miniC3D", "num_classes": store.num_classes, "clip_shape": list(clip_shape), "options": {"channels": [8, 8, 8]}}
    save_model(path, teacher, spec, {"train": {"train_seconds": 1.0}, "test": {"top1": 0.5, "top5": 1.0}})
    return teacher


TINY_TRAINING = {"optimizer": "sgd", "lr": 0.02, "epochs": 3, "schedule": "cosine", "batch_size": 4, "labels": "hard", "loss": "ce"}


def test_tiny_kd_run_with_sakd(tiny_store, tiny_store_dir, tmp_path):
    _tiny_teacher(tiny_store, tmp_path / "teacher", (4, 3, 16, 16))
    sakd = {"ratio": 0.5, "every": 2, "eta": 0.5, "lam": 0.5, "score_batch": 5}
    common = dict(
        store_dir=tiny_store_dir,
        teacher_stem=tmp_path / "teacher",
        dataset="tiny",
        teacher_name="miniC3D",
        student_name="small",
        student_options={"arch": "miniC3D", "channels": [4, 8, 8]},
        setting="default",
        seed=0,
        training=TINY_TRAINING,
        clip={"num_frames": 4, "stride": 2},
        progress=False,
    )
    row = kd_row(method="dkd", mode="sakd_every2", method_options={"beta": 2.0}, sakd=sakd, **common)
    assert row["selections"] == 2 and row["clips_trained"] == 3 * 6  # half of 12 clips, 3 epochs
    assert 0 < row["mean_strength"] < 1 and row["dpp_shortfall"] == 0
    assert row["n_test"] == 8 and row["teacher"] == "miniC3D"
    # 8 test videos, 4 per class group: top-1 counts correct videos, the groups weigh
    # equally, and with 4 classes the top-5 holds every label
    assert row["top1"] * 8 == pytest.approx(round(row["top1"] * 8)) and row["top5"] == 1.0  # of 8 test videos
    assert row["top1"] == pytest.approx((row["top1_static"] + row["top1_dynamic"]) / 2)
    vanilla = kd_row(method="fea", mode="vanilla", method_options={"kd_weight": 2.0}, sakd=None, **common)
    assert vanilla["clips_trained"] == 3 * 12 and vanilla["ratio"] == 1.0 and vanilla["score_seconds"] == 0
    with pytest.raises(ValueError, match="trained on clips"):
        kd_row(method="kd", mode="vanilla", method_options={}, sakd=None, **{**common, "clip": {"num_frames": 3, "stride": 2}})


def test_resumed_sakd_run_ends_where_an_uninterrupted_one_does(tiny_store, tmp_path, monkeypatch):
    from vidcond.checkpoint import FAULT_VARIABLE

    shape = (4, 3, 16, 16)
    teacher = _tiny_teacher(tiny_store, tmp_path / "teacher", shape)
    settings = TrainSettings.from_dict(TINY_TRAINING)
    sakd = SakdSettings(ratio=0.5, every=1, score_batch=6)

    def run(work_dir):
        torch.manual_seed(0)
        student = build_model("miniC3D", tiny_store.num_classes, shape, channels=[4, 8, 8])
        source = RealClips(tiny_store, 4, 2)
        train_student(student, source, settings, teacher=teacher, method="ctkd", method_options={}, sakd=sakd, work_dir=work_dir, progress=False)
        return student.state_dict()

    reference = run(None)
    monkeypatch.setenv(FAULT_VARIABLE, "step:2:term")  # SIGTERM at the end of epoch 2
    with pytest.raises(SystemExit) as stopped:
        run(tmp_path / "work")
    assert stopped.value.code == 143
    monkeypatch.delenv(FAULT_VARIABLE)
    resumed = run(tmp_path / "work")
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_sakd_loss_is_equation_9_and_vanilla_keeps_its_weights():
    ce, kd = torch.tensor([2.0, 0.5, 1.0]), torch.tensor([4.0, 1.0, 3.0])
    alpha = torch.tensor([0.2, 0.5, 0.9])
    # (1 - a) CE + a L_kd per clip: 0.8*2 + 0.2*4 = 2.4, 0.5*0.5 + 0.5*1 = 0.75, 0.1*1 + 0.9*3 = 2.8
    assert sakd_loss(ce, kd, alpha).item() == pytest.approx((2.4 + 0.75 + 2.8) / 3)
    # 0.1*2 + 0.9*4 = 3.8, 0.1*0.5 + 0.9*1 = 0.95, 0.1*1 + 0.9*3 = 2.8
    assert vanilla_loss(ce, kd, 0.1, 0.9).item() == pytest.approx((3.8 + 0.95 + 2.8) / 3)


def test_sakd_run_ignores_the_vanilla_loss_weights(tiny_store, tmp_path):
    """Eq. (9) has no weight of its own: a SAKD run is the same whatever ce/kd_weight say,
    while a vanilla run changes with them."""
    shape = (4, 3, 16, 16)
    teacher = _tiny_teacher(tiny_store, tmp_path / "teacher", shape)
    settings = TrainSettings.from_dict({**TINY_TRAINING, "epochs": 2})

    def run(options, sakd):
        torch.manual_seed(0)
        student = build_model("miniC3D", tiny_store.num_classes, shape, channels=[4, 8, 8])
        stats = train_student(student, RealClips(tiny_store, 4, 2), settings, teacher=teacher, method="kd",
                              method_options=options, sakd=sakd, progress=False)
        return stats["final_loss"], student.state_dict()

    sakd = SakdSettings(ratio=0.5, every=1, score_batch=6)
    plain, weighted = run({}, sakd), run({"ce_weight": 0.1, "kd_weight": 10.0}, sakd)
    assert plain[0] == weighted[0] and all(torch.equal(plain[1][k], weighted[1][k]) for k in plain[1])
    assert run({}, None)[0] != run({"ce_weight": 0.1, "kd_weight": 10.0}, None)[0]


def test_source_dataset_is_disjoint_from_the_target():
    cfg = embedded_config()
    target = GeneratorConfig.from_dict(cfg["datasets"]["synthaction"]["generator"])
    source = GeneratorConfig.from_dict(cfg["kd"]["pretrain"]["generator"])
    assert shared_classes(target, source) == [] and source.seed != target.seed
    check_disjoint(target, source)
    renamed = {**cfg["kd"]["pretrain"]["generator"]}
    renamed["classes"] = [*renamed["classes"], {**cfg["datasets"]["synthaction"]["generator"]["classes"][4], "name": "Other"}]
    with pytest.raises(ValueError, match=r"shares classes with the target: \['Other'\]"):
        check_disjoint(target, GeneratorConfig.from_dict(renamed))
    with pytest.raises(ValueError, match="another generator seed"):
        check_disjoint(target, GeneratorConfig.from_dict({**cfg["kd"]["pretrain"]["generator"], "seed": target.seed}))
    check_disjoint(None, source)  # a real target: disjoint by construction


TINY_SOURCE = {
    "seed": 7, "train_per_class": 3, "test_per_class": 2, "frames": 12, "height": 32, "width": 32, "containers": ["avi"],
    "classes": [
        {"name": "OrangeRing", "shape": "ring", "color": [240, 140, 30], "motion": "drift"},
        {"name": "CyanCircle", "shape": "circle", "color": [40, 210, 220], "motion": "drift"},
        {"name": "RingUp", "shape": "ring", "color": [230, 230, 230], "motion": "up"},
    ],
}


@pytest.fixture()
def pretrained_student(tmp_path):
    target = tiny_config()["datasets"]["synthaction"]
    summary = pretrain_student(
        tmp_path / "student", source=TINY_SOURCE, target=target["generator"], extract_options=target["extract"],
        validation={"fraction": 0.34, "seed": 0}, clip=target["clip"], arch="miniC3D",
        model_options={"channels": [4, 8, 8]}, training={**TINY_TRAINING, "epochs": 2}, seed=0,
        work_dir=tmp_path / "work", progress=False,
    )
    assert not (tmp_path / "work").exists()
    assert summary["source_classes"] == ["OrangeRing", "CyanCircle", "RingUp"] and summary["val"]["n_test"] == 3
    return tmp_path / "student"


def test_the_pretrained_student_is_the_same_on_every_run(tmp_path, pretrained_student):
    # its initial weights come from the job's seed, not from what the process drew before
    target = tiny_config()["datasets"]["synthaction"]
    torch.manual_seed(5)
    pretrain_student(
        tmp_path / "again", source=TINY_SOURCE, target=target["generator"], extract_options=target["extract"],
        validation={"fraction": 0.34, "seed": 0}, clip=target["clip"], arch="miniC3D",
        model_options={"channels": [4, 8, 8]}, training={**TINY_TRAINING, "epochs": 2}, seed=0,
        work_dir=tmp_path / "work_again", progress=False,
    )
    first, again = (load_file(str(stem.with_suffix(".safetensors"))) for stem in (pretrained_student, tmp_path / "again"))
    assert all(torch.equal(first[name], again[name]) for name in first)


def test_pretrained_student_loads_its_backbone_with_a_fresh_classifier(tiny_store, pretrained_student):
    saved = load_file(str(pretrained_student.with_suffix(".safetensors")))
    torch.manual_seed(3)
    student = build_model("miniC3D", tiny_store.num_classes, (4, 3, 16, 16), channels=[4, 8, 8])
    torch.manual_seed(3)
    fresh_head = build_model("miniC3D", tiny_store.num_classes, (4, 3, 16, 16), channels=[4, 8, 8]).fc.weight.detach().clone()
    assert load_pretrained_backbone(student, pretrained_student) == ["fc.weight", "fc.bias"]
    state = student.state_dict()
    assert saved["fc.weight"].shape[0] == 3 and state["fc.weight"].shape[0] == tiny_store.num_classes
    assert torch.equal(state["fc.weight"], fresh_head)
    assert all(torch.equal(state[k], saved[k]) for k in saved if not k.startswith("fc."))
    # the same class count still gets a fresh classifier
    same = build_model("miniC3D", 3, (4, 3, 16, 16), channels=[4, 8, 8])
    head = same.fc.weight.detach().clone()
    load_pretrained_backbone(same, pretrained_student)
    assert torch.equal(same.fc.weight, head) and not torch.equal(same.fc.weight, saved["fc.weight"])
    with pytest.raises(ValueError, match="does not match this network's backbone"):
        load_pretrained_backbone(build_model("miniC3D", 4, (4, 3, 16, 16), channels=[4, 8, 16]), pretrained_student)


def test_kd_run_from_the_pretrained_student(tiny_store, tiny_store_dir, tmp_path, pretrained_student):
    _tiny_teacher(tiny_store, tmp_path / "teacher", (4, 3, 16, 16))
    common = dict(
        store_dir=tiny_store_dir, teacher_stem=tmp_path / "teacher", dataset="tiny", teacher_name="miniC3D",
        student_name="miniC3D", student_options={"channels": [4, 8, 8]}, setting="default", seed=0,
        training=TINY_TRAINING, clip={"num_frames": 4, "stride": 2}, progress=False, method="kd", mode="vanilla",
        method_options={}, sakd=None,
    )
    pretrained = kd_row(student_stem=pretrained_student, **common)
    scratch = kd_row(**common)
    assert pretrained["start"] == "pretrained" and pretrained["pretrain_seconds"] > 0
    assert scratch["start"] == "scratch" and scratch["pretrain_seconds"] == 0 and scratch["split"] == "test"
    assert pretrained["config_hash"] != scratch["config_hash"]


def test_kd_tables_carry_the_interval_over_seeds():
    import pandas as pd
    from scipy import stats

    from vidcond.kd.tables import kd_ablation_table, kd_table

    top1 = {"vanilla": [0.5, 0.6, 0.7], "sakd_every5": [0.2, 0.3, 0.25]}
    rows = pd.DataFrame(
        [
            {"dataset": "d", "method": "kd", "mode": mode, "setting": "default", "start": "pretrained", "seed": seed,
             "top1": value, "top5": 1.0, "n_test": 40, "train_seconds": 2.0, "score_seconds": 0.0,
             "clips_trained": 8, "steps": 4, "epochs": 2, "ratio": 0.1, "every": 5, "teacher": "t", "student": "s",
             "pretrain_seconds": 1.0, "config_hash": "h", "git_commit": "c"}
            for mode, values in top1.items()
            for seed, value in enumerate(values)
        ]
    )
    teacher = {"test": {"top1": 0.9, "top5": 1.0}, "train": {"train_seconds": 3.0}}
    table = kd_table(rows, {"d": ("t", teacher)}, ["kd"]).set_index("mode")
    for mode, values in top1.items():
        half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
        assert table.loc[mode, "top1_ci95_low"] == pytest.approx(np.mean(values) - half)
        assert table.loc[mode, "top1_ci95_high"] == pytest.approx(np.mean(values) + half)
        assert table.loc[mode, "n_test"] == 40 and table.loc[mode, "n_seeds"] == 3
    ablation = kd_ablation_table(rows[rows["seed"] == 0], {"ratio": [(0.1, "default")]})
    assert np.isnan(ablation["top1_ci95_low"]).all() and (ablation["n_seeds"] == 1).all()
