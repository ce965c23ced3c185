"""Ratio benchmark: lstmkit's LSTM and GRU against torch.nn.LSTM / nn.GRU and the GEMM floor.

For each configuration (batch N, steps T, input D, hidden H) of DESIGN.md and each cell, in
ONE process and interleaved (every repeat runs each implementation once, in rotating order),
the median of --repeats runs of

    forward     lstmkit in eval mode, torch under no_grad
    train       forward + backward with dX (lstmkit in train mode; torch with X.requires_grad)

for four implementations: lstmkit (automatic path), lstmkit-numpy (LSTMKIT_NO_JIT=1, the
NumPy reference loop), torch, and floor: the same GEMMs alone in NumPy (forward: X W_x over
all steps and T times H W_h; train adds per step dZ W_h^T, then dW_x, dW_h and dX).
Thread counts (--threads, default 1 and 2) are set together for torch, BLAS (threadpoolctl)
and numba. float32, contiguous inputs, warm-up before timing. Peak memory: the peak RSS of
one child process per implementation running the train step (--memory-impls '' skips it).

    python benchmarks/bench_rnn.py                        # run 1; --out ...-run2.json, run3
    python benchmarks/bench_rnn.py --configs mnist,tiny --repeats 5
    python benchmarks/bench_rnn.py --configs smoke=2,5,3,4 --repeats 3 --threads 1 --settle 0
    python benchmarks/bench_rnn.py --render benchmarks/bench_rnn-run1.json \
        benchmarks/bench_rnn-run2.json benchmarks/bench_rnn-run3.json \
        --notes benchmarks/bench_rnn_notes.md --to docs/benchmarks.md

Report ratios, never bare times: the machine is shared and timings drift, ratios measured
interleaved in one process do much less.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# NumPy's (and SciPy's) OpenBLAS threads spin for 2^28 cycles (about 0.1 s) after their
# last call before they sleep, stealing the cores of whatever runs next, here the next
# implementation of the interleaved round. 2^22 cycles (under 2 ms) is still far longer than
# the gaps between the GEMMs of one call; with it a short pause between calls isolates them.
# Set before NumPy loads OpenBLAS; torch's OpenMP pool is left as it is.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")

import numpy as np  # noqa: E402
from common import git_sha  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CONFIGS = {  # name: (N, T, D, H), DESIGN.md's standard configurations
    "mnist": (64, 28, 28, 128),
    "stock": (32, 100, 1, 64),
    "charlm": (32, 64, 65, 256),
    "large": (128, 50, 128, 512),
    "tiny": (1, 1000, 8, 32),
}
CELLS = ("LSTM", "GRU")
MODES = ("forward", "train")
IMPLS = ("lstmkit", "lstmkit-numpy", "torch", "floor")
DTYPE = np.float32
TARGET_THREADS = 2
TARGETS = (  # issue 4, at 2 threads, for the LSTM and the GRU: (ratio, mode, bound, configs);
    #           the bound is a least value, or for lstmkit / floor a most value
    ("torch_over_lstmkit", "train", 1.2, ("mnist", "stock")),
    ("torch_over_lstmkit", "train", 2.0, ("tiny",)),
    ("torch_over_lstmkit", "train", 1.0, ("large",)),
    ("torch_over_lstmkit", "train", 0.9, ("charlm",)),
    ("torch_over_lstmkit", "forward", 1.0, ("mnist", "stock")),
    ("torch_over_lstmkit", "forward", 2.0, ("tiny",)),
    ("torch_over_lstmkit", "forward", 0.9, ("charlm", "large")),
    ("lstmkit_over_floor", "train", 1.15, ("charlm", "large")),
    ("lstmkit_over_floor", "forward", 1.15, ("charlm", "large")),
    ("torch_over_numpy_path", "train", 0.6, ("mnist", "charlm", "large")),
)
N_GATES = {"LSTM": 4, "GRU": 3}


# ---------------------------------------------------------------- threads and environment


def set_threads(n):
    """n threads for torch, numba and every BLAS / OpenMP pool that is loaded (threadpoolctl)."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # may load an OpenMP runtime
    threadpool_limits(limits=n)  # after it, so that runtime is limited too


def environment():
    """Versions, BLAS pools and the CPU, for the JSON and the printout."""
    import numba
    import torch
    from llvmlite import binding as llvm
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pools = [{"api": p["user_api"], "internal": p["internal_api"], "version": p.get("version"),
              "library": Path(p["filepath"]).name, "threads": p["num_threads"],
              "architecture": p.get("architecture")}
             for p in threadpool_info()]
    return {
        "python": platform.python_version(), "numpy": np.__version__,
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        "numba": numba.__version__, "torch": torch.__version__,
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cpu": cpu, "cpu_name": llvm.get_host_cpu_name(), "cores": os.cpu_count(),
        "dtype": np.dtype(DTYPE).name,
        "blas_pools": pools,
    }


# ---------------------------------------------------------------- the implementations


def make_inputs(N, T, D, H, cell, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, N, D)).astype(DTYPE)
    dY = rng.standard_normal((T, N, H)).astype(DTYPE)
    return X, dY


def make_lstmkit(cell, D, H, X, dY, no_jit=False):
    """Returns {mode: callable}; no_jit sets LSTMKIT_NO_JIT=1 around each call."""
    import lstmkit

    layer = (lstmkit.LSTM if cell == "LSTM" else lstmkit.GRU)(D, H, dtype=DTYPE, seed=0)

    def with_path(f):
        if not no_jit:
            return f

        def g():
            os.environ["LSTMKIT_NO_JIT"] = "1"
            try:
                return f()
            finally:
                del os.environ["LSTMKIT_NO_JIT"]
        return g

    def forward():
        layer.training = False
        return layer(X)

    def train():
        layer.training = True
        layer(X)
        return layer.backward(dY)

    return {"forward": with_path(forward), "train": with_path(train)}


def make_torch(cell, D, H, X, dY):
    import torch

    torch.manual_seed(0)
    module = (torch.nn.LSTM if cell == "LSTM" else torch.nn.GRU)(D, H)
    Xt = torch.from_numpy(X)
    Xg = torch.from_numpy(X.copy()).requires_grad_(True)
    dYt = torch.from_numpy(dY)

    def forward():
        with torch.no_grad():
            return module(Xt)

    def train():
        module.zero_grad(set_to_none=True)
        Xg.grad = None
        Y, _ = module(Xg)
        Y.backward(dYt)
        return Xg.grad

    return {"forward": forward, "train": train}


def make_floor(cell, D, H, X, dY):
    """The GEMMs of the forward and training step alone, in NumPy, into preallocated arrays."""
    T, N, _ = X.shape
    G = N_GATES[cell] * H
    rng = np.random.default_rng(1)
    W_x = rng.standard_normal((D, G)).astype(DTYPE)
    W_h = (rng.standard_normal((H, G)) / np.sqrt(H)).astype(DTYPE)
    X2 = X.reshape(T * N, D)
    XW = np.empty((T * N, G), DTYPE)
    Hs = rng.standard_normal((T, N, H)).astype(DTYPE)
    HW = np.empty((N, G), DTYPE)
    dZ = rng.standard_normal((T, N, G)).astype(DTYPE)
    dH_T = np.empty((H, N), DTYPE)

    def forward():
        np.matmul(X2, W_x, out=XW)
        for t in range(T):
            np.matmul(Hs[t], W_h, out=HW)

    def train():
        forward()
        for t in reversed(range(T)):  # dZ_t W_h^T as (W_h dZ_t^T)^T, lstmkit's faster form
            np.matmul(W_h, dZ[t].T, out=dH_T)
        dZ2 = dZ.reshape(T * N, G)
        return X2.T @ dZ2, Hs.reshape(T * N, H).T @ dZ2, dZ2 @ W_x.T

    return {"forward": forward, "train": train}


def make(impl, cell, N, T, D, H):
    X, dY = make_inputs(N, T, D, H, cell)
    if impl == "lstmkit":
        return make_lstmkit(cell, D, H, X, dY)
    if impl == "lstmkit-numpy":
        return make_lstmkit(cell, D, H, X, dY, no_jit=True)
    if impl == "torch":
        return make_torch(cell, D, H, X, dY)
    return make_floor(cell, D, H, X, dY)


# ---------------------------------------------------------------- timing and memory


def time_interleaved(runs, repeats, warmup=2, settle=0.0):
    """runs: {name: callable}. Returns {name: [seconds of each timed call]}.

    Each repeat calls every implementation once, in rotating order, after `settle` seconds
    of busy waiting: the worker threads that the previous implementation's pools leave
    spinning (OpenBLAS for OPENBLAS_THREAD_TIMEOUT, above; OpenMP for a few ms) go to sleep
    meanwhile and do not steal the cores of the call that is timed. (A busy wait rather than
    a sleep, so that no core idles and clocks down.)
    """
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            while time.perf_counter() - start < settle:
                pass
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def child_memory(impl, cell, shape, threads):
    """Peak RSS (MiB) of a fresh process that builds `impl` and runs its train step 3 times."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, cell,
           ",".join(map(str, shape)), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_mib(field):
    """A memory field of /proc/self/status in MiB (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_child(impl, cell, shape, threads):
    """The child's side of child_memory: import only what impl needs, run one train step
    (imports, compiles or loads kernels, allocates), then three more. Reports the peak RSS
    of the process (VmHWM; ru_maxrss on Linux would carry the parent's peak over fork and
    exec), the step's working memory: that peak over the RSS after the first step, and the
    first and second steps' times (the first also imports, loads the cached kernels)."""
    N, T, D, H = shape
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    step = make(impl, cell, N, T, D, H)["train"]
    seconds = []
    for k in range(4):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
        if k == 0:
            after_first = _status_mib("VmRSS")
    peak = _status_mib("VmHWM")
    if peak is None:  # not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        after_first = peak
    print(json.dumps({"peak_rss_mib": round(peak, 1), "step_mib": round(peak - after_first, 1),
                      "first_step_s": round(seconds[0], 4), "second_step_s": round(seconds[1], 4)}))


# ---------------------------------------------------------------- the run


def parse_configs(text):
    """'mnist,tiny' or 'name=N,T,D,H;...' (custom shapes) -> {name: (N, T, D, H)}."""
    configs = {}
    for part in text.replace(";", " ").split():
        for item in ([part] if "=" in part else part.split(",")):
            if "=" in item:
                name, shape = item.split("=", 1)
                configs[name] = tuple(int(v) for v in shape.split(","))
            elif item:
                configs[item] = CONFIGS[item]
    return configs


def run(args):
    import numba  # noqa: F401  (so set_threads can reach it)
    import torch  # noqa: F401

    configs = parse_configs(args.configs)
    threads_list = [int(n) for n in args.threads.split(",")]
    sha = git_sha()  # "+uncommitted" when src/ differs from the commit
    dirty = sha.endswith("+uncommitted")
    sha = sha.removesuffix("+uncommitted")
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_sha": sha, "git_dirty": dirty,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "repeats": args.repeats, "settle_s": args.settle, "threads": threads_list,
        "dtype": np.dtype(DTYPE).name,
        "configs": {name: dict(zip("NTDH", shape, strict=True)) for name, shape in configs.items()},
        "environment": None, "timings": [], "memory": [],
    }
    for threads in threads_list:
        for name, (N, T, D, H) in configs.items():
            for cell in args.cells.split(","):
                impls = {impl: make(impl, cell, N, T, D, H) for impl in IMPLS}
                for mode in MODES:
                    runs = {impl: impls[impl][mode] for impl in IMPLS}
                    for f in runs.values():  # warm-up (compiles, loads BLAS), then threads
                        f()
                    set_threads(threads)
                    times = time_interleaved(runs, args.repeats, settle=args.settle)
                    med = {impl: statistics.median(ts) for impl, ts in times.items()}
                    row = {"config": name, "cell": cell, "mode": mode, "threads": threads,
                           "median_s": med,
                           "min_s": {impl: min(ts) for impl, ts in times.items()},
                           "torch_over_lstmkit": med["torch"] / med["lstmkit"],
                           "torch_over_numpy_path": med["torch"] / med["lstmkit-numpy"],
                           "lstmkit_over_floor": med["lstmkit"] / med["floor"],
                           "torch_over_floor": med["torch"] / med["floor"]}
                    result["timings"].append(row)
                    print(f"n={threads} {name:7s} {cell:4s} {mode:7s} "
                          f"torch/lstmkit {row['torch_over_lstmkit']:5.2f}  "
                          f"torch/numpy-path {row['torch_over_numpy_path']:5.2f}  "
                          f"lstmkit/floor {row['lstmkit_over_floor']:5.2f}  "
                          f"torch/floor {row['torch_over_floor']:5.2f}", flush=True)
    result["environment"] = environment()
    memory_impls = [impl for impl in IMPLS if impl in args.memory_impls.split(",")]
    if memory_impls:
        threads = threads_list[-1]
        for name, shape in configs.items():
            for cell in args.cells.split(","):
                row = {"config": name, "cell": cell, "threads": threads, "mode": "train"}
                for impl in memory_impls:
                    row[impl] = child_memory(impl, cell, shape, threads)
                result["memory"].append(row)
                print(f"memory {name:7s} {cell:4s} peak RSS MiB (step): " + "  ".join(
                    f"{impl} {row[impl]['peak_rss_mib']:.0f} ({row[impl]['step_mib']:.0f})"
                    for impl in memory_impls), flush=True)
    env = result["environment"]
    print(f"threads {threads_list}, dtype {result['dtype']}, {env['cpu']} ({env['cores']} cores), "
          f"numpy {env['numpy']}, numba {env['numba']}, torch {env['torch']}")
    for pool in env["blas_pools"]:
        print(f"  pool {pool['api']}/{pool['internal']} {pool['version']} {pool['library']}")
    return result


# ---------------------------------------------------------------- docs/benchmarks.md


def target_rows(results):
    """The issue's targets, one Markdown row per target, configuration and cell: its ratio in
    each run and in how many runs it is met. Targets of configurations not run are left out."""
    lines = []
    for ratio, mode, bound, configs in TARGETS:
        at_most = ratio == "lstmkit_over_floor"
        want = f"<= {bound:.2f}" if at_most else f">= {bound:.1f}"
        for config in configs:
            for cell in CELLS:
                key = (config, cell, mode, TARGET_THREADS)
                values = [next((row[ratio] for row in result["timings"]
                                if (row["config"], row["cell"], row["mode"], row["threads"])
                                == key), None) for result in results]
                ran = [v for v in values if v is not None]
                if not ran:
                    continue
                met = sum((v <= bound) if at_most else (v >= bound) for v in ran)
                lines.append(f"| {ratio.replace('_over_', ' / ').replace('_', ' ')} {want} | "
                             f"{config} | {cell} | {mode} | "
                             + " | ".join("-" if v is None else f"{v:.2f}" for v in values)
                             + f" | {met} of {len(ran)} |")
    return lines


def _child_table(title, text, rows, impls, cell):
    """A Markdown section: title, text, and a table of the child processes' rows (one per
    configuration and cell), cell(child's figures) in each implementation's column."""
    return [
        "", f"## {title}", "", text, "",
        "| configuration | cell | " + " | ".join(impls) + " |",
        "|---|---|" + "---|" * len(impls),
        *(f"| {row['config']} | {row['cell']} | " + " | ".join(cell(row[i]) for i in impls)
          + " |" for row in rows),
    ]


def render(results):
    """docs/benchmarks.md (Markdown) from the JSON of one or more runs: the first run's whole
    table, then every target in every run."""
    result = results[0]
    env = result["environment"]
    lines = [
        "# Benchmarks",
        "",
        "Generated from the JSON of the runs below (benchmarks/bench_rnn-run*.json) and the "
        "notes in benchmarks/bench_rnn_notes.md by `python benchmarks/bench_rnn.py --render "
        "benchmarks/bench_rnn-run1.json benchmarks/bench_rnn-run2.json "
        "benchmarks/bench_rnn-run3.json --notes benchmarks/bench_rnn_notes.md --to "
        "docs/benchmarks.md`; do not edit by hand.",
        "",
    ]
    for k, run_result in enumerate(results, 1):
        dirty = " (with uncommitted changes)" if run_result["git_dirty"] else ""
        lines.append(f"- run {k}: `{run_result['command']}`, git {run_result['git_sha']}{dirty}, "
                     f"{run_result['date']}")
    lines += [
        f"- {env['cpu']} ({env.get('cpu_name', 'cpu name not recorded')}), {env['cores']} cores; "
        f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
        f"torch {env['torch']} (oneDNN {env['torch_mkldnn']})",
        "- BLAS: " + "; ".join(
            f"{p['library']} ({p['internal']} {p['version']}, "
            f"{p.get('architecture') or 'kernels not recorded'})"
            for p in env["blas_pools"] if p["api"] == "blas"),
        f"- {result['dtype']}, median of {result['repeats']} interleaved repeats per "
        "implementation, threads set together for torch, BLAS and numba; "
        f"{result.get('settle_s')} s of busy waiting before each timed call and "
        f"OPENBLAS_THREAD_TIMEOUT={env.get('OPENBLAS_THREAD_TIMEOUT')}, so that idle "
        "worker threads of one implementation's pools do not spin into the next one's call "
        "(at most 22, it also lets lstmkit run row blocks at 2 threads; see the notes)",
        "",
        "Ratios only: torch/lstmkit > 1 means lstmkit is faster than torch; lstmkit/floor is "
        "lstmkit's time over the time of its GEMMs alone (1.0 is the floor). lstmkit-numpy is "
        "the NumPy reference path (LSTMKIT_NO_JIT=1). The table is run 1's; the targets "
        "after it are read from every run.",
        "",
        "| configuration (N, T, D, H) | cell | threads | mode | torch / lstmkit | "
        "torch / lstmkit-numpy | lstmkit / floor | torch / floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["timings"]:
        shape = ", ".join(str(v) for v in result["configs"][row["config"]].values())
        lines.append(f"| {row['config']} ({shape}) | {row['cell']} | {row['threads']} | "
                     f"{row['mode']} | {row['torch_over_lstmkit']:.2f} | "
                     f"{row['torch_over_numpy_path']:.2f} | {row['lstmkit_over_floor']:.2f} | "
                     f"{row['torch_over_floor']:.2f} |")
    if result["memory"]:
        memory_impls = [impl for impl in IMPLS if impl in result["memory"][0]]
        lines += _child_table(
            "Peak memory of the training step",
            "Peak RSS in MiB of one child process per implementation (four training steps; "
            "the process imports only what the implementation needs); in brackets the "
            "step's working memory: the peak over the RSS after the first step.",
            result["memory"], memory_impls,
            lambda child: f"{child['peak_rss_mib']:.0f} ({child['step_mib']:.0f})")
        startup = [impl for impl in ("lstmkit", "lstmkit-numpy") if impl in memory_impls
                   and "first_step_s" in result["memory"][0][impl]]
        if startup:
            lines += _child_table(
                "Start-up",
                "The same child processes (numba's cache warm): the first training step's "
                "time less the second's, in seconds; what a new process pays once, on the "
                "fast path (import numba, load the cached kernels) and on the NumPy path.",
                result["memory"], startup,
                lambda child: f"{child['first_step_s'] - child['second_step_s']:.2f}")
    targets = target_rows(results)
    if targets:
        lines += [
            "",
            f"## Targets at {TARGET_THREADS} threads, run by run",
            "",
            "| target | configuration | cell | mode | "
            + " | ".join(f"run {k}" for k in range(1, len(results) + 1)) + " | met |",
            "|---|---|---|---|" + "---|" * (len(results) + 1),
            *targets,
        ]
    notes = result.get("notes")
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="names of DESIGN.md's configurations, or name=N,T,D,H")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--settle", type=float, default=0.02,
                        help="seconds of busy waiting before each timed call")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "bench_rnn-run1.json"),
                        help="where the JSON goes (the targets ask for 3 runs: run1 .. run3)")
    parser.add_argument("--memory-impls", default=",".join(IMPLS),
                        help="implementations whose peak RSS to measure ('' for none)")
    parser.add_argument("--render", metavar="JSON", nargs="+",
                        help="only render the JSON of one or more runs as Markdown")
    parser.add_argument("--to", metavar="MD", help="where --render writes (default: stdout)")
    parser.add_argument("--notes", metavar="FILE", help="Markdown appended to the rendering")
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "CELL", "SHAPE", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        impl, cell, shape, threads = args.child
        run_child(impl, cell, tuple(int(v) for v in shape.split(",")), int(threads))
        return
    if args.render:
        results = [json.loads(Path(path).read_text()) for path in args.render]
        if args.notes:
            results[0]["notes"] = Path(args.notes).read_text()
        text = render(results)
        if args.to:
            Path(args.to).write_text(text)
        else:
            print(text, end="")
        return
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
