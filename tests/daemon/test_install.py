"""`make install` into a temporary root, the installed unit checked by systemd-analyze, and
the installed daemon run the way systemd runs it: its directories and credentials in the
environment, the notify protocol over a real socket."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from simulator import Simulator
from tests.daemon.harness import DaemonProcess, config_text, notify_life_cycle
from tests.test_lock import pins

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        shutil.which("systemd-analyze") is None,
        reason="systemd-analyze is not installed (.ci/run installs Debian's systemd package)",
    ),
]


def make(target: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, f"ROOT={root}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("root")
    done = make("install", root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_install_lays_out_code_unit_config_and_credstore(installed: Path) -> None:
    assert (installed / "opt/breakerwatch/bin/breakerwatch").is_file()
    unit = (installed / "etc/systemd/system/breakerwatch.service").read_text()
    assert f"ExecStart={installed}/opt/breakerwatch/bin/breakerwatch run" in unit
    assert "ProcSubset" not in unit  # it would silently remove the process_* metrics
    config = (installed / "etc/breakerwatch/config.toml").read_text()
    assert 'api_key = "credential:mailchimp-api-key"' in config
    assert (installed / "etc/credstore").stat().st_mode & 0o777 == 0o700
    assert (installed / "opt/breakerwatch/share/doc/operations.md").is_file()


def test_install_puts_exactly_the_locked_versions_and_leaves_pip_alone(installed: Path) -> None:
    prefix = installed / "opt/breakerwatch"
    frozen = subprocess.run(
        [prefix / "bin/pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    versions = {
        canonicalize_name(name): version
        for name, version in (line.split("==", 1) for line in frozen.splitlines())
    }
    locked = {**pins("run"), **pins("build")}
    assert {name: versions.get(name) for name in locked} == locked
    assert versions["breakerwatch"] == "0.1.0"
    bundled = subprocess.run(  # the venv's own pip, as `python -m venv` made it
        ["python3", "-c", "import ensurepip; print(ensurepip.version())"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert versions["pip"] == bundled


def test_install_twice_keeps_the_config(installed: Path) -> None:
    config = installed / "etc/breakerwatch/config.toml"
    config.write_text(config.read_text() + "\n# edited by the operator\n")
    done = make("install", installed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept the existing" in done.stdout
    assert config.read_text().endswith("# edited by the operator\n")


@pytest.mark.parametrize("instance", ["", "@1-2"])
def test_the_installed_unit_passes_systemd_analyze(
    installed: Path, instance: str, tmp_path: Path
) -> None:
    unit = installed / "etc/systemd/system/breakerwatch.service"
    if instance:  # an instance of the template, under its own name
        unit = tmp_path / f"breakerwatch{instance}.service"
        shutil.copy(installed / "etc/systemd/system/breakerwatch@.service", unit)
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    exposure = rf"Overall exposure level for {re.escape(unit.name)}: (\d+\.\d+) (\w+)"
    found = re.search(exposure, security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found[1]) <= 2.0
    assert found[2] == "OK"
    assert security.returncode == 0


def test_the_installed_daemon_runs_as_systemd_runs_it(
    installed: Path, simulator: Simulator, tmp_path: Path, notify_socket: socket.socket
) -> None:
    configuration = tmp_path / "etc"
    credentials = tmp_path / "credentials"
    state = tmp_path / "state"
    for directory in (configuration, credentials, state):
        directory.mkdir()
    text = config_text(simulator, Path("ignored-under-systemd"))
    for var, credential in (("KIT_KEY", "kit-api-key"), ("HUBSPOT_KEY", "hubspot-token"),
                            ("MAILCHIMP_KEY", "mailchimp-api-key"),
                            ("SENDGRID_KEY", "sendgrid-api-key")):  # fmt: skip
        text = text.replace(f"env:{var}", f"credential:{credential}")
        vendor = credential.split("-")[0]
        (credentials / credential).write_text(simulator.credentials[vendor])
    (configuration / "config.toml").write_text(text)
    env = {
        "PATH": "/usr/bin:/bin",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "1000000",
        "STATE_DIRECTORY": str(state),
        "CONFIGURATION_DIRECTORY": str(configuration),
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    binary = installed / "opt/breakerwatch/bin/breakerwatch"
    daemon = DaemonProcess(None, env, binary=str(binary))  # no --config: as ExecStart
    try:
        notify_life_cycle(notify_socket, daemon, simulator)
    finally:
        assert daemon.stop() == 0
    assert (state / "state.db").is_file()  # $STATE_DIRECTORY won over the config's state_dir
    assert not (configuration / "ignored-under-systemd").exists()


def test_the_template_runs_one_shard_per_instance(installed: Path) -> None:
    single = (installed / "etc/systemd/system/breakerwatch.service").read_text()
    template = (installed / "etc/systemd/system/breakerwatch@.service").read_text()
    shard = "Environment=BREAKERWATCH_SHARD=%I BREAKERWATCH_PORT_PER_SHARD=1"
    assert (
        template.replace(f"{shard}\n", "")
        .replace(" (shard %I)", "")
        .replace("StateDirectory=breakerwatch/shard-%i", "StateDirectory=breakerwatch")
        == single
    )  # the same hardened unit, but for its shard and its own state
    assert shard in template
    done = subprocess.run(
        ["sh", "systemd/install.sh", "install", str(installed)], env={**os.environ, "SHARDS": "2"},
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert "systemctl enable --now breakerwatch@0-2 breakerwatch@1-2" in done.stdout


def test_uninstall_removes_code_and_unit_and_keeps_config(installed: Path) -> None:
    done = make("uninstall", installed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (installed / "opt/breakerwatch").exists()
    assert not (installed / "etc/systemd/system/breakerwatch.service").exists()
    assert not (installed / "etc/systemd/system/breakerwatch@.service").exists()
    assert (installed / "etc/breakerwatch/config.toml").is_file()
    assert "kept:" in done.stdout
