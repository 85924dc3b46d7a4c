"""The engine on real photos with small checkpoints loaded through the real loading code."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

import tiny_models
from bad_inputs import crowd_photo, real_photo
from doubles import (DeviceFault, FixedDetector, IdentityRestorer, OutOfMemoryAbove, TintingRestorer, face_at,
                     stand_in_engine)
from gpen.engine import Engine, EngineConfig, EnhanceOptions
from gpen.faces import Face
from photos import read_photo, scene_with_face

PHOTO_NAMES = ["portrait_small.jpg", "lowres_portrait.jpg", "lowres_portrait2.jpg", "portrait_png.png"]


@pytest.fixture(scope="session")
def engine(models_folder) -> Engine:
    return Engine(EngineConfig(models_folder=models_folder, download=False, batch_size=4, device="cpu"))


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    return [read_photo(name) for name in PHOTO_NAMES]


def test_every_photo_gets_faces_restored_and_keeps_its_size(engine, photos):
    results = engine.enhance(photos)
    assert len(results) == len(photos)
    for photo, result in zip(photos, results):
        assert result.ok, result.error
        assert result.face_count > 0
        assert result.image.shape == photo.shape and result.image.dtype == np.uint8
        assert not np.array_equal(result.image, photo)
        assert {"detect", "restore", "parse", "paste"} <= set(result.seconds)


def test_photo_without_faces_comes_back_unchanged(models_folder, photos):
    folder = models_folder.parent / "no_faces_models"
    tiny_models.make_tiny_models(folder, detector_finds="none")
    blind = Engine(EngineConfig(models_folder=folder, download=False, device="cpu"))
    result = blind.enhance_one(photos[0])
    assert result.ok and result.face_count == 0
    assert np.array_equal(result.image, photos[0])


def test_strength_zero_returns_each_photo_exactly(engine, photos):
    for photo, result in zip(photos, engine.enhance(photos, EnhanceOptions(strength=0.0))):
        assert result.face_count > 0 and np.array_equal(result.image, photo)


@pytest.mark.parametrize("choice", ["largest", "center"])
def test_face_choice_restores_one_face(engine, photos, choice):
    assert engine.enhance_one(photos[3], EnhanceOptions(faces=choice)).face_count == 1


def test_min_face_size_skips_small_faces(engine, photos):
    everything = engine.enhance_one(photos[3])
    assert engine.enhance_one(photos[3], EnhanceOptions(min_face_px=10_000)).face_count == 0
    assert everything.face_count > 0


def test_batch_size_does_not_change_results(models_folder, engine, photos):
    one_at_a_time = Engine(EngineConfig(models_folder=models_folder, download=False, batch_size=1, device="cpu"),
                           restorer=engine.restorer, detector=engine.detector, parser=engine.parser)
    eight = Engine(EngineConfig(models_folder=models_folder, download=False, batch_size=8, device="cpu"),
                   restorer=engine.restorer, detector=engine.detector, parser=engine.parser)
    crops = np.stack([read_photo("aligned_face_512.png")[::8, ::8]] * 3 + [read_photo("gray_face.png")[::8, ::8]] * 5)
    with torch.inference_mode():
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1
        together = engine.restorer(batch)
        alone = torch.cat([engine.restorer(batch[i:i + 1]) for i in range(len(batch))])
    assert (together - alone).abs().max().item() < 1e-4
    for a, b in zip(one_at_a_time.enhance(photos), eight.enhance(photos)):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
        assert np.mean(a.image != b.image) < 1e-3


def test_one_engine_serves_four_threads_with_their_own_photos(engine, photos):
    alone = [engine.enhance_one(photo).image for photo in photos]
    outputs: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        for _ in range(2):
            outputs[index] = engine.enhance_one(photos[index]).image

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, expected in enumerate(alone):
        assert outputs[index].shape == expected.shape
        assert np.abs(outputs[index].astype(int) - expected.astype(int)).max() <= 1


def test_aligned_mode_restores_the_whole_crop_without_detection(engine):
    face = read_photo("aligned_face_512.png")
    result = engine.enhance_one(face, EnhanceOptions(aligned=True))
    assert result.ok and result.face_count == 0
    assert result.image.shape == (engine.size_px, engine.size_px, 3)
    resized = cv2.resize(face, (engine.size_px, engine.size_px), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(result.image, engine.restore_crops([resized])[0])


def test_identity_restorer_round_trip_on_a_real_photo(engine):
    photo, landmarks, region = scene_with_face()
    face = Face((500.0, 760.0, 780.0, 1040.0), 0.99, landmarks)
    identity = Engine(EngineConfig(device="cpu"), restorer=IdentityRestorer(512),
                      detector=FixedDetector([face]), parser=engine.parser)
    result = identity.enhance_one(photo)
    assert result.ok and result.face_count == 1
    changed = np.any(result.image != photo, axis=2)
    assert changed.any() and not changed[~region].sum() > 0.2 * changed.sum()
    error = np.mean((result.image[region].astype(float) - photo[region].astype(float)) ** 2)
    assert 10 * np.log10(255 ** 2 / error) > 30


def test_out_of_memory_splits_the_batch_and_gives_the_same_result(models_folder, engine, photos):
    flaky = OutOfMemoryAbove(engine.restorer, limit=1)
    split = Engine(EngineConfig(batch_size=8, device="cpu"), restorer=flaky, detector=engine.detector,
                   parser=engine.parser)
    reference = Engine(EngineConfig(batch_size=1, device="cpu"), restorer=engine.restorer,
                       detector=engine.detector, parser=engine.parser)
    for a, b in zip(split.enhance(photos[:2]), reference.enhance(photos[:2])):
        assert a.ok and np.array_equal(a.image, b.image)
    assert max(flaky.batch_sizes) > 1 and flaky.batch_sizes[-1] == 1


def test_out_of_memory_at_one_face_fails_the_photo_and_never_returns_it_unrestored(engine, photos):
    broken = Engine(EngineConfig(batch_size=4, device="cpu"), restorer=OutOfMemoryAbove(engine.restorer, limit=0),
                    detector=engine.detector, parser=engine.parser)
    results = broken.enhance(photos[:2])
    for result in results:
        assert not result.ok and result.image is None
        assert "out of memory" in result.error


def test_a_bad_image_fails_alone(engine, photos):
    bad = np.zeros((10, 10), np.uint8)
    results = engine.enhance([photos[1], bad, photos[2]])
    assert results[0].ok and results[2].ok
    assert not results[1].ok and "HxWx3" in results[1].error


def test_options_are_validated():
    with pytest.raises(ValueError):
        EnhanceOptions(strength=-5)
    with pytest.raises(ValueError):
        EnhanceOptions(faces="everyone")
    with pytest.raises(ValueError):
        EngineConfig(batch_size=10 ** 6)
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(ValueError):
            EnhanceOptions(min_face_px=bad)

# ---- many faces, and device errors ---------------------------------------------------------------


def test_a_photo_of_36_faces_gets_every_face_restored_in_place():
    crowd = np.asarray(crowd_photo())
    faces = [face_at(column * 128 + 16, row * 128 + 16, 96) for row in range(6) for column in range(6)]
    # The FFHQ-aligned face does not sit on GPEN's template exactly, which does not matter here:
    # each face's crop is tinted and must come back, tinted, over its own tile.
    engine = stand_in_engine(TintingRestorer(128), faces, batch_size=8)
    result = engine.enhance_one(crowd)
    assert result.ok and result.face_count == 36 and result.image.shape == crowd.shape
    tinted = np.clip(crowd + np.array([31.9, 0.0, -25.5]), 0, 255)   # TintingRestorer's shift in pixels
    for row in range(6):
        for column in range(6):
            centre = np.s_[row * 128 + 40:row * 128 + 88, column * 128 + 40:column * 128 + 88]
            assert np.abs(result.image[centre] - tinted[centre]).mean() < 4, (row, column)
            assert np.abs(result.image[centre].astype(int) - crowd[centre]).mean() > 15, (row, column)


def test_engine_serves_the_next_call_after_a_device_error():
    photo = np.asarray(real_photo())
    engine = stand_in_engine(DeviceFault(IdentityRestorer(128), failures=1))
    first = engine.enhance_one(photo)
    assert not first.ok and first.image is None and "illegal memory access" in first.error
    second = engine.enhance_one(photo)
    assert second.ok and second.face_count == 1


def test_engine_turns_a_device_error_into_per_photo_errors():
    photos = [np.asarray(real_photo()), np.asarray(real_photo("portrait_small.jpg", (200, 150)))]
    results = stand_in_engine(DeviceFault(IdentityRestorer(128), failures=10)).enhance(photos)
    assert [result.ok for result in results] == [False, False]
    assert all(result.image is None and "illegal memory access" in result.error for result in results)
