"""Shared test setup: tests are small and single-threaded (CI has 2 cores, results must be exact)."""

import torch

torch.set_num_threads(1)
