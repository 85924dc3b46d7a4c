"""GPEN WebUI: ``python app.py [--host H] [--port P] [--share] [--auth USER:PASSWORD] [--model M] ...``.

Only the command line and the launch live here; the page is built in ``webui/``.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"   # before gradio is imported (by webui)
os.environ.pop("GRADIO_VIBE_MODE", None)        # Gradio's AI code editor
os.environ.pop("GRADIO_LOCAL_DEV_MODE", None)   # would let "null" origins through Gradio's CORS

import argparse  # noqa: E402
import atexit  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

from gradio.utils import get_upload_folder  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from gpen import registry  # noqa: E402
from gpen.allocator import keep_large_buffers  # noqa: E402
from gpen.cli import add_engine_arguments  # noqa: E402
from webui.clients import ClientWatch  # noqa: E402
from webui.connections import DEFAULT_READ_TIMEOUT_S, limit_read_times  # noqa: E402
from webui.engine_holder import EngineHolder  # noqa: E402
from webui.files import BatchLimits, RequestFolders, outputs_root  # noqa: E402
from webui.guard import RequestGuard, is_loopback  # noqa: E402
from webui.handlers import Handlers  # noqa: E402
from webui.instances import remove_abandoned_folders  # noqa: E402
from webui.layout import CSS, I18N, build_ui  # noqa: E402
from webui.popup_titles import HEAD as POPUP_TITLES  # noqa: E402
from webui.settings import Settings, load_settings, settings_path  # noqa: E402
from webui.uploads import remove_partial_uploads  # noqa: E402

log = logging.getLogger("webui")


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600 seconds, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="Start the GPEN web UI.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 for the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also make a temporary public gradio.live link")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="ask for this user name and password")
    add_engine_arguments(parser, with_defaults=False)   # as the CLI's; not given: the settings file's
    parser.add_argument("--max-file-size", default="500mb", help="largest upload accepted (default 500mb)")
    parser.add_argument("--queue-size", type=_positive, default=32, help="most requests waiting at once (default 32)")
    parser.add_argument("--max-batch-files", type=_positive, default=BatchLimits.max_files,
                        help=f"most photos in one batch; larger batches are refused (default {BatchLimits.max_files})")
    parser.add_argument("--allow-settings", action="store_true",
                        help="let visitors change the settings when the app is open to the network (with --host or "
                             "--share); without it the Settings tab is read-only there")
    parser.add_argument("--read-timeout", type=_seconds, default=DEFAULT_READ_TIMEOUT_S, metavar="SECONDS",
                        help="close a connection whose request headers take longer than this to arrive, or whose "
                             f"body stops for longer (default {DEFAULT_READ_TIMEOUT_S:g})")
    return parser


def starting_settings(args: argparse.Namespace) -> Settings:
    """The saved settings with this run's command-line choices on top (the file is not changed)."""
    overrides = {name: getattr(args, name) for name in ("model", "detector", "device", "precision", "batch_size")
                 if getattr(args, name) is not None}
    return load_settings(settings_path()).with_values(**overrides)


def never_served(*places: Path) -> list[str]:
    """Folders and files Gradio must refuse to serve (except a folder that holds the temporary folders
    results are served from, which blocking would break)."""
    temporary = Path(tempfile.gettempdir()).resolve()
    return [str(place) for place in places if not temporary.is_relative_to(Path(place).resolve())]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt   # stop as Ctrl+C does: the server closes and temporary files are removed


def main(argv: Sequence[str] | None = None) -> int:
    keep_large_buffers()   # before Gradio starts its worker threads
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    auth = None
    if args.auth:
        user, separator, password = args.auth.partition(":")
        if not separator or not user or not password:
            parser.error("--auth must be USER:PASSWORD")
        auth = (user, password)
    try:
        settings = starting_settings(args)
    except ValueError as error:
        parser.error(str(error))

    for removed in remove_abandoned_folders():
        log.info("removed %s (%.1f MB), left by an instance that is no longer running", removed.path,
                 removed.size_bytes / 2**20)
    holder = EngineHolder(settings)
    state = holder.load()
    if state.loaded:
        log.info("loaded %s on %s (%s)", state.model_name, state.device, state.precision)
    else:
        log.warning("no model loaded yet (the Settings tab shows what is missing): %s", state.error)
    folders = RequestFolders()
    atexit.register(folders.remove_all)
    signal.signal(signal.SIGTERM, _interrupt)
    loopback_only = is_loopback(args.host) and not args.share
    clients = ClientWatch()
    handlers = Handlers(holder, folders, settings_path(), limits=BatchLimits(max_files=args.max_batch_files),
                        clients=clients, settings_locked=not loopback_only and not args.allow_settings)
    if handlers.settings.locked:
        log.info("the app is open to the network: the settings are read-only (start with --allow-settings to "
                 "allow changes)")
    demo = build_ui(handlers)
    # api_open=False: Gradio would otherwise run a queued event posted to /gradio_api/run/<name> at once,
    # skipping the queue and its limits.
    demo.queue(max_size=args.queue_size, default_concurrency_limit=1, api_open=False)
    public_api = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"]
    guard = Middleware(RequestGuard, public_api_names=public_api, loopback_only=loopback_only,
                       known_events=list(demo.fns), clients=clients, max_upload_files=args.max_batch_files,
                       upload_folder=Path(get_upload_folder()))
    limit_read_times(args.read_timeout)
    remove_partial_uploads()
    # Everything that would open the app further is set here, not left to Gradio's environment variables.
    # show_error=False: Gradio's own error texts name server paths; the app's messages (gr.Error) still show.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                max_file_size=args.max_file_size, i18n=I18N, css=CSS, head=POPUP_TITLES, show_error=False,
                enable_monitoring=False, ssr_mode=False, mcp_server=False, strict_cors=True, run_history=False,
                blocked_paths=never_served(registry.models_dir(), outputs_root(), settings_path()),
                footer_links=["api", "settings"], app_kwargs={"middleware": [guard]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
