"""The page: four tabs (Single photo, Batch, Video, Settings) and three API endpoints, as one ``gr.Blocks``.

Each tab has a module of its own that builds its components and wires its events (``single_tab``,
``batch_tab``, ``video_tab``, ``settings_tab``, ``api_endpoints``); what they share is in ``widgets``.
"""
from __future__ import annotations

import gradio as gr

from .api_endpoints import build_and_wire_api, build_and_wire_video_api
from .batch_tab import build_batch_tab, wire_batch_tab
from .handlers import Handlers
from .settings_tab import build_settings_tab, wire_settings_tab
from .single_tab import build_single_tab, wire_single_tab
from .video_handlers import VideoHandlers
from .video_tab import build_video_tab, wire_video_tab
from .widgets import GPU_QUEUE, I18N, t  # noqa: F401  (the app and the tests take them from here)

CSS = """
.cuda-off label:has(input[value="cuda"]) { opacity: 0.45; pointer-events: none; }
#single-notice { border-left: 4px solid var(--color-accent); padding: 0.5em 1em;
                 background: var(--block-background-fill); }
#models-banner { border: 1px solid var(--error-border-color, #f87171); border-radius: 8px; padding: 0.5em 1em; }
"""


def build_ui(handlers: Handlers) -> gr.Blocks:
    with gr.Blocks(title="GPEN", analytics_enabled=False, delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(t("intro"), elem_id="intro")
        banner = gr.Markdown(visible=False, elem_id="models-banner")
        single, batch, video = build_single_tab(), build_batch_tab(), build_video_tab()
        settings = build_settings_tab(handlers)
        videos = VideoHandlers(handlers)
        wire_single_tab(single, handlers)
        wire_batch_tab(batch, handlers)
        wire_video_tab(video, videos)
        wire_settings_tab(settings, handlers, banner, batch.table, demo)
        build_and_wire_api(handlers)
        build_and_wire_video_api(videos)
    return demo
