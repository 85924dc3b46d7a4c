"""Videos through the engine (``gpen.video``): what is kept (frames, timestamps, audio, metadata), steady
faces (tracks, cuts, carry-over, jitter), bounded memory, and bad inputs. The clips are made here from
the test photos; the trained MobileNet detector finds their faces, the tiny GPEN restores them."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import gpen.video as video_module
from gpen.atomic import TEMPORARY_MARK
from gpen.engine import Engine, EngineConfig, EnhanceOptions
from gpen.options import VideoOptions
from gpen.tracking import mean_movement_px, pasted_region_corners
from gpen.video import restore_video
from photos import PHOTOS, read_photo
from video_clips import (audio_packets, frame_times, pan_frames, still_frames, write_audio_only, write_clip,
                         write_zero_frames)
from video_models import DETECTOR, trained_models_folder

CREATION_TIME = "2024-05-06T07:08:09.000000Z"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return trained_models_folder(tmp_path_factory.mktemp("video_models"),
                                 tmp_path_factory.getbasetemp() / "trained_detector")


@pytest.fixture(scope="module")
def engine(models) -> Engine:
    return Engine(EngineConfig(detector=DETECTOR, models_folder=models, download=False, device="cpu"))


def outputs_of(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith(".gpen-results"))


def tracks_of(outcome) -> dict[int, list[int]]:
    """Frame numbers in which each track was pasted."""
    frames: dict[int, list[int]] = {}
    for number, faces in enumerate(outcome.faces):
        for face in faces:
            frames.setdefault(face.track_id, []).append(number)
    return frames


def test_frames_timestamps_audio_and_metadata_are_kept(engine, tmp_path):
    """A pan and zoom with a variable frame rate, a tone, a creation time: every frame restored at its own
    time, the audio packets copied byte for byte."""
    frames = pan_frames(24, (150, 215), (190, 225), zoom=(1.0, 1.3))
    pts_ms = [0, 40, 80, 120, 200, 240, 280, 360, 400, 440, 480, 520, 600, 640, 720, 760, 800, 840, 880, 960,
              1000, 1040, 1080, 1160]
    source = write_clip(tmp_path / "pan.mp4", frames, pts_ms=pts_ms, tone_hz=440.0, creation_time=CREATION_TIME)
    outcome = restore_video(engine, source, tmp_path / "out" / "pan.mp4")
    assert outcome.report.status == "ok", outcome.report
    result = Path(outcome.report.output)
    assert result.name == "pan.mp4"
    assert frame_times(result) == pytest.approx(frame_times(source), abs=1e-6)
    assert frame_times(source) == pytest.approx([ms / 1000 for ms in pts_ms])
    assert all(len(faces) >= 1 for faces in outcome.faces)       # a face found (or carried) in every frame
    with av.open(str(source)) as before, av.open(str(result)) as after:
        assert after.streams.video[0].codec_context.name == "h264"
        assert (after.streams.video[0].width, after.streams.video[0].height) == (320, 240)
        # frames over duration: the last frame's length is the muxer's guess, so only nearly equal
        assert float(after.streams.video[0].average_rate) == pytest.approx(float(before.streams.video[0].average_rate),
                                                                           rel=0.01)
        assert after.metadata["creation_time"] == CREATION_TIME
        assert after.duration == pytest.approx(before.duration, abs=50_000)   # microseconds
    assert len(audio_packets(source)) > 10 and audio_packets(result) == audio_packets(source)
    first = read_first_frame(result)
    assert not np.array_equal(first, read_first_frame(source))   # the faces were changed


def read_first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_a_rotated_video_is_restored_upright_and_keeps_its_rotation(engine, tmp_path):
    """Stored sideways with a display rotation, as phones do: the faces are found only if the frames
    are turned upright first, and the result keeps the rotation."""
    upright = pan_frames(6, (150, 220), (170, 220))
    stored = [np.ascontiguousarray(np.rot90(frame, -1)) for frame in upright]    # turned a quarter clockwise
    source = write_clip(tmp_path / "phone.mov", stored, rotation=90, creation_time=CREATION_TIME)
    outcome = restore_video(engine, source, tmp_path / "out" / "phone.mov")
    assert outcome.report.status == "ok" and outcome.report.output.endswith("phone.mov")
    assert all(len(faces) >= 1 for faces in outcome.faces)
    with av.open(outcome.report.output) as after:
        frame = next(after.decode(video=0))
        assert frame.rotation == 90 and (frame.width, frame.height) == (240, 320)
        assert after.streams.video[0].average_rate == 25 and after.streams.video[0].frames == 6
        assert after.metadata["creation_time"] == CREATION_TIME
    unrotated = write_clip(tmp_path / "sideways.mov", stored)
    assert restore_video(engine, unrotated, tmp_path / "out" / "sideways.mov").report.status == "no_faces"


@pytest.mark.parametrize("name, codec, pixel_format, written", [
    ("clip.mkv", "libx264", "yuv420p", "clip.mkv"),
    ("clip.webm", "libvpx-vp9", "yuv420p", "clip.mkv"),
    ("clip.avi", "mpeg4", "yuv420p", "clip.mkv"),
])
def test_every_container_is_read_and_written(engine, tmp_path, name, codec, pixel_format, written):
    source = write_clip(tmp_path / name, pan_frames(6, (150, 220), (170, 220)), codec=codec,
                        pixel_format=pixel_format)
    outcome = restore_video(engine, source, tmp_path / "out" / written)
    assert outcome.report.status == "ok", outcome.report
    assert frame_times(Path(outcome.report.output)) == pytest.approx(frame_times(source), abs=1e-3)


def test_a_face_leaving_and_another_entering_get_their_own_tracks(engine, tmp_path):
    """The camera pans from the child (left) to the adult (right): the child's track ends when it leaves
    the frame, the adult's begins when it enters."""
    source = write_clip(tmp_path / "pan.mp4", pan_frames(30, (150, 220), (520, 220)))
    outcome = restore_video(engine, source, tmp_path / "out" / "pan.mp4")
    tracks = sorted(tracks_of(outcome).values(), key=lambda frames: frames[0])
    assert len(tracks) == 2, tracks
    child, adult = tracks
    assert child[0] == 0 and child[-1] < 29 and adult[0] > 0 and adult[-1] == 29
    assert child == list(range(child[0], child[-1] + 1)) and adult == list(range(adult[0], adult[-1] + 1))


def test_tracks_end_at_a_scene_cut(engine, tmp_path):
    frames = pan_frames(8, (470, 220), (490, 220)) + pan_frames(8, (180, 140), (190, 140), photo="lowres_portrait.jpg")
    source = write_clip(tmp_path / "cut.mp4", frames)
    outcome = restore_video(engine, source, tmp_path / "out" / "cut.mp4")
    assert outcome.cuts == 1
    before = {face.track_id for faces in outcome.faces[:8] for face in faces}
    after = {face.track_id for faces in outcome.faces[8:] for face in faces}
    assert before and after and before.isdisjoint(after)


class MissingSomeFrames:
    """The real detector, except that it finds nothing in the frames listed (a missed detection)."""

    def __init__(self, detector, missed: set[int]):
        self.detector, self.missed, self.calls = detector, missed, 0

    def detect(self, image):
        number, self.calls = self.calls, self.calls + 1
        return [] if number in self.missed else self.detector.detect(image)


def test_a_face_missed_for_two_frames_is_carried_by_its_track(engine, models, tmp_path):
    source = write_clip(tmp_path / "still.mp4", still_frames(12))
    steady = restore_video(engine, source, tmp_path / "out" / "steady.mp4")
    assert list(tracks_of(steady).values()) == [list(range(12))]     # the real detector finds it every time
    flaky = Engine(engine.config, restorer=engine.restorer, parser=engine.parser,
                   detector=MissingSomeFrames(engine.detector, {5, 6}))
    outcome = restore_video(flaky, source, tmp_path / "out" / "flaky.mp4")
    assert len(tracks_of(outcome)) == 1 and list(tracks_of(outcome).values())[0] == list(range(12))
    assert flaky.detector.calls == 12
    worse = Engine(engine.config, restorer=engine.restorer, parser=engine.parser,
                   detector=MissingSomeFrames(engine.detector, {5, 6, 7}))
    gap = restore_video(worse, source, tmp_path / "out" / "gap.mp4")
    assert [len(faces) for faces in gap.faces] == [1] * 7 + [0] + [1] * 4 and len(tracks_of(gap)) == 2


def jitter(outcome, size_px: int) -> tuple[float, float]:
    """Mean frame-to-frame movement of the landmarks and of the pasted region's corners, in pixels."""
    [faces] = [[face for faces in outcome.faces for face in faces]]
    landmarks = mean_movement_px([face.landmarks for face in faces])
    region = mean_movement_px([pasted_region_corners(face.matrix, size_px) for face in faces])
    return landmarks, region


def test_smoothing_steadies_a_face_on_a_still_camera(engine, tmp_path):
    source = write_clip(tmp_path / "still.mp4", still_frames(30))
    raw = restore_video(engine, source, tmp_path / "out" / "raw.mp4", video=VideoOptions(smoothing=False))
    smooth = restore_video(engine, source, tmp_path / "out" / "smooth.mp4")
    assert len(tracks_of(raw)) == len(tracks_of(smooth)) == 1
    raw_landmarks, raw_region = jitter(raw, engine.size_px)
    smooth_landmarks, smooth_region = jitter(smooth, engine.size_px)
    assert raw_landmarks > 0.02        # the detector does jitter on this clip
    assert smooth_landmarks < 0.5 * raw_landmarks and smooth_region < 0.5 * raw_region, \
        (raw_landmarks, smooth_landmarks, raw_region, smooth_region)


def test_smoothing_follows_real_motion(engine, tmp_path):
    """On a pan the smoothed landmarks stay within a few pixels of the detected ones."""
    source = write_clip(tmp_path / "pan.mp4", pan_frames(20, (380, 220), (560, 220)))
    raw = restore_video(engine, source, tmp_path / "out" / "raw.mp4", video=VideoOptions(smoothing=False))
    smooth = restore_video(engine, source, tmp_path / "out" / "smooth.mp4")
    pairs = [(a.landmarks, b.landmarks) for one, other in zip(raw.faces, smooth.faces) if len(one) == len(other) == 1
             for a, b in zip(one, other)]
    assert len(pairs) >= 18
    lag = np.mean([np.linalg.norm(a - b, axis=1).mean() for a, b in pairs])
    assert lag < 3.0, lag            # the camera moves 9.5 px a frame


def test_photos_are_aligned_as_before(engine):
    """``prepare`` and ``detect`` + ``prepare_faces`` are one path: the same crops and matrices."""
    photo = read_photo("portrait_small.jpg")
    options = EnhanceOptions()
    [prepared] = engine.prepare([photo], options)
    again = engine.prepare_faces(photo, engine.detect(photo), options)
    assert len(prepared.faces) == len(again.faces) == 2
    for one, other in zip(prepared.faces, again.faces):
        assert np.array_equal(one.crop, other.crop) and np.array_equal(one.matrix, other.matrix)


def test_frames_in_flight_are_bounded(engine, tmp_path, monkeypatch):
    """The decoder never runs more than a few steps ahead of the encoder, however long the clip."""
    read, lead = [0], []
    real_read_frames = video_module.read_frames

    def counted(path):
        for frame in real_read_frames(path):
            read[0] += 1
            yield frame

    monkeypatch.setattr(video_module, "read_frames", counted)
    source = write_clip(tmp_path / "long.mp4", still_frames(60, noise=1.0))
    outcome = restore_video(engine, source, tmp_path / "out" / "long.mp4",
                            on_frame=lambda done, total: lead.append(read[0] - done))
    assert outcome.report.status == "ok" and len(lead) == 60
    batch = engine.config.batch_size
    assert max(lead) <= 4 * batch + 2, max(lead)


def test_a_stopped_video_leaves_no_file(engine, tmp_path):
    import threading
    stop = threading.Event()
    source = write_clip(tmp_path / "clip.mp4", still_frames(40, noise=1.0))
    out = tmp_path / "out"
    outcome = restore_video(engine, source, out / "clip.mp4", stop=stop,
                            on_frame=lambda done, total: stop.set() if done == 3 else None)
    assert outcome.report.status == "stopped" and outcome.report.error == "not processed: interrupted"
    assert outputs_of(out) == []


def make_bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input, with the words its error must contain."""
    good = write_clip(folder / "good.mp4", pan_frames(4, (150, 220), (160, 220)))
    data = good.read_bytes()
    folder.joinpath("bad").mkdir()
    bad = folder / "bad"
    (bad / "cut_short.mp4").write_bytes(data[: len(data) // 2])
    (bad / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (bad / "photo.mp4").write_bytes((PHOTOS / "portrait_small.jpg").read_bytes())
    (bad / "unknown_codec.mp4").write_bytes(data.replace(b"avc1", b"zzzz").replace(b"avcC", b"zzzC"))
    write_audio_only(bad / "audio_only.mp4")
    write_zero_frames(bad / "no_frames.mkv")
    return {"cut_short.mp4": "not a readable video", "noise.mp4": "not a readable video",
            "photo.mp4": "still image", "unknown_codec.mp4": "cannot be decoded",
            "audio_only.mp4": "no video stream", "no_frames.mkv": "no video frames"}


def test_bad_inputs_get_a_clear_error_and_leave_nothing(engine, tmp_path):
    expected = make_bad_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name, words in expected.items():
        outcome = restore_video(engine, tmp_path / "bad" / name, out / name)
        assert outcome.report.status == "failed" and words in outcome.report.error, (name, outcome.report)
        assert name in outcome.report.error
    assert outputs_of(out) == [] and not any(TEMPORARY_MARK in path.name for path in out.iterdir())


def test_video_options_are_checked():
    for bad in (-1, 52, 1.5, True):
        with pytest.raises(ValueError, match="video quality"):
            VideoOptions(quality=bad)
