"""Hostile settings and contacts files: alias bombs, loops, huge files and huge values cost little.

A 500-byte file of nested aliases (the "billion laughs") names 9⁹ strings; every command reads
``settings.local.yaml`` and ``contacts.yaml``, and ``contacts.yaml`` is shared with teammates. Such
files, oversize files, and values too big to quote are refused quickly with a one-line
:class:`ConfigError` naming the file. The CLI is run here as a user runs it: ``datacore-msg init``
makes the space, then each command is its own process (with its address space capped, so that a
regression fails the test instead of eating the machine's memory).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit
from datacore_msg.config.contacts import load_contacts
from datacore_msg.config.contacts_edit import add_contact, remove_contact
from datacore_msg.config.hook import load_hook_settings
from datacore_msg.config.policy import load_overrides, load_policy
from datacore_msg.config.settings import load_settings
from datacore_msg.config.yamlsafe import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_QUOTE,
    clip,
    key_text,
    load,
    parse,
    quote,
)
from datacore_msg.errors import ConfigError

SRC = Path(__file__).resolve().parents[2] / "src"
KEY = "ab" * 32
#: What a refused command may cost, in CPU seconds of its process (start-up included). CPU time, not
#: the wall clock, is what the file costs; the wall clock also counts other jobs on a busy machine,
#: so it gets a looser bound, and a command still running after HANG_S is killed as hung.
CPU_BUDGET_S = 2.0
WALL_S = 5.0
HANG_S = 20.0
MEMORY_CAP = 1 << 30


def laughs(levels: int = 9, width: int = 9) -> str:
    """Anchors ``a``, ``b``, …: the last one names ``width ** levels`` strings (9⁹ by default)."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = [f"{names[0]}: &{names[0]} [{','.join(['lol'] * width)}]"]
    lines += [
        f"{name}: &{name} [{','.join([f'*{before}'] * width)}]" for before, name in itertools.pairwise(names)
    ]
    return "\n".join(lines) + "\n"


BOMB = "*i"
SETTINGS_BOMB = laughs() + f"identity:\n  name: {BOMB}\n  timezone: UTC\n"
CONTACTS_BOMB = laughs() + f"actors:\n  - id: tex\n    handles: {BOMB}\n"


def merge_bomb(levels: int = 9) -> str:
    """The same growth through ``<<:`` merge keys, which PyYAML copies rather than shares."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 9)}], k{level}: 0}}")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(caught: pytest.ExceptionInfo[ConfigError], path: Path) -> str:
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message and len(message) < len(str(path)) + 400, message
    return message


def timed(body: Callable[[], Any]) -> float:
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


# -- the loader ------------------------------------------------------------------------------------


def test_the_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    assert len(SETTINGS_BOMB) < 500
    path = write(tmp_path / "settings.local.yaml", SETTINGS_BOMB)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert time.perf_counter() - start < 1.0
    message = one_line_error(caught, path)
    assert "aliases" in message and f"{MAX_ALIAS_NODES:,}" in message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param(laughs(), "aliases", id="unused-bomb"),
        pytest.param(laughs(levels=5, width=30), "aliases", id="wide"),
        pytest.param(merge_bomb(), "aliases", id="merge-keys"),
        pytest.param("a: &a [1, *a]\n", "an alias inside its own anchor", id="loop"),
        pytest.param("a: &a {b: *a}\n", "an alias inside its own anchor", id="loop-in-mapping"),
        pytest.param(
            "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "nested more than", id="deep"
        ),
    ],
)
def test_hostile_shapes_are_refused_quickly_in_one_line(tmp_path: Path, text: str, why: str) -> None:
    path = write(tmp_path / "contacts.yaml", text)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert time.perf_counter() - start < 1.0
    assert why in one_line_error(caught, path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(
            "identity: {name: gregor}\nmessaging:\n  default_space: work\n"
            "messaging:\n  relay:\n    url: ws://h:8080/ws\n",
            ":4:1:",
            id="a-second-block-appended",
        ),
        pytest.param("actors:\n  - id: tex\n    tier: team\n    tier: owner\n", ":4:5:", id="in-a-list-item"),
    ],
)
def test_a_key_named_twice_is_refused_not_half_lost(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "settings.local.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = one_line_error(caught, path)
    assert where in message and "appears twice" in message


def test_a_key_named_twice_stops_a_command_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {**os.environ, "DATACORE_ROOT": str(root)}
    exe = str(Path(sys.executable).parent / "datacore-msg")
    subprocess.run([exe, "init", "--name", "gregor"], env=env, check=True, capture_output=True)
    settings = root / ".datacore" / "settings.local.yaml"
    with settings.open("a", encoding="utf-8") as out:
        out.write("messaging:\n  relay:\n    url: ws://h:8080/ws\n")
    done = subprocess.run([exe, "inbox"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == Exit.CONFIG and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'messaging' appears twice" in done.stderr, done.stderr


def test_a_few_aliases_are_still_allowed(tmp_path: Path) -> None:
    text = (
        "identity: {name: gregor, timezone: UTC}\n"
        "messaging:\n"
        "  trust_tiers:\n"
        "    team: &careful {max_effort: 3, daily_token_limit: 5000}\n"
        "    trusted:\n      <<: *careful\n      auto_accept: false\n"
        "    unknown: *careful\n"
    )
    path = write(tmp_path / "settings.local.yaml", text)
    settings = load_settings(path)
    tiers = load_policy(settings, path).tiers
    assert tiers["team"].max_effort == tiers["trusted"].max_effort == tiers["unknown"].max_effort == 3
    assert tiers["trusted"].auto_accept is False
    # just under the bound is read; just over it is not
    under = f"a: &a [{', '.join(['x'] * 100)}]\nb: [{', '.join(['*a'] * (MAX_ALIAS_NODES // 101))}]\n"
    assert len(load(write(tmp_path / "under.yaml", under))["b"]) == MAX_ALIAS_NODES // 101
    over = f"a: &a [{', '.join(['x'] * 100)}]\nb: [{', '.join(['*a'] * (MAX_ALIAS_NODES // 101 + 1))}]\n"
    with pytest.raises(ConfigError, match="aliases"):
        load(write(tmp_path / "over.yaml", over))


def test_an_oversize_file_is_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    line = "# " + "padding " * 12 + "\n"
    body = "identity: {name: gregor}\n"
    fits = body + line * ((MAX_FILE_BYTES - len(body)) // len(line))
    fits += "#" * (MAX_FILE_BYTES - len(fits) - 1) + "\n"
    path = write(tmp_path / "settings.local.yaml", fits)
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_settings(path).name == "gregor"
    write(path, fits + "#\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert one_line_error(caught, path) == f"{path}: over 256 KiB, the limit for this file; not read"
    contacts = write(tmp_path / "contacts.yaml", "actors:\n" + "# x\n" * (MAX_FILE_BYTES // 4))
    with pytest.raises(ConfigError, match=r"over 256 KiB, the limit for this file"):
        load_contacts(contacts)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_device_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "settings.local.yaml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(fifo)
    if Path("/dev/zero").exists():
        with pytest.raises(ConfigError, match="not a regular file"):
            load(Path("/dev/zero"))


def test_values_python_cannot_build_are_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.local.yaml", "identity: {name: gregor}\nx: " + "7" * 5000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "malformed YAML" in one_line_error(caught, path)
    # a hex integer builds, but has too many digits to print: it is named, not printed
    hex_value = "0x" + "f" * 20_000
    text = f"identity: {{name: gregor}}\nmessaging:\n  compute:\n    max_queue_depth: {hex_value}\n"
    path = write(path, text)
    with pytest.raises(ConfigError) as caught:
        load_policy(load_settings(path), path)
    message = one_line_error(caught, path)
    assert message.endswith("max_queue_depth: must be a whole number from 0 to 1000000000000, not <int>")


def test_parser_messages_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    with pytest.raises(ConfigError) as caught:
        parse("a: *" + "x" * 5000 + "\n", path)
    assert len(one_line_error(caught, path)) < 250


# -- what error messages quote ---------------------------------------------------------------------


def test_quote_is_repr_for_small_values_and_bounded_for_big_ones() -> None:
    assert [quote(v) for v in ("bad name", None, 3, [1, "a"], {"a": 1})] == [
        "'bad name'",
        "None",
        "3",
        "[1, 'a']",
        "{'a': 1}",
    ]
    big = "x" * 1_000_000
    assert len(quote(big)) == MAX_QUOTE and quote(big).endswith("…") and quote(big).startswith("'xxx")
    nested: list[Any] = ["lol"] * 9
    for _ in range(8):
        nested = [nested] * 9  # 9**9 strings, shared: repr() would not finish
    assert timed(lambda: quote(nested)) < 0.1
    assert len(quote(nested)) <= MAX_QUOTE
    assert quote(int("f" * 20_000, 16)) == "<int>"
    assert quote("a\nb") == "'a\\nb'"


def test_clip_and_key_text() -> None:
    assert clip("short") == "short"
    assert clip("line one\nline two") == "line one line two"
    assert clip("y" * 500) == "y" * (MAX_QUOTE - 1) + "…"
    assert len(clip("z" * 10_000_000, 160)) == 160
    assert key_text("auto_claim") == "auto_claim"
    assert key_text("k" * 500) == quote("k" * 500)
    assert key_text("a\nb") == "'a\\nb'"
    assert key_text(12) == "12"


@pytest.mark.parametrize(
    ("text", "place"),
    [
        pytest.param("identity:\n  name: {long}\n", "identity.name", id="name"),
        pytest.param("identity:\n  name: gregor\n  timezone: {long}\n", "identity.timezone", id="timezone"),
        pytest.param("messaging:\n  default_space: {long}/\n", "messaging.default_space", id="space"),
        pytest.param("messaging:\n  hook:\n    {long}: 1\n", "messaging.hook.", id="hook-key"),
        pytest.param("messaging:\n  relay:\n    {long}: 1\n", "messaging.relay.", id="relay-key"),
        pytest.param(
            "messaging:\n  relay:\n    url: ws://{long}:1x\n", "messaging.relay.url", id="relay-url"
        ),
        pytest.param("messaging:\n  compute:\n    {long}: 1\n", "messaging.compute.", id="compute-key"),
        pytest.param("messaging:\n  compute:\n    max_retries: {long}\n", "max_retries", id="compute-value"),
        pytest.param(
            "messaging:\n  trust_tiers:\n    {long}: {{}}\n", "messaging.trust_tiers.", id="tier-name"
        ),
        pytest.param(
            "messaging:\n  trust_overrides:\n    {long}: team\n", "trust_overrides", id="override-name"
        ),
        pytest.param(
            "messaging:\n  trust_overrides:\n    tex: {long}\n", "trust_overrides.tex", id="override-tier"
        ),
    ],
)
def test_settings_errors_quote_at_most_a_few_dozen_characters(tmp_path: Path, text: str, place: str) -> None:
    long = "Q" * (1000 if "{long}:" in text else 100_000)  # YAML keys are at most 1024 characters
    if "timezone" not in text and "name:" not in text:
        text = "identity:\n  name: gregor\n" + text
    path = write(tmp_path / "settings.local.yaml", text.format(long=long))

    def everything() -> None:
        settings = load_settings(path)
        load_hook_settings(settings, path)
        load_policy(settings, path)
        load_overrides(settings, path)

    with pytest.raises(ConfigError) as caught:
        everything()
    message = one_line_error(caught, path)
    assert place in message
    assert "Q" * (MAX_QUOTE + 1) not in message


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("id: {long}", id="id"),
        pytest.param("id: tex\n    trust_tier: {long}", id="tier"),
        pytest.param("id: tex\n    handles: [{long}]", id="handle"),
        pytest.param("id: tex\n    public_key: {long}", id="key"),
        pytest.param("id: tex\n    added: [{long}]", id="added"),
        pytest.param("id: tex\n    name: [{long}]", id="name"),
    ],
)
def test_contacts_errors_quote_at_most_a_few_dozen_characters(tmp_path: Path, entry: str) -> None:
    long = "[" + ", ".join(["Q" * 1000] * 100) + "]" if "[" in entry else "Q" * 100_000
    path = write(tmp_path / "contacts.yaml", "actors:\n  - " + entry.format(long=long) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_contacts(path)
    message = one_line_error(caught, path)
    assert "Q" * (MAX_QUOTE + 1) not in message


def test_contacts_add_and_remove_refuse_a_bomb_and_leave_it_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "contacts.yaml", CONTACTS_BOMB)
    for edit in (
        lambda: add_contact(path, "zed", KEY, "team", "2026-12-01"),
        lambda: remove_contact(path, "tex"),
    ):
        start = time.perf_counter()
        with pytest.raises(ConfigError) as caught:
            edit()
        assert time.perf_counter() - start < 1.0
        assert "aliases" in one_line_error(caught, path)
    assert path.read_text(encoding="utf-8") == CONTACTS_BOMB


# -- the real CLI, each command its own process ----------------------------------------------------


def _cap_memory() -> None:
    with contextlib.suppress(ValueError, OSError):  # not every system caps address space
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, CPU seconds) of ``datacore-msg ARGS`` as its own process; it
    must end within :data:`WALL_S`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "datacore_msg", *args],
            capture_output=True,
            env=env,
            timeout=HANG_S,
            check=False,
            preexec_fn=_cap_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"datacore-msg {' '.join(args)} hung for {HANG_S} s")
    assert time.perf_counter() - start < WALL_S, args
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        cpu,
    )


@pytest.fixture
def space(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A space made by ``datacore-msg init`` (a process), and the environment to run commands in."""
    root = tmp_path / "root"
    env = dict(os.environ)
    env.update(
        DATACORE_ROOT=str(root),
        DATACORE_MSG_STATE=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    code, out, err, _ = run_cli(env, "init", "--name", "gregor", "--timezone", "UTC")
    assert code == 0, (out, err)
    code, out, err, _ = run_cli(env, "contacts", "add", "tex", KEY, "--tier", "team")
    assert code == 0, (out, err)
    return env, root


#: Commands that read the file (``whoami`` reads the settings but not the contacts).
COMMANDS = [("inbox",), ("send", "@tex", "hello"), ("tasks",), ("contacts", "list")]


def assert_refused(env: dict[str, str], args: tuple[str, ...], path: Path, why: str) -> None:
    code, out, err, cpu = run_cli(env, *args)
    assert code == Exit.CONFIG, (args, code, out, err)
    assert err.endswith("\n") and err.count("\n") == 1, (args, err)
    assert str(path) in err and re.search(why, err), (args, err)
    assert cpu < CPU_BUDGET_S, (args, cpu)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["settings", "contacts"])
def test_a_bomb_file_stops_every_command_quickly_with_one_line(
    space: tuple[dict[str, str], Path], target: str
) -> None:
    env, root = space
    settings = root / ".datacore" / "settings.local.yaml"
    contacts = root / "0-personal" / "contacts.yaml"
    path = settings if target == "settings" else contacts
    good = path.read_text(encoding="utf-8")
    write(path, SETTINGS_BOMB if target == "settings" else CONTACTS_BOMB)
    assert path.stat().st_size < 500
    for args in [*COMMANDS, ("whoami",)] if target == "settings" else COMMANDS:
        assert_refused(env, args, path, r"aliases \(\*name\) expand to over")
    write(path, good)
    code, out, err, _ = run_cli(env, "inbox")
    assert (code, err) == (0, ""), (out, err)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["settings", "contacts"])
def test_an_oversize_file_stops_a_command_with_one_line(
    space: tuple[dict[str, str], Path], target: str
) -> None:
    env, root = space
    path = (
        root / ".datacore" / "settings.local.yaml"
        if target == "settings"
        else root / "0-personal" / "contacts.yaml"
    )
    good = path.read_text(encoding="utf-8")
    write(path, good + "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert_refused(env, ("inbox",), path, r"over 256 KiB, the limit for this file")
    write(path, good)
    assert run_cli(env, "inbox")[0] == 0
