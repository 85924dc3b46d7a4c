"""The one message catalogue: the engine's messages carry an id and values, read in English by the CLI and
the report, and in Chinese on a Chinese page, their reasons included."""
from __future__ import annotations

import pickle
import string

import pytest
from english_text import english_sentences
from local_http import NotFound, serve_on_loopback
from photos import PHOTOS

from gpen.download import download_file
from gpen.errors import DownloadError, ImageReadError
from gpen.images import load_image
from gpen.messages import ENGLISH, Message, message_of
from webui import i18n
from webui.engine_texts import ZH


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_has_chinese_that_uses_only_its_values():
    assert set(ZH) == set(ENGLISH)
    for message_id, template in ZH.items():
        assert fields(template) <= fields(ENGLISH[message_id]), message_id


def test_every_catalogue_text_has_both_languages():
    assert set(i18n.EN) == set(i18n.ZH)


def test_a_message_is_its_english_and_keeps_its_id_and_values_through_pickling():
    said = Message("read_empty", name="empty.jpg")
    assert said == "Cannot read empty.jpg: the file is empty (0 bytes)."
    again = pickle.loads(pickle.dumps(ImageReadError(said)))
    assert (message_of(again).id, dict(message_of(again).values)) == ("read_empty", {"name": "empty.jpg"})
    assert i18n.said(again, "zh-CN") == "无法读取 empty.jpg：文件是空的（0 字节）。"
    assert message_of(ValueError("plain words")) == "plain words"
    with pytest.raises(KeyError):
        Message("no_such_message_id")


def test_a_corrupt_photo_is_told_in_english_for_the_cli_and_in_chinese_for_the_page():
    with pytest.raises(ImageReadError) as caught:
        load_image((PHOTOS / "portrait_small.jpg").read_bytes()[:3000], name="broken.jpg")
    assert "broken.jpg: the file is truncated or corrupt" in str(caught.value)     # the CLI's words, unchanged
    chinese = i18n.said(caught.value, "zh-CN")
    assert chinese == "无法读取 broken.jpg：文件不完整或已损坏。请重新导出或重新下载。"
    assert i18n.said(caught.value, "en") == str(caught.value)


def test_a_failed_download_and_its_reasons_are_told_in_chinese(tmp_path):
    with serve_on_loopback(NotFound) as server, pytest.raises(DownloadError) as caught:
        download_file([f"{server}/a.pth", f"{server}/b.pth"], tmp_path / "models" / "a.pth", timeout_s=5)
    english, chinese = str(caught.value), i18n.said(caught.value, "zh-CN")
    assert f"{server}/b.pth: HTTP 404 Not Found" in english
    assert f"{server}/b.pth：服务器返回 HTTP 404 错误" in chinese
    assert "或者从" in chinese and "（或上面的其他地址）手动下载" in chinese      # the advice, worded too
    assert english_sentences(chinese) == [], chinese
    reasons = [i18n.worded(reason, "zh-CN") for _, reason in caught.value.attempts]
    assert reasons == ["服务器返回 HTTP 404 错误"] * 2
