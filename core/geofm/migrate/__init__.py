"""``geofm migrate``: run TerraTorch (LightningCLI) configurations with geofm, and say what did not carry over.

:func:`translate` turns a peer YAML file (``class_path`` / ``init_args`` objects, an EncoderDecoderFactory
model, a generic or named data module, optimizer and scheduler sections, path placeholders) into a geofm
run configuration and a :class:`MigrationReport` naming every peer key as *mapped*, *defaulted* or *not
carried over*. Light: no torch; registry lookups read plugin specs only.
"""

from geofm.migrate.peer_yaml import is_peer_config, read_peer_yaml
from geofm.migrate.report import Entry, MigrationReport
from geofm.migrate.translate import Migration, translate

__all__ = ["Entry", "Migration", "MigrationReport", "is_peer_config", "read_peer_yaml", "translate"]
