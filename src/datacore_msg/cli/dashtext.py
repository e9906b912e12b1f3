"""Commands whose TEXT may begin with ``-``: ``send @tex "- fix the build"`` sends a list item.

click reads every word that begins with ``-`` as an option and stops with "No such option". A
:class:`TextCommand` first sorts its words: a word that names one of the command's options (or
``--name=value`` for one) stays an option, with its value when it takes one; any other word that
begins with ``-`` (and is not ``-`` alone, standard input) is an argument, like the words that do
not. The words are then handed to click as the options followed by ``--`` and the arguments, in
their order, so click never mistakes such a text for an option. A ``--`` typed by the user still
ends the options: every word after it is an argument.
"""

from __future__ import annotations

import click


def _option_names(command: click.Command, ctx: click.Context) -> dict[str, bool]:
    """Every option name of ``command`` (help included) -> whether it takes a value."""
    names: dict[str, bool] = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            takes_value = not param.is_flag and not param.count
            for name in (*param.opts, *param.secondary_opts):
                names[name] = takes_value
    return names


def sort_words(words: list[str], options: dict[str, bool]) -> list[str]:
    """``words`` as click should read them: the options (with their values), then ``--`` and the
    arguments, when an argument begins with ``-``; else unchanged."""
    named: list[str] = []
    arguments: list[str] = []
    dashed = False
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            arguments.extend(words[index:])
            dashed = dashed or any(w.startswith("-") for w in words[index:])
            break
        name = word.split("=", 1)[0] if word.startswith("--") else word
        if name in options:
            named.append(word)
            if options[name] and "=" not in word and index < len(words):
                named.append(words[index])
                index += 1
            continue
        if word.startswith("-") and word != "-":
            dashed = True
        arguments.append(word)
    if not dashed:
        return words
    return [*named, "--", *arguments]


class TextCommand(click.Command):
    """A command whose arguments (a message's TEXT) may begin with ``-``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, sort_words(list(args), _option_names(self, ctx)))
