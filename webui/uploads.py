"""Gradio's upload route, made to leave nothing behind when an upload fails.

Gradio streams each uploaded file into a temporary file ``tmp…`` in its upload folder, and removes
those files only when the multipart body itself is malformed or too large. An upload that stopped for
any other reason (its client went away or was too slow, the request guard refused it, the disk filled
up) left its partial files there for good, and on a full disk every later upload then failed. Gradio
has no hook for this, so ``remove_partial_uploads`` puts a subclass of its multipart parser in its
place, one that removes its own temporary files whatever stops it.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from gradio import route_utils

_GRADIO_PARSER = route_utils.GradioMultiPartParser


class _PartialRemovingParser(_GRADIO_PARSER):   # type: ignore[misc, valid-type]
    """Gradio's parser; on any failure its temporary files are closed and deleted before the error goes on."""

    async def parse(self) -> Any:
        try:
            return await super().parse()
        except BaseException:
            for file in getattr(self, "_files_to_close_on_error", ()):
                with contextlib.suppress(OSError):
                    file.close()
                with contextlib.suppress(OSError):
                    Path(file.name).unlink(missing_ok=True)
            raise


def remove_partial_uploads() -> None:
    """Make Gradio's upload route use ``_PartialRemovingParser`` (once, before the app starts)."""
    route_utils.GradioMultiPartParser = _PartialRemovingParser
    if route_utils.upload_fn.__globals__.get("GradioMultiPartParser") is not _PartialRemovingParser:
        raise RuntimeError("Gradio's upload route no longer reads its parser from gradio.route_utils; "
                           "webui/uploads.py needs updating")
