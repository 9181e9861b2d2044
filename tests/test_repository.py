"""Repository promises: CI runs the README's test command; the plugin loads without runtimes."""

from __future__ import annotations

import configparser
import os
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


def test_the_main_job_renders_every_record_it_writes_into_one_site() -> None:
    """The label's runs write records; its last env, run after them, renders all of them."""
    tox = tox_ini()
    envs = tox_label(tox, "matrix")
    site_env = envs[-1]
    written = [
        record
        for env in envs[:-1]
        for record in re.findall(r"--results (\S+\.jsonl)", tox[f"testenv:{env}"]["commands"])
    ]
    assert len(written) == len(envs) - 1, written
    depends = {name.strip() for name in tox[f"testenv:{site_env}"]["depends"].split(",")}
    assert depends == set(envs[:-1]), "the site env must wait for every run"
    render = tox[f"testenv:{site_env}"]["commands"]
    assert " report " in render and all(record in render for record in written), render


def test_the_site_env_deps_are_all_the_report_imports() -> None:
    """matrix-site renders in a venv holding only its declared deps: the report command must import
    nothing else (a missing one would surface only at the end of a 30-minute main job)."""
    declared = tox_ini()["testenv:matrix-site"]["deps"].split()
    allowed = {*declared, "markupsafe"}  # jinja2's own dependency
    code = (
        "import sys\n"
        "from importlib.abc import MetaPathFinder\n"
        f"allowed = {sorted(allowed)!r}\n"
        "class Only(MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        top = name.partition('.')[0]\n"
        "        if top in sys.stdlib_module_names or top in allowed or top == 'reports':\n"
        "            return None\n"
        "        raise ImportError(f'the report imports {name}, which matrix-site does not install')\n"
        "sys.meta_path.insert(0, Only())\n"
        "import reports.cli, reports.render, reports.model, reports.diff\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


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


# Every version set a tox env installs from: torch inside the range pyproject.toml allows, and each env of
# the release matrix (issue 18) pinning, in its constraints file and its deps alike, the release it is named
# after: peers-oi<major.minor> an optimum-intel <major.minor>.x run as optimum-ov, peers-oi<major.minor>-ipex
# the same run as optimum-ipex, peers-oo<version> that optimum-onnx run as optimum-ort.
TORCH_RANGE = ">=2.8,<2.14"
RELEASE_ENV = re.compile(r"peers-(?P<kind>oi|oo)(?P<version>\d+(?:\.\d+)+)(?P<variant>-ipex)?")
RELEASE_KINDS = {
    "oi": ("optimum-intel", "optimum-ov"),
    "oi-ipex": ("optimum-intel", "optimum-ipex"),
    "oo": ("optimum-onnx", "optimum-ort"),
}


def _expand(section: str) -> list[str]:
    """tox 4's generative env names: `peers-oi{1.22,1.23}` is two envs."""
    import itertools

    parts = re.split(r"\{([^}]*)\}", section)
    choices = [[part] if i % 2 == 0 else [c.strip() for c in part.split(",")] for i, part in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def _for_env(value: str, env: str) -> list[str]:
    """The lines of a tox value that apply to env: unconditional ones and `factor: line` for its factors."""
    factors, kept = set(env.split("-")), []
    for line in value.splitlines():
        line = line.strip()
        condition = re.match(r"^([\w.]+):\s+(.*)$", line)
        if condition:
            if condition.group(1) in factors:
                kept.append(condition.group(2))
        elif line:
            kept.append(line)
    return kept


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def version_set_problems(tox_ini: Path, constraints: Path) -> list[str]:
    import configparser

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(tox_ini)
    problems = []
    for section in tox.sections():
        if not section.startswith("testenv:"):
            continue
        for env in _expand(section.removeprefix("testenv:")):
            options = tox[section]
            setenv = _for_env(options.get("setenv", ""), env)
            named = [line.split("=", 1)[1].strip() for line in setenv if line.startswith("CONSTRAINTS_SET")]
            path = constraints / f"{named[-1] if named else env}.txt"
            if not path.is_file():
                problems.append(f"{env}: no {path.name}")
                continue
            pins = _pins(path)
            torch = pins.get("torch")
            if torch is None or Version(torch) not in SpecifierSet(TORCH_RANGE):
                problems.append(f"{env}: {path.name} pins torch {torch}, not within {TORCH_RANGE}")
            release = RELEASE_ENV.fullmatch(env)
            if not release:
                continue
            kind = release["kind"] + (release["variant"] or "")
            if kind not in RELEASE_KINDS:
                problems.append(f"{env}: no release kind {kind}")
                continue
            distribution, backend = RELEASE_KINDS[kind]
            pinned = pins.get(distribution, "")
            if not re.fullmatch(re.escape(release["version"]) + r"(\.\d+)*", pinned):
                problems.append(f"{env}: {path.name} pins {distribution} {pinned or 'nothing'}")
            deps = [line for line in _for_env(options.get("deps", ""), env) if line.startswith(distribution)]
            if [dep.split("==")[-1] for dep in deps] != [pinned]:
                problems.append(f"{env}: deps {deps} do not pin {distribution}=={pinned}")
            commands = " ".join(_for_env(options.get("commands", ""), env))
            if f"run {backend} " not in commands or "results/{envname}.jsonl" not in commands:
                problems.append(f"{env}: does not run {backend} into results/{{envname}}.jsonl")
            if "OPTIMUM_CONFORMANCE_ENV = {envname}" not in setenv:
                problems.append(f"{env}: its records are not named after the release")
    return problems


def test_every_version_set_exists_pins_torch_and_its_release() -> None:
    problems = version_set_problems(ROOT / "tox.ini", ROOT / "constraints")
    assert not problems, "\n".join(problems)


def test_the_version_set_check_finds_a_wrong_release_and_torch(tmp_path: Path) -> None:
    (tmp_path / "peers-oi1.25.txt").write_text("torch==2.15.0\noptimum-intel==1.26.1\n")
    (tmp_path / "tox.ini").write_text(
        "[testenv:peers-oi{1.25,1.26}]\nsetenv =\n    OPTIMUM_CONFORMANCE_ENV = {envname}\n"
        "deps =\n    oi1.25: optimum-intel[openvino]==1.25.2\n"
        "commands = optimum-conformance run optimum-ov --results results/{envname}.jsonl\n"
        # the IPEX twin of a release must run optimum-ipex, not the OpenVINO backend
        "[testenv:peers-oi1.26-ipex]\nsetenv =\n    OPTIMUM_CONFORMANCE_ENV = {envname}\n"
        "deps =\n    optimum-intel[ipex]==1.26.1\n"
        "commands = optimum-conformance run optimum-ov --results results/{envname}.jsonl\n"
    )
    (tmp_path / "peers-oi1.26-ipex.txt").write_text("torch==2.8.0\noptimum-intel==1.26.1\n")
    problems = version_set_problems(tmp_path / "tox.ini", tmp_path)
    assert problems == [
        "peers-oi1.25: peers-oi1.25.txt pins torch 2.15.0, not within >=2.8,<2.14",
        "peers-oi1.25: peers-oi1.25.txt pins optimum-intel 1.26.1",
        "peers-oi1.25: deps ['optimum-intel[openvino]==1.25.2'] do not pin optimum-intel==1.26.1",
        "peers-oi1.26: no peers-oi1.26.txt",
        "peers-oi1.26-ipex: does not run optimum-ipex into results/{envname}.jsonl",
    ], problems


def test_the_benchmarks_collect() -> None:
    """`tox -e bench` runs the benchmarks folder: each file imports here or skips with its reason
    (an IPEX benchmark without IPEX), never a collection error that stops every benchmark."""
    done = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "benchmarks",
        ],
        cwd=ROOT,
        # as tox runs it: no PYTHONPATH, and (-P) not the working folder on sys.path
        env={name: value for name, value in os.environ.items() if name != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
