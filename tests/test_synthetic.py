"""The generated `synthaction` dataset."""

import numpy as np
import pandas as pd
import pytest

from helpers import tiny_config
from vidcond.data.synthetic import GeneratorConfig, _trajectory, generate, render_video
from vidcond.data.videoio import decode_all


@pytest.fixture(scope="module")
def generator_config():
    return GeneratorConfig.from_dict(tiny_config()["datasets"]["synthaction"]["generator"])


def test_rendering_is_deterministic_by_seed(generator_config):
    spec = generator_config.classes[0]
    a = render_video(spec, generator_config, np.random.default_rng([0, 0, 1]))
    b = render_video(spec, generator_config, np.random.default_rng([0, 0, 1]))
    c = render_video(spec, generator_config, np.random.default_rng([0, 0, 2]))
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_generated_layout_is_ucf101_style_and_deterministic(tmp_path, generator_config):
    generate(tmp_path / "one", generator_config, progress=False)
    generate(tmp_path / "two", generator_config, progress=False)
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt", "classes.tsv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one" / "classInd.txt").read_bytes().startswith(b"1 RedCircle\r\n")
    train = (tmp_path / "one" / "trainlist01.txt").read_text().splitlines()
    test = (tmp_path / "one" / "testlist01.txt").read_text().splitlines()
    assert len(train) == 4 * 3 and len(test) == 4 * 2
    rel = test[0]
    frames_one, _ = decode_all(tmp_path / "one" / rel)
    frames_two, _ = decode_all(tmp_path / "two" / rel)
    np.testing.assert_array_equal(frames_one, frames_two)
    suffixes = {line.split()[0].rsplit(".", 1)[1] for line in train}
    assert suffixes == {"avi", "mp4"}
    classes = pd.read_csv(tmp_path / "one" / "classes.tsv", sep="\t")
    assert list(classes["group"]) == ["static", "static", "dynamic", "dynamic"]


@pytest.mark.parametrize(
    "pair, attribute",
    [(("down", "up"), "cy"), (("grow", "shrink"), "radius"), (("fade_in", "fade_out"), "opacity"), (("right", "left"), "cx")],
)
def test_dynamic_pairs_look_alike_frame_by_frame_but_move_oppositely(generator_config, pair, attribute):
    """One frame of either class has the same distribution: only the order separates them."""
    cfg = GeneratorConfig(classes=generator_config.classes, frames=16)
    samples = {}
    for motion in pair:
        values = [getattr(_trajectory(motion, cfg, np.random.default_rng(i)), attribute) for i in range(400)]
        samples[motion] = np.stack(values)  # [videos, frames]
    first, second = (samples[m] for m in pair)
    # marginal over all frames: same mean and spread
    assert abs(first.mean() - second.mean()) < 0.05 * first.std() + 1e-9
    assert abs(first.std() - second.std()) < 0.1 * first.std()
    # but the temporal change has opposite signs in every video
    assert (np.diff(first, axis=1).sum(1) > 0).all() and (np.diff(second, axis=1).sum(1) < 0).all()
