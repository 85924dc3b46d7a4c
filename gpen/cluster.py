"""Restore an archive on a Ray cluster: the batch run's own steps, spread over a pool of Ray actors.

``restore_on_cluster`` takes what ``gpen.batch.process_files`` takes (an ``EngineConfig`` instead of an
engine: each worker builds its own) and gives the same report rows and byte-identical results under the
same names. The plan (output names, ``--skip-existing``, steps of ``batch_size`` photos) is made on the
driver by ``gpen.batch.plan_run``, as a single-machine run makes it; each step is one row of a Ray
Dataset that goes through two stages:

1. a CPU task reads the step's files as bytes, through a ``pyarrow.fs`` filesystem when one is given;
2. an actor holding one ``Engine`` (loaded once, ``num_gpus=1`` on a GPU cluster, a small ``num_cpus``
   otherwise) runs ``BatchRun.restore_step``: decode (``gpen.images.load_image``, so EXIF, ICC profile and
   orientation survive), detect and align, the network on all the step's faces together, paste, encode
   and write atomically.

Why detection, pasting and encoding run inside the actor rather than in CPU stages of their own: the
engine's first and last stages use networks too (the detector and the face parser), so separate stages
would each hold models, and they would ship every decoded photo (72 MB for 24 megapixels) and its
16-bit and alpha planes through the object store twice; one actor per step keeps the single-machine
code path (no second one to keep identical) and moves only the files' bytes. A cluster scales by adding
actors: on a GPU node the CPU work of the actor's step is the part to watch (``benchmarks/cluster.py``).

Ray is optional: it is imported only when a cluster run starts, and a missing Ray is a ``ClusterError``
that says how to install it. Results are written by the workers, so ``out_dir`` must be a folder every
node sees (a local disk for ``local``, a shared filesystem otherwise).
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .batch import BatchRun, ProgressCallback, SaveOptions, not_processed, plan_run
from .engine import Engine
from .errors import ClusterError
from .images import SUPPORTED_INPUT_EXTENSIONS
from .options import EngineConfig, EnhanceOptions, VideoOptions
from .output_names import plan_output_paths
from .reports import FileReport
from .video import restore_video
from .video_formats import VIDEO_INPUT_EXTENSIONS

log = logging.getLogger(__name__)

INSTALL_HINT = ("a cluster run needs Ray: pip install -r requirements-cluster.txt "
                "(or start with GPEN_EXTRAS=cluster ./run.sh)")
LOCAL = "local"
WORKER_CPUS = 0.5
"""CPUs each actor asks Ray for on a machine without GPUs: less than one, so that on a small machine the
reading tasks can still be scheduled beside the actors (two one-CPU actors on two cores deadlock)."""

READ_CPUS = 0.25
"""CPUs each reading task asks for: reading bytes mostly waits on storage."""

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StepTask:
    """One step of the run, as a Dataset row carries it: the inputs' places in the run, their paths and
    their results' paths; ``video`` for a single video, which goes through ``gpen.video`` instead."""

    indexes: tuple[int, ...]
    sources: tuple[Path, ...]
    targets: tuple[Path, ...]
    video: bool = False


def import_ray() -> Any:
    """The ``ray`` module, or a ``ClusterError`` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ClusterError(f"{INSTALL_HINT} ({error})") from None
    return ray


def local_runtime_env() -> dict[str, Any]:
    """What a Ray started on this machine gives its workers: this copy of ``gpen`` on their import path."""
    paths = [str(_SOURCE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


@contextlib.contextmanager
def connected(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray started on this machine (``local``) or joined (``auto``, ``ray://HOST:PORT``, ``HOST:6379``) for
    the ``with`` block; a Ray already started in this process is used as it is and left running."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            if address == LOCAL:
                ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                         logging_level=logging.ERROR, runtime_env=local_runtime_env())
            else:
                ray.init(address=address, logging_level=logging.ERROR,
                         runtime_env={"py_modules": [str(_SOURCE_ROOT / "gpen")]})
        except Exception as error:  # noqa: BLE001  (Ray raises ConnectionError, RuntimeError, ValueError...)
            raise ClusterError(f"cannot start or reach the Ray cluster at {address!r}: {error}") from error
    ray.data.DataContext.get_current().enable_progress_bars = False   # the front end shows its own
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def list_inputs(items: Sequence[str], filesystem: Any) -> list[Path]:
    """Files, and the image and video files of folders (sorted, not recursive), listed through
    ``filesystem`` (a ``pyarrow.fs.FileSystem``: S3, GCS, local...) as ``gpen.inputs.find_inputs`` lists
    local ones. A name that is not there is kept: its report row says so."""
    from pyarrow import fs as pyarrow_fs

    readable = SUPPORTED_INPUT_EXTENSIONS | VIDEO_INPUT_EXTENSIONS
    found: list[Path] = []
    for item in items:
        info = filesystem.get_file_info(str(item))
        if info.type != pyarrow_fs.FileType.Directory:
            found.append(Path(str(item)))
            continue
        children = filesystem.get_file_info(pyarrow_fs.FileSelector(info.path))
        found += sorted(Path(child.path) for child in children
                        if child.type == pyarrow_fs.FileType.File and Path(child.path).suffix.lower() in readable)
    return list(dict.fromkeys(found))


def find_inputs_at(uris: Sequence[str]) -> tuple[Any, list[Path]]:
    """The filesystem of inputs named by URI (``s3://bucket/archive``, ``gs://...``, ``file:///...``;
    all on one storage) and the files they name, listed through it (``list_inputs``)."""
    import_ray()   # pyarrow comes with it
    from pyarrow import fs as pyarrow_fs

    filesystem, paths = None, []
    for uri in uris:
        try:
            found, path = pyarrow_fs.FileSystem.from_uri(uri)
        except (ValueError, OSError) as error:   # an unknown scheme, a bucket that cannot be reached
            raise ClusterError(f"cannot open {uri}: {error}") from error
        if filesystem is not None and found.type_name != filesystem.type_name:
            raise ClusterError(f"the inputs are on different storages ({filesystem.type_name} and {found.type_name}): "
                               "give inputs on one storage per run")
        filesystem = filesystem or found
        paths.append(path)
    return filesystem, list_inputs(paths, filesystem)


def read_step(row: dict[str, Any], filesystem: Any = None) -> dict[str, Any]:
    """Stage 1 (a CPU task): the bytes of each photo of a step, read through ``filesystem`` (a
    ``pyarrow.fs.FileSystem``) or, without one, from the local or shared filesystem. A file that cannot
    be read here gets None, and the loader names why (it reads the path itself)."""
    task: StepTask = pickle.loads(row["task"])
    data = tuple(None if task.video else _file_bytes(source, filesystem) for source in task.sources)
    return {"task": row["task"], "data": pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)}


def _file_bytes(source: Path, filesystem: Any) -> bytes | None:
    try:
        if filesystem is None:
            return source.read_bytes()
        with filesystem.open_input_file(source.as_posix()) as handle:
            return handle.readall()
    except (OSError, ValueError) as error:   # pyarrow's errors are OSError; a name it cannot encode, ValueError
        log.debug("reading %s as bytes failed: %s", source, error)
        return None


class StepRestorer:
    """Stage 2 (an actor): one engine, loaded once, that restores one step per call and returns a row
    (the input's place, its pickled ``FileReport``, whether the disk was full, which worker) per input.

    ``threads`` is torch's CPU thread count. It changes the order of the network's sums on a CPU, and so
    the last bit of some pixels; Ray gives each worker one thread, so the driver passes its own count to
    keep the results those of a single-machine run."""

    def __init__(self, config: EngineConfig, options: EnhanceOptions, save: SaveOptions, video: VideoOptions,
                 threads: int):
        import torch

        torch.set_num_threads(threads)
        self.engine = Engine(config)
        self.options, self.save, self.video = options, save, video
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        task: StepTask = pickle.loads(row["task"])
        if task.video:
            outcome = restore_video(self.engine, task.sources[0], task.targets[0], self.options, self.video)
            return [self._row(task.indexes[0], outcome.report, False)]
        run = BatchRun(self.engine, list(task.sources), list(task.targets), self.options, self.save, self.video)
        outcomes = run.restore_step(list(range(len(task.sources))), pickle.loads(row["data"]))
        return [self._row(index, outcome.report, outcome.disk_full) for index, outcome in zip(task.indexes, outcomes)]

    def _row(self, index: int, report: FileReport, disk_full: bool) -> dict[str, Any]:
        return {"index": index, "report": pickle.dumps(report), "disk_full": disk_full, "worker": self.name}


def restore_on_cluster(inputs: Sequence[Path], out_dir: Path, engine_config: EngineConfig,
                       options: EnhanceOptions | None = None, save: SaveOptions | None = None, *,
                       address: str = LOCAL, workers: int = 1, filesystem: Any = None,
                       photos_per_step: int | None = None, video: VideoOptions | None = None,
                       on_progress: ProgressCallback | None = None, stop: threading.Event | None = None,
                       worker_cpus: float | None = None, worker_gpus: float | None = None,
                       worker_threads: int | None = None) -> list[FileReport]:
    """``process_files`` on a Ray cluster with ``workers`` actors: one report per input, in input order,
    and the same results under the same names. ``address`` is ``local`` (Ray started on this machine for
    the run), ``auto`` or ``ray://HOST:PORT`` (a running cluster); a Ray already started in this process
    is used as it is. ``filesystem`` (a ``pyarrow.fs.FileSystem``) is what the inputs are read through.
    Each actor asks for one GPU when the cluster has GPUs and ``engine_config.device`` is not "cpu"
    (``worker_gpus`` overrides), else for ``WORKER_CPUS``. Each uses ``worker_threads`` CPU threads (by
    default this process's torch thread count, for results identical to this machine's own). When ``stop`` is set, or a worker finds the disk
    full, no more results are taken and the inputs not done are reported "not processed"."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    save, options, video = save or SaveOptions(), options or EnhanceOptions(), video or VideoOptions()
    inputs = [Path(item) for item in inputs]
    outputs = plan_output_paths(inputs, Path(out_dir), save.extension)
    plan = plan_run(inputs, outputs, save, photos_per_step or engine_config.batch_size)
    reports: dict[int, FileReport] = {}

    def record(index: int, report: FileReport) -> None:
        reports[index] = report
        if on_progress is not None:
            on_progress(len(reports), len(inputs), report)

    for index in plan.skipped:
        record(index, FileReport(str(inputs[index]), str(outputs[index]), "skipped"))
    steps = [StepTask(tuple(step), tuple(inputs[i] for i in step), tuple(outputs[i] for i in step))
             for step in plan.steps]
    steps += [StepTask((i,), (inputs[i],), (outputs[i],), video=True) for i in plan.videos]
    stopped = None
    if steps:
        with connected(address) as ray:
            resources = _resources(ray, engine_config, worker_cpus, worker_gpus, worker_threads)
            dataset = _dataset(ray, steps, (engine_config, options, save, video, resources.threads), workers,
                               filesystem, resources)
            stopped = _collect(dataset, record, stop)
    for index in range(len(inputs)):
        if index not in reports:
            record(index, not_processed(inputs[index], stopped))
    return [reports[index] for index in range(len(inputs))]


@dataclass(frozen=True)
class WorkerResources:
    """What each actor asks Ray for, and the CPU threads its torch uses."""

    cpus: float
    gpus: float
    threads: int


def _resources(ray: Any, config: EngineConfig, cpus: float | None, gpus: float | None,
               threads: int | None) -> WorkerResources:
    import torch

    if gpus is None:
        gpus = 1 if config.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    return WorkerResources(WORKER_CPUS if cpus is None else cpus, gpus, threads or torch.get_num_threads())


def _dataset(ray: Any, steps: list[StepTask], restorer_args: tuple, workers: int, filesystem: Any,
             resources: WorkerResources) -> Any:
    """The run as a Ray Dataset: a row per step → read the bytes (tasks) → restore and write (actors)."""
    rows = [{"task": pickle.dumps(step, protocol=pickle.HIGHEST_PROTOCOL)} for step in steps]
    # A block per step (up to a limit) lets the steps spread over the actors instead of queueing behind one.
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), 1000))
    # Its own CPU request (not the actors') keeps Ray from fusing the reading into the actors: files are
    # read by tasks while the engines work.
    dataset = dataset.map(read_step, fn_kwargs={"filesystem": filesystem}, num_cpus=READ_CPUS)
    return dataset.flat_map(StepRestorer, fn_constructor_args=restorer_args,
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=resources.cpus,
                            num_gpus=resources.gpus or None)


def _collect(dataset: Any, record: Callable[[int, FileReport], None], stop: threading.Event | None) -> str | None:
    """Take the results as the workers finish them; returns why the run stopped early, or None."""
    workers: set[str] = set()
    try:
        for row in dataset.iter_rows():
            record(int(row["index"]), pickle.loads(row["report"]))
            workers.add(str(row["worker"]))
            if row["disk_full"]:
                return "the disk is full"
            if stop is not None and stop.is_set():
                return "interrupted"
    except Exception as error:  # noqa: BLE001  (an actor that cannot load the engine, a lost node)
        raise ClusterError(f"the cluster run failed: {_root_cause(error)}") from error
    finally:
        log.info("%d workers took part", len(workers))
    return None


def _root_cause(error: BaseException) -> str:
    """The first line of the innermost error Ray wrapped (a worker's own message, not Ray's traceback)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"
