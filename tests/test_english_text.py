"""The check that a Chinese page shows no English sentence finds them, and lets names through."""
from __future__ import annotations

from english_text import english_sentences


def test_english_sentences_are_found():
    assert english_sentences("无法读取 broken.jpg: the file is truncated or corrupt") == [
        "the file is truncated or corrupt"]
    assert english_sentences("下载失败：cannot connect: Tunnel connection failed: 404") == [
        "Tunnel connection failed"]
    assert english_sentences("Error") == []      # one word: a popup's title is checked on its own


def test_names_addresses_and_codes_are_not_sentences():
    text = ("模型文件 GPEN-BFR-512.pth 不在 /tmp/pytest-of-root/models 中。请从 https://example.org/weights/x.pth 下载"
            "（设置了 GPEN_NO_DOWNLOAD）；服务器返回 HTTP 404 错误；CUDA（NVIDIA GPU）；JPEG / WebP 质量；"
            "retinaface-mobile0.25；chmod a+rx；family_00.jpg")
    assert english_sentences(text) == []
