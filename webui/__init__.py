"""The web UI: a Gradio front end over one shared ``gpen.Engine``.

Modules: ``settings`` (what the user chose, kept in a JSON file), ``i18n`` (English and Simplified
Chinese text), ``engine_holder`` (the shared engine and the lock that guards it), ``options`` (the
controls that become ``EnhanceOptions``), ``files`` (uploads, ZIPs, per-request result folders),
``status`` (the Settings tab's status panel), ``handlers`` (what the buttons do) and ``layout``
(the Blocks); ``messages`` (errors fit to show a person). Around Gradio's server: ``guard`` (the
requests refused before Gradio sees them), ``bodies`` (request bodies capped as they are read),
``clients`` (stopping a batch whose client went away), ``connections`` (slow clients dropped),
``uploads`` (no partial upload left behind) and ``instances`` (temporary folders of killed instances
removed). ``gpen`` never imports this package.
"""
from __future__ import annotations

import os

# Before anything imports gradio: no usage statistics leave the machine.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
