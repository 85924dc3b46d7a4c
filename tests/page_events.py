"""A page event's outcome read from the app's queue stream, as the browser reads it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from app_process import AppProcess

STREAM_TIMEOUT_S = 120


@dataclass
class PageOutcome:
    """What the page gets back from one of its events."""

    success: bool
    error: str = ""
    notices: list[str] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)


def follow(app: AppProcess, session: str, timeout_s: float = STREAM_TIMEOUT_S) -> PageOutcome:
    """Read a session's stream to the end of its event: its notices, and whether and how it ended."""
    outcome = PageOutcome(success=False)
    with httpx.stream("GET", f"{app.url}gradio_api/queue/data?session_hash={session}", timeout=timeout_s) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "log":
                outcome.notices.append(message.get("log") or "")
            elif message.get("msg") == "process_completed":
                output = message.get("output") or {}
                outcome.success = bool(message.get("success"))
                outcome.error = str(output.get("error") or "")
                outcome.data = output.get("data") or []
                break
    return outcome
