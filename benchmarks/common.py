"""Shared benchmark tools: machine facts, timers, peak memory, and the results writer.

Every script writes one section into `results.json` and regenerates `results.md` from the
whole JSON, so the table always shows the latest run of each script.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Set before anything imports tqdm (it reads its environment once): per-batch bars would flood make's log.
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Stages run by the benchmarks lemmatise from scratch: a lemma cache left by earlier runs would make
# their timings depend on what ran before. bench_preprocess measures the cache on its own rows.
os.environ["RNNLAB_CACHE_DIR"] = "off"

import psutil  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"  # the main pipeline's; a study's are STUDY_PARAMS[<study>]
STUDY_PARAMS = {path.parent.name: path for path in sorted((ROOT / "studies").glob("*/params.yaml"))}
DEFAULT_OUT = ROOT / "benchmarks"
MIB = 1024 * 1024
NOT_AVAILABLE = "not available during this work"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    """What a reader needs to compare numbers across machines."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
        "device": str(device) + (f" ({gpu})" if gpu else ""),
        "torch_threads": threads,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
    }


def device_label(device: torch.device, threads: int) -> str:
    """A row's device: 'cpu (1 thread)' or 'cuda:0 (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then t['seconds'] holds the wall time."""
    box = {"seconds": float("nan")}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def self_peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@dataclass
class ProcessRun:
    """A finished command: wall time, peak RSS of its whole process tree, output."""

    seconds: float
    peak_rss_mib: float
    returncode: int
    output: str = field(repr=False)


def run_measured(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
                 interval: float = 0.05) -> ProcessRun:
    """Run `cmd`, sampling the summed RSS of it and its children every `interval` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    peak, handle = 0, psutil.Process(proc.pid)
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(handle))
        time.sleep(interval)
    seconds = time.perf_counter() - start
    reader.join()
    return ProcessRun(seconds, peak / MIB, proc.returncode, "".join(chunks))


def run_checked(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> ProcessRun:
    """`run_measured`, raising with the command's output tail when it fails."""
    result = run_measured(cmd, cwd, env)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.output[-3000:]}")
    return result


class UtilisationSampler:
    """Samples GPU utilisation (CUDA) or this process's CPU use (CPU) in a background thread."""

    def __init__(self, device: torch.device, interval: float = 0.2) -> None:
        self.device, self.interval = device, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._process = psutil.Process()

    def _sample(self) -> float | None:
        if self.device.type == "cuda":
            with contextlib.suppress(Exception):  # needs pynvml; absent, there is nothing to report
                return float(torch.cuda.utilization(self.device))
            return None
        return self._process.cpu_percent(interval=None)  # % of one core since the last call

    def _loop(self) -> None:
        self._sample()  # psutil's first cpu_percent is meaningless
        while not self._stop.wait(self.interval):
            value = self._sample()
            if value is not None:
                self.samples.append(value)

    def __enter__(self) -> UtilisationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        """'GPU busy 87%' or 'CPU 98% of one core', mean over the samples."""
        if not self.samples:
            return "utilisation: no samples"
        mean = statistics.fmean(self.samples)
        return f"GPU busy {mean:.0f}%" if self.device.type == "cuda" else f"CPU {mean:.0f}% of one core"


def row(what: str, how: str, value: float | None, unit: str, device: str, *, baseline: float | None = None,
        ratio: float | None = None, target: float | None = None, requires: dict[str, bool] | None = None,
        note: str = "", **details: Any) -> dict[str, Any]:
    """One result row; `ratio` > 1 means the measured way beats its baseline (see each section's notes).

    A target is met when ratio >= target and every condition in `requires` holds.
    """
    out: dict[str, Any] = {"what": what, "how": how, "value": value, "unit": unit, "baseline": baseline,
                           "ratio": ratio, "device": device, "details": details}
    if target is not None:
        out["target"], out["requires"] = target, requires or {}
        out["met"] = ratio is not None and ratio >= target and all(out["requires"].values())
    if note:
        out["note"] = note
    return out


def unavailable_row(what: str, how: str, unit: str, device: str, why: str = NOT_AVAILABLE, **kw: Any) -> dict[str, Any]:
    """A row that could not be measured here, saying why."""
    return row(what, how, None, unit, device, note=why, **kw)


def section(title: str, machine: dict[str, Any], rows: list[dict[str, Any]], notes: list[str],
            settings: dict[str, Any]) -> dict[str, Any]:
    """A script's whole result: what ran, where, with which settings."""
    return {"title": title, "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine, "settings": settings, "notes": notes, "rows": rows}


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Lock the folder itself, so two scripts never merge at once and no lock file is left behind."""
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


SECTION_ORDER = ("preprocess", "training", "scaling", "pipeline", "tracking", "lm", "gpu", "lm_gpu")


def finite(value: Any) -> Any:
    """The value with NaN and infinities replaced by None, recursively: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_section(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    """Merge section `name` into out_dir/results.json and regenerate results.md; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = finite(result)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    with _locked(out_dir):
        data = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {"sections": {}}
        data["sections"][name] = result
        data["sections"] = dict(sorted(data["sections"].items(), key=lambda kv: _order(kv[0])))
        _write_atomic(json_path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n")
        _write_atomic(md_path, render_markdown(data))
    return json_path


def _order(name: str) -> int:
    return SECTION_ORDER.index(name) if name in SECTION_ORDER else len(SECTION_ORDER)


def fmt(value: Any, unit: str = "") -> str:
    """Numbers with sensible precision; None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _details(r: dict[str, Any]) -> str:
    parts = [f"{k.replace('_', ' ')} {fmt(v)}" for k, v in r.get("details", {}).items()]
    if r.get("note"):
        parts.insert(0, f"**{r['note']}**")
    return "; ".join(parts)


def render_markdown(data: dict[str, Any]) -> str:
    """The whole results.md from results.json."""
    lines = ["# Benchmarks", "",
             "Written by `make bench` (scripts under `benchmarks/`); `results.json` holds the same numbers for tools.",
             "Ratios are the headline: absolute times depend on the machine and on its load while it ran "
             "(each section gives the load average at its start; on a shared machine single runs vary by tens of percent).",
             ""]
    lines += _headline(data) + [""]
    for name, sec in data["sections"].items():
        lines += _section_markdown(name, sec) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _headline(data: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| section | what | ratio | target | met |", "|---|---|---|---|---|"]
    for name, sec in data["sections"].items():
        for r in sec["rows"]:
            if "target" in r:
                failed = [name for name, ok in r.get("requires", {}).items() if not ok]
                met = "n/a" if r["ratio"] is None else fmt(r["met"]) + (f" (fails: {', '.join(failed)})" if failed else "")
                lines.append(f"| {name} | {_cell(r['what'])} | {fmt(r['ratio'], 'x')} | {fmt(r['target'], 'x')} | {met} |")
    return lines


def _section_markdown(name: str, sec: dict[str, Any]) -> list[str]:
    m = sec["machine"]
    lines = [f"## {sec['title']}", "",
             f"`{name}` · {sec['generated']} · {m['cpu']}, {m['logical_cores']} logical cores, {m['ram_gib']} GiB RAM, "
             f"torch {m['torch']}, device {m['device']}, {m['torch_threads']} torch thread(s), "
             f"load average at start {m['load_average_at_start']}", ""]
    lines += [f"- {note}" for note in sec["notes"]]
    lines += ["", "| what | how measured | value | baseline | ratio | device | details |",
              "|---|---|---|---|---|---|---|"]
    for r in sec["rows"]:
        cells = [r["what"], r["how"], fmt(r["value"], r["unit"]), fmt(r["baseline"], r["unit"]),
                 fmt(r["ratio"], "x"), r["device"], _details(r)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def add_common_args(parser: Any, quick_help: str) -> None:
    """--out, --quick and --threads, the same in every script."""
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results.json and results.md")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 by default: on a busy machine more threads wait on each other")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def out(stage: str, name: str) -> Path:
    """The out of `stage` named `name`, where dvc.yaml declares it: the benchmarks' default inputs."""
    from rnnlab.serving.outputs import stage_outs

    found = [path for path in stage_outs(stage, ROOT / "dvc.yaml") if path.name == name]
    if len(found) != 1:
        raise KeyError(f"dvc.yaml: stage {stage} has no out named {name}")
    return ROOT / found[0]
