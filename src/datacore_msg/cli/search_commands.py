"""``search``: full-text search over the message and task texts in your own views."""

from __future__ import annotations

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_text
from datacore_msg.cli.search_format import hit_dict, hits_text

#: What the help says of the query (also in docs/search.md).
QUERY_HELP = (
    "QUERY is plain words, all of which must match (in any order, any case, accents ignored: "
    'cafe finds café); "two words" in quotes match as a phrase; a word ending in * matches as a '
    "prefix (deplo*). Nothing else is syntax: AND, OR, NOT, -, : and brackets are searched as words. "
    "A query that starts with - goes after --: datacore-msg search -- -x."
)


@click.command(epilog=QUERY_HELP)
@click.argument("query")
@click.option(
    "--from", "sender", default=None, metavar="NAME", help="Only texts from NAME (claude: your agent)."
)
@click.option(
    "--to", "recipient", default=None, metavar="NAME", help="Only texts to NAME (claude: your agent)."
)
@click.option("--thread", default=None, metavar="ID", help="Only the thread whose first message is ID.")
@click.option(
    "--since", default=None, metavar="WHEN", help="Only texts since: 30m, 2h, 7d, or an ISO date/time."
)
@click.option("--tasks", "tasks_only", is_flag=True, help="Only task texts (default: messages and tasks).")
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=1000),
    default=20,
    show_default=True,
    metavar="N",
    help="At most N results.",
)
@json_option
@space_options
def search(
    query: str,
    sender: str | None,
    recipient: str | None,
    thread: str | None,
    since: str | None,
    tasks_only: bool,
    limit: int,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Search the messages and tasks in your own views (archived ones included), best match first,
    the matched words in [brackets]."""
    from datacore_msg.app.search import find

    with open_space_from(root, space) as sp:
        since_ms = None
        if since is not None:
            from datacore_msg.app.audit import parse_since

            since_ms = parse_since(since, sp.clock())
        found = find(
            sp,
            query,
            sender=sender,
            recipient=recipient,
            thread=thread,
            since_ms=since_ms,
            tasks=tasks_only,
            limit=limit,
        )
        tz = sp.tz
    warn_views(found.views)
    if as_json:
        emit_json([hit_dict(hit, tz) for hit in found.hits])
    else:
        emit_text(hits_text(found.hits, tz))


COMMANDS: tuple[click.Command, ...] = (search,)
