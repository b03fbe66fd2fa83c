import pytest

from geofm.config import apply_overrides, load_config, parse_override, save_config, validate_config
from geofm.errors import ConfigError


def test_defaults_validate_and_round_trip(tmp_path):
    config = validate_config({})
    assert config.dataset.name is None and config.decoder.name is None  # chosen from the task when resolving
    path = tmp_path / "run.yaml"
    save_config(config, path)
    assert validate_config(load_config(path)) == config


def test_overrides_are_parsed_as_yaml_and_nest():
    data = apply_overrides(
        {}, [parse_override("trainer.max_epochs=3"), parse_override("backbone.grad_checkpointing=true")]
    )
    config = validate_config(data)
    assert config.trainer.max_epochs == 3
    assert config.backbone.options() == {"grad_checkpointing": True}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"trainer": {"max_epochss": 2}}, "trainer.max_epochss"),
        ({"trainer": {"max_epochs": "two"}}, "trainer.max_epochs"),
        ({"traner": {}}, "traner"),
        ({"dataset": {"batch_size": 0}}, "dataset.batch_size"),
        ({"task": {"scheduler": "sometimes"}}, "task.scheduler"),
    ],
)
def test_invalid_config_names_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        validate_config(data)
    assert repr(key) in str(info.value)


def test_set_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("trainer.max_epochs")


def test_yaml_that_is_not_a_mapping_is_an_error(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_a_run_without_a_dataset_uses_the_demo_of_its_task():
    from geofm.errors import ConfigError
    from geofm.resolve import with_default_dataset

    assert with_default_dataset(validate_config({})).dataset.name == "demo"
    regression = validate_config({"task": {"name": "regression"}})
    assert with_default_dataset(regression).dataset.name == "demo_regression"
    with pytest.raises(ConfigError, match="--dataset"):
        with_default_dataset(validate_config({"task": {"name": "classification"}}))


def test_a_top_level_key_with_brackets_is_named_not_a_crash() -> None:
    from geofm.config import validate_config
    from geofm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'necks\[0\]' is unknown\. Did you mean 'necks'"):
        validate_config({"necks[0]": 1})
