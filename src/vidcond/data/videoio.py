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
            # x264's macroblock-tree rate control encoded the same frames differently from run
            # to run (14 files in 30 encodings of one clip, 1 without it), and so did its
            # threads at times: the generated dataset, and every number after it, must be
            # the same on every run
            stream.codec_context.thread_count = 1
            stream.options = {"crf": "18", "bf": str(b_frames), "x264-params": "mbtree=0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def iter_frames(path: str | Path, height: int = -1, width: int = -1):
    """Yield (fps, header frame count) once, then every frame ([H, W, 3] uint8) in order.

    ``height``/``width`` > 0 resize while decoding (ffmpeg's ``scale`` filter, bilinear,
    which averages over the whole footprint when shrinking), far cheaper than converting
    full-size frames and resizing them afterwards.

    Reads strictly sequentially with decord's ``next()``: its random access (``get_batch``
    with arbitrary indices) returns wrong frames on mpeg4 AVI files with B-frames. A file
    decord cannot open raises ``RuntimeError``; a truncated stream simply ends early.
    """
    import decord

    reader = decord.VideoReader(str(path), num_threads=1, height=height, width=width)
    yield float(reader.get_avg_fps()), len(reader)
    for index in range(len(reader)):
        try:
            frame = reader.next().asnumpy()
        except StopIteration:
            return
        except decord.DECORDError:
            # decord gives up near a stream's end after a fixed number of polls of its
            # decoding thread (DECORD_EOF_RETRY_MAX), so on a busy machine it loses the last
            # frames at random; PyAV decodes the rest deterministically, resized the same way.
            yield from pyav_frames(path, height, width, skip=index)
            return
        yield _unpad(frame, height, width)


def _unpad(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Drop the row padding decord leaves in resized frames whose rows are not aligned.

    (For 16 pixels wide it returns ``[H, 16, 6]``: each row's 48 pixel bytes and 48 bytes
    of alignment padding.)
    """
    if width <= 0 or frame.shape[1:] == (width, 3):
        return frame
    return frame.reshape(height, -1)[:, : width * 3].reshape(height, width, 3)


def decode_all(path: str | Path, height: int = -1, width: int = -1) -> tuple[np.ndarray, float]:
    """Every decodable frame of ``path`` ([T, H, W, 3] uint8) and its frame rate."""
    frames = iter_frames(path, height, width)
    fps, _ = next(frames)
    decoded = list(frames)
    if not decoded:
        raise ValueError(f"no decodable frame in {path}")
    return np.stack(decoded), fps


def pyav_frames(path: str | Path, height: int = -1, width: int = -1, skip: int = 0):
    """Frames ([H, W, 3] uint8) of ``path`` decoded by PyAV after the first ``skip``; a
    stream that cannot be decoded further ends there.

    With ``height``/``width`` it resizes through its own libavfilter graph
    (``scale=width:height:flags=bilinear``, then RGB), as decord does while decoding.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        graph = None
        if width > 0:
            graph = av.filter.Graph()
            chain = [
                graph.add_buffer(template=stream),
                graph.add("scale", f"{width}:{height}:flags=bilinear"),
                graph.add("format", "rgb24"),
                graph.add("buffersink"),
            ]
            for source, target in zip(chain, chain[1:]):
                source.link_to(target)
            graph.configure()
        try:
            for index, frame in enumerate(container.decode(stream)):
                if graph is not None:
                    graph.push(frame)
                    frame = graph.pull()
                if index >= skip:
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError:
            return


def decode_all_pyav(path: str | Path, height: int = -1, width: int = -1) -> np.ndarray:
    """Independent reference decoder (PyAV, no decord), used to verify extraction frame by
    frame; resized like :func:`pyav_frames`."""
    return np.stack(list(pyav_frames(path, height, width)))
