"""A page event's outcome read from the app's queue stream, as the browser reads it."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from app_process import AppProcess

STREAM_TIMEOUT_S = 120
TIMEOUT_S = 60


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


def page_config(app: AppProcess) -> dict[str, Any]:
    return httpx.get(app.url + "config", timeout=TIMEOUT_S).json()


def page_dependency(config: dict[str, Any], api_name: str) -> dict[str, Any]:
    return next(item for item in config["dependencies"] if item["api_name"] == api_name)


def page_inputs(config: dict[str, Any], api_name: str) -> list[Any]:
    """The values the page would send for an event now: each input component's current value."""
    components = {component["id"]: component for component in config["components"]}
    return [components[number]["props"].get("value") for number in page_dependency(config, api_name)["inputs"]]


def input_index(config: dict[str, Any], api_name: str, elem_id: str) -> int:
    components = {component["id"]: component for component in config["components"]}
    inputs = page_dependency(config, api_name)["inputs"]
    return next(index for index, number in enumerate(inputs) if components[number]["props"].get("elem_id") == elem_id)


def output_index(config: dict[str, Any], api_name: str, elem_id: str) -> int:
    components = {component["id"]: component for component in config["components"]}
    outputs = page_dependency(config, api_name)["outputs"]
    return next(index for index, number in enumerate(outputs) if components[number]["props"].get("elem_id") == elem_id)


def join(app: AppProcess, config: dict[str, Any], api_name: str, data: list[Any],
         headers: dict[str, str] | None = None) -> str:
    """Put one of the page's events in the queue (``headers``: e.g. the browser's Accept-Language); returns
    its session."""
    dependency = page_dependency(config, api_name)
    session = secrets.token_hex(8)
    response = httpx.post(app.url + "gradio_api/queue/join", timeout=TIMEOUT_S, headers=headers, json={
        "data": data, "fn_index": dependency["id"], "session_hash": session, "event_data": None,
        "trigger_id": dependency["targets"][0][0]})
    response.raise_for_status()
    return session


def page_event(app: AppProcess, api_name: str, changes: dict[int, Any] | None = None,
               headers: dict[str, str] | None = None) -> PageOutcome:
    """Run a page event with the page's current values, ``changes`` (input index: value) applied."""
    config = page_config(app)
    data = page_inputs(config, api_name)
    for index, value in (changes or {}).items():
        data[index] = value
    return follow(app, join(app, config, api_name, data, headers), TIMEOUT_S)

