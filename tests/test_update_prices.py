"""scripts/update_prices.py: the committed price snapshot is what the pinned genai-prices gives."""

import importlib.util
import json
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "update_prices.py"


@pytest.fixture(scope="module")
def update_prices():
    spec = importlib.util.spec_from_file_location("update_prices", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_snapshot_is_the_pinned_release_regenerated(update_prices, tmp_path):
    pytest.importorskip("genai_prices", reason="genai-prices is in requirements-dev.txt")
    committed = update_prices.SNAPSHOT.read_text(encoding="utf-8")
    taken = json.loads(committed)["taken"]
    output = tmp_path / "prices.json"

    assert update_prices.main(["--output", str(output), "--taken", taken]) == 0

    assert output.read_text(encoding="utf-8") == committed


def test_the_pins_agree(update_prices):
    pin = f"genai-prices=={update_prices.GENAI_PRICES_VERSION}"
    snapshot = json.loads(update_prices.SNAPSHOT.read_text(encoding="utf-8"))

    assert snapshot["version"] == update_prices.GENAI_PRICES_VERSION
    assert pin in (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert f'"{pin}"' in (update_prices.TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")


def test_another_genai_prices_version_is_one_clear_line(
    update_prices, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(update_prices.metadata, "version", lambda name: "0.0.1")
    output = tmp_path / "prices.json"

    assert update_prices.main(["--output", str(output)]) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert "genai-prices 0.0.1" in line
    assert f"pip install genai-prices=={update_prices.GENAI_PRICES_VERSION}" in line
    assert not output.exists()


def test_a_missing_genai_prices_is_one_clear_line(update_prices, tmp_path, monkeypatch, capsys):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(update_prices.metadata, "version", missing)

    assert update_prices.main(["--output", str(tmp_path / "prices.json")]) == 2
    assert "genai-prices is not installed" in capsys.readouterr().err


def test_a_snapshot_holding_a_jinja_tag_is_refused(update_prices):
    data = {"source": "x", "providers": [{"id": "p", "models": [{"match": {"regex": "a{#b"}}]}]}

    with pytest.raises(SystemExit, match="Jinja tag"):
        update_prices.dump(data)
