"""Must hold 3: ``mcp install`` / ``uninstall`` / ``status`` on Claude Code's config files.

What a user relies on: every other server and every other key of ``~/.claude.json`` or
``.mcp.json`` is kept, in its order; ours appears once; a second install writes nothing; uninstall
gives back what was there; a file that is not strict JSON of the right shape is refused with a
one-line error naming it, and left byte for byte as it was.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.cli.exit_codes import Exit
from datacore_msg.cli.main import main
from datacore_msg.errors import ConfigError
from datacore_msg.mcp import install as registry
from peers import ok, ordered

STAMP = "20261207T020000Z"

#: A real-looking ~/.claude.json: other servers of every kind, other keys, unicode, odd order.
CLAUDE_JSON: dict[str, Any] = {
    "numStartups": 41,
    "theme": "dark",
    "mcpServers": {
        "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/", "headers": {"X": "1"}},
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]},
        "local-ünïcode": {"type": "stdio", "command": "/opt/tool", "args": [], "env": {"TOKEN": "s3cr€t"}},
    },
    "projects": {"/home/u/src": {"allowedTools": [], "mcpServers": {"inner": {"command": "x"}}}},
    "x-unknown": [1, 2.5, None, True, {"z": "last", "a": "first"}],
}


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


def run(*args: str) -> Result:
    """The CLI in this process, through ``main`` (the real error boundary), with exactly ``args``."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(list(args))
    finally:
        sys.stdout, sys.stderr = saved
    return Result(code, out.getvalue(), err.getvalue())


def install_for(inst: Any, *args: str) -> Result:
    return run("mcp", "install", "--root", str(inst.root), *args)


def without_ours(data: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    copy.get("mcpServers", {}).pop(registry.SERVER_NAME, None)
    return dict(copy)


@pytest.fixture
def claude_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "claude-config"
    folder.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(folder))
    return folder


def write(path: Path, data: Any) -> bytes:
    raw = json.dumps(data, indent=4, ensure_ascii=True).encode("utf-8")  # not our style
    path.write_bytes(raw)
    return raw


def test_user_install_keeps_every_other_server_and_key(gregor: Any, claude_dir: Path) -> None:
    config = claude_dir / ".claude.json"
    original = write(config, CLAUDE_JSON)
    result = json.loads(ok(install_for(gregor, "--json")).out)["data"]
    assert result["added"] == [registry.SERVER_NAME] and Path(result["path"]) == config
    after = json.loads(config.read_bytes())
    assert ordered(without_ours(after)) == ordered(CLAUDE_JSON)
    entry = after["mcpServers"][registry.SERVER_NAME]
    assert entry["type"] == "stdio" and entry["args"][-2:] == ["--root", str(gregor.root)]
    assert list(after["mcpServers"])[:3] == list(CLAUDE_JSON["mcpServers"])
    assert Path(result["backup"]).read_bytes() == original

    written = config.read_bytes()
    again = json.loads(ok(install_for(gregor, "--json")).out)["data"]
    assert again["changed"] is False and config.read_bytes() == written

    removed = json.loads(ok(run("mcp", "uninstall", "--json")).out)["data"]
    assert removed["removed"] == [registry.SERVER_NAME]
    assert ordered(json.loads(config.read_bytes())) == ordered(CLAUDE_JSON)
    nothing = json.loads(ok(run("mcp", "uninstall", "--json")).out)["data"]
    assert nothing["changed"] is False


def test_project_install_writes_mcp_json_in_the_project(gregor: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    ok(install_for(gregor, "--project", str(project)))
    data = json.loads((project / ".mcp.json").read_text(encoding="utf-8"))
    assert list(data) == ["mcpServers"] and list(data["mcpServers"]) == [registry.SERVER_NAME]
    other = {"mcpServers": {"db": {"command": "db-mcp"}, **data["mcpServers"]}, "x": 1}
    write(project / ".mcp.json", other)
    ok(run("mcp", "uninstall", "--project", str(project)))
    assert json.loads((project / ".mcp.json").read_bytes()) == {
        "mcpServers": {"db": {"command": "db-mcp"}},
        "x": 1,
    }
    ok(run("mcp", "uninstall", "--project", str(project)))
    refused = install_for(gregor, "--project", str(tmp_path / "missing"))
    assert refused.code == Exit.INVALID_INPUT and "not an existing directory" in refused.err


def test_a_moved_executable_updates_our_entry_in_place(tmp_path: Path) -> None:
    config = tmp_path / ".mcp.json"
    write(config, {"mcpServers": {"a": {"command": "a"}, "datacore-msg": {"command": "/old"}, "z": {}}})
    entry = registry.server_entry(Path("/home/u/Data"), "1-team", ["/new/datacore-msg"])
    change = registry.install(config, entry, STAMP)
    assert change.updated == (registry.SERVER_NAME,)
    after = json.loads(config.read_bytes())
    assert list(after["mcpServers"]) == ["a", "datacore-msg", "z"]
    assert after["mcpServers"]["datacore-msg"]["args"] == [
        "mcp",
        "--root",
        "/home/u/Data",
        "--space",
        "1-team",
    ]


MALFORMED = [
    (b'{"mcpServers": {},}', ":1:"),  # trailing comma
    (b'{"mcpServers": {}} // mine', ":1:"),  # a comment
    (b'{"a": 1, "a": 2}', "appears twice"),
    (b'{"a": NaN}', "NaN"),
    (b"[1, 2]", "top level is a list"),
    (b'{"mcpServers": []}', "mcpServers is a list"),
    (b'{"mcpServers": {"datacore-msg": "x"}}', "mcpServers.datacore-msg is a string"),
    (b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize(("raw", "said"), MALFORMED)
@pytest.mark.parametrize("command", ["install", "uninstall", "status"])
def test_a_malformed_config_is_refused_with_a_clear_error_and_left_alone(
    gregor: Any, claude_dir: Path, raw: bytes, said: str, command: str
) -> None:
    config = claude_dir / ".claude.json"
    config.write_bytes(raw)
    result = install_for(gregor) if command == "install" else run("mcp", command, "--user")
    assert result.code == Exit.CONFIG, result
    line = result.err if command != "status" else result.out
    assert str(config) in line and said in line
    if command != "status":
        assert len(result.err.strip().splitlines()) == 1
    assert config.read_bytes() == raw
    assert sorted(p.name for p in claude_dir.iterdir()) == [".claude.json"]  # no backup, no temp file


@pytest.mark.slow
def test_status_runs_ours_and_counts_the_others(gregor: Any, claude_dir: Path, tmp_path: Path) -> None:
    write(claude_dir / ".claude.json", CLAUDE_JSON)
    entry = registry.server_entry(gregor.root, None, [sys.executable, "-m", "datacore_msg"])
    registry.install(claude_dir / ".claude.json", entry, STAMP)
    report = json.loads(ok(run("mcp", "status", "--user", "--json")).out)["data"]
    [user] = report["files"]
    assert user["entry"] == entry and user["other_servers"] == list(CLAUDE_JSON["mcpServers"])
    check = user["check"]
    assert check["ok"] and "list_inbox" in check["tools"] and len(check["tools"]) == 10, check

    broken = registry.server_entry(tmp_path / "no-installation", None, [sys.executable, "-m", "datacore_msg"])
    registry.install(claude_dir / ".claude.json", broken, STAMP)
    text = ok(run("mcp", "status", "--user")).out
    assert "FAILS: did not answer as an MCP server" in text and "not set up" in text
    gone = {"command": str(tmp_path / "gone" / "datacore-msg"), "args": ["mcp"]}
    registry.install(claude_dir / ".claude.json", gone, STAMP)
    text = ok(run("mcp", "status", "--user")).out
    assert "FAILS: " in text and "cannot start" in text


def test_the_user_file_follows_claude_config_dir_else_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path))
    assert registry.user_config_file() == tmp_path / ".claude.json"
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.user_config_file() == tmp_path / "home" / ".claude.json"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@given(
    others=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda name: name != registry.SERVER_NAME),
        st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        max_size=4,
    ),
    keys=st.dictionaries(
        st.text(max_size=8).filter(lambda key: key != "mcpServers"), json_values, max_size=4
    ),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_install_then_uninstall_gives_back_any_config(
    tmp_path: Path, others: dict[str, Any], keys: dict[str, Any]
) -> None:
    config = tmp_path / "any.json"
    original: dict[str, Any] = {**keys, "mcpServers": others} if others else dict(keys)
    write(config, original)
    entry = registry.server_entry(Path("/r"), None, ["/bin/datacore-msg"])
    registry.install(config, entry, STAMP)
    installed = json.loads(config.read_bytes())
    assert ordered(without_ours(installed)) == ordered({**original, "mcpServers": others})
    registry.uninstall(config, STAMP)
    assert ordered(json.loads(config.read_bytes())) == ordered(original)
    for backup in tmp_path.glob("any.json.datacore-msg-*.bak"):
        backup.unlink()


def test_a_config_error_names_the_file_and_never_writes(tmp_path: Path) -> None:
    config = tmp_path / ".mcp.json"
    config.write_bytes(b"{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        registry.install(config, registry.server_entry(Path("/r"), None, ["x"]), STAMP)
    assert config.read_bytes() == b"{"


def test_the_server_does_not_start_without_an_installation(tmp_path: Path) -> None:
    result = run("mcp", "--root", str(tmp_path / "nothing"))
    assert result.code == Exit.CONFIG and result.out == ""
    assert "not set up" in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "stdio", "command": "sh", "args": ["-c", "touch {marker}"]},
        # our own program, told to do something else than serve
        {"command": sys.executable, "args": ["-c", "open('{marker}', 'w')"]},
        # the right program and arguments, with an environment that runs code at start-up
        {
            "command": sys.executable,
            "args": ["-m", "datacore_msg", "mcp"],
            "env": {"PYTHONSTARTUP": "{marker}", "PYTHONINSPECT": "1", "PYTHONPATH": "{marker}"},
        },
    ],
)
def test_status_never_starts_what_a_project_file_names_unless_it_is_our_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: dict[str, Any]
) -> None:
    """A cloned repository's .mcp.json can name any program: 'mcp status' run in that folder (it
    reads ./.mcp.json) started it, running the repository's code. Claude Code asks before it starts
    a project's servers; status starts only an entry that runs this datacore-msg's MCP server."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    repo = tmp_path / "cloned-repo"
    repo.mkdir()
    marker = tmp_path / "ran"
    filled = json.loads(json.dumps(entry).replace("{marker}", str(marker)))
    write(repo / ".mcp.json", {"mcpServers": {"datacore-msg": filled}})
    monkeypatch.chdir(repo)
    for argv in (("mcp", "status"), ("mcp", "status", "--project", str(repo))):
        result = run(*argv)
        assert result.code == 0, result
        assert not marker.exists(), f"{argv}: the project's command ran"
        assert "not started" in result.out, result.out
