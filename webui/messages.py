"""What a person is shown when something goes wrong: plain text, without server paths or errno codes.

Messages reach the page as toasts and error pop-ups, which Gradio renders as HTML (sanitised against
scripts, but not against other markup); file names in them come from uploads and ZIPs, and the
engine's error texts name the server's folders. ``shown`` makes such a text safe to show: paths cut
to their last part, ``[Errno N]`` prefixes dropped, ``&``, ``<``, ``>`` escaped so that a name is
shown as the text it is, and each line break made a ``<br>`` (HTML runs lines together, and a
message's lines, such as one download address a line, must stay apart). Apply it once: a second pass
would show the ``<br>`` as text. ``user_errors`` wraps an event function: the ``gr.Error`` messages it means
are passed through ``shown``, and anything else it raises becomes a short message in the person's
language, the details going to the server's log. ``error_popup``, ``show_warning`` and ``show_info`` send
each pop-up with its title in the person's language; Gradio 6's page shows its own English title instead, which
``popup_titles`` replaces in the browser.
"""
from __future__ import annotations

import errno
import functools
import html
import logging
import re
from typing import Any, Callable, TypeVar

import gradio as gr

from .i18n import DEFAULT_LANGUAGE, language_of_request, text

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
# An absolute path of at least two parts (POSIX, or Windows with a drive letter), not inside a URL:
# all but its last part is dropped.
_PATH = re.compile(r"(?<![\w:/.~\\-])(?:[A-Za-z]:)?[/\\](?:[^\s'\"`<>|/\\]+[/\\])+([^\s'\"`<>|/\\]*)")
_ERRNO = re.compile(r"\[(?:Errno|WinError) -?\d+\]\s*")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def without_paths(message: str) -> str:
    """``message`` with each absolute path cut to its last part and ``[Errno N]`` prefixes dropped."""
    return _ERRNO.sub("", _PATH.sub(lambda match: match.group(1) or "…", message))


def shown(message: Any) -> str:
    """``message`` as text that is safe to put in a toast or pop-up, its lines kept apart (see the module)."""
    lines = without_paths(str(message)).splitlines()
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def problem_key(error: BaseException) -> str:
    """The i18n key of the message for an error an event function did not mean to raise."""
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        return "disk_full"
    return "unexpected_error"


def user_errors(function: F) -> F:
    """``function`` with its errors made fit to show (see the module). Gradio reads the wrapped
    function's signature, so its ``gr.Request`` and ``gr.Progress`` parameters still work."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except gr.Error as error:
            raise gr.Error(shown(error.message), duration=error.duration, visible=error.visible,
                           title=error.title, print_exception=False) from None
        except Exception as error:  # noqa: BLE001  (the person gets a plain message; the log, the details)
            log.exception("%s failed", getattr(function, "__name__", "an event"))
            language = _language(args, kwargs)
            raise error_popup(text(problem_key(error), language), language) from None

    return wrapper  # type: ignore[return-value]


def _language(args: tuple, kwargs: dict[str, Any]) -> str:
    request = next((value for value in (*args, *kwargs.values()) if isinstance(value, gr.Request)), None)
    return language_of_request(request) if request is not None else DEFAULT_LANGUAGE


def error_popup(message: str, language: str, **options: Any) -> gr.Error:
    """The ``gr.Error`` to raise for ``message`` (worded in ``language``), titled in the same language."""
    return gr.Error(message, title=text("title_error", language), print_exception=False, **options)


def show_warning(message: str, language: str, **options: Any) -> None:
    """A warning pop-up for ``message`` (worded in ``language``), titled in the same language."""
    gr.Warning(message, title=text("title_warning", language), **options)


def show_info(message: str, language: str, **options: Any) -> None:
    """A notice for ``message`` (worded in ``language``), titled in the same language."""
    gr.Info(message, title=text("title_info", language), **options)
