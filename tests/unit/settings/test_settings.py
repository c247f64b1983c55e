"""Configuration that fails loudly: a deployed function without its table or index backend must not run
against development defaults."""

import pytest
from engram.errors import ConfigurationError
from engram.settings import Settings, get_settings, with_required


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch):
    for name in ("ENGRAM_DEVELOPMENT", "ENGRAM_TABLE_NAME", "ENGRAM_INDEX_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_a_deployed_function_without_its_table_and_index_fails_naming_both(clean_env: pytest.MonkeyPatch) -> None:
    # Given no development flag and neither variable set (a function deployed without them)
    # When the settings are read (the first invocation of any handler does this)
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    # Then the error names both variables
    assert "ENGRAM_TABLE_NAME" in str(raised.value)
    assert "ENGRAM_INDEX_BACKEND" in str(raised.value)


def test_one_missing_variable_is_named_alone(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENGRAM_TABLE_NAME", "engram-prod")
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert "ENGRAM_INDEX_BACKEND" in str(raised.value)
    assert "ENGRAM_TABLE_NAME" not in str(raised.value)


def test_development_defaults_apply_only_in_development(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENGRAM_DEVELOPMENT", "true")
    settings = get_settings()
    assert (settings.table_name, settings.index_backend) == ("engram", "local")


def test_variables_that_are_set_win_over_development_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENGRAM_DEVELOPMENT", "true")
    clean_env.setenv("ENGRAM_TABLE_NAME", "mine")
    clean_env.setenv("ENGRAM_INDEX_BACKEND", "opensearch")
    settings = get_settings()
    assert (settings.table_name, settings.index_backend) == ("mine", "opensearch")


def test_complete_settings_pass_unchanged() -> None:
    settings = Settings(table_name="t", index_backend="opensearch")
    assert with_required(settings) is settings


def test_the_index_of_settings_without_a_backend_is_a_configuration_error(clean_env: pytest.MonkeyPatch) -> None:
    from engram import wiring

    deps = wiring.Dependencies(Settings(table_name="t"))
    with pytest.raises(ConfigurationError, match="ENGRAM_INDEX_BACKEND"):
        _ = deps.index
