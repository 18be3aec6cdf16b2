"""``python -m private_s3_processor_cli.local.moto_server ARGS``: moto's own server
(``moto.server.main``, the ``moto_server`` script's entry point), with one per-request
cost taken out.

moto 5.2's dispatcher asks, for every request, whether the Host names one of its
service packages, by listing its package directory and testing each entry with
``isdir`` (``moto.backends.list_of_moto_modules``): 11 % of the server's CPU in a
profile of the 1,000-upload Queued test. The installed package does not change while
the server runs, so the listing is taken once. Nothing else differs."""

from __future__ import annotations

import sys

import moto.backends
from moto.server import main

_MODULES = tuple(moto.backends.list_of_moto_modules())


def _listed() -> tuple[str, ...]:
    return _MODULES


moto.backends.list_of_moto_modules = _listed

if __name__ == "__main__":
    main(sys.argv[1:])
