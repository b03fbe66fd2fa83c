"""The ``geofm`` command line: a thin Typer layer over the :mod:`geofm` Python API."""
