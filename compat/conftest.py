"""Fixtures for the compatibility suite: a real `weir serve` per test.

The binary comes from $WEIR_BIN, else target/debug/weir, else target/release/weir
(build it with `cargo build -p weir-cli --bin weir`). Each test gets a broker on
127.0.0.1:0 with its own data directory; the broker's stderr is printed when a test
fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from weirproc import WeirProcess

REPO = Path(__file__).resolve().parent.parent


def _weir_bin() -> str:
    explicit = os.environ.get("WEIR_BIN")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            pytest.exit(f"WEIR_BIN={explicit} is not a file", returncode=2)
        return str(path)
    for profile in ("debug", "release"):
        path = REPO / "target" / profile / "weir"
        if path.is_file():
            return str(path)
    pytest.exit(
        "no weir binary: set WEIR_BIN or run `cargo build -p weir-cli --bin weir`",
        returncode=2,
    )


@pytest.fixture(scope="session")
def weir_bin() -> str:
    return _weir_bin()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def weir_factory(weir_bin, tmp_path, request):
    """Makes brokers: `weir_factory(*extra_flags)` starts one on a fresh data dir."""
    started: list[WeirProcess] = []

    def make(*extra_args, start=True) -> WeirProcess:
        n = len(started)
        proc = WeirProcess(
            weir_bin,
            data_dir=tmp_path / f"data-{n}",
            log_dir=tmp_path / f"logs-{n}",
            extra_args=extra_args,
        )
        started.append(proc)
        if start:
            proc.start()
        return proc

    yield make
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    for proc in started:
        if failed:
            print(f"--- weir log ({proc.stderr_path}) ---\n{proc.log_tail(60)}")
        proc.close()


@pytest.fixture
def weir(weir_factory) -> WeirProcess:
    """A broker with default settings (auto-create on, 1 default partition)."""
    return weir_factory()


