"""`srgan doctor`: facts about the install, found folders, broken probes reported not raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srgan_cli.cli import doctor_report as doctor
from srgan_cli.cli.app import main


def test_finds_datasets_under_the_data_root(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "set5" / "HR").mkdir(parents=True)
    (tmp_path / "DIV2K").mkdir()
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path))
    facts = doctor.gather()
    assert facts["data_root"] == str(tmp_path)
    assert facts["datasets"]["Set5"] == str(tmp_path / "set5")  # case-insensitive
    assert facts["datasets"]["DIV2K"] == str(tmp_path / "DIV2K")
    assert facts["datasets"]["Set14"] is None
    assert isinstance(facts["cpu_native_bf16"], bool)
    assert facts["threads"] >= 1
    assert any(m["name"] == "srresnet_x4" for m in facts["bundled_models"])


def test_a_failing_probe_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, object]:
        raise OSError("disk on fire\nsecond line")

    monkeypatch.setattr(doctor, "_weights_facts", broken)
    facts = doctor.gather()
    assert facts["weights_error"] == "OSError: disk on fire"
    assert any(line.startswith("weights_error: OSError") for line in doctor.lines(facts))


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["doctor", "--json"])  # success returns without sys.exit
    facts = json.loads(capsys.readouterr().out)
    assert facts["srgan_cli"] and "torch" in facts and "vgg19_expected_at" in facts


def test_cli_lines_say_not_found(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path))
    main(["doctor"])
    out = capsys.readouterr().out
    assert "datasets: Set5=not found" in out
    assert all(":" in line for line in out.splitlines())


@pytest.mark.parametrize("value", ["1", "true", "yes", "0", "", "false"])
def test_doctor_says_offline_exactly_when_downloads_are_off(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SRGAN_OFFLINE=true once made doctor say 'offline: False' while downloads were off."""
    from srgan_cli.errors import TrainingError
    from srgan_cli.models import download, pretrained

    asked: list[str] = []

    def urlopen(request: object, *_a: object, **_k: object) -> None:
        asked.append(str(getattr(request, "full_url", request)))
        raise OSError("no network in tests")

    monkeypatch.setattr(download, "urlopen", urlopen)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("SRGAN_OFFLINE", value)
    with pytest.raises(TrainingError) as info:
        pretrained.fetch(pretrained.VGG19, error=TrainingError, purpose="for a test")
    downloads_off = "downloads are off" in str(info.value)
    assert downloads_off == (asked == [])
    assert doctor.gather()["offline"] is downloads_off
    assert f"offline: {downloads_off}" in doctor.lines(doctor.gather())


def test_cli_data_root_option(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "given" / "Set14").mkdir(parents=True)
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "env"))  # --data-root comes first
    main(["doctor", "--json", "--data-root", str(tmp_path / "given")])
    facts = json.loads(capsys.readouterr().out)
    assert facts["data_root"] == str(tmp_path / "given") and facts["data_root_exists"]
    assert facts["datasets"]["Set14"] == str(tmp_path / "given" / "Set14")
