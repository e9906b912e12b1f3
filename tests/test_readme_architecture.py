"""The README's Architecture module tree lists exactly the package's modules and folders: one line
per module, each with what it does, nothing listed that is gone, nothing in ``src/`` left out."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "datacore_msg"
TREE_LINE = re.compile(r"^((?:│   |    )*)(?:├── |└── )(\S+)(.*)$")


def readme_tree(readme: str) -> dict[str, str]:
    """The tree's entries (``app/``, ``app/sync.py`` …) with the description given for each."""
    start = readme.index("```\nsrc/datacore_msg/\n")
    block = readme[start + 4 : readme.index("```", start + 4)].splitlines()[1:]
    listed: dict[str, str] = {}
    folders: list[str] = []
    for line in block:
        match = TREE_LINE.match(line)
        assert match, f"not a tree line: {line!r}"
        depth = len(match.group(1)) // 4
        name, description = match.group(2), match.group(3).strip()
        assert depth <= len(folders), f"{line!r} is deeper than the folder above it"
        folders = folders[:depth]
        path = "/".join([*folders, name.rstrip("/")])
        assert path + ("/" if name.endswith("/") else "") not in listed, f"{path} is listed twice"
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
            path += "/"
        listed[path] = description
    return listed


def package_tree(root: Path) -> set[str]:
    """The package's modules and the folders that hold modules (a folder's ``__init__.py`` is the
    folder's line)."""
    found: set[str] = set()
    for module in root.rglob("*.py"):
        rel = module.relative_to(root)
        if "__pycache__" in rel.parts:
            continue
        if module.name == "__init__.py" and len(rel.parts) > 1:
            found.add(rel.parent.as_posix() + "/")
        else:
            found.add(rel.as_posix())
            found.update(parent.as_posix() + "/" for parent in rel.parents if parent.parts)
    return found


def test_the_readme_tree_lists_every_module_and_nothing_else() -> None:
    listed = readme_tree((REPO / "README.md").read_text(encoding="utf-8"))
    actual = package_tree(PACKAGE)
    assert sorted(actual - set(listed)) == [], "in src/ but not in the README's Architecture tree"
    assert sorted(set(listed) - actual) == [], "in the README's Architecture tree but not in src/"
    undescribed = [path for path, description in listed.items() if not description and not path.endswith("/")]
    assert undescribed == [], "modules listed without saying what they do"


def test_the_check_reads_the_tree_as_drawn() -> None:
    readme = (
        "text\n```\nsrc/datacore_msg/\n├── errors.py   the errors\n├── app/        the service\n"
        "│   ├── sync.py   sync\n│   └── drivers/\n│       └── x.py  x\n"
        "└── cli/\n    └── main.py  main\n```\n"
    )
    assert readme_tree(readme) == {
        "errors.py": "the errors",
        "app/": "the service",
        "app/sync.py": "sync",
        "app/drivers/": "",
        "app/drivers/x.py": "x",
        "cli/": "",
        "cli/main.py": "main",
    }
