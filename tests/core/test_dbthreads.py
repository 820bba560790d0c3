"""The adapters' database threads: results, errors, nesting, reuse, concurrency, shutdown."""

import threading

import pytest

from apps.core.dbthreads import DatabaseThreads


@pytest.fixture
def pool():
    threads = DatabaseThreads(3)
    yield threads
    threads.close()


def test_a_call_returns_its_result_and_raises_its_error(pool):
    assert pool.run(lambda a, b: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        pool.run(lambda: 1 / 0)


def test_a_call_made_from_a_database_thread_runs_inline(pool):
    def outer():
        return threading.current_thread(), pool.run(threading.current_thread)

    caller, inner = pool.run(outer)
    assert caller is inner


def test_sequential_calls_reuse_the_most_recently_idle_thread(pool):
    names = {pool.run(lambda: threading.current_thread().name) for _ in range(20)}
    assert len(names) == 1


def test_concurrent_calls_spread_over_the_threads_and_all_finish(pool):
    barrier = threading.Barrier(3, timeout=10)
    futures = [
        pool.submit(lambda: (barrier.wait(), threading.current_thread().name)[1]) for _ in range(3)
    ]
    assert len({future.result(timeout=10) for future in futures}) == 3
    backlog = [pool.submit(lambda i=i: i * i) for i in range(50)]
    assert [future.result(timeout=10) for future in backlog] == [i * i for i in range(50)]


async def test_async_callers_await_the_result(pool):
    assert await pool.arun(lambda: "done") == "done"


def test_close_stops_every_thread(pool):
    pool.run(lambda: None)
    threads = list(pool._threads)
    pool.close()
    assert not any(thread.is_alive() for thread in threads)
