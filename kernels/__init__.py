"""Numba kernels of daix (installed as ``daix.kernels``).

Import the submodule you need (``daix.kernels.fixes``, ...): importing this package does not
import numba.
"""
