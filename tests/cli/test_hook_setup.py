"""``hook install``, ``hook uninstall`` and ``hook status`` through the real CLI boundary (``main``).

The ``hook`` group is registered elsewhere; here a group of just these three commands is put on the
main group for each test. HOME, CLAUDE_CONFIG_DIR, PATH and the working folder are the test's own:
the real ``~/.claude`` is never read or written. ``datacore-msg`` on PATH is a small shell script
standing in for the real hook (which answers ``--check``), so these tests do not depend on it.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import attrs
import click
import pytest

from datacore_msg.cli.exit_codes import Exit
from datacore_msg.cli.hook_setup import COMMANDS
from datacore_msg.cli.main import cli, main

ERROR = "datacore-msg: error: "
FAKE_HOOK = """\
cat > "$RECORD/$2.json"
echo "$*" > "$RECORD/$2.args"
printf '{"hookSpecificOutput": {"hookEventName": "x", "additionalContext": "No new messages."}}'
"""


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


@attrs.define
class Env:
    tmp: Path
    home: Path
    work: Path
    exe: Path
    root: Path
    record: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def user_file(self) -> Path:
        return self.home / ".claude" / "settings.json"

    def run(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main(["hook", *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def command(self, kind: str, *extra: str, exe: Path | None = None) -> str:
        return shlex.join([str(exe or self.exe), "hook", kind, "--root", str(self.root), *extra])


def make_script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Env:
    home, work, record = tmp_path / "home", tmp_path / "work", tmp_path / "record"
    for folder in (home, work, record):
        folder.mkdir()
    exe = make_script(tmp_path / "bin", "datacore-msg", FAKE_HOOK)
    root = home / "Data"
    (root / ".datacore").mkdir(parents=True)
    (root / ".datacore" / "settings.local.yaml").write_text("user:\n  name: gregor\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RECORD", str(record))
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DATACORE_ROOT", raising=False)
    monkeypatch.chdir(work)
    monkeypatch.setitem(cli.commands, "hook", click.Group("hook", commands={c.name: c for c in COMMANDS}))
    return Env(tmp_path, home, work, exe, root, record, capsys)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def ours(path: Path) -> list[tuple[str, str, Any]]:
    return [
        (event, entry["command"], entry.get("timeout"))
        for event, groups in load(path).get("hooks", {}).items()
        for group in groups
        for entry in group["hooks"]
        if "hook" in entry["command"] and "datacore" in entry["command"]
    ]


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.datacore-msg-*.bak"))


OTHERS = {
    "permissions": {"allow": ["Bash(ls)"]},
    "hooks": {
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "~/bin/remind.sh"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard", "timeout": 5}]}],
    },
    "model": "sonnet",
    "env": {"LANG": "sl_SI.UTF-8", "NOTE": "čšž ✓"},
}


def write(path: Path, data: Any) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data).encode("utf-8")
    path.write_bytes(raw)
    return raw


# -- install ------------------------------------------------------------------------------------


def test_install_puts_both_hooks_in_the_user_settings(env: Env) -> None:
    result = env.run("install", "--root", str(env.root))
    assert result.code == 0, result
    assert result.out == f"Installed in {env.user_file}: UserPromptSubmit, SessionStart (new file)\n"
    assert result.err == ""
    assert ours(env.user_file) == [
        ("UserPromptSubmit", env.command("prompt"), 30),
        ("SessionStart", env.command("session-start"), 30),
    ]


def test_install_bakes_in_the_resolved_root_and_the_space_only_when_given(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert env.run("install", "--root", "relative/data").code == 0
    first = ours(env.user_file)[0][1]
    assert shlex.split(first)[3:] == ["--root", str(env.work / "relative" / "data")]

    monkeypatch.setenv("DATACORE_ROOT", str(env.root))
    assert env.run("install", "--space", "1-team").code == 0
    assert ours(env.user_file)[0][1] == env.command("prompt", "--space", "1-team")

    monkeypatch.delenv("DATACORE_ROOT")
    assert env.run("install").code == 0
    assert ours(env.user_file)[0][1] == env.command("prompt")  # the default root, ~/Data


def test_install_warns_when_the_root_has_no_settings_yet(env: Env) -> None:
    result = env.run("install", "--root", str(env.tmp / "nothing"))
    assert result.code == 0
    assert result.err.startswith("datacore-msg: warning: ") and "datacore-msg init" in result.err


def test_installing_again_changes_nothing(env: Env) -> None:
    write(env.user_file, OTHERS)
    first = env.run("install")
    assert first.code == 0
    assert first.out.startswith(f"Installed in {env.user_file}: UserPromptSubmit, SessionStart (backup: ")
    saved, stamp = env.user_file.read_bytes(), env.user_file.stat().st_mtime_ns
    copies = backups(env.user_file)

    again = env.run("install")
    assert again.out == f"Already installed in {env.user_file}; nothing changed\n"
    assert env.user_file.read_bytes() == saved and env.user_file.stat().st_mtime_ns == stamp
    assert backups(env.user_file) == copies and len(copies) == 1


def test_install_keeps_other_settings_and_after_moving_updates_in_place(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = write(env.user_file, OTHERS)
    first = env.run("install").out
    first_backup = Path(first.split("(backup: ", 1)[1].removesuffix(")\n"))
    moved = make_script(env.tmp / "new bin", "datacore-msg", FAKE_HOOK)
    monkeypatch.setenv("PATH", f"{moved.parent}{os.pathsep}{os.environ['PATH']}")

    result = env.run("install")

    assert result.out.startswith(
        f"Installed in {env.user_file}: UserPromptSubmit (updated), SessionStart (updated) (backup: "
    )
    assert ours(env.user_file) == [
        ("UserPromptSubmit", env.command("prompt", exe=moved), 30),
        ("SessionStart", env.command("session-start", exe=moved), 30),
    ]
    data = load(env.user_file)
    assert data["hooks"]["UserPromptSubmit"][0] == OTHERS["hooks"]["UserPromptSubmit"][0]  # type: ignore[index]
    assert [k for k in data if k != "hooks"] == ["permissions", "model", "env"]
    assert first_backup.read_bytes() == original
    assert len(backups(env.user_file)) == 2


def test_install_options_no_session_start_and_timeout(env: Env) -> None:
    result = env.run("install", "--no-session-start", "--timeout", "45")
    assert result.out == f"Installed in {env.user_file}: UserPromptSubmit (new file)\n"
    assert ours(env.user_file) == [("UserPromptSubmit", env.command("prompt"), 45)]
    assert env.run("install", "--timeout", "0").code == Exit.USAGE


def test_install_json(env: Env) -> None:
    result = env.run("install", "--json")
    data = json.loads(result.out)["data"]
    assert data == {
        "path": str(env.user_file),
        "changed": True,
        "added": ["UserPromptSubmit", "SessionStart"],
        "updated": [],
        "removed": [],
        "backup": None,
        "created": True,
        "commands": {"UserPromptSubmit": env.command("prompt"), "SessionStart": env.command("session-start")},
    }


def test_project_writes_dir_dot_claude_and_leaves_the_user_file(env: Env) -> None:
    project = env.tmp / "proj"
    project.mkdir()
    result = env.run("install", "--project", str(project))
    target = project / ".claude" / "settings.json"
    assert result.out == f"Installed in {target}: UserPromptSubmit, SessionStart (new file)\n"
    assert len(ours(target)) == 2 and not env.user_file.exists()
    removed = env.run("uninstall", "--project", str(project))
    assert removed.out.startswith(f"Removed from {target}: UserPromptSubmit, SessionStart (backup: ")
    assert load(target) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "missing"], "missing: not an existing directory"),
        (["--project", "a-file"], "a-file: not an existing directory"),
        (["--user", "--project", "."], "--user and --project are mutually exclusive"),
    ],
)
@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_a_bad_target_is_refused(env: Env, args: list[str], message: str, command: str) -> None:
    (env.work / "a-file").write_text("x")
    result = env.run(command, *args)
    assert result.code == Exit.INVALID_INPUT
    assert result.out == "" and result.err.startswith(ERROR) and message in result.err
    assert result.err.count("\n") == 1
    assert not env.user_file.exists() and not (env.work / ".claude").exists()


def test_claude_config_dir_is_respected(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    config = env.tmp / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert env.run("install").out.startswith(f"Installed in {config / 'settings.json'}: ")
    assert len(ours(config / "settings.json")) == 2 and not env.user_file.exists()
    assert str(config / "settings.json") in env.run("status", "--user").out
    assert env.run("uninstall").out.startswith(f"Removed from {config / 'settings.json'}: ")


# -- uninstall ----------------------------------------------------------------------------------


def test_uninstall_gives_back_the_original_settings(env: Env) -> None:
    write(env.user_file, OTHERS)
    env.run("install")
    installed = env.user_file.read_bytes()

    result = env.run("uninstall")

    assert result.code == 0 and result.err == ""
    assert result.out.startswith(f"Removed from {env.user_file}: UserPromptSubmit, SessionStart (backup: ")
    assert json.dumps(load(env.user_file)) == json.dumps(OTHERS)
    backup = Path(result.out.split("(backup: ", 1)[1].removesuffix(")\n"))
    assert backup.read_bytes() == installed

    again = env.run("uninstall")
    assert again.out == f"Nothing of datacore-msg's in {env.user_file}; nothing changed\n"
    assert len(backups(env.user_file)) == 2


def test_uninstall_json(env: Env) -> None:
    assert json.loads(env.run("uninstall", "--json").out)["data"]["changed"] is False
    assert not env.user_file.exists()


# -- a file we cannot read --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["install"], ["uninstall"], ["install", "--json"]])
def test_a_settings_file_with_comments_is_refused_and_left_alone(env: Env, command: list[str]) -> None:
    env.user_file.parent.mkdir()
    raw = b'{\n  // mine\n  "model": "opus"\n}\n'
    env.user_file.write_bytes(raw)

    result = env.run(*command)

    assert result.code == Exit.CONFIG
    if "--json" in command:
        error = json.loads(result.out)["error"]
        assert error["code"] == "config" and error["message"].startswith(f"{env.user_file}:2:3: ")
    else:
        assert result.out == ""
        assert result.err.startswith(f"{ERROR}{env.user_file}:2:3: not valid JSON")
        assert result.err.endswith("; not changed\n") and result.err.count("\n") == 1
    assert env.user_file.read_bytes() == raw
    assert backups(env.user_file) == []


# -- status ---------------------------------------------------------------------------------------


def test_status_shows_ours_and_that_they_run(env: Env) -> None:
    write(env.user_file, OTHERS)
    env.run("install")

    result = env.run("status")

    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == f"{env.user_file} (user)"
    assert lines[1] == f"  UserPromptSubmit: {env.command('prompt')}  (timeout 30 s)"
    assert lines[2].startswith("    runs: exit 0 in ") and lines[2].endswith(" ms, 87 chars of json")
    assert lines[3] == f"  SessionStart: {env.command('session-start')}  (timeout 30 s)"
    assert lines[4].startswith("    runs: exit 0")
    assert lines[5] == "  other hooks: 2"
    assert lines[6:] == [f"{env.work / '.claude' / 'settings.json'} (project)", "  does not exist"]


def test_status_runs_each_hook_with_check_and_a_synthetic_payload(env: Env) -> None:
    env.run("install", "--space", "1-team")
    env.run("status", "--user")
    prompt = json.loads((env.record / "prompt.json").read_text())
    start = json.loads((env.record / "session-start.json").read_text())
    assert prompt == {
        "session_id": "datacore-msg-hook-status",
        "hook_event_name": "UserPromptSubmit",
        "cwd": str(env.work),
        "prompt": "",
        "transcript_path": "",
    }
    assert start == {**prompt, "hook_event_name": "SessionStart", "source": "startup"}
    args = (env.record / "prompt.args").read_text().split()
    assert args == ["hook", "prompt", "--root", str(env.root), "--space", "1-team", "--check"]


def test_status_json(env: Env) -> None:
    env.run("install", "--no-session-start")
    project = env.tmp / "proj"
    project.mkdir()
    data = json.loads(env.run("status", "--user", "--project", str(project), "--json").out)["data"]
    user, proj = data["files"]
    assert (user["scope"], user["path"], user["exists"], user["error"]) == (
        "user",
        str(env.user_file),
        True,
        None,
    )
    assert user["other_hooks"] == 0 and user["all_hooks_disabled"] is False
    [hook] = user["hooks"]
    assert (hook["event"], hook["group"], hook["command"], hook["timeout"]) == (
        "UserPromptSubmit",
        0,
        env.command("prompt"),
        30,
    )
    check = hook["check"]
    assert (check["ok"], check["exit_code"], check["stdout"], check["problem"]) == (True, 0, "json", None)
    assert isinstance(check["elapsed_ms"], int) and check["stdout_chars"] == 87
    assert (proj["scope"], proj["path"], proj["exists"], proj["hooks"]) == (
        "project",
        str(project / ".claude" / "settings.json"),
        False,
        [],
    )


def test_status_says_when_a_hook_fails_or_cannot_run(env: Env) -> None:
    env.run("install")
    make_script(env.exe.parent, "datacore-msg", "echo 'Traceback: boom' >&2; exit 1")
    failing = env.run("status", "--user").out
    assert "    FAILS: exit 1 in " in failing and "stderr: Traceback: boom" in failing

    env.exe.unlink()
    missing = env.run("status", "--user").out
    assert f"    FAILS: does not run: {env.exe}: no such executable" in missing


def test_status_of_one_file_only(env: Env) -> None:
    assert env.run("status", "--user").out == f"{env.user_file} (user)\n  does not exist\n"
    write(env.work / ".claude" / "settings.json", OTHERS)
    out = env.run("status", "--project", ".").out
    assert out == (
        f"{env.work / '.claude' / 'settings.json'} (project)\n"
        "  no datacore-msg hooks (datacore-msg hook install)\n"
        "  other hooks: 2\n"
    )


def test_status_lists_the_home_folder_once(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(env.home)
    env.run("install")
    out = env.run("status").out
    assert out.count(str(env.user_file)) == 1


def test_status_reports_an_unreadable_file_and_exits_with_the_config_status(env: Env) -> None:
    env.user_file.parent.mkdir()
    env.user_file.write_text('{"hooks": []}')
    result = env.run("status")
    assert result.code == Exit.CONFIG
    assert result.out.startswith(f"{env.user_file} (user): cannot read: {env.user_file}: hooks is a list")
    assert f"{env.work / '.claude' / 'settings.json'} (project)" in result.out

    as_json = env.run("status", "--json")
    assert as_json.code == Exit.CONFIG
    user = json.loads(as_json.out)["data"]["files"][0]
    assert "hooks is a list, not an object" in user["error"]


# -- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name or "" for c in COMMANDS])
def test_every_command_and_option_has_help(env: Env, command: click.Command) -> None:
    assert command.help and command.get_short_help_str().strip()
    missing = [p.name for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not missing
    result = env.run(command.name or "", "--help")
    assert result.code == 0 and result.out.startswith(f"Usage: datacore-msg hook {command.name}")
