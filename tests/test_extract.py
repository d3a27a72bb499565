"""Frame extraction: frame-exact against PyAV, B-frame AVIs, resizing while decoding, bad files
recorded and skipped, parallel extraction identical to serial."""

import numpy as np
import pandas as pd
import pytest

from helpers import run_workflow, tiny_config
from layouts import HMDB_FILES, make_hmdb51, make_kinetics400, make_ucf101, video_frames
from vidcond.data.framestore import ExtractOptions, FrameStore, extract
from vidcond.data.layouts import extraction_summaries, list_dataset, manifest_summary
from vidcond.data.videoio import decode_all, decode_all_pyav, write_video

MANIFEST_COLUMNS = {"video_id", "path", "class_name", "label", "split", "n_frames", "fps", "status", "error"}


@pytest.fixture(scope="module")
def bframe_avi(tmp_path_factory):
    path = tmp_path_factory.mktemp("bf") / "bframes.avi"
    frames = np.stack([video_frames(s)[0] for s in range(40)])  # 40 unrelated frames
    write_video(path, frames, b_frames=2)
    return path


def test_sequential_decoding_is_exact_on_a_bframe_avi(bframe_avi):
    import av
    from av.video.frame import PictureType

    with av.open(str(bframe_avi)) as container:
        kinds = {int(frame.pict_type) for frame in container.decode(video=0)}
    assert int(PictureType.B) in kinds  # the case where decord's random access returns wrong frames
    ours, fps = decode_all(bframe_avi)
    assert fps == 25.0
    np.testing.assert_array_equal(ours, decode_all_pyav(bframe_avi))


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_the_same_frames_encode_to_the_same_file(tmp_path, suffix):
    # the generated dataset is part of every result: it must not change from run to run
    # (x264's macroblock tree gave 14 different files in 30 encodings of this clip)
    frames = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
    frames[:, 20:40, 20:40] = 200
    encodings = set()
    for k in range(10):
        write_video(tmp_path / f"v{k}{suffix}", frames, b_frames=2)
        encodings.add((tmp_path / f"v{k}{suffix}").read_bytes())
    assert len(encodings) == 1


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_extraction_matches_pyav_frame_by_frame(tmp_path, suffix):
    from vidcond.data.layouts import Listing

    path = tmp_path / f"clip{suffix}"
    write_video(path, video_frames(7), b_frames=2)
    listing = Listing(
        pd.DataFrame({"label": [0], "name": ["a"], "group": [None]}),
        pd.DataFrame([{"video_id": "a/clip", "path": str(path), "class_name": "a", "label": 0, "split": "train", "status": "ok", "error": ""}]),
    )
    reference = decode_all_pyav(path)
    native = extract(listing, tmp_path / "native", ExtractOptions(height=24, width=32), progress=False)
    store = FrameStore(tmp_path / "native")
    np.testing.assert_array_equal(store.video(0, int(native["n_stored"][0])), reference)
    extract(listing, tmp_path / "small", ExtractOptions(height=12, width=16, frame_stride=2), progress=False)
    small = FrameStore(tmp_path / "small")
    np.testing.assert_array_equal(small.frames[:], decode_all_pyav(path, 12, 16)[::2])
    extract(listing, tmp_path / "few", ExtractOptions(height=24, width=32, max_frames=4), progress=False)
    np.testing.assert_array_equal(FrameStore(tmp_path / "few").frames[:], reference[[0, 3, 6, 9]])


def test_resizing_while_decoding_a_bframe_avi_matches_pyav_frame_by_frame(bframe_avi):
    # 16 wide: decord pads each resized row to 96 bytes, which decoding must strip.
    for height, width in [(12, 16), (20, 20), (8, 8)]:
        ours, _ = decode_all(bframe_avi, height, width)
        reference = decode_all_pyav(bframe_avi, height, width)
        assert ours.shape == reference.shape == (40, height, width, 3)
        np.testing.assert_array_equal(ours, reference)
        assert len({frame.tobytes() for frame in reference}) == 40  # so a wrong frame cannot pass


def test_resizing_averages_detail_away(tmp_path):
    flat = np.full((4, 32, 32, 3), 77, np.uint8)
    write_video(tmp_path / "flat.mp4", flat)
    small = decode_all(tmp_path / "flat.mp4", 8, 8)[0]
    assert small.shape == (4, 8, 8, 3) and len(np.unique(small)) == 1  # flat stays flat
    assert abs(int(small.flat[0]) - 77) <= 2  # up to the codec's YUV rounding
    checker = np.indices((32, 32)).sum(0) % 2 * 255
    write_video(tmp_path / "checker.mp4", np.repeat(np.repeat(checker[None, :, :, None], 3, 3), 4, 0).astype(np.uint8))
    out = decode_all(tmp_path / "checker.mp4", 8, 8)[0].astype(int)
    assert np.abs(out - 127.5).max() < 40  # the whole footprint is averaged: no aliasing back to 0/255


def test_parallel_extraction_writes_the_same_store_as_serial(tmp_path):
    facts = make_ucf101(tmp_path / "data")
    listing = list_dataset({"format": "ucf101", "root": str(tmp_path / "data")})
    opts = ExtractOptions(height=12, width=16)
    serial = extract(listing, tmp_path / "serial", opts, progress=False)
    parallel = extract(listing, tmp_path / "parallel", opts, progress=False, workers=3)
    pd.testing.assert_frame_equal(serial, parallel)
    assert (serial["status"] == "error").sum() == len(facts["bad"]) > 0
    assert (tmp_path / "serial" / "frames.u8").read_bytes() == (tmp_path / "parallel" / "frames.u8").read_bytes()


@pytest.mark.parametrize("maker", [make_ucf101, make_hmdb51, make_kinetics400])
def test_real_layout_extraction_records_bad_videos(tmp_path, maker):
    facts = maker(tmp_path / "data")
    fmt = {make_ucf101: "ucf101", make_hmdb51: "hmdb51", make_kinetics400: "kinetics400"}[maker]
    listing = list_dataset({"format": fmt, "root": str(tmp_path / "data")})
    manifest = extract(listing, tmp_path / "frames", ExtractOptions(height=12, width=16), progress=False)
    assert MANIFEST_COLUMNS <= set(manifest.columns)
    manifest = manifest.set_index("video_id")
    bad = manifest[manifest["status"] == "error"]
    assert set(bad.index) == facts["bad"]
    assert (bad["error"] != "").all()
    good = manifest[manifest["status"] == "ok"]
    assert len(good) == len(facts["videos"]) - len(facts["bad"])
    assert (good["n_frames"] == 10).all() and (good["n_stored"] == 10).all()
    for video_id, row in good.iterrows():
        assert (row["class_name"], row["split"]) == facts["videos"][video_id]
    store = FrameStore(tmp_path / "frames")
    assert store.frames.shape == (10 * len(good), 12, 16, 3)
    first = good.iloc[0]
    np.testing.assert_array_equal(
        store.video(int(first["offset"]), int(first["n_stored"])),
        decode_all_pyav(first["path"], 12, 16),
    )


def test_summary_line_counts_videos_by_reason(tmp_path):
    facts = make_hmdb51(tmp_path / "data")
    (tmp_path / "data" / "brush_hair" / HMDB_FILES["brush_hair"][0]).unlink()
    listing = list_dataset({"format": "hmdb51", "root": str(tmp_path / "data")})
    extract(listing, tmp_path / "frames", ExtractOptions(height=12, width=16), progress=False)
    manifest = tmp_path / "frames" / "manifest.parquet"
    ok = len(facts["videos"]) - 2
    assert manifest_summary("hmdb", manifest) == f"dataset hmdb: {ok} videos ok, 2 skipped (1 empty, 1 missing); manifest {manifest}"


def _ucf_config(root):
    cfg = tiny_config()
    cfg["datasets"] = {"ucf": {"format": "ucf101", "root": str(root), "extract": {"height": 12, "width": 16}, "clip": {"num_frames": 4, "stride": 2}}}
    return cfg


def test_readding_a_listed_video_makes_extraction_and_its_dependents_stale(tmp_path):
    make_ucf101(tmp_path / "ucf")
    cfg = _ucf_config(tmp_path / "ucf")
    work = tmp_path / "work"

    def planned():
        result = run_workflow(work, cfg, "--replace-workflow-config", "-n", "results/datasets.parquet")
        return result.stdout + result.stderr

    run = run_workflow(work, cfg, "--replace-workflow-config", "results/datasets.parquet")
    # the console (not only the job log) gets one line per extracted dataset
    assert "dataset ucf: 11 videos ok, 1 skipped (1 undecodable); manifest results/frames/ucf/manifest.parquet" in run.stderr
    assert "Nothing to be done" in planned()
    # a fixed split file makes extraction stale; the original content again does not
    split = tmp_path / "ucf" / "ucfTrainTestlist" / "testlist01.txt"
    original = split.read_bytes()
    split.write_bytes(original.split(b"\r\n", 1)[1])
    assert "rule extract_frames:" in planned()
    split.write_bytes(original)
    assert "Nothing to be done" in planned()
    # a video listed in a split file deleted, then re-added
    video = tmp_path / "ucf" / "UCF-101" / "Biking" / "v_Biking_g08_c01.avi"
    data = video.read_bytes()
    video.unlink()
    assert "rule extract_frames:" in planned()
    video.write_bytes(data)  # re-added: a new modification time
    output = planned()
    assert "rule extract_frames:" in output and "rule dataset_table:" in output


def test_an_unreadable_manifest_is_named_in_the_summary_not_raised(tmp_path):
    manifest = tmp_path / "frames" / "ds" / "manifest.parquet"
    manifest.parent.mkdir(parents=True)
    manifest.touch()  # as `snakemake --touch` leaves it
    (line,) = extraction_summaries(["ds"], since=0, frames_dir=tmp_path / "frames")
    assert line.startswith(f"dataset ds: manifest {manifest} unreadable (")
