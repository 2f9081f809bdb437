"""KafkaJS (npm, pinned in compat/kafkajs/package.json) against weir serve: each
scenario of compat/kafkajs/scenarios.js in its own node process, checked there
with node:assert and here from the JSON it prints. .ci/run installs the packages
(`npm ci --prefix compat/kafkajs`); without them these tests fail and say so."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

KAFKAJS = Path(__file__).parent / "kafkajs"


def scenario(name: str, addr: str, timeout: float = 150) -> dict:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the KafkaJS tests need Node.js")
    if not (KAFKAJS / "node_modules" / "kafkajs").is_dir():
        pytest.fail("KafkaJS is not installed: run `npm ci --prefix compat/kafkajs` (.ci/run does)")
    done = subprocess.run(
        ["node", str(KAFKAJS / "scenarios.js"), name, addr],
        capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stderr}\n{done.stdout}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["admin", "roundtrip", "idempotent", "groups", "compression"])
def test_kafkajs_scenario(weir, name):
    result = scenario(name, weir.addr)
    if name == "roundtrip":
        from partitioning import partition_for

        for key, partition in result["partitions"].items():
            assert partition == partition_for(key.encode(), 3), key
    if name == "groups":
        assert result["shares"] == [2, 2]


def test_kafkajs_group_resumes_from_its_offsets_after_a_restart(weir):
    assert scenario("commit", weir.addr) == {"consumed": 20}
    weir.restart()
    assert scenario("resume", weir.addr) == {"resumed": 5}
