from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_config
from vidcond.data.framestore import ExtractOptions, FrameStore, extract
from vidcond.data.layouts import list_dataset
from vidcond.data.synthetic import GeneratorConfig, generate


@pytest.fixture(scope="session")
def tiny_store_dir(tmp_path_factory):
    """A frame store of the tiny synthetic dataset (4 classes, 16x16, 12 frames per video)."""
    root = tmp_path_factory.mktemp("tiny")
    synth = tiny_config()["datasets"]["synthaction"]
    generate(root / "videos", GeneratorConfig.from_dict(synth["generator"]), progress=False)
    listing = list_dataset({"format": "synthetic", "root": str(root / "videos")})
    extract(listing, root / "frames", ExtractOptions(**synth["extract"]), progress=False)
    return root / "frames"


@pytest.fixture()
def tiny_store(tiny_store_dir):
    return FrameStore(tiny_store_dir)


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
