"""cyconv's ops on dask arrays: the same names and signatures, lazy dask arrays out.

``x`` may be chunked along N and any spatial dim (C is read whole); weights and biases are
NumPy or dask arrays. Each output block calls the single-array cyconv op on exactly the inputs
its windows read (its chunk plus an asymmetric halo of at most ``(pad_lo, dilation*(k-1) -
pad_lo)`` per dim), with the padding that falls outside the array, so it computes what the
single call computes for those outputs and nothing twice (``_geometry`` has the rule). Input
gradients gather the grad_output entries whose windows touch each block; weight and bias
gradients are per-block partials tree-summed with ``split_every=``. Nothing computes until
asked.

Needs the ``dask`` extra (``pip install 'cyconv[dask]'``); ``import cyconv`` does not import
it. Thread counts: see ``cyconv.dask._threads`` (threads per worker x OpenMP threads <= cores).
"""
from __future__ import annotations

from ._api import *  # noqa: F401,F403  (the public ops)
from ._api import __all__  # noqa: F401
