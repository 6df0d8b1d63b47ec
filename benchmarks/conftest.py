"""Benchmarks run on 2 threads (the machine's cores), float32, unless a test says otherwise."""

import pytest

import fastfit

BENCH_THREADS = 2


@pytest.fixture(autouse=True)
def _two_threads():
    with fastfit.num_threads(BENCH_THREADS):
        try:
            import torch
        except ImportError:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(BENCH_THREADS)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
