"""The static smp table matches the installed segmentation-models-pytorch, so a new release fails loudly."""

from __future__ import annotations

import segmentation_models_pytorch as smp

from geofm_decoders import smp_adapter
from geofm_decoders.smp_table import SMP_DECODERS, SMP_EXCLUDED


def test_every_smp_architecture_is_registered_or_excluded_with_a_reason():
    installed = set(smp.MODEL_ARCHITECTURES_MAPPING)
    covered = set(SMP_DECODERS) | set(SMP_EXCLUDED)
    assert installed - covered == set(), (
        f"smp {smp.__version__} offers {sorted(installed - covered)} which geofm-decoders neither registers "
        "nor excludes: add them to geofm_decoders/smp_table.py and smp_adapter._BUILDERS"
    )
    assert covered - installed == set(), f"smp {smp.__version__} no longer offers {sorted(covered - installed)}"
    assert not set(SMP_DECODERS) & set(SMP_EXCLUDED)
    assert all(reason.strip() for reason in SMP_EXCLUDED.values())


def test_table_matches_smp_class_names_and_builders():
    for arch, info in SMP_DECODERS.items():
        assert smp.MODEL_ARCHITECTURES_MAPPING[arch].__name__ == info.class_name
        assert info.name == f"smp_{arch}"
        assert callable(getattr(smp_adapter.factories, arch))
    assert set(smp_adapter._BUILDERS) == set(SMP_DECODERS)
