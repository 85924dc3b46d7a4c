"""Choosing the device and the precision (``gpen.devices``): what the user asked for, what this machine
can do, and the note that says why they differ."""
from __future__ import annotations

import pytest
import torch
from photos import read_photo

from gpen.devices import DevicePlan, inference_context, plan_device
from gpen.engine import Engine, EngineConfig

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_the_cpu_runs_in_float32_unless_bf16_is_asked_for(precision):
    assert plan_device("cpu", precision) == DevicePlan(torch.device("cpu"), "fp32", "")
    assert plan_device("cpu", "bf16") == DevicePlan(torch.device("cpu"), "bf16", "")


def test_fp16_on_the_cpu_becomes_fp32_and_says_why():
    plan = plan_device("cpu", "fp16")
    assert plan.precision == "fp32" and plan.dtype == torch.float32
    assert plan.note == "fp16 is not useful on the CPU; using fp32."


@needs_no_cuda
def test_auto_without_a_gpu_is_the_cpu_quietly():
    assert plan_device("auto", "auto") == DevicePlan(torch.device("cpu"), "fp32", "")


@needs_no_cuda
def test_cuda_without_a_gpu_is_the_cpu_with_a_note(caplog):
    plan = plan_device("cuda", "fp16")
    assert plan.device.type == "cpu" and plan.precision == "fp32"
    assert plan.note == ("CUDA was asked for but no CUDA GPU is available; running on the CPU instead. "
                         "fp16 is not useful on the CPU; using fp32.")
    assert "no CUDA GPU is available" in caplog.text


@pytest.mark.parametrize(("device", "precision"), [("gpu", "auto"), ("cpu", "int8"), ("CPU", "fp32"), ("", "")])
def test_choices_outside_the_closed_sets_are_refused(device, precision):
    with pytest.raises(ValueError, match="must be one of"):
        plan_device(device, precision)


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_inference_runs_without_autograd_in_the_planned_precision(precision, dtype):
    layer = torch.nn.Conv2d(3, 4, 3)
    with inference_context(DevicePlan(torch.device("cpu"), precision)):
        output = layer(torch.rand(1, 3, 8, 8))
        assert torch.is_inference_mode_enabled()
    assert output.dtype == dtype and not output.requires_grad


@needs_no_cuda
def test_an_engine_asked_for_cuda_without_a_gpu_restores_on_the_cpu(models_folder):
    fallback = Engine(EngineConfig(models_folder=models_folder, download=False, device="cuda"))
    assert fallback.plan.device.type == "cpu"
    assert "no CUDA" in fallback.plan.note
    assert fallback.enhance_one(read_photo("lowres_portrait2.jpg")).ok
