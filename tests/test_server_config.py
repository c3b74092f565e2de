"""Server settings (issue 6): .streamlit/config.toml keeps XSRF protection on, upload and message sizes
small, usage statistics off and error details hidden (see docs/deployment.md)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config() -> dict:
    assert CONFIG.is_file(), f"{CONFIG} is missing"
    with CONFIG.open("rb") as fh:
        return tomllib.load(fh)


def test_xsrf_protection_is_on(config: dict) -> None:
    assert config["server"]["enableXsrfProtection"] is True


def test_upload_and_message_sizes_are_set_and_small(config: dict) -> None:
    server = config["server"]
    # megabytes; Streamlit's defaults are 200 MB each: the app takes no uploads and sends < 50 MB messages
    assert isinstance(server.get("maxUploadSize"), int) and 0 < server["maxUploadSize"] <= 5, server.get("maxUploadSize")
    assert isinstance(server.get("maxMessageSize"), int) and 0 < server["maxMessageSize"] <= 50, server.get("maxMessageSize")


def test_usage_statistics_are_off(config: dict) -> None:
    assert config["browser"]["gatherUsageStats"] is False


def test_visitors_see_no_tracebacks_and_the_server_is_headless(config: dict) -> None:
    assert config.get("client", {}).get("showErrorDetails") in ("none", False), config.get("client")
    assert config["server"].get("headless") is True
    assert config["server"].get("runOnSave", False) is False


def test_options_are_known_to_streamlit(config: dict) -> None:
    """A misspelt option is silently ignored by Streamlit, so every key must be a real option."""
    from streamlit import config as st_config

    known = set(st_config._config_options_template)  # "section.option" names of this Streamlit version
    unknown = [f"{sec}.{opt}" for sec, opts in config.items() for opt in opts if f"{sec}.{opt}" not in known]
    assert not unknown, f"options Streamlit does not know: {unknown}"
