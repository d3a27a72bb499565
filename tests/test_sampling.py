"""Clip sampling."""

import numpy as np

from vidcond.data.sampling import center_clip, clip_span, random_clip, segment_indices, to_clip_tensor, window_clips


def test_random_clip_has_stride_and_covers_every_start():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(500):
        clip = random_clip(30, 8, 2, rng)
        assert (np.diff(clip) == 2).all() and clip[-1] <= 29
        starts.add(int(clip[0]))
    assert starts == set(range(30 - clip_span(8, 2) + 1))


def test_random_clip_is_deterministic_by_seed():
    a = [random_clip(100, 8, 4, np.random.default_rng(3)) for _ in range(3)]
    b = [random_clip(100, 8, 4, np.random.default_rng(3)) for _ in range(3)]
    np.testing.assert_array_equal(a, b)


def test_short_videos_shrink_the_stride_then_repeat_the_last_frame():
    np.testing.assert_array_equal(center_clip(10, 8, 4), [1, 2, 3, 4, 5, 6, 7, 8])  # 10 // 8 = stride 1, centred
    np.testing.assert_array_equal(center_clip(5, 8, 4), [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(random_clip(5, 8, 4, np.random.default_rng(0)), [0, 1, 2, 3, 4, 4, 4, 4])


def test_center_clip_is_centred():
    np.testing.assert_array_equal(center_clip(20, 4, 2), [6, 8, 10, 12])  # span 7, start (20 - 7) // 2


def test_window_clips_are_evenly_spaced_and_cover_both_ends():
    windows = window_clips(40, 8, 2, 5)
    assert windows.shape == (5, 8)
    np.testing.assert_array_equal(windows[:, 0], [0, 6, 12, 19, 25])  # linspace(0, 25, 5) rounded
    assert windows[-1, -1] == 39


def test_segment_indices_take_one_frame_per_segment():
    np.testing.assert_array_equal(segment_indices(16, 4), [1, 5, 9, 13])
    picks = segment_indices(16, 4, np.random.default_rng(0))
    assert all(4 * i <= p < 4 * (i + 1) for i, p in enumerate(picks))
    np.testing.assert_array_equal(segment_indices(3, 4), [0, 0, 1, 2])


def test_to_clip_tensor_layout_and_scale():
    frames = np.zeros((2, 3, 4, 5, 3), np.uint8)
    frames[..., 1] = 255
    x = to_clip_tensor(frames)
    assert x.shape == (2, 3, 3, 4, 5)
    assert x[:, :, 1].min() == 1.0 and x[:, :, 0].max() == 0.0
