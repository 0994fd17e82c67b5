"""workers.each: one item's failure, even one that kills its worker process, costs only that
item."""

import os
import signal

import pytest

from wnet_tf.workers import WorkerDied, each


def square_or_die(n):
    """n squared; 3 kills its own process, as the kernel's out-of-memory killer would; 5 raises."""
    if n == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    if n == 5:
        raise ValueError("five")
    return n * n


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_worker_that_dies_costs_only_its_item(workers):
    outcomes = {item: (result, error) for item, result, error in
                each(square_or_die, range(10), workers)}
    assert sorted(outcomes) == list(range(10))
    for n, (result, error) in outcomes.items():
        if n == 3:
            assert isinstance(error, WorkerDied) and "SIGKILL" in str(error)
        elif n == 5:
            assert isinstance(error, ValueError) and str(error) == "five"
        else:
            assert error is None and result == n * n


def slow_first(n):
    """n squared, the first item last to finish; 5 raises."""
    import time

    time.sleep(0.3 if n == 0 else 0.01)
    if n == 5:
        raise ValueError("five")
    return n * n


def test_the_same_loop_runs_on_threads():
    outcomes = [(item, result, error) for item, result, error in
                each(slow_first, range(8), 3, threads=True)]
    assert outcomes[-1][0] == 0  # completion order: the slow first item comes last
    assert {item: result for item, result, _ in outcomes} == {
        n: None if n == 5 else n * n for n in range(8)}
    assert [str(error) for _, _, error in outcomes if error] == ["five"]


def test_in_threads_keeps_the_items_order_and_raises_at_the_failing_item():
    from wnet_tf.workers import in_threads

    results = in_threads(slow_first, range(8), 3)
    assert [next(results) for _ in range(5)] == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="five"):
        next(results)


@pytest.mark.parametrize("workers", [0, 1])
def test_inline_runs_in_this_process(workers):
    results = list(each(lambda n: (n, os.getpid()), range(3), workers, inline=True))
    assert [(item, result, error) for item, result, error in results] == [
        (n, (n, os.getpid()), None) for n in range(3)]
    assert [r for _, r, _ in each(os.getpid, [()], 0, prepare=lambda item: ())] == [os.getpid()]


def test_one_worker_runs_apart_from_this_process():
    (_, pid, error), = each(os.getpid, [()], 1, prepare=lambda item: ())
    assert error is None and pid != os.getpid()
