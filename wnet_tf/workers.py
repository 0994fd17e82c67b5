"""Work spread over processes or threads: the cores this process may use, and the loops that run a
function over many items in a bounded pool without letting their inputs or results pile up in
memory: `each` (completion order, one bad item never stops the others) in processes, or in threads
for work that releases the GIL (decoders, NumPy); `in_threads`, the same in the items' order."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask where the system has one (a
    container or `taskset` may allow fewer than the machine has), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class WorkerDied(Exception):
    """A worker process that ended without a result: killed by the system (out of memory), or
    a crash in a C extension."""


def proc_bytes(path: str, key: str) -> int | None:
    """A "KEY: N kB" line of a Linux /proc file, in bytes; None where there is none."""
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_resident(pid: int) -> int | None:
    """The peak resident memory of a live process in bytes (Linux's VmHWM), or None."""
    return proc_bytes(f"/proc/{pid}/status", "VmHWM")


def _call(send, work, args):
    try:
        send.send((True, work(*args)))
    except BaseException as err:  # sent back, to be raised in the parent
        send.send((False, err))


def alone(context, work, args):
    """work(*args) in a fresh process of its own: the result, the exception it raised, or
    WorkerDied saying how the process ended (its signal, and its peak memory when known)."""
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_call, args=(send, work, args), daemon=True)
    process.start()
    send.close()
    peak = None
    while not receive.poll(0.2):  # poll is also True when the process dies (end of file)
        peak = peak_resident(process.pid) or peak
    try:
        ok, value = receive.recv()
    except EOFError:
        process.join()
        code = process.exitcode
        cause = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                 else f"exited with status {code}")
        memory = f" at {peak / 1e6:,.0f} MB resident" if peak else ""
        hint = " (out of memory?)" if code == -signal.SIGKILL else ""
        raise WorkerDied(f"the worker process was {cause}{memory}{hint}") from None
    process.join()
    if not ok:
        raise value
    return value


def each(work, items, workers, prepare=None, spawn=False, threads=False, inline=False):
    """Yields (item, result, error) for every item, `error` None or the exception that
    `prepare(item)` (in this process) or `work(*prepared)` (in a worker) raised, so that one bad
    item never stops the others. `prepare` defaults to `lambda item: (item,)`.

    Results come in completion order. At most 2 * `workers` items are prepared and waiting at a
    time: a prepared item can be large (a softmax of tens of megabytes). `workers` 1 runs the
    items one at a time in one worker process, so that an item that kills it costs only that
    item; `workers` 0 (or `inline`) runs them in this process.
    `spawn`: start the workers fresh instead of forking, for a parent that holds TensorFlow's
    threads (they do not survive a fork). `threads`: the same loop on `workers` threads, for
    work that releases the GIL.

    A worker that dies (killed for memory, a crash in a C extension) breaks the whole pool, and
    which of the items in flight killed it is unknown: each of them is run again alone
    (`alone`), so that only the one that kills its process is lost, reported as WorkerDied, and
    a fresh pool takes the rest.
    """
    prepare = prepare or (lambda item: (item,))
    if inline or workers < 1:
        for item in items:
            try:
                yield item, work(*prepare(item)), None
            except Exception as err:
                yield item, None, err
        return
    context = multiprocessing.get_context("spawn" if spawn else None)

    def new_pool():  # a thread pool never breaks: `recover` is for processes
        if threads:
            return ThreadPoolExecutor(workers)
        return ProcessPoolExecutor(workers, mp_context=context)

    pool = new_pool()
    pending = {}  # future -> (item, prepared arguments)

    def outcome(future):
        error = future.exception()
        return None if error else future.result(), error

    def recover(lost):
        """The pool is broken: what finished is yielded, the rest runs again alone."""
        nonlocal pool
        pool.shutdown(cancel_futures=True)  # every future is settled after this
        for future, (item, args) in pending.items():
            if isinstance(future.exception(), BrokenProcessPool):
                lost.append((item, args))
            else:
                yield item, *outcome(future)
        pending.clear()
        for item, args in lost:
            try:
                yield item, alone(context, work, args), None
            except Exception as err:
                yield item, None, err
        pool = new_pool()

    def finished(until):
        while len(pending) > until:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                yield from recover([])
                return
            for future in done:
                yield pending.pop(future)[0], *outcome(future)

    try:
        for item in items:
            try:
                args = prepare(item)
            except Exception as err:
                yield item, None, err
                continue
            try:
                pending[pool.submit(work, *args)] = item, args
            except BrokenProcessPool:  # it broke since the last look
                yield from recover([(item, args)])
            yield from finished(2 * workers)
        yield from finished(0)
    finally:
        pool.shutdown(cancel_futures=True)


def in_threads(work, items, threads):
    """Yields work(item) for every item, in the items' order: `each` on `threads` threads, its
    results put back in order (one that finishes before an earlier item waits for it; the pool
    holds at most 2 * `threads` items, a decoded image is large). An exception raised by `work`
    is raised here, at its item. A consumer that stops early cancels what has not started."""
    waiting, following = {}, 0
    for (index, _), result, error in each(work, enumerate(items), threads,
                                          prepare=lambda element: element[1:], threads=True):
        waiting[index] = result, error
        while following in waiting:
            result, error = waiting.pop(following)
            following += 1
            if error is not None:
                raise error
            yield result
