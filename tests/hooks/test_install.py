"""Installing our Claude Code hooks into a settings.json and taking them out again.

What a user relies on: everything of theirs in the file is kept (values, order, other people's
hooks); ours appears once; running install twice writes nothing; uninstall gives back what was
there; every change keeps the previous bytes in a backup; a file we cannot read as strict JSON of the
right shape is never touched; and ``check_command`` runs a hook as Claude Code would, reporting
rather than raising when it cannot.
"""

from __future__ import annotations

import json
import shlex
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.hooks.install import (
    OUTPUT_LIMIT,
    default_exe,
    hook_command,
    install,
    installed,
    is_ours,
    project_settings_file,
    survey,
    uninstall,
    user_settings_file,
)
from datacore_msg.hooks.install import check_command as run_check
from peers import ordered

STAMP = "20261124T101500Z"
EXE = ["/opt/datacore/bin/datacore-msg"]
ROOT = Path("/home/u/Data")

#: Someone's real-looking settings: other hooks in every shape, other settings, unicode, odd order.
ORIGINAL: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)", "Read(~/notes/**)"], "deny": []},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh", "timeout": 5}]}
        ],
        "UserPromptSubmit": [
            {"hooks": [{"type": "command", "command": "echo datacore-msg hook prompt"}]},
            {"hooks": []},
        ],
        "SessionStart": [
            {"matcher": "startup", "hooks": [{"type": "command", "command": "/usr/bin/other-tool start"}]}
        ],
    },
    "env": {"GREETING": "Živjo, 世界 🌍", "EMPTY": ""},
    "x-unknown": {"nested": [1, 2.5, None, True, {"z": "last", "a": "first"}]},
}


def commands(exe: list[str] = EXE, space: str | None = None) -> dict[str, str]:
    return {event: hook_command(event, ROOT, space, exe) for event in ("UserPromptSubmit", "SessionStart")}


def write_settings(path: Path, data: Any, indent: int = 4) -> bytes:
    """A settings file in another style than ours, so a rewrite and its backup can be told apart."""
    raw = json.dumps(data, indent=indent, ensure_ascii=True).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return raw


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.datacore-msg-*.bak"))


def is_our_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict) and isinstance(entry.get("command"), str) and bool(is_ours(entry["command"]))
    )


def ours_in(data: Any) -> list[tuple[str, str]]:
    return [
        (event, entry["command"])
        for event, groups in data.get("hooks", {}).items()
        for group in groups
        for entry in group.get("hooks", [])
        if is_our_entry(entry)
    ]


def without_ours(data: Any) -> Any:
    """``data`` less our entries (our groups dropped), for comparing what else is there."""
    hooks = {
        event: [
            {**group, "hooks": [e for e in group.get("hooks", []) if not is_our_entry(e)]}
            for group in groups
            if not (group.get("hooks") and all(is_our_entry(e) for e in group["hooks"]))
        ]
        for event, groups in data.get("hooks", {}).items()
    }
    return {**data, "hooks": hooks}


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "claude" / "settings.json"


# -- the round trip on a full settings file -------------------------------------------------------


def test_install_adds_ours_once_and_keeps_everything_else(settings_file: Path) -> None:
    write_settings(settings_file, ORIGINAL)
    wanted = commands()
    change = install(settings_file, wanted, 30, STAMP)

    assert change.changed and change.added == ("UserPromptSubmit", "SessionStart") and not change.updated
    after = load(settings_file)
    assert ordered(without_ours(after)) == ordered(ORIGINAL)
    assert ours_in(after) == [
        ("UserPromptSubmit", wanted["UserPromptSubmit"]),
        ("SessionStart", wanted["SessionStart"]),
    ]
    assert after["hooks"]["UserPromptSubmit"][-1] == {
        "hooks": [{"type": "command", "command": wanted["UserPromptSubmit"], "timeout": 30}]
    }
    assert after["hooks"]["SessionStart"][-1] == {
        "hooks": [{"type": "command", "command": wanted["SessionStart"], "timeout": 30}]
    }
    assert settings_file.read_text(encoding="utf-8") == json.dumps(after, indent=2, ensure_ascii=False) + "\n"
    assert "Živjo, 世界 🌍" in settings_file.read_text(encoding="utf-8")


def test_a_second_install_writes_nothing(settings_file: Path) -> None:
    write_settings(settings_file, ORIGINAL)
    install(settings_file, commands(), 30, STAMP)
    before = settings_file.read_bytes()
    mtime = settings_file.stat().st_mtime_ns
    inode = settings_file.stat().st_ino
    saved = backups(settings_file)
    time.sleep(0.01)

    change = install(settings_file, commands(), 30, "20261124T101600Z")

    assert not change.changed and change.backup is None
    assert settings_file.read_bytes() == before
    assert (settings_file.stat().st_mtime_ns, settings_file.stat().st_ino) == (mtime, inode)
    assert backups(settings_file) == saved
    assert ours_in(load(settings_file)).count(("UserPromptSubmit", commands()["UserPromptSubmit"])) == 1


def test_uninstall_gives_back_the_original_value_in_the_original_order(settings_file: Path) -> None:
    write_settings(settings_file, ORIGINAL)
    install(settings_file, commands(), 30, STAMP)
    change = uninstall(settings_file, "20261124T101700Z")

    assert change.removed == ("UserPromptSubmit", "SessionStart")
    after = load(settings_file)
    assert after == ORIGINAL
    assert ordered(after) == ordered(ORIGINAL)
    assert json.dumps(after) == json.dumps(ORIGINAL)


def test_every_change_keeps_the_previous_bytes_in_a_backup(settings_file: Path) -> None:
    original = write_settings(settings_file, ORIGINAL)
    first = install(settings_file, commands(), 30, STAMP)
    assert first.backup == settings_file.with_name(f"settings.json.datacore-msg-{STAMP}.bak")
    assert first.backup.read_bytes() == original

    installed_bytes = settings_file.read_bytes()
    second = uninstall(settings_file, STAMP)  # same stamp: the name gets a number
    assert second.backup == settings_file.with_name(f"settings.json.datacore-msg-{STAMP}-2.bak")
    assert second.backup.read_bytes() == installed_bytes
    assert first.backup.read_bytes() == original

    third = install(settings_file, commands(), 30, STAMP)
    assert third.backup is not None and third.backup.name.endswith(f"{STAMP}-3.bak")
    assert len(backups(settings_file)) == 3


def test_the_file_keeps_its_permission_bits_and_so_does_its_backup(settings_file: Path) -> None:
    write_settings(settings_file, ORIGINAL)
    settings_file.chmod(0o600)
    change = install(settings_file, commands(), 30, STAMP)
    assert change.backup is not None
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(change.backup.stat().st_mode) == 0o600


def test_a_symlinked_settings_file_is_edited_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    write_settings(real, {"model": "opus"})
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)

    change = install(link, commands(), 30, STAMP)

    assert link.is_symlink() and link.resolve() == real.resolve()
    assert change.path == real.resolve()
    assert len(ours_in(load(real))) == 2
    assert backups(real) and not backups(link)


# -- missing and empty files ----------------------------------------------------------------------


def test_a_missing_file_is_created_with_its_folder(settings_file: Path) -> None:
    change = install(settings_file, commands(), 30, STAMP)
    assert change.created and change.backup is None
    assert load(settings_file) == {
        "hooks": {
            "UserPromptSubmit": [
                {"hooks": [{"type": "command", "command": commands()["UserPromptSubmit"], "timeout": 30}]}
            ],
            "SessionStart": [
                {"hooks": [{"type": "command", "command": commands()["SessionStart"], "timeout": 30}]}
            ],
        }
    }
    assert backups(settings_file) == []


def test_uninstall_of_a_missing_file_or_of_nothing_ours_writes_nothing(settings_file: Path) -> None:
    assert not uninstall(settings_file, STAMP).changed
    assert not settings_file.exists() and not settings_file.parent.exists()

    raw = write_settings(settings_file, ORIGINAL)
    assert not uninstall(settings_file, STAMP).changed
    assert settings_file.read_bytes() == raw
    assert backups(settings_file) == []


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_an_empty_file_counts_as_an_empty_object(settings_file: Path, content: bytes) -> None:
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(content)
    assert not uninstall(settings_file, STAMP).changed
    change = install(settings_file, commands(), 30, STAMP)
    assert change.backup is not None and change.backup.read_bytes() == content
    assert list(load(settings_file)) == ["hooks"]


# -- refusals -------------------------------------------------------------------------------------

BAD_FILES = [
    ("trailing comma", '{\n  "model": "opus",\n}\n', "settings.json:3:1: not valid JSON"),
    ("comment", '{\n  // my settings\n  "model": "opus"\n}\n', "settings.json:2:3: not valid JSON"),
    ("truncated", '{"hooks": {', "settings.json:1:12: not valid JSON"),
    ("top level a list", "[]", "the top level is a list, not an object"),
    ("top level a string", '"hooks"', "the top level is a string, not an object"),
    ("hooks a list", '{"hooks": []}', "hooks is a list, not an object"),
    ("hooks null", '{"hooks": null}', "hooks is null, not an object"),
    (
        "event an object",
        '{"hooks": {"UserPromptSubmit": {"hooks": []}}}',
        "hooks.UserPromptSubmit is an object",
    ),
    (
        "group's hooks an object",
        '{"hooks": {"UserPromptSubmit": [{"hooks": []}, {"hooks": {"type": "command"}}]}}',
        "hooks.UserPromptSubmit[1].hooks is an object, not a list",
    ),
    ("group a string", '{"hooks": {"Stop": ["x"]}}', "hooks.Stop[0] is a string, not an object"),
    ("duplicate key", '{"model": "a", "model": "b"}', "the key 'model' appears twice"),
    ("NaN", '{"x": NaN}', "NaN is not JSON"),
    ("not UTF-8", b'{"x": "\xff"}', "not UTF-8 text (byte 7)"),
]


@pytest.mark.parametrize(
    ("content", "expected"), [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
@pytest.mark.parametrize("action", ["install", "uninstall", "survey"])
def test_a_file_that_is_not_settings_json_is_refused_and_left_alone(
    settings_file: Path, content: str | bytes, expected: str, action: str
) -> None:
    settings_file.parent.mkdir(parents=True)
    raw = content if isinstance(content, bytes) else content.encode("utf-8")
    settings_file.write_bytes(raw)

    with pytest.raises(ConfigError) as caught:
        if action == "install":
            install(settings_file, commands(), 30, STAMP)
        elif action == "uninstall":
            uninstall(settings_file, STAMP)
        else:
            survey(settings_file)

    message = str(caught.value)
    assert str(settings_file) in message and expected in message
    assert "\n" not in message
    if action != "survey":
        assert message.endswith("; not changed")
    assert settings_file.read_bytes() == raw
    assert sorted(p.name for p in settings_file.parent.iterdir()) == ["settings.json"]


def test_an_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "settings.json"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"settings\.json: cannot read: .*; not changed$"):
        install(folder, commands(), 30, STAMP)


def test_unknown_events_bad_timeouts_and_bad_stamps_are_refused(settings_file: Path) -> None:
    with pytest.raises(InvalidInput, match="not a hook event"):
        install(settings_file, {"Stop": "datacore-msg hook prompt"}, 30, STAMP)
    with pytest.raises(InvalidInput, match="timeout"):
        install(settings_file, commands(), 0, STAMP)
    with pytest.raises(InvalidInput, match="stamp"):
        install(settings_file, commands(), 30, "../x")
    with pytest.raises(InvalidInput, match="not a hook event"):
        hook_command("PreToolUse", ROOT, None, EXE)
    assert not settings_file.exists()


# -- updating and removing in place ---------------------------------------------------------------


def test_a_moved_executable_replaces_our_entry_in_place(settings_file: Path) -> None:
    write_settings(settings_file, ORIGINAL)
    install(settings_file, commands(), 30, STAMP)
    first = load(settings_file)
    position = len(first["hooks"]["UserPromptSubmit"]) - 1
    first["hooks"]["UserPromptSubmit"][position]["hooks"][0]["statusMessage"] = "Checking messages"
    write_settings(settings_file, first, indent=2)

    moved = commands(exe=["/new place/bin/datacore-msg"])
    change = install(settings_file, moved, 45, "20261124T101600Z")

    assert change.updated == ("UserPromptSubmit", "SessionStart") and not change.added
    after = load(settings_file)
    assert ours_in(after) == [
        ("UserPromptSubmit", moved["UserPromptSubmit"]),
        ("SessionStart", moved["SessionStart"]),
    ]
    assert after["hooks"]["UserPromptSubmit"][position]["hooks"] == [
        {
            "type": "command",
            "command": moved["UserPromptSubmit"],
            "timeout": 45,
            "statusMessage": "Checking messages",
        }
    ]
    assert len(after["hooks"]["UserPromptSubmit"]) == len(first["hooks"]["UserPromptSubmit"])
    assert ordered(without_ours(after)) == ordered(ORIGINAL)


def test_only_a_changed_timeout_is_an_update_too(settings_file: Path) -> None:
    install(settings_file, commands(), 30, STAMP)
    assert install(settings_file, commands(), 60, STAMP).updated == ("UserPromptSubmit", "SessionStart")
    assert [i.timeout for i in installed(settings_file)] == [60, 60]


def test_copies_of_ours_are_merged_into_the_first(settings_file: Path) -> None:
    mine = {"type": "command", "command": commands()["UserPromptSubmit"], "timeout": 30}
    old = {"type": "command", "command": "python3 -m datacore_msg hook prompt --root /old", "timeout": 10}
    data = {
        "hooks": {
            "UserPromptSubmit": [
                {"hooks": [{"type": "command", "command": "mine-first"}, old]},
                {"hooks": [mine]},
                {"hooks": [mine, {"type": "command", "command": "keep-me"}]},
            ]
        }
    }
    write_settings(settings_file, data)
    change = install(settings_file, {"UserPromptSubmit": mine["command"]}, 30, STAMP)
    assert change.updated == ("UserPromptSubmit",)
    assert load(settings_file)["hooks"]["UserPromptSubmit"] == [
        {"hooks": [{"type": "command", "command": "mine-first"}, mine]},
        {"hooks": [{"type": "command", "command": "keep-me"}]},
    ]


def test_install_adds_only_what_is_missing(settings_file: Path) -> None:
    only_prompt = {"UserPromptSubmit": commands()["UserPromptSubmit"]}
    assert install(settings_file, only_prompt, 30, STAMP).added == ("UserPromptSubmit",)
    change = install(settings_file, commands(), 30, STAMP)
    assert change.added == ("SessionStart",) and not change.updated
    assert [i.event for i in installed(settings_file)] == ["UserPromptSubmit", "SessionStart"]


def test_uninstall_drops_only_what_it_emptied(settings_file: Path) -> None:
    ours = {"type": "command", "command": "/x/datacore-msg hook session-start --root /r"}
    data = {
        "hooks": {
            "Stop": [{"hooks": []}, {"matcher": "", "hooks": [ours]}],
            "SessionStart": [{"matcher": "resume", "hooks": [ours, {"type": "command", "command": "other"}]}],
            "PreToolUse": [{"matcher": "Bash", "hooks": [ours]}],
            "Notification": [],
        },
        "after": 1,
    }
    write_settings(settings_file, data)
    change = uninstall(settings_file, STAMP)
    assert change.removed == ("Stop", "SessionStart", "PreToolUse")
    assert ordered(load(settings_file)) == ordered(
        {
            "hooks": {
                "Stop": [{"hooks": []}],
                "SessionStart": [{"matcher": "resume", "hooks": [{"type": "command", "command": "other"}]}],
                "Notification": [],
            },
            "after": 1,
        }
    )
    write_settings(settings_file, {"a": 1, "hooks": {"Stop": [{"hooks": [ours]}]}, "b": 2})
    uninstall(settings_file, STAMP)
    assert ordered(load(settings_file)) == ordered({"a": 1, "b": 2})


def test_status_lists_ours_counts_the_others_and_sees_disable_all_hooks(settings_file: Path) -> None:
    assert survey(settings_file).exists is False
    write_settings(settings_file, {**ORIGINAL, "disableAllHooks": True})
    install(settings_file, commands(), 25, STAMP)
    found = survey(settings_file)
    assert found.exists and found.all_hooks_disabled
    assert found.other_hooks == 3
    assert [(i.event, i.group, i.index, i.command, i.timeout, i.kind) for i in found.ours] == [
        ("UserPromptSubmit", 2, 0, commands()["UserPromptSubmit"], 25, "prompt"),
        ("SessionStart", 1, 0, commands()["SessionStart"], 25, "session-start"),
    ]
    assert installed(settings_file) == list(found.ours)


# -- what is ours ---------------------------------------------------------------------------------

IS_OURS = [
    ("/usr/local/bin/datacore-msg hook prompt --root /home/u/Data", "prompt"),
    ("datacore-msg hook session-start", "session-start"),
    ("'/Users/a b/venv/bin/datacore-msg' hook prompt --root '/Users/a b/Data' --space 1-team", "prompt"),
    ('"/Users/a b/venv/bin/datacore-msg" hook session-start --check', "session-start"),
    ("/usr/bin/python3 -m datacore_msg hook prompt --root /r", "prompt"),
    ("'/opt/py 3/bin/python' -m datacore_msg hook session-start", "session-start"),
    ("echo datacore-msg hook prompt", None),
    ("datacore-msg hook prompt-other", None),
    ("datacore-msg hook", None),
    ("datacore-msg send @tex hi", None),
    ("datacore-msg show prompt", None),
    ("datacore-msg prompt hook", None),
    ("/bin/datacore-msg-dev hook prompt", None),
    ("python3 -m datacore_msg.cli hook prompt", None),
    ("python3 -c datacore_msg hook prompt", None),
    ("sh -c 'datacore-msg hook prompt'", None),
    ("datacore-msg 'hook prompt", None),
    ("'unterminated", None),
    ("", None),
    ("FOO=1 datacore-msg hook prompt", None),
]


@pytest.mark.parametrize(("command", "kind"), IS_OURS)
def test_which_commands_are_ours(command: str, kind: str | None) -> None:
    assert is_ours(command) == kind


@pytest.mark.parametrize("space", [None, "1-team space"])
def test_hook_command_is_a_shell_command_that_is_ours(space: str | None) -> None:
    exe = ["/Users/a b/venv/bin/datacore-msg"]
    command = hook_command("UserPromptSubmit", Path("/Users/a b/Data"), space, exe)
    expected = [*exe, "hook", "prompt", "--root", "/Users/a b/Data"] + (
        [] if space is None else ["--space", space]
    )
    assert shlex.split(command) == expected
    assert is_ours(command) == "prompt"
    fallback = hook_command("SessionStart", ROOT, space, [sys.executable, "-m", "datacore_msg"])
    assert is_ours(fallback) == "session-start"


def test_the_executable_is_the_script_on_path_else_python_m(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = make_script(tmp_path / "bin", "datacore-msg", "exit 0")
    monkeypatch.setenv("PATH", str(script.parent))
    assert default_exe() == [str(script)]

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "argv", [str(script), "hook", "install"])
    assert default_exe() == [str(script.resolve())]

    monkeypatch.setattr(sys, "argv", ["/nowhere/pytest"])
    assert default_exe() == [sys.executable, "-m", "datacore_msg"]


# -- which file -----------------------------------------------------------------------------------


def test_the_user_file_follows_claude_config_dir_else_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    assert user_settings_file() == tmp_path / "home" / ".claude" / "settings.json"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert user_settings_file() == tmp_path / "cfg" / "settings.json"


def test_a_project_must_be_an_existing_directory(tmp_path: Path) -> None:
    assert project_settings_file(tmp_path) == tmp_path / ".claude" / "settings.json"
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "missing"):
        with pytest.raises(InvalidInput, match="not an existing directory"):
            project_settings_file(bad)


# -- check_command ------------------------------------------------------------------------------


def make_script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


PAYLOAD = {
    "session_id": "s",
    "hook_event_name": "UserPromptSubmit",
    "cwd": "/",
    "prompt": "",
    "transcript_path": "",
}


def test_check_runs_the_command_with_check_and_the_payload_on_a_pipe(tmp_path: Path) -> None:
    body = (
        "payload=$(cat)\n"
        "if [ -t 0 ]; then tty=true; else tty=false; fi\n"
        'printf \'{"args": "%s", "stdin": %s, "tty": %s, "cwd": "%s"}\' "$*" "$payload" "$tty" "$(pwd)"\n'
        'echo "a note" >&2; echo "second line" >&2'
    )
    script = make_script(tmp_path / "dir with space", "datacore-msg", body)
    record = tmp_path / "record"
    check = run_check(shlex.join([str(script), "hook", "prompt", "--root", "/r"]), PAYLOAD, 10, cwd=tmp_path)
    assert check.ok and check.exit_code == 0 and check.problem is None
    assert check.stdout == "json" and 0 < check.stdout_chars < OUTPUT_LIMIT
    assert check.stderr_line == "a note"
    assert check.elapsed_ms >= 0

    wrapper = make_script(tmp_path / "w", "datacore-msg", f'exec "{script}" "$@" > "{record}"')
    run_check(shlex.join([str(wrapper), "hook", "prompt"]), PAYLOAD, 10, cwd=tmp_path)
    seen = json.loads(record.read_text())
    assert seen == {"args": "hook prompt --check", "stdin": PAYLOAD, "tty": False, "cwd": str(tmp_path)}


def test_check_runs_in_an_empty_scratch_folder_by_default(tmp_path: Path) -> None:
    script = make_script(
        tmp_path, "datacore-msg", 'printf \'{"cwd": "%s", "files": "%s"}\' "$(pwd)" "$(ls -A)"'
    )
    record = tmp_path / "out"
    wrapper = make_script(tmp_path / "w", "datacore-msg", f'"{script}" > "{record}"')
    assert run_check(str(wrapper), PAYLOAD, 10).ok
    seen = json.loads(record.read_text())
    assert seen["files"] == "" and Path(seen["cwd"]).resolve() != Path.cwd().resolve()
    assert not Path(seen["cwd"]).exists()


@pytest.mark.parametrize(
    ("body", "exit_code", "stdout", "ok"),
    [
        ("cat >/dev/null", 0, "empty", True),
        ("cat >/dev/null; echo '{\"hookSpecificOutput\": {}}'", 0, "json", True),
        ("echo 'garbage {'", 0, "text", False),
        ("echo '[1, 2]'", 0, "text", False),
        ("echo boom >&2; exit 1", 1, "empty", False),
        ("exit 2", 2, "empty", False),
    ],
)
def test_check_reports_exit_status_and_what_stdout_is(
    tmp_path: Path, body: str, exit_code: int, stdout: str, ok: bool
) -> None:
    script = make_script(tmp_path, "datacore-msg", body)
    check = run_check(str(script) + " hook prompt", PAYLOAD, 10)
    assert (check.exit_code, check.stdout, check.ok, check.problem) == (exit_code, stdout, ok, None)
    if exit_code == 1:
        assert check.stderr_line == "boom"


def test_check_flags_output_over_claude_codes_limit(tmp_path: Path) -> None:
    script = make_script(tmp_path, "datacore-msg", f'printf \'{{"x": "%0{OUTPUT_LIMIT}d"}}\' 0')
    check = run_check(str(script), PAYLOAD, 10)
    assert check.stdout == "json" and check.stdout_chars > OUTPUT_LIMIT and not check.ok


def test_check_reports_what_cannot_run_instead_of_raising(tmp_path: Path) -> None:
    missing = run_check(f"{tmp_path}/nowhere/datacore-msg hook prompt", PAYLOAD, 10)
    assert not missing.ok and missing.exit_code is None
    assert missing.problem is not None and "no such executable" in missing.problem

    not_executable = tmp_path / "datacore-msg"
    not_executable.write_text("#!/bin/sh\n")
    denied = run_check(str(not_executable), PAYLOAD, 10)
    assert denied.problem is not None and "cannot run" in denied.problem

    broken = run_check("'/unbalanced/datacore-msg hook prompt", PAYLOAD, 10)
    assert broken.problem is not None and "cannot be split" in broken.problem

    assert run_check("   ", PAYLOAD, 10).problem == "the command is empty"


def test_check_stops_a_hook_that_takes_too_long_with_its_children(tmp_path: Path) -> None:
    script = make_script(tmp_path, "datacore-msg", "sleep 30; echo late")
    started = time.monotonic()
    check = run_check(str(script), PAYLOAD, 0.5)
    assert time.monotonic() - started < 10
    assert check.exit_code is None and not check.ok
    assert check.problem is not None and "no answer within 0.5 s" in check.problem


# -- the property ---------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
OTHER_COMMANDS = st.text(max_size=24) | st.sampled_from(
    [
        "echo datacore-msg hook prompt",
        "datacore-msg hook",
        "'unbalanced datacore-msg hook prompt",
        "python3 -m datacore_msg hook digest",
        "/bin/datacore-msg send @tex hi",
        "~/bin/guard.sh",
    ]
)
ENTRIES = (
    st.fixed_dictionaries(
        {"type": st.just("command"), "command": OTHER_COMMANDS},
        optional={"timeout": st.integers(min_value=1, max_value=600), "x-extra": JSON_VALUES},
    )
    | JSON_VALUES
)
GROUPS = st.fixed_dictionaries(
    {}, optional={"matcher": st.text(max_size=8), "hooks": st.lists(ENTRIES, max_size=3)}
)
EVENT_NAMES = st.sampled_from(["UserPromptSubmit", "SessionStart", "PreToolUse", "Stop"]) | st.text(
    max_size=8
)
#: Non-empty: a `hooks` object or one of our event lists that was already empty cannot be told apart
#: from a missing one after an uninstall (see the module's docstring).
HOOKS = st.dictionaries(EVENT_NAMES, st.lists(GROUPS, min_size=1, max_size=3), min_size=1, max_size=4)


@st.composite
def settings_dicts(draw: st.DrawFn) -> dict[str, Any]:
    others = draw(
        st.dictionaries(st.text(max_size=8).filter(lambda k: k != "hooks"), JSON_VALUES, max_size=5)
    )
    hooks = draw(st.none() | HOOKS)
    if hooks is None:
        return others
    items = list(others.items())
    items.insert(draw(st.integers(min_value=0, max_value=len(items))), ("hooks", hooks))
    return dict(items)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=settings_dicts(), space=st.none() | st.text(min_size=1, max_size=6), timeout=st.integers(1, 600))
def test_install_then_uninstall_gives_back_any_settings(
    data: dict[str, Any], space: str | None, timeout: int
) -> None:
    assume(not ours_in(data))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        original = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        path.write_bytes(original)

        assert install(path, commands(space=space), timeout, STAMP).added == (
            "UserPromptSubmit",
            "SessionStart",
        )
        after_install = load(path)
        assert sorted(ours_in(after_install)) == sorted(commands(space=space).items())
        assert survey(path).other_hooks == sum(
            len(group.get("hooks", [])) for groups in data.get("hooks", {}).values() for group in groups
        )
        assert not install(path, commands(space=space), timeout, STAMP).changed

        uninstall(path, STAMP)
        assert path.read_bytes() == original
        assert ordered(load(path)) == ordered(data)
        assert len(backups(path)) == 2
