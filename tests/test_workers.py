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


@pytest.mark.parametrize("workers", [2, 3])
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
