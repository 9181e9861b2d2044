"""Repository promises: CI runs the README's test command; the plugin loads without runtimes."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md must start with a bash block of the two commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def tox_ini() -> configparser.ConfigParser:
    tox = configparser.ConfigParser(interpolation=None)  # tox's {substitutions} stay as written
    tox.read(ROOT / "tox.ini")
    return tox


def tox_label(tox: configparser.ConfigParser, label: str) -> list[str]:
    """The envs of a tox label, e.g. `matrix` -> ["matrix-main", "matrix-ipex"]."""
    labels = {
        name.strip(): [env.strip() for env in envs.split(",")]
        for name, envs in (line.split("=", 1) for line in tox["tox"]["labels"].splitlines() if "=" in line)
    }
    return labels[label]


def test_the_main_job_runs_all_six_backends() -> None:
    """The first command is `tox -m matrix`: its label's envs run every built-in backend."""
    assert "tox -m matrix" in readme_commands()[0]
    tox = tox_ini()
    ran = " ".join(tox[f"testenv:{env}"]["commands"] for env in tox_label(tox, "matrix"))
    for name in (
        "reference-ort",
        "reference-ov",
        "reference-ipex",
        "optimum-ort",
        "optimum-ov",
        "optimum-ipex",
    ):
        assert f" {name}" in ran, f"{name} is not in the main job"


def test_plugin_and_packages_import_no_runtime() -> None:
    code = (
        "import sys, conformance.plugin, conformance, reference, reports, conformance.zoo, conformance.cli;"
        "bad = [m for m in ('onnxruntime', 'openvino', 'intel_extension_for_pytorch', 'optimum', 'torch',"
        " 'huggingface_hub') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
