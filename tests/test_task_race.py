"""Real processes racing on one installation's tasks: of eight processes claiming one QUEUED task,
exactly one wins and the others get the transition error; processes deciding the same requests at
once append exactly one decision per request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from datacore_msg.app import exchange
from datacore_msg.app.governance import UNPINNED_REPLIES_PER_DAY
from datacore_msg.config.paths import settings_path

PROCESSES = 8

#: Runs the CLI's ``main`` with the given arguments once the go file exists; prints "ready" first,
#: so the test releases every process only when all of them have paid their start-up time.
AT_ONCE = r"""
import sys, time
from pathlib import Path
from datacore_msg.cli.main import main
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.0005)
sys.exit(main(sys.argv[2:]))
"""

#: Decides every given request directly with the governor's ``decide_request`` -- outside the views
#: lock that commands hold, so only the check inside the append's transaction keeps decisions single.
DECIDE = r"""
import sys, time
from pathlib import Path
from datacore_msg.app import governance
from datacore_msg.app.space import open_space
root, go, ids = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]).read_text().split()
with open_space(root) as space:
    states = [governance.load_task(space, task) for task in ids]
    assert all(state is not None and state.state == "REQUESTED" for state in states)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.0005)
    appended = sum(governance.decide_request(space, state) is not None for state in states)
print(appended, flush=True)
"""


def start(inst: Any, script: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=inst.env(),
    )


def release(procs: list[subprocess.Popen[bytes]], go: Path) -> list[tuple[int, str, str]]:
    """Wait until every process is ready, let them all go, and collect (code, stdout, stderr)."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out.decode("utf-8"), err.decode("utf-8")))
    return results


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def logged(inst: Any, type_name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(ok(inst.cli("log", "--type", type_name, "--json")).out)["data"]
    return data


def assert_healthy(inst: Any) -> None:
    verify = ok(inst.cli("verify", "--json"))
    assert json.loads(verify.out)["data"]["problems"] == []
    check = inst.cli("rebuild", "--check")
    assert check.code == 0, check


def new_task(inst: Any, text: str) -> str:
    return str(json.loads(ok(inst.cli("send", "@claude", text, "--json")).out)["data"]["id"])


# -- claims ------------------------------------------------------------------------------------


def assert_one_claim(gregor: Any, task: str, results: list[tuple[int, str, str]]) -> None:
    codes = Counter(code for code, _, _ in results)
    assert codes == {0: 1, 6: PROCESSES - 1}, results
    for code, out, err in results:
        if code == 0:
            assert out == f"Claim: {task} is now WORKING\n" and err == "", (out, err)
        else:
            assert out == "", out
            assert err == "datacore-msg: error: claim: expected state QUEUED, got WORKING\n", err
    claims = [e for e in logged(gregor, "task.claimed") if e["data"]["task"] == task]
    assert len(claims) == 1 and claims[0]["actor"] == "gregor-claude"
    show = json.loads(ok(gregor.cli("task", "show", task, "--json")).out)["data"]
    assert show["state"] == "WORKING"
    assert [h["action"] for h in show["history"]] == ["decide", "claim"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_processes_claim_one_task_exactly_one_wins(gregor: Any, tmp_path: Path) -> None:
    for round_ in range(3):
        task = new_task(gregor, f"contested task {round_}")
        other = new_task(gregor, f"bystander {round_}")
        go = tmp_path / f"go-{round_}"
        # the id is given in full, by the hex part, or by a prefix: every process resolves it
        refs = [task, task[-8:], task[-8:-2], task]
        procs = [
            start(gregor, AT_ONCE, str(go), "task", "claim", refs[n % len(refs)], "--root", str(gregor.root))
            for n in range(PROCESSES)
        ]
        assert_one_claim(gregor, task, release(procs, go))
        assert json.loads(ok(gregor.cli("task", "show", other, "--json")).out)["data"]["state"] == "QUEUED"
    assert len(logged(gregor, "task.claimed")) == 3
    assert_healthy(gregor)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_cli_processes_started_back_to_back(gregor: Any) -> None:
    """The same with ``python -m datacore_msg task claim ID --root ...``, started one after the other."""
    task = new_task(gregor, "contested")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "datacore_msg", "task", "claim", task, "--root", str(gregor.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=gregor.env(),
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out.decode("utf-8"), err.decode("utf-8")))
    assert_one_claim(gregor, task, results)
    assert_healthy(gregor)


# -- decisions ---------------------------------------------------------------------------------


def _requests_from_tex(gregor: Any, tex: Any, count: int, unlimited: bool = True) -> list[str]:
    """``count`` requests from tex in gregor's log, stored without running gregor's governor."""
    if unlimited:
        path = settings_path(gregor.root)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["messaging"]["compute"] = {
            "cooldown_between_tasks": 0,
            "max_queue_depth": 0,
            "rate_limits": {"tasks_per_hour": 0},
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        gregor.pin(tex, "team")
    ids = []
    for n in range(count):
        result = ok(tex.cli("send", "@gregor-claude", f"request {n}", "--tokens", "100", "--json"))
        ids.append(json.loads(result.out)["data"]["id"])
    with tex.space() as space:
        lines = list(exchange.parse_lines(line.encode() for line in exchange.export_lines(space)))
    with gregor.space() as space:
        report = space.store.ingest(lines, int(time.time() * 1000))
        assert report.rejected == [] and len(report.accepted) == count
    assert logged(gregor, "task.decided") == []
    return ids


def assert_decided_once(gregor: Any, ids: list[str]) -> list[dict[str, Any]]:
    decided = logged(gregor, "task.decided")
    per_task = Counter(e["data"]["task"] for e in decided)
    assert per_task == dict.fromkeys(ids, 1), per_task
    assert {e["actor"] for e in decided} == {"gregor-claude"}
    return decided


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_commands_deciding_at_once_decide_each_request_once(
    gregor: Any, tex: Any, tmp_path: Path
) -> None:
    ids = _requests_from_tex(gregor, tex, 40)
    go = tmp_path / "go"
    root = str(gregor.root)
    procs = [start(gregor, AT_ONCE, str(go), "tasks", "--json", "--root", root) for _ in range(2)]
    results = release(procs, go)
    assert [code for code, _, _ in results] == [0, 0], results
    assert_decided_once(gregor, ids)
    # both listed every request as decided (the one that waited for the lock saw the other's work)
    for _, out, _ in results:
        listed = json.loads(out)["data"]
        assert [t["id"] for t in listed] == ids
        assert {t["state"] for t in listed} == {"QUEUED"}
    assert_healthy(gregor)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_concurrent_imports_and_listings_decide_each_request_once(
    gregor: Any, tex: Any, tmp_path: Path
) -> None:
    """Two imports of the same export and two listings at once; the default limits hold the first
    request, defer the second (cooldown) and refuse the rest of the burst (the unpinned queue of
    tex's key, which counts the deferred one), and the refusals get their replies once each, as many
    as an unpinned key gets in a day."""
    ids = []
    for n in range(12):
        result = ok(tex.cli("send", "@gregor-claude", f"burst {n}", "--tokens", "100", "--json"))
        ids.append(json.loads(result.out)["data"]["id"])
    export = tmp_path / "tex.jsonl"
    ok(tex.cli("export", str(export)))
    go = tmp_path / "go"
    root = str(gregor.root)
    procs = [start(gregor, AT_ONCE, str(go), "import", str(export), "--root", root) for _ in range(2)]
    procs += [start(gregor, AT_ONCE, str(go), "tasks", "--root", root) for _ in range(2)]
    results = release(procs, go)
    assert [code for code, _, _ in results] == [0] * 4, results
    imported = sorted(out.splitlines()[0] for _, out, _ in results[:2])
    assert imported == [
        "Imported 0 new event(s), 12 already present, 0 rejected.",
        "Imported 12 new event(s), 0 already present, 0 rejected.",
    ]
    decided = assert_decided_once(gregor, ids)
    outcomes = Counter(e["data"]["outcome"] for e in decided)
    assert outcomes == {"held": 1, "deferred": 1, "refused": 10}, outcomes
    refused = [e["data"]["task"] for e in decided if e["data"]["outcome"] == "refused"]
    assert {e["data"]["rule"] for e in decided if e["data"]["outcome"] == "refused"} == {
        "unpinned_queue_per_key"
    }
    replies = [e for e in logged(gregor, "message.sent") if e["actor"] == "gregor-claude"]
    # tex is pinned nowhere here: an unpinned key gets a few refusal replies a day, not one each
    replied = [r["data"]["text"].split()[1] for r in replies]
    assert len(replied) == len(set(replied)) == UNPINNED_REPLIES_PER_DAY
    assert set(replied) <= set(refused)
    assert_healthy(gregor)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_governor_outside_the_views_lock_still_decides_once(gregor: Any, tex: Any, tmp_path: Path) -> None:
    """Two processes call ``decide_request`` on the same 30 undecided requests at the same moment,
    bypassing the views lock: the check inside the append's transaction lets one decision each."""
    ids = _requests_from_tex(gregor, tex, 30, unlimited=False)
    id_file = tmp_path / "ids.txt"
    id_file.write_text("\n".join(ids), encoding="utf-8")
    go = tmp_path / "go"
    procs = [start(gregor, DECIDE, str(gregor.root), str(go), str(id_file)) for _ in range(2)]
    results = release(procs, go)
    assert [code for code, _, _ in results] == [0, 0], results
    assert sum(int(out) for _, out, _ in results) == len(ids)
    decided = assert_decided_once(gregor, ids)
    refused = {e["data"]["task"] for e in decided if e["data"]["outcome"] == "refused"}
    replies = [e for e in logged(gregor, "message.sent") if e["actor"] == "gregor-claude"]
    assert len(replies) == len(refused)
    listed = json.loads(ok(gregor.cli("tasks", "--all", "--json")).out)["data"]
    assert sorted(t["id"] for t in listed) == sorted(ids)
    assert all(t["state"] in ("WAITING", "CANCELLED") for t in listed)
    assert_decided_once(gregor, ids)  # the listing's governor found nothing left to decide
    assert_healthy(gregor)
