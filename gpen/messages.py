"""The engine's messages to a person: each has an id and named values, so that a front end can word it
in the person's language.

A ``Message`` is its English text (a ``str``: the CLI, the logs and the JSON report use it as it is),
and it also keeps its ``id`` and ``values``. The web UI words the same id in the browser's language
from its catalogue (``webui.i18n``, which holds these English templates beside their Chinese). A value
may itself be a ``Message`` (a reason inside a sentence), or a tuple of them (one a line); they are worded in
the same language.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

ENGLISH: dict[str, str] = {
    # reading a photo
    "read_missing": "Cannot read {name}: the file does not exist.",
    "read_folder": "Cannot read {name}: it is a folder, not an image file.",
    "read_permission": "Cannot read {name}: permission denied. Check the file's permissions.",
    "read_os_error": "Cannot read {name}: {reason}.",
    "read_empty": "Cannot read {name}: the file is empty (0 bytes).",
    "read_too_large": "Cannot read {name}: it is {width}x{height} = {pixels:,} pixels, more than the limit of "
                      "{limit:,} pixels. It was refused before decoding (it could be a decompression bomb); "
                      "shrink the image or raise the limit.",
    "read_bomb": "Cannot read {name}: it declares {pixels:,} pixels (limit {limit:,} pixels) and was refused as a "
                 "possible decompression bomb; shrink the image or raise the limit.",
    "read_bomb_unknown": "Cannot read {name}: it declares more pixels than the decoder allows (limit {limit:,} "
                         "pixels) and was refused as a possible decompression bomb; shrink the image or raise "
                         "the limit.",
    "read_corrupt": "Cannot read {name}: the file is truncated or corrupt ({detail}). Export or download it again.",
    "read_not_image": "Cannot read {name}: not an image or unsupported format (supported: JPEG, PNG, WebP, BMP, "
                      "TIFF, GIF).",
    "read_not_image_detail": "Cannot read {name}: not an image or unsupported format ({detail}).",
    "read_mode": "Cannot read {name}: its colour mode {mode} is not supported ({detail}).",
    "read_failed": "Cannot read {name}: {detail}",
    # operating-system reasons
    "reason_disk_full": "disk full",
    "reason_quota": "disk quota exceeded",
    "reason_permission": "permission denied",
    "reason_read_only": "read-only file system",
    "reason_name_too_long": "file name too long",
    # writing a result
    "write_folder": "Cannot write {target}: the folder could not be created ({reason}).",
    "write_os_error": "Cannot write {target}: {reason}. Nothing was written. Free some space, check permissions "
                      "or pick another folder.",
    "write_encode": "Cannot write {target}: {reason}. Nothing was written. Try another format.",
    "write_failed": "Cannot write {target}: {detail}",
    # the stages
    "no_such_face": "there is no face {numbers}: the photo has {count} faces",
    "no_such_face_of_one": "there is no face {numbers}: the photo has {count} face",
    "detection_failed": "face detection failed: {detail}",
    "alignment_failed": "face alignment failed: {detail}",
    "paste_failed": "pasting faces failed: {detail}",
    "restoration_failed": "face restoration failed: {reason}",
    "out_of_memory": "out of memory on {device} even for a single face ({detail})",
    "network_failed": "the network failed on {device}: {detail}.",
    "network_failed_gpu": "the network failed on {device}: {detail}. The GPU is in an error state: restart the "
                          "program.",
    "not_processed_interrupted": "not processed: interrupted",
    "not_processed_stopped": "not processed: the run stopped ({reason})",
    # the device
    "note_no_cuda": "CUDA was asked for but no CUDA GPU is available; running on the CPU instead.",
    "note_fp16_on_cpu": "fp16 is not useful on the CPU; using fp32.",
    "notes": "{first} {second}",
    # model files
    "model_missing": "model file {file} is not in {folder}. Download it from one of these addresses and save it "
                     "as {file} in {folder}:\n{addresses}",
    "model_missing_no_download": "model file {file} is not in {folder}, and downloading is turned off "
                                 "(GPEN_NO_DOWNLOAD is set). Download it from one of these addresses and save it "
                                 "as {file} in {folder}:\n{addresses}",
    "model_path_missing": "model file {path} not found. Check the path, or give one of the model names: {names}.",
    "model_not_a_file": "model file {path} does not exist (or is not a file).",
    "model_empty": "model file {path} is empty (0 bytes), probably from a failed download. Delete {path} and "
                   "download it again (or point to another copy).",
    "model_permission": "model file {path} cannot be read: permission denied. Give the user running GPEN read "
                        "access to it (for example: chmod a+r {path}).",
    "model_unreadable": "model file {path} cannot be read: {reason}.",
    "model_not_checkpoint": "model file {path} is not a PyTorch checkpoint (it starts with {head}; perhaps an "
                            "error page saved by a failed download). Delete {path} and download it again (or "
                            "point to another copy).",
    "model_unsafe": "model file {path} was refused: it holds Python objects other than tensors, and loading it "
                    "could run code ({detail}). Use a plain weights file from a source you trust. Delete {path} "
                    "and download it again (or point to another copy).",
    "model_corrupt": "model file {path} is not a readable PyTorch checkpoint; it may be truncated or corrupt "
                     "({detail}). Delete {path} and download it again (or point to another copy).",
    "model_no_state_dict": "model file {path} does not hold a state dict of tensors (found {found}). Check that "
                           "it is the right file.",
    "model_not_gpen": "model file {path} is not a GPEN checkpoint ({detail}).",
    "model_wrong_layout": "model file {path} is not a GPEN checkpoint or has the wrong layout: {detail}",
    "model_folder_permission": "the model folder {folder} cannot be read: permission denied, so {file} cannot be "
                               "looked for. Give the user running GPEN access to it (for example: chmod a+rx "
                               "{folder}).",
    "model_cannot_look": "model file {path} cannot be looked for: {reason}.",
    # downloads
    "download_gave_up": "Could not download {file}:\n{tried}\nCheck the network connection, or the proxy "
                       "(HTTPS_PROXY) if this machine reaches the internet through one, and try again; or "
                       "{by_hand}.",
    "download_attempt": "  - {url}: {reason}",
    "download_no_address": "  (no download address known)",
    "download_by_hand": "download it by hand from {url} and save it as {file} in {folder}",
    "download_by_hand_more": "download it by hand from {url} (or another address above) and save it as {file} "
                             "in {folder}",
    "download_put_by_hand": "put {file} in {folder} by hand",
    "download_no_folder": "cannot create the folder: {detail}",
    "download_cut": "transfer cut after {received}",
    "download_empty": "the server sent an empty file",
    "download_checksum": "checksum mismatch: expected sha256 {expected}, got {got}",
    "download_http": "HTTP {code} {reason}",
    "download_no_answer": "timeout: no answer within {seconds:g} s",
    "download_cannot_connect": "cannot connect: {detail}",
    "download_refused": "cannot connect: {detail}",
    "download_unknown_host": "cannot connect: {detail}",
    "download_proxy_refused": "cannot connect: Tunnel connection failed: {code} {reason}",
    "download_stalled": "timeout: no data for {seconds:g} s after {received}",
    "download_bad_response": "bad response or address: {detail}",
    "download_broken": "{kind} after {received}: {detail}",
    "bytes_of": "{done} of {total} bytes",
    "bytes": "{done} bytes",
    # videos
    "video_no_frames": "{name} has no video frames (an empty or cut video); nothing to restore",
    "video_unreadable": "{name} is not a readable video ({detail}): the file is corrupt, cut short or not a video",
    "video_no_stream": "{name} has no video stream (an audio-only or data file); nothing to restore",
    "video_still_image": "{name} is a still image ({format}), not a video; give it an image extension to restore "
                         "it as a photo",
    "video_unknown_codec": "{name}: its video codec cannot be decoded here (unknown codec); convert it to H.264 "
                           "first",
    "video_undecodable": "{name} could not be decoded ({detail}): the file is corrupt or its codec is not "
                         "supported",
    "video_write_failed": "Cannot write {target}: {detail}",
    "video_crashed": "restoring the video failed: {detail}",
    "video_frame_failed": "frame {index}: {error}",
    # uploads to the web UI: its batches and their ZIPs
    "upload_too_many": "too many files: at most {limit}",
    "zip_unreadable": "not a readable ZIP file ({detail})",
    "zip_overlapping": "refused: {count} entries of this ZIP overlap other entries' stored data (one stored file "
                       "listed many times, as ZIP bombs do), so nothing was taken from it",
    "zip_too_many": "too many files in this batch",
    "zip_too_large": "the ZIP unpacks to more than this batch may hold",
    "zip_cannot_unpack": "cannot unpack ({detail})",
    "zip_unsafe_path": "unsafe path inside the ZIP",
    "zip_link": "a link, not a file",
    "zip_not_image": "not an image file",
}


class Message(str):
    """A message to a person: its English text, with the ``id`` and ``values`` it was made from.

    A ``str`` so that code that only passes text along keeps working; text made from it (``+``,
    ``replace``, an f-string) is plain English again, so word it (``worded``) before changing it."""

    id: str
    values: Mapping[str, Any]

    def __new__(cls, id: str, **values: Any) -> Message:
        english = ENGLISH[id].format(**{name: _text(value, ENGLISH) for name, value in values.items()})
        made = super().__new__(cls, english)
        made.id, made.values = id, MappingProxyType(dict(values))
        return made

    def __reduce__(self) -> tuple[Any, ...]:     # pickled by id and values (a cluster's workers send rows)
        return _remade, (self.id, dict(self.values))

    def worded(self, templates: Mapping[str, str]) -> str:
        """The message in the language of ``templates`` (an id → template table), English where it has none."""
        values = {name: _text(value, templates) for name, value in self.values.items()}
        return templates.get(self.id, ENGLISH[self.id]).format(**values)


def _text(value: Any, templates: Mapping[str, str]) -> Any:
    """A value as it goes into a template: a message worded, a tuple of them one a line, the rest as it is."""
    if isinstance(value, Message):
        return value.worded(templates)
    if isinstance(value, tuple):
        return "\n".join(str(_text(item, templates)) for item in value)
    return value


def _remade(id: str, values: dict[str, Any]) -> Message:
    return Message(id, **values)


def message_of(error: BaseException) -> str:
    """What ``error`` says: its ``Message`` where it was raised with one, else its text."""
    said = error.args[0] if len(error.args) == 1 else None
    return said if isinstance(said, Message) else str(error)
