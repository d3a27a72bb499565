"""The contract every registered condensation method keeps (parametrised over the registry,
as timm's tests over `list_models()`): a Params dataclass whose every key has a type, a
default (or is marked required) and a one-line doc; tiny test values of them; declared
requirements, family and paper protocol; valid entries in every config; and a tiny run that writes a
condensed set which loads and trains an evaluation network. A method registered without
these fails here."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import torch
import yaml

from helpers import REPO, tiny_config
from vidcond.condense import run_condense
from vidcond.condensed import load_condensed
from vidcond.evaluation import evaluation_rows
from vidcond.methods import (
    REQUIREMENT_KINDS,
    Method,
    Params,
    check_params,
    method_class,
    method_kinds,
    register_method,
    requirements,
)
from vidcond.methods import doc
from vidcond.methods.base import FAMILIES, NoParams
from vidcond.models import build_model, save_model

KINDS = method_kinds()
CLIP = {"num_frames": 4, "stride": 2}
CONFIG = tiny_config()
MODELS = CONFIG["models"]
CONFIG_FILES = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "paper").glob("*.yaml"))]


def test_the_registry_holds_every_method_of_the_embedded_config():
    kinds = {entry.get("kind", name) for name, entry in CONFIG["methods"].items()}
    assert kinds <= set(KINDS) and len(KINDS) == 16


@pytest.mark.parametrize("kind", KINDS)
def test_params_are_a_documented_dataclass(kind):
    cls = method_class(kind)
    params = cls.params_class
    assert issubclass(params, Params) and dataclasses.is_dataclass(params)
    hints = typing.get_type_hints(params)
    for f in dataclasses.fields(params):
        assert f.name in hints and f.metadata.get("doc"), f"{kind}.{f.name} has no one-line doc"
        assert "\n" not in f.metadata["doc"]
    required = [f.name for f in dataclasses.fields(params) if f.default is dataclasses.MISSING]
    if not required:  # every key has a default: the empty entry is valid
        assert check_params(kind, {}) == params()


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_params_and_requirements_are_declared(kind):
    cls = method_class(kind)
    assert "tiny_params" in vars(cls)
    typed = check_params(kind, cls.tiny_params)
    assert set(cls.requirements(typed)) <= set(REQUIREMENT_KINDS)
    assert cls.family in FAMILIES and cls.paper_protocol in CONFIG["evaluation"]["protocols"]


@pytest.mark.parametrize("kind", [k for k in KINDS if method_class(k).params_class is not NoParams])
def test_an_unknown_key_is_refused_naming_the_allowed_ones_and_the_nearest(kind):
    cls = method_class(kind)
    key = sorted(cls.params_class.docs())[0]
    with pytest.raises(ValueError) as error:
        check_params(kind, {**cls.tiny_params, key + "x": 1})
    message = str(error.value)
    assert message.startswith(f"{key}x: unknown key") and f"did you mean {key!r}?" in message
    assert len(message.splitlines()) <= 10


def test_wrong_types_and_bounds_are_refused():
    with pytest.raises(ValueError, match=r"^lr: 'x' is not float$"):
        check_params("dm", {"lr": "x"})
    with pytest.raises(ValueError, match=r"^batch_real: 0 is below its minimum 1$"):
        check_params("dm", {"batch_real": 0})
    with pytest.raises(ValueError, match=r"optimizer: 'adm' is not one of 'sgd' \| 'adam'; did you mean 'adam'\?"):
        check_params("mtt", {"optimizer": "adm"})
    with pytest.raises(ValueError, match=r"^static.spc: required"):
        check_params("dm_sd", {**method_class("dm_sd").tiny_params, "static": {"method": "dc_static"}})
    with pytest.raises(ValueError, match="unknown method kind 'dmm'"):
        check_params("dmm", {})
    # reserved keys configure the workflow, not the method
    assert check_params("dm", {"kind": "dm", "ipcs": [1], "lr": 2}).lr == 2.0


def test_requirements_follow_the_parameters():
    assert requirements("dm", {}) == ()
    assert requirements("dm", {"interpolation": "parametric", "n_syn": 2}) == ("interpolator",)
    sd = method_class("dm_sd").tiny_params
    assert requirements("dm_sd", {**sd, "interpolation": "parametric"}) == ("static", "interpolator")
    assert requirements("mtt_sd", method_class("mtt_sd").tiny_params) == ("static", "experts")


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_the_configs_entries_are_valid(path):
    methods = yaml.safe_load(path.read_text())["methods"]
    for name, entry in methods.items():
        kind = entry.get("kind", name)
        check_params(kind, entry)
        for section in ("by_dataset", "by_ipc"):  # overrides are valid merged over the entry
            for part in entry.get(section, {}).values():
                check_params(kind, {**entry, **part})


def test_registering_a_method_without_tiny_params_fails():
    with pytest.raises(TypeError, match="declares no `tiny_params`"):

        @register_method
        class Incomplete(Method):
            name, params_class = "incomplete", NoParams

            def condense(self, ctx):
                raise NotImplementedError


def test_registering_a_method_without_family_fails():
    with pytest.raises(TypeError, match="declares no `family`"):

        @register_method
        class Unplaced(Method):
            name, params_class, tiny_params = "unplaced", NoParams, {}

            def condense(self, ctx):
                raise NotImplementedError


def test_the_config_readme_tables_are_generated_from_the_dataclasses():
    readme = REPO / "config" / "README.md"
    assert doc.render(readme.read_text()) == readme.read_text(), "run python -m vidcond.methods.doc"


# ---------------------------------------------------------------- a tiny run of every method


def _save_untrained(stem: Path, arch: str, num_classes: int) -> str:
    torch.manual_seed(0)
    shape = [CLIP["num_frames"], 3, 16, 16]
    options = MODELS.get(arch, {})
    save_model(stem, build_model(arch, num_classes, tuple(shape), **options).eval(),
               {"arch": arch, "num_classes": num_classes, "clip_shape": shape, "options": options})
    return str(stem)


class Inputs:
    """The inputs of each requirement kind, built once when first needed."""

    def __init__(self, store_dir: Path, root: Path):
        self.store_dir, self.root, self.built = store_dir, root, {}

    def get(self, name: str, params) -> dict[str, str]:
        if name == "teachers":  # one teacher per condensation model
            return {f"teacher_{a}": _save_untrained(self.root / f"teacher_{a}", a, 4) for a in params.condensation_models}
        if name not in self.built:
            self.built[name] = getattr(self, name)(self.root / name)
        return {name: self.built[name]}

    def teacher(self, stem):
        return _save_untrained(stem, "miniC3D", 4)

    def experts(self, stem):
        from vidcond.pretrain.experts import train_experts

        train_experts(self.store_dir, stem, arch="miniC3D_mtt", model_options=MODELS["miniC3D_mtt"], num_experts=1, epochs=1,
                      training=CONFIG["experts"]["training"], clip=CLIP, seed=0, progress=False)
        return str(stem)

    def static(self, stem):
        spec = method_class("dc_static").tiny_params
        run_condense(self.store_dir, stem, dataset="tiny", method="dc_static", kind="dc_static", ipc=1, params=spec,
                     clip=CLIP, seed=0, model_options=MODELS, progress=False)
        return str(stem)

    def interpolator(self, stem):
        from vidcond.pretrain.interpolator import train_interpolator

        settings = CONFIG["interpolator"]
        train_interpolator(self.store_dir, stem, options=settings["model"], training={**settings["training"], "steps": 1},
                           clip=CLIP, seed=0, progress=False)
        return str(stem)

    def diffusion(self, stem):
        from vidcond.pretrain.diffusion import train_diffusion

        settings = {"source": "scratch", "latent_dims": 6, "quality_samples": 0}
        train_diffusion(self.store_dir, stem, stem.with_suffix(".json"), settings=settings, clip=CLIP, seed=0, progress=False)
        return str(stem)


@pytest.fixture(scope="module")
def inputs(tiny_store_dir, tmp_path_factory):
    return Inputs(tiny_store_dir, tmp_path_factory.mktemp("inputs"))


@pytest.mark.parametrize("kind", KINDS)
def test_runs_at_the_tiny_size_and_its_set_loads_and_evaluates(kind, inputs, tiny_store_dir, tmp_path):
    cls = method_class(kind)
    typed = check_params(kind, cls.tiny_params)
    given = {}
    for name in cls.requirements(typed):
        given.update(inputs.get(name, typed))
    stem = tmp_path / kind
    meta = run_condense(tiny_store_dir, stem, dataset="tiny", method=kind, kind=kind, ipc=1, params=cls.tiny_params,
                        clip=CLIP, seed=0, inputs=given, model_options=MODELS, progress=False)
    condensed = load_condensed(stem)
    assert len(condensed) == 4 and sorted(condensed.labels.tolist()) == [0, 1, 2, 3]
    assert meta["kind"] == kind and meta["storage_bytes"] > 0
    settings = {"labels": "hard", "loss": "ce", "epochs": 1, "batch_size": 4, "resized_crop": False}
    (row,) = evaluation_rows(store_dir=tiny_store_dir, condensed_stem=stem, teacher_stem=None, dataset="tiny", method=kind,
                             arch="miniC3D", protocol="test", variant="default", seeds=[0], settings=settings,
                             model_options=MODELS["miniC3D"], clip=CLIP, progress=False)
    assert row["num_train"] == 4 and 0.0 <= row["top1"] <= 1.0 and row["steps"] == 1


WINDOW_KINDS = [kind for kind in KINDS if "syn_frames" in method_class(kind).params_class.docs() and not kind.endswith("_sd")]


def test_the_slide_window_kinds_are_the_distillation_methods_sharing_the_loop():
    assert WINDOW_KINDS == sorted(["datm", "dm", "edc", "frepo", "mtt"])


@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_a_slide_window_set_stores_videos_of_syn_frames_in_range(kind, inputs, tiny_store_dir, tmp_path):
    cls = method_class(kind)
    params = {**cls.tiny_params, "syn_frames": 8, **({"init": "real"} if kind == "datm" else {})}
    typed = check_params(kind, params)
    given = {}
    for name in cls.requirements(typed):
        given.update(inputs.get(name, typed))
    meta = run_condense(tiny_store_dir, tmp_path / kind, dataset="tiny", method=kind, kind=kind, ipc=1, params=params,
                        clip=CLIP, seed=0, inputs=given, model_options=MODELS, progress=False)
    videos = load_condensed(tmp_path / kind).tensors["videos"]
    assert meta["frames"] == 8 and videos.shape == (4, 8, 3, 16, 16)
    assert 0.0 <= float(videos.min()) and float(videos.max()) <= 1.0
