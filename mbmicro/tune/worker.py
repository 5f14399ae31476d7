"""Who measures: the pool that runs search rounds on workers.

Why one interface for every pool: ``tuner.tune`` hands the pool a way to get the next jobs
(one search round of one kernel each) and a callback for finished ones; the in-process pool
measures them one after another, and a pool of several workers (local processes or RPC servers
on a tracker) keeps each worker busy with one job and gives a failed worker's job to another.
"""

from __future__ import annotations

import collections
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from mbmicro.tune.measure import measure


class LocalPool:
    """Measures every job in this process, one after another (``--jobs 1``)."""

    def __init__(self, target, seed: int = 0, timeout: float | None = None):
        self.target = target
        self.seed = seed
        self.timeout = timeout

    def run(self, next_jobs, kernel_of, finished) -> None:
        while True:
            jobs = next_jobs(set())
            if not jobs:
                return
            for index, candidates in jobs:
                kw = {"timeout": self.timeout} if self.timeout else {}
                finished(index, measure(kernel_of(index), candidates, self.target, seed=self.seed, **kw))


# ---------------------------------------------------------------------------------------------
# Workers behind a TVM RPC tracker: ``mbmicro tune-worker`` serves MEASURE_FUNC; the client
# sends one job (a kernel's one-node graph, its candidates) as a JSON string and gets records.

#: the global function a worker registers in its RPC server
MEASURE_FUNC = "mbmicro.tune.measure"
#: attempts per job before its candidates become error records (each on another worker if any)
MAX_ATTEMPTS = 3


def encode_job(kernel, candidates: list[dict], target_name: str, seed: int) -> str:
    """A job as one JSON string: the one-node graph as graph.json + base64 graph.npz."""
    import base64
    import json
    import tempfile
    from pathlib import Path

    from mbmicro.graph.serialize import save_graph

    with tempfile.TemporaryDirectory(prefix="mbmicro-job-") as tmp:
        save_graph(kernel.graph, Path(tmp))
        doc = (Path(tmp) / "graph.json").read_text()
        npz = base64.b64encode((Path(tmp) / "graph.npz").read_bytes()).decode()
    return json.dumps({"graph_json": doc, "graph_npz": npz, "node": kernel.node, "key": kernel.key,
                       "space": kernel.space_version, "target": target_name, "seed": seed,
                       "candidates": candidates})


def serve_job(payload: str, config: dict | None = None) -> str:
    """Measure one encoded job here; the records as a JSON string (what the RPC function returns).

    ``config`` is the worker's (``mbmicro tune-worker``): its ``name`` (every record says which
    worker measured it) and its ``board`` (mbmicro.tune.board.BoardSpec fields: measure with that
    board's cycle counter instead of QEMU)."""
    import base64
    import json
    import tempfile
    from pathlib import Path

    from mbmicro.graph.serialize import load_graph
    from mbmicro.targets.target import load_target
    from mbmicro.tune.measure import kernel_of

    config = config or {}
    job = json.loads(payload)
    with tempfile.TemporaryDirectory(prefix="mbmicro-job-") as tmp:
        (Path(tmp) / "graph.json").write_text(job["graph_json"])
        (Path(tmp) / "graph.npz").write_bytes(base64.b64decode(job["graph_npz"]))
        graph = load_graph(Path(tmp))
    target = load_target(job["target"])
    kernel = kernel_of(graph, graph.node(job["node"]), target)
    if (kernel.key, kernel.space_version) != (job["key"], job["space"]):
        raise RuntimeError(f"this worker's mbmicro sees kernel {kernel.key} space {kernel.space_version}, the "
                           f"client {job['key']} space {job['space']}: run the same mbmicro version on both")
    if config.get("board"):
        from mbmicro.tune.board import BoardSpec, measure_on_board

        records = measure_on_board(kernel, job["candidates"], BoardSpec(**config["board"]), seed=job["seed"])
    else:
        records = measure(kernel, job["candidates"], target, seed=job["seed"])
    return json.dumps([dict(r, worker=config.get("name", "")) for r in records])


def _register(config: dict | None = None) -> None:
    """Runs in the RPC server's process: make MEASURE_FUNC callable by clients.

    The server forks a process per session, so what is imported here is imported once, not per
    round: the TVM lowering pipeline and every op template.  ``config`` comes as an argument,
    not a global of the parent: the server runs in a fresh process (TVM's PopenWorker)."""
    import importlib
    import pkgutil

    import tvm

    from mbmicro.codegen import ops, tvm_pipeline  # noqa: F401 - imported for the forks

    for info in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{info.name}")

    tvm.register_global_func(MEASURE_FUNC, lambda payload: serve_job(payload, config), override=True)


def start_server(tracker: tuple[str, int], key: str, host: str = "0.0.0.0", port: int = 9091,
                 config: dict | None = None):
    """An RPC server registered with the tracker under ``key``, serving MEASURE_FUNC with ``config``."""
    import functools

    from tvm import rpc

    return rpc.Server(host=host, port=port, port_end=port + 1000, tracker_addr=tracker, key=key,
                      server_init_callback=functools.partial(_register, config), silent=True)


def wait_for_tracker(addr: tuple[str, int], seconds: float) -> None:
    """Return once the tracker answers (a worker and its tracker are often started together)."""
    import time

    from tvm import rpc

    deadline = time.monotonic() + seconds
    while True:
        try:
            rpc.connect_tracker(*addr).summary()
            return
        except Exception as exc:  # noqa: BLE001 - not listening (yet), or not a tracker
            if time.monotonic() >= deadline:
                raise _tracker_error(addr, exc) from None
            time.sleep(0.2)


class WorkerLost(Exception):
    """A worker died, hung past the timeout or refused the job: the job goes to another worker."""


class TrackerPool:
    """Sends jobs to the free workers of ``key`` on a tracker, as many at once as it has workers.

    Why threads: each job is one blocking RPC call, and the work happens on the workers.  A job
    whose worker fails (connection lost, session timeout) is queued again, up to MAX_ATTEMPTS."""

    def __init__(self, host: str, port: int, key: str, timeout: float = 300.0, target_name: str | None = None,
                 seed: int = 0):
        self.addr = (host, port)
        self.key = key
        self.timeout = timeout
        self.target_name = target_name or key
        self.seed = seed
        self.lost = 0  # jobs that were retried (tests read it)

    def workers(self) -> int:
        """Free plus busy servers of ``key`` the tracker knows (at least 1)."""
        from tvm import rpc

        try:
            summary = rpc.connect_tracker(*self.addr).summary()
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is the user's address
            raise _tracker_error(self.addr, exc) from None
        queue = summary.get("queue_info", {}).get(self.key, {})
        return max(1, int(queue.get("free", 0)),
                   sum(1 for s in summary.get("server_info", []) if s.get("key", "") == "server:" + self.key))

    def _call(self, payload: str) -> list[dict]:
        import json

        from tvm import rpc

        try:
            session = rpc.connect_tracker(*self.addr).request(self.key, session_timeout=self.timeout, max_retry=3)
            return json.loads(session.get_function(MEASURE_FUNC)(payload))
        except Exception as exc:  # noqa: BLE001 - every failure of a remote worker means: retry elsewhere
            raise WorkerLost(str(exc)[:300]) from exc

    def run(self, next_jobs, kernel_of, finished) -> None:
        slots = self.workers()
        pool = ThreadPoolExecutor(max_workers=slots)
        try:
            self._loop(pool, slots, next_jobs, kernel_of, finished)
        finally:  # interrupted: do not wait for rounds in flight (their workers finish or time out)
            pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self, pool, slots: int, next_jobs, kernel_of, finished) -> None:
        """Keep ``slots`` rounds in flight; a lost round goes back to the front of the queue."""
        queue: collections.deque = collections.deque()
        running: dict = {}
        while True:
            busy = {job[0] for job in running.values()} | {job[0] for job in queue}
            if len(running) + len(queue) < slots:
                queue.extend((i, c, 0) for i, c in next_jobs(busy))
            while queue and len(running) < slots:
                index, candidates, attempts = job = queue.popleft()
                payload = encode_job(kernel_of(index), candidates, self.target_name, self.seed)
                running[pool.submit(self._call, payload)] = job
            if not running:
                return
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                index, candidates, attempts = running.pop(future)
                try:
                    finished(index, future.result())
                except WorkerLost as exc:
                    self.lost += 1
                    if attempts + 1 < MAX_ATTEMPTS:
                        queue.appendleft((index, candidates, attempts + 1))
                    else:
                        finished(index, _lost_records(kernel_of(index), candidates, str(exc)))


def _lost_records(kernel, candidates, why: str) -> list[dict]:
    from mbmicro.tune.measure import make_record

    return [make_record(kernel, knobs, ok=False, error=f"worker: lost {MAX_ATTEMPTS} times: {why}")
            for knobs in candidates]


def _tracker_error(addr, exc):
    from mbmicro.errors import UserError

    return UserError(f"cannot reach the RPC tracker at {addr[0]}:{addr[1]} ({str(exc).splitlines()[0][:120]}): "
                     "start one with 'python -m tvm.exec.rpc_tracker' or fix --tracker")


class LocalWorkers(TrackerPool):
    """``--jobs J``: a tracker and J ``mbmicro tune-worker`` processes on this machine, used through
    the same TrackerPool code as a farm's workers."""

    def __init__(self, jobs: int, target_name: str, timeout: float = 300.0, seed: int = 0):
        import socket
        import subprocess
        import sys
        import time

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        key = f"local-{target_name}"
        super().__init__("127.0.0.1", port, key, timeout=timeout, target_name=target_name, seed=seed)
        self.procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
                                        "--port", str(port), "--port-end", str(port + 1), "--silent"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
        for _ in range(jobs):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "mbmicro", "tune-worker", "--tracker", f"127.0.0.1:{port}", "--key", key,
                 "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        try:
            wait_for_tracker(self.addr, 60)
        except Exception:
            self.close()
            raise
        self._wait_for(jobs, deadline=time.monotonic() + 90)

    def _wait_for(self, jobs: int, deadline: float) -> None:
        import time

        from tvm import rpc

        while time.monotonic() < deadline:
            queue = rpc.connect_tracker(*self.addr).summary().get("queue_info", {}).get(self.key, {})
            if int(queue.get("free", 0)) >= jobs:
                return
            time.sleep(0.3)
        self.close()
        raise RuntimeError(f"{jobs} local tune workers did not register within 90 s")

    def close(self) -> None:
        import os
        import signal

        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait()
        self.procs = []
