"""Video file writing (PyAV) and frame-exact decoding (decord, sequential)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# Container suffix -> (codec, extra stream settings). mpeg4 in AVI with the XVID tag gives
# the same stream type as the UCF101/HMDB51 files; x264 in MP4 as Kinetics.
CODECS = {
    ".avi": ("mpeg4", {"codec_tag": "XVID"}),
    ".mp4": ("libx264", {}),
}


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, b_frames: int = 0) -> None:
    """Encode ``frames`` ([T, H, W, 3] uint8 RGB) into ``path``; codec chosen by suffix.

    ``b_frames`` > 0 asks the encoder for B-frames (the case where decord's random access
    returns wrong frames on mpeg4 AVI).
    """
    import av

    path = Path(path)
    codec, extra = CODECS[path.suffix]
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    _, height, width, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if "codec_tag" in extra:
            stream.codec_tag = extra["codec_tag"]
        if codec == "mpeg4":
            stream.codec_context.max_b_frames = b_frames
            stream.codec_context.gop_size = 12
            stream.options = {"qscale": "3"}
        else:
            stream.options = {"crf": "18", "bf": str(b_frames)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def iter_frames(path: str | Path):
    """Yield (fps, header frame count) once, then every frame ([H, W, 3] uint8) in order.

    Reads strictly sequentially with decord's ``next()``: its random access (``get_batch``
    with arbitrary indices) returns wrong frames on mpeg4 AVI files with B-frames. A file
    decord cannot open raises ``RuntimeError``; a truncated stream simply ends early.
    """
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    yield float(reader.get_avg_fps()), len(reader)
    for index in range(len(reader)):
        try:
            frame = reader.next().asnumpy()
        except StopIteration:
            return
        except decord.DECORDError:
            # decord gives up near a stream's end after a fixed number of polls of its
            # decoding thread (DECORD_EOF_RETRY_MAX), so on a busy machine it loses the last
            # frames at random; PyAV decodes the rest deterministically.
            yield from pyav_frames(path, skip=index)
            return
        yield frame


def pyav_frames(path: str | Path, skip: int = 0):
    """Frames ([H, W, 3] uint8) of ``path`` decoded by PyAV, after the first ``skip``; a
    stream that cannot be decoded further ends there."""
    import av

    with av.open(str(path)) as container:
        try:
            for index, frame in enumerate(container.decode(video=0)):
                if index >= skip:
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError:
            return


def decode_all(path: str | Path) -> tuple[np.ndarray, float]:
    """Every decodable frame of ``path`` ([T, H, W, 3] uint8) and its frame rate."""
    frames = iter_frames(path)
    fps, _ = next(frames)
    decoded = list(frames)
    if not decoded:
        raise ValueError(f"no decodable frame in {path}")
    return np.stack(decoded), fps


def decode_all_pyav(path: str | Path) -> np.ndarray:
    """Independent reference decoder (PyAV), used to verify extraction frame by frame."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
