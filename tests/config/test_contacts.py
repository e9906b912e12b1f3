"""contacts.yaml: strict reading, and edits that keep every hand-written byte outside the touched item."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datacore_msg.config.contacts import TIERS, Contact, load_contacts
from datacore_msg.config.contacts_edit import HEADER, ContactChange, add_contact, remove_contact
from datacore_msg.errors import ConfigError, InvalidInput, NotFound
from datacore_msg.eventlog.signing import SigningKey

KEY_A = "a" * 64
KEY_B = "b" * 64
KEY_C = "c" * 64
KEY_D = "d" * 64
TODAY = "2026-12-01"

EXAMPLE = """\
# Contacts of the team space
# (kept by hand and by datacore-msg)

actors:
  # the boss
  - id: tex              # actor name
    name: Tex Mex
    handles: ["@tex"]
    trust_tier: team
    added: 2026-11-24
    public_key: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  # laptop
    anything_else: kept  # unknown

  # bob, from design
  - id: bob
    public_key:
      - bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    trust_tier: 'trusted'   # quoted
    nested:
      deep: [1, 2]

# footer comment
"""


def write(tmp_path: Path, text: str, name: str = "contacts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- reading ---------------------------------------------------------------------------------------


def test_load_the_full_example(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    assert load_contacts(path) == [
        Contact("tex", "Tex Mex", ("@tex",), "team", (KEY_A,), "2026-11-24"),
        Contact("bob", None, (), "trusted", (KEY_B,), None),
    ]


def test_keys_are_lowercased_and_deduplicated_and_dates_kept_as_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"actors:\n  - id: x\n    added: '2026-01-02'\n    public_key: [{KEY_A.upper()}, {KEY_A}, {KEY_B}]\n"
        "  - id: y\n    added: 2026-01-02 10:11:12\n    name:\n    handles:\n    trust_tier:\n",
    )
    assert load_contacts(path) == [
        Contact("x", None, (), None, (KEY_A, KEY_B), "2026-01-02"),
        Contact("y", None, (), None, (), "2026-01-02T10:11:12"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "\n\n",
        "# only a comment\n",
        "actors:\n",
        "actors: ~\n",
        "actors: []\n",
        "other: 1\n",
        "{}\n",
    ],
)
def test_no_contacts(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "contacts.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert load_contacts(path) == []


BAD_FILES = [
    ("- tex\n", "the top level must be a mapping with an 'actors' list, not a list"),
    ("just text\n", "the top level must be a mapping with an 'actors' list, not a string"),
    ("actors: 3\n", "actors: must be a list of contacts, not 3"),
    ("actors: {id: tex}\n", "actors: must be a list of contacts, not a mapping"),
    ("actors:\n  - tex\n", "actors[0]: must be a mapping (id, public_key, ...), not a string"),
    ("actors:\n  - name: Tex\n", "actors[0].id: missing"),
    ("actors:\n  - id: a\n  - id:\n", "actors[1].id: missing"),
    ("actors:\n  - id: -tex\n", "actors[0].id: '-tex' is not a valid actor name (letters, digits"),
    ("actors:\n  - id: 123\n", "actors[0].id: 123 is not a valid actor name"),
    ("actors:\n  - id: yes\n", "actors[0].id: True is not a valid actor name"),
    ("actors:\n  - id: a b\n", "actors[0].id: 'a b' is not a valid actor name"),
    ("actors:\n  - id: tex\n    name: 12\n", "actors[0].name: must be a string, not 12"),
    (
        "actors:\n  - id: tex\n    handles: '@tex'\n",
        "actors[0].handles: must be a list of strings, not a string",
    ),
    ("actors:\n  - id: tex\n    handles: ['@tex', 3]\n", "actors[0].handles[1]: 3 is not a string"),
    (
        "actors:\n  - id: tex\n    trust_tier: admin\n",
        "actors[0].trust_tier: 'admin' is not one of owner, team, trusted, unknown",
    ),
    ("actors:\n  - id: tex\n    trust_tier: Team\n", "actors[0].trust_tier: 'Team' is not one of owner"),
    ("actors:\n  - id: tex\n    added: 2026\n", "actors[0].added: 2026 is not a date or a string"),
    (
        "actors:\n  - id: a\n  - id: b\n  - id: c\n    public_key: abc\n",
        "actors[2].public_key: 'abc' is not a public key (64 hex characters)",
    ),
    (
        f"actors:\n  - id: tex\n    public_key: {'a' * 63}\n",
        f"actors[0].public_key: '{'a' * 63}' is not a public key (64 hex characters)",
    ),
    (
        f"actors:\n  - id: tex\n    public_key: {'g' * 64}\n",
        "actors[0].public_key: 'gggg",
    ),
    (
        f"actors:\n  - id: tex\n    public_key: '{KEY_A} '\n",
        f"actors[0].public_key: '{KEY_A} ' is not a public key (64 hex characters)",
    ),
    ("actors:\n  - id: tex\n    public_key: 12\n", "actors[0].public_key: 12 is not a public key"),
    (
        f"actors:\n  - id: tex\n    public_key: [{KEY_A}, xyz]\n",
        "actors[0].public_key[1]: 'xyz' is not a public key (64 hex characters)",
    ),
    (
        "actors:\n  - id: tex\n    public_key: {k: v}\n",
        "actors[0].public_key: {'k': 'v'} is not a public key",
    ),
    (
        "actors:\n  - id: tex\n  - id: bob\n  - id: amy\n  - id: tex\n",
        "actor 'tex' is listed twice (actors[0] and actors[3])",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_validation_errors_name_the_file_and_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_contacts(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_edits_refuse_an_invalid_file_and_leave_it_alone(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="^" + re.escape(f"{path}: {message}")):
        add_contact(path, "zed", KEY_D, "team", TODAY)
    with pytest.raises(ConfigError):
        remove_contact(path, "tex")
    assert path.read_text(encoding="utf-8") == text


MALFORMED = [
    ("actors:\n  - id: tex\n     name: x\n", 3),  # bad indentation
    ("actors:\n  - id: tex\n\tname: x\n", 3),  # a tab
    ("actors:\n  - id: tex\n    name: 'open\n", 4),  # unclosed quote
    ("actors:\n  - id: [tex\n", 3),
]


@pytest.mark.parametrize(("text", "line"), MALFORMED)
def test_malformed_yaml_is_refused_with_a_line_number(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    before = path.stat().st_mtime_ns
    for call in (
        lambda: load_contacts(path),
        lambda: add_contact(path, "zed", KEY_D, "team", TODAY),
        lambda: remove_contact(path, "tex"),
    ):
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{line}:\d+: malformed YAML"):
            call()
    assert path.read_text(encoding="utf-8") == text
    assert path.stat().st_mtime_ns == before


def test_duplicate_keys_are_refused_for_edits(tmp_path: Path) -> None:
    text = "actors:\n  - id: tex\n    name: A\n    name: B\n"
    path = write(tmp_path, text)
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}:4:5: refused: the key 'name' appears twice"
    ):
        load_contacts(path)  # read as edited: refused, never the last one silently winning
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}:4:5: refused: the key 'name' appears twice"
    ):
        add_contact(path, "tex", KEY_D, "team", TODAY)
    assert path.read_text(encoding="utf-8") == text


# -- adding ----------------------------------------------------------------------------------------


def test_add_to_a_missing_file_creates_it_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "space" / "contacts.yaml"
    old_umask = os.umask(0o022)
    try:
        change = add_contact(path, "tex", KEY_A.upper(), "team", TODAY, name="Tex Mex")
    finally:
        os.umask(old_umask)
    assert change == ContactChange(
        "tex", created_file=True, added_entry=True, added_key=True, tier_changed=True
    )
    text = path.read_text(encoding="utf-8")
    assert text == HEADER + textwrap.dedent(f"""\
        actors:
          - id: tex
            name: Tex Mex
            trust_tier: team
            added: {TODAY}
            public_key: {KEY_A}
        """)
    assert len(HEADER.splitlines()) == 2
    assert all(line.startswith("# ") for line in HEADER.splitlines())
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert load_contacts(path) == [Contact("tex", "Tex Mex", (), "team", (KEY_A,), TODAY)]
    assert [p.name for p in path.parent.iterdir()] == ["contacts.yaml"]  # no temporary file left


def test_add_a_new_actor_keeps_everything_else_byte_for_byte(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    change = add_contact(path, "carol", KEY_C, "trusted", TODAY)
    assert change == ContactChange(
        "carol", created_file=False, added_entry=True, added_key=True, tier_changed=True
    )
    new_item = f"  - id: carol\n    trust_tier: trusted\n    added: {TODAY}\n    public_key: {KEY_C}\n"
    text = path.read_text(encoding="utf-8")
    # After the last item, set apart by a blank line like the others; the footer stays last.
    assert text == EXAMPLE.replace("\n\n# footer comment\n", "\n\n" + new_item + "\n# footer comment\n")
    assert load_contacts(path)[-1] == Contact("carol", None, (), "trusted", (KEY_C,), TODAY)


def test_add_after_a_list_followed_by_other_keys(tmp_path: Path) -> None:
    text = "actors:\n- id: a   # indentless list\n  public_key: [" + KEY_A + "]\n\n# settings\nother: 1\n"
    path = write(tmp_path, text)
    add_contact(path, "b", KEY_B, "team", TODAY, name="Bee")
    new_item = f"- id: b\n  name: Bee\n  trust_tier: team\n  added: {TODAY}\n  public_key: {KEY_B}\n"
    assert path.read_text(encoding="utf-8") == text.replace(
        "\n\n# settings", "\n" + new_item + "\n# settings"
    )
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["other"] == 1


def test_a_second_key_makes_a_list_and_a_third_is_appended(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    change = add_contact(path, "tex", KEY_C, "team", TODAY)
    assert change == ContactChange(
        "tex", created_file=False, added_entry=False, added_key=True, tier_changed=False
    )
    text = path.read_text(encoding="utf-8")
    old_line = f"    public_key: {KEY_A}  # laptop\n"
    start = text.index("    public_key:")
    end = text.index("    anything_else:")
    assert text[:start] + old_line + text[end:] == EXAMPLE  # only those lines changed
    assert "# laptop" in text[start:end]
    assert yaml.safe_load(text)["actors"][0]["public_key"] == [KEY_A, KEY_C]

    add_contact(path, "tex", KEY_D, "team", TODAY)
    assert load_contacts(path)[0].public_keys == (KEY_A, KEY_C, KEY_D)
    add_contact(path, "bob", KEY_D, "trusted", TODAY)
    assert load_contacts(path)[1].public_keys == (KEY_B, KEY_D)
    assert path.read_text(encoding="utf-8").endswith("# footer comment\n")


@pytest.mark.parametrize("key", [KEY_A, KEY_A.upper()])
def test_adding_a_pinned_key_again_writes_nothing(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, EXAMPLE)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    change = add_contact(path, "tex", key, "team", TODAY, name="Tex Mex")
    assert change == ContactChange(
        "tex", created_file=False, added_entry=False, added_key=False, tier_changed=False
    )
    assert path.read_text(encoding="utf-8") == EXAMPLE
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_tier_change_touches_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    change = add_contact(path, "bob", KEY_B, "owner", TODAY)
    assert change == ContactChange(
        "bob", created_file=False, added_entry=False, added_key=False, tier_changed=True
    )
    # The quoting and the end-of-line comment (at its column) are kept.
    expected = EXAMPLE.replace("trust_tier: 'trusted'   # quoted", "trust_tier: 'owner'     # quoted")
    assert path.read_text(encoding="utf-8") == expected


def test_missing_fields_are_added_inside_the_item(tmp_path: Path) -> None:
    text = "actors:\n  - id: amy  # first\n  - id: bob\n"
    path = write(tmp_path, text)
    change = add_contact(path, "amy", KEY_A, "team", TODAY, name="Amy")
    assert change.added_key and change.tier_changed and not change.added_entry
    assert path.read_text(encoding="utf-8") == (
        f"actors:\n  - id: amy  # first\n    name: Amy\n    trust_tier: team\n    public_key: {KEY_A}\n"
        "  - id: bob\n"
    )


def test_a_name_change_alone_is_written(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    change = add_contact(path, "tex", KEY_A, "team", TODAY, name="Tex")
    assert change == ContactChange(
        "tex", created_file=False, added_entry=False, added_key=False, tier_changed=False
    )
    assert path.read_text(encoding="utf-8") == EXAMPLE.replace("name: Tex Mex", "name: Tex")


def test_permission_bits_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    path.chmod(0o600)
    add_contact(path, "carol", KEY_C, "team", TODAY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    text = f"# c\r\nactors:\r\n  - id: a\r\n    public_key: {KEY_A}\r\n"
    path = tmp_path / "contacts.yaml"
    path.write_bytes(text.encode())
    add_contact(path, "a", KEY_B, "team", TODAY)
    add_contact(path, "b", KEY_B, "team", TODAY)
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.startswith(b"# c\r\nactors:\r\n  - id: a\r\n")
    assert [c.id for c in load_contacts(path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", ""),
        ("# just a note\n", "# just a note\n"),
        ("# no newline at the end", "# no newline at the end\n"),
        ("other: 1  # keep\n", "other: 1  # keep\n"),
        ("{}\n", ""),
        ("actors:\n", ""),
        ("actors: ~   # nobody yet\n", ""),
        ("actors: []\n# after\nother: 2\n", ""),
        (f"actors: [{{id: a, public_key: {KEY_A}}}]\n", ""),
        (f"actors:\n  - {{id: a, public_key: {KEY_A}}}  # flow item\n", "# flow item\n"),
    ],
)
def test_add_to_files_without_a_block_list(tmp_path: Path, text: str, kept: str) -> None:
    path = write(tmp_path, text)
    before = yaml.safe_load(text) or {}
    add_contact(path, "zed", KEY_D, "unknown", TODAY)
    after_text = path.read_text(encoding="utf-8")
    assert kept in after_text
    after = yaml.safe_load(after_text)
    assert after["actors"][-1] == {
        "id": "zed",
        "trust_tier": "unknown",
        "added": yaml.safe_load(TODAY),
        "public_key": KEY_D,
    }
    assert {k: v for k, v in after.items() if k != "actors"} == {
        k: v for k, v in before.items() if k != "actors"
    }
    assert load_contacts(path)[-1].id == "zed"
    add_contact(path, "a", KEY_C, "team", TODAY)  # and the result can be edited again
    assert KEY_C in load_contacts(path)[0 if "id: a" in text else -1].public_keys


def test_an_item_with_an_alias_is_refused_but_others_can_be_edited(tmp_path: Path) -> None:
    text = "actors:\n  - id: a\n    x: &v 1\n    y: *v\n  - id: b\n"
    path = write(tmp_path, text)
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}:2: cannot edit actors\[0\] automatically"
    ):
        add_contact(path, "a", KEY_C, "team", TODAY)
    assert path.read_text(encoding="utf-8") == text
    add_contact(path, "b", KEY_C, "team", TODAY)
    assert path.read_text(encoding="utf-8") == text + f"    trust_tier: team\n    public_key: {KEY_C}\n"


def test_an_unusual_item_is_edited_without_changing_its_data(tmp_path: Path) -> None:
    text = textwrap.dedent(f"""\
        ---
        actors:
            -   id: a   # four and three spaces
                note: |
                    keep
                    # not a comment
                meta:
                    x: 017
                    when: 2026-01-01
                public_key: {KEY_A}

            -   id: b
        ...
        """)
    path = write(tmp_path, text)
    before = yaml.safe_load(text)
    add_contact(path, "a", KEY_B, "trusted", TODAY)
    after_text = path.read_text(encoding="utf-8")
    after = yaml.safe_load(after_text)
    before["actors"][0].update(trust_tier="trusted", public_key=[KEY_A, KEY_B])
    assert after == before
    assert after_text.startswith("---\nactors:\n    -   id: a   # four and three spaces\n")
    assert after_text.endswith("\n    -   id: b\n...\n")


BAD_ARGUMENTS = [
    ({"actor": "-x"}, "actor '-x' is not a valid name"),
    ({"actor": ""}, "actor '' is not a valid name"),
    ({"public_key": "abc"}, "public key 'abc' is not a public key (64 hex characters)"),
    ({"public_key": "g" * 64}, "public key 'gggg"),
    ({"public_key": KEY_A + "\n"}, f"public key '{KEY_A}\\n' is not a public key (64 hex characters)"),
    ({"tier": "admin"}, "tier 'admin' is not one of owner, team, trusted, unknown"),
    ({"tier": "Team"}, "tier 'Team' is not one of"),
    ({"today": "01/12/2026"}, "today '01/12/2026' is not a date (YYYY-MM-DD)"),
    ({"today": "2026-13-01"}, "today '2026-13-01' is not a date"),
    ({"name": "two\nlines"}, "name 'two\\nlines' must be one line of printable text"),
    ({"name": " "}, "name ' ' must be one line of printable text"),
]


@pytest.mark.parametrize(("override", "message"), BAD_ARGUMENTS)
def test_bad_arguments(tmp_path: Path, override: dict[str, str], message: str) -> None:
    path = tmp_path / "contacts.yaml"
    arguments = {"actor": "tex", "public_key": KEY_A, "tier": "team", "today": TODAY, "name": None}
    arguments.update(override)
    with pytest.raises(InvalidInput) as caught:
        add_contact(path, **arguments)  # type: ignore[arg-type]
    assert type(caught.value) is InvalidInput
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value).replace("\\n", "")
    assert not path.exists()


@pytest.mark.parametrize("tier", TIERS)
def test_every_tier_is_accepted(tmp_path: Path, tier: str) -> None:
    path = tmp_path / "contacts.yaml"
    add_contact(path, "me", KEY_A, tier, TODAY)
    assert load_contacts(path)[0].tier == tier


# -- removing --------------------------------------------------------------------------------------


def test_remove_the_first_item_keeps_the_others_and_their_comments(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    removed = remove_contact(path, "tex")
    assert removed == Contact("tex", "Tex Mex", ("@tex",), "team", (KEY_A,), "2026-11-24")
    start = EXAMPLE.index("  # the boss")
    end = EXAMPLE.index("  # bob, from design")
    assert path.read_text(encoding="utf-8") == EXAMPLE[:start] + EXAMPLE[end:]
    assert [c.id for c in load_contacts(path)] == ["bob"]


def test_remove_the_last_item_keeps_the_footer(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    remove_contact(path, "bob")
    start = EXAMPLE.index("  # bob, from design")
    end = EXAMPLE.index("# footer comment")
    assert path.read_text(encoding="utf-8") == EXAMPLE[:start] + EXAMPLE[end:]


def test_remove_a_middle_item(tmp_path: Path) -> None:
    text = "actors:\n  - id: a\n  # about b\n  - id: b   # b\n    name: B\n  - id: c\n"
    path = write(tmp_path, text)
    remove_contact(path, "b")
    assert path.read_text(encoding="utf-8") == "actors:\n  - id: a\n  - id: c\n"


def test_remove_the_only_item_leaves_an_empty_list(tmp_path: Path) -> None:
    path = write(tmp_path, f"# header\nactors:\n  - id: a\n    public_key: {KEY_A}\nother: 1\n")
    remove_contact(path, "a")
    assert path.read_text(encoding="utf-8") == "# header\nactors:\nother: 1\n"
    assert load_contacts(path) == []


def test_remove_unknown_is_not_found(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    with pytest.raises(NotFound, match=f"^{re.escape(str(path))}: no contact named 'zed'$"):
        remove_contact(path, "zed")
    assert path.read_text(encoding="utf-8") == EXAMPLE
    missing = tmp_path / "missing.yaml"
    with pytest.raises(NotFound, match="no contact named 'tex'"):
        remove_contact(missing, "tex")
    assert not missing.exists()


def test_ruamel_is_not_imported_for_reading(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    code = (
        "import sys; from pathlib import Path; from datacore_msg.config.contacts import load_contacts; "
        f"assert len(load_contacts(Path({str(path)!r}))) == 2; "
        "assert not [m for m in sys.modules if m.startswith('ruamel')], 'ruamel imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- properties ------------------------------------------------------------------------------------

ACTORS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}", fullmatch=True)
KEYS = st.binary(min_size=32, max_size=32).map(bytes.hex)
SPELLINGS = st.sampled_from([str.lower, str.upper])
NAMES = st.none() | st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and s.isprintable())


def fresh(tmp_path: Path) -> Path:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    path = folder / "contacts.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actor=ACTORS, key=KEYS, spelling=SPELLINGS, tier=st.sampled_from(TIERS), name=NAMES)
@example(actor="yes", key="0" * 64, spelling=str.lower, tier="team", name="no")
@example(actor="2026-01-02", key="1" * 63 + "0", spelling=str.lower, tier="owner", name="null")
@example(actor="0x1F", key="0" * 63 + "e", spelling=str.upper, tier="trusted", name="1_000")
@example(
    actor="1.5e+3", key=KEY_C, spelling=str.lower, tier="unknown", name="'quoted' \"both\" # not a comment"
)
@example(actor="tex", key=KEY_C, spelling=str.lower, tier="owner", name=None)
def test_add_then_load_and_add_then_remove(
    tmp_path: Path, actor: str, key: str, spelling: object, tier: str, name: str | None
) -> None:
    path = fresh(tmp_path)
    before = yaml.safe_load(EXAMPLE)
    existing = {c.id: c for c in load_contacts(path)}.get(actor)
    change = add_contact(path, actor, spelling(key), tier, TODAY, name=name)  # type: ignore[operator]
    contact = next(c for c in load_contacts(path) if c.id == actor)
    assert key in contact.public_keys
    assert contact.tier == tier
    if name is not None:
        assert contact.name == name
    assert change.added_entry == (existing is None)
    assert change.added_key == (existing is None or key not in existing.public_keys)
    if existing is not None:
        return
    assert contact.added == TODAY
    assert remove_contact(path, actor) == contact
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == before
    assert path.read_text(encoding="utf-8") == EXAMPLE


def test_a_real_signing_key_can_be_pinned(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    public = SigningKey.generate().public_hex
    add_contact(path, "me", public, "owner", TODAY)
    assert load_contacts(path)[0].public_keys == (public,)
