"""Work spread over processes or threads: the cores this process may use, and the loops that run a
function over many items in a pool without letting their inputs or results pile up in memory:
`each` in processes (completion order, one bad item never stops the others) and `in_threads`
(in order, for work that releases the GIL: decoders, NumPy)."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask where the system has one (a
    container or `taskset` may allow fewer than the machine has), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def each(work, items, workers, prepare=None, spawn=False):
    """Yields (item, result, error) for every item, `error` None or the exception that
    `prepare(item)` (in this process) or `work(*prepared)` (in a worker) raised, so that one bad
    item never stops the others. `prepare` defaults to `lambda item: (item,)`.

    Results come in completion order. At most 2 * `workers` items are prepared and waiting at a
    time: a prepared item can be large (a softmax of tens of megabytes). `workers` 1 runs inline.
    `spawn`: start the workers fresh instead of forking, for a parent that holds TensorFlow's
    threads (they do not survive a fork).
    """
    prepare = prepare or (lambda item: (item,))
    if workers <= 1:
        for item in items:
            try:
                yield item, work(*prepare(item)), None
            except Exception as err:
                yield item, None, err
        return
    context = multiprocessing.get_context("spawn" if spawn else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {}

        def finished(until):
            while len(pending) > until:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item, error = pending.pop(future), future.exception()
                    yield item, None if error else future.result(), error

        for item in items:
            try:
                pending[pool.submit(work, *prepare(item))] = item
            except Exception as err:
                yield item, None, err
            yield from finished(2 * workers)
        yield from finished(0)


def in_threads(work, items, threads, ahead):
    """Yields work(item) for every item, in the items' order, computed by `threads` threads at
    most `ahead` items ahead of the consumer (a decoded image is large). An exception raised by
    `work` is raised here, at its item. A consumer that stops early cancels what has not started.
    """
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
