"""Shared pytest configuration.

* a non-interactive matplotlib backend for every test;
* one torch thread: the tests train tiny models, for which intra-op threads cost more than they save, and a
  second thread competing with other processes on a small machine can slow a test down many times.
"""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
