"""``messaging.trust_tiers`` / ``messaging.compute`` / ``messaging.trust_overrides``: what the settings
may override, and the errors (naming the file and the dotted key) for what they may not."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from datacore_msg.config.policy import MAX_LIMIT, load_overrides, load_policy
from datacore_msg.config.settings import Settings, parse_settings
from datacore_msg.errors import ConfigError
from datacore_msg.governor.policy import DEFAULT_TIERS, ComputeLimits, Policy, TierLimits

PATH = Path("settings.local.yaml")


def settings_with(messaging: Any) -> Settings:
    return parse_settings({"identity": {"name": "gregor"}, "messaging": messaging}, PATH)


def policy_from(messaging: Any) -> Policy:
    return load_policy(settings_with(messaging), PATH)


def tiers_with(**changes: dict[str, Any]) -> dict[str, TierLimits]:
    tiers = dict(DEFAULT_TIERS)
    for name, fields in changes.items():
        tiers[name] = tiers[name].evolve(**fields)
    return tiers


# -- valid -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messaging", "expected"),
    [
        pytest.param(None, Policy(), id="no-messaging"),
        pytest.param({}, Policy(), id="empty-messaging"),
        pytest.param({"trust_tiers": None, "compute": None}, Policy(), id="null-sections"),
        pytest.param({"trust_tiers": {}, "compute": {}}, Policy(), id="empty-sections"),
        pytest.param({"trust_tiers": {"team": {}}}, Policy(), id="empty-tier"),
        pytest.param(
            {"trust_tiers": {"team": {"max_effort": 4}}},
            Policy(tiers=tiers_with(team={"max_effort": 4})),
            id="partial-tier-keeps-other-fields",
        ),
        pytest.param(
            {"trust_tiers": {"trusted": {"daily_token_limit": 1234}}},
            Policy(tiers=tiers_with(trusted={"daily_tokens": 1234})),
            id="daily_token_limit",
        ),
        pytest.param(
            {"trust_tiers": {"trusted": {"daily_tokens": 1234}}},
            Policy(tiers=tiers_with(trusted={"daily_tokens": 1234})),
            id="daily_tokens",
        ),
        pytest.param(
            {"trust_tiers": {"unknown": {"auto_accept": True}}},
            Policy(tiers=tiers_with(unknown={"auto_accept": True})),
            id="auto_accept-true",
        ),
        pytest.param(
            {"trust_tiers": {"team": {"auto_accept": False}}},
            Policy(tiers=tiers_with(team={"auto_accept": False})),
            id="auto_accept-false",
        ),
        pytest.param(
            {"trust_tiers": {"owner": {"daily_tokens": 100}}},
            Policy(tiers=tiers_with(owner={"daily_tokens": 100})),
            id="owner-tier-limit",
        ),
        pytest.param(
            {"trust_tiers": {"team": {"priority_boost": 3}}},
            Policy(tiers=tiers_with(team={"priority_boost": 3.0})),
            id="priority_boost-int",
        ),
        pytest.param(
            {"trust_tiers": {"team": {"priority_boost": 0.25}}},
            Policy(tiers=tiers_with(team={"priority_boost": 0.25})),
            id="priority_boost-float",
        ),
        pytest.param(
            {"trust_tiers": {"team": {"priority_boost": 0}}},
            Policy(tiers=tiers_with(team={"priority_boost": 0.0})),
            id="priority_boost-0",
        ),
        pytest.param(
            {"trust_tiers": {"team": {"priority_boost": 100}}},
            Policy(tiers=tiers_with(team={"priority_boost": 100.0})),
            id="priority_boost-100",
        ),
        pytest.param(
            {"trust_tiers": {"trusted": {"max_effort": 0, "daily_tokens": 0}}},
            Policy(tiers=tiers_with(trusted={"max_effort": 0, "daily_tokens": 0})),
            id="tier-zero-is-unlimited",
        ),
        pytest.param(
            {
                "trust_tiers": {
                    "owner": {"max_effort": 10},
                    "team": {
                        "daily_token_limit": 1,
                        "max_effort": 2,
                        "auto_accept": False,
                        "priority_boost": 9,
                    },
                    "trusted": {"auto_accept": True},
                    "unknown": {"daily_tokens": 0},
                }
            },
            Policy(
                tiers=tiers_with(
                    owner={"max_effort": 10},
                    team={"daily_tokens": 1, "max_effort": 2, "auto_accept": False, "priority_boost": 9.0},
                    trusted={"auto_accept": True},
                    unknown={"daily_tokens": 0},
                )
            ),
            id="all-tiers",
        ),
        pytest.param(
            {"compute": {"daily_budget_tokens": 7}},
            Policy(compute=ComputeLimits(daily_budget_tokens=7)),
            id="daily_budget_tokens",
        ),
        pytest.param(
            {"compute": {"per_sender_daily_max": 7}},
            Policy(compute=ComputeLimits(per_sender_daily_max=7)),
            id="per_sender_daily_max",
        ),
        pytest.param(
            {"compute": {"per_task_max_tokens": 7}},
            Policy(compute=ComputeLimits(per_task_max_tokens=7)),
            id="per_task_max_tokens",
        ),
        pytest.param(
            {"compute": {"per_task_timeout_minutes": 7}},
            Policy(compute=ComputeLimits(per_task_timeout_minutes=7)),
            id="per_task_timeout_minutes",
        ),
        pytest.param(
            {"compute": {"cooldown_between_tasks": 7}},
            Policy(compute=ComputeLimits(cooldown_between_tasks=7)),
            id="cooldown_between_tasks",
        ),
        pytest.param(
            {"compute": {"max_queue_depth": 7}},
            Policy(compute=ComputeLimits(max_queue_depth=7)),
            id="max_queue_depth",
        ),
        pytest.param(
            {"compute": {"max_retries": 7}},
            Policy(compute=ComputeLimits(max_retries=7)),
            id="max_retries",
        ),
        pytest.param(
            {"compute": {"default_task_tokens": 1}},
            Policy(compute=ComputeLimits(default_task_tokens=1)),
            id="default_task_tokens-1",
        ),
        pytest.param(
            {"compute": {"rate_limits": {"tasks_per_hour": 9}}},
            Policy(compute=ComputeLimits(tasks_per_hour=9)),
            id="rate_limits.tasks_per_hour",
        ),
        pytest.param(
            {"compute": {"rate_limits": {"tasks_per_hour": 0}}},
            Policy(compute=ComputeLimits(tasks_per_hour=0)),
            id="rate_limits.tasks_per_hour-0",
        ),
        pytest.param({"compute": {"rate_limits": {}}}, Policy(), id="rate_limits-empty"),
        pytest.param(
            {"compute": {"max_queue_depth": 0, "cooldown_between_tasks": 0, "daily_budget_tokens": 0}},
            Policy(compute=ComputeLimits(max_queue_depth=0, cooldown_between_tasks=0, daily_budget_tokens=0)),
            id="compute-zero-is-unlimited",
        ),
        pytest.param(
            {"compute": {"daily_budget_tokens": MAX_LIMIT}},
            Policy(compute=ComputeLimits(daily_budget_tokens=MAX_LIMIT)),
            id="at-max-limit",
        ),
        pytest.param(
            {
                "trust_tiers": {"team": {"max_effort": 6}},
                "compute": {
                    "daily_budget_tokens": 1,
                    "per_sender_daily_max": 2,
                    "per_task_max_tokens": 3,
                    "per_task_timeout_minutes": 4,
                    "cooldown_between_tasks": 5,
                    "max_queue_depth": 6,
                    "rate_limits": {"tasks_per_hour": 7},
                    "max_retries": 8,
                    "default_task_tokens": 9,
                },
            },
            Policy(
                tiers=tiers_with(team={"max_effort": 6}), compute=ComputeLimits(1, 2, 3, 4, 5, 6, 7, 8, 9)
            ),
            id="everything",
        ),
        pytest.param(
            {"default_space": "team", "relay": {"url": "ws://x"}, "other": 1},
            Policy(),
            id="other-messaging-keys-ignored",
        ),
    ],
)
def test_valid_policy(messaging: Any, expected: Policy) -> None:
    policy = policy_from(messaging)
    assert policy == expected
    assert dict(policy.tiers) == dict(expected.tiers)


def test_valid_policy_from_yaml_text() -> None:
    text = """\
identity:
  name: gregor
messaging:
  trust_tiers:
    unknown:
      auto_accept: yes
      daily_token_limit: 2_000
    team:
      priority_boost: 1.75
  compute:
    max_queue_depth: 3
    rate_limits:
      tasks_per_hour: 12
"""
    policy = load_policy(parse_settings(yaml.safe_load(text), PATH), PATH)
    assert policy == Policy(
        tiers=tiers_with(unknown={"auto_accept": True, "daily_tokens": 2_000}, team={"priority_boost": 1.75}),
        compute=ComputeLimits(max_queue_depth=3, tasks_per_hour=12),
    )


def test_loading_does_not_change_the_defaults() -> None:
    policy_from({"trust_tiers": {"team": {"max_effort": 1}}, "compute": {"max_queue_depth": 1}})
    assert DEFAULT_TIERS["team"].max_effort == 8
    assert Policy().tier("team").max_effort == 8
    assert ComputeLimits().max_queue_depth == 20


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(None, {}, id="null"),
        pytest.param({}, {}, id="empty"),
        pytest.param({"bob": "team"}, {"bob": "team"}, id="one"),
        pytest.param(
            {"bob": "owner", "alice": "team", "carol": "trusted", "mallory": "unknown"},
            {"bob": "owner", "alice": "team", "carol": "trusted", "mallory": "unknown"},
            id="every-tier",
        ),
        pytest.param(
            {"a.b_c@d+e-f": "trusted", "X9": "team"},
            {"a.b_c@d+e-f": "trusted", "X9": "team"},
            id="name-chars",
        ),
        pytest.param({"b" * 64: "team"}, {"b" * 64: "team"}, id="64-chars"),
    ],
)
def test_valid_overrides(overrides: Any, expected: dict[str, str]) -> None:
    assert load_overrides(settings_with({"trust_overrides": overrides}), PATH) == expected


def test_no_messaging_section_means_no_overrides() -> None:
    settings = parse_settings({"identity": {"name": "gregor"}}, PATH)
    assert load_overrides(settings, PATH) == {}
    assert load_policy(settings, PATH) == Policy()


# -- invalid ---------------------------------------------------------------------------------------

POLICY, OVERRIDES = "policy", "overrides"


def bad(messaging: Any, key: str, fragment: str, loader: str = POLICY, *, id: str, marks: Any = ()) -> Any:
    return pytest.param(messaging, key, fragment, loader, id=id, marks=marks)


def compute(key: str, value: Any, fragment: str = "must be a whole number from 0 to") -> tuple[Any, str, str]:
    return {"compute": {key: value}}, f"messaging.compute.{key}", fragment


def tier(name: str, key: str, value: Any, fragment: str) -> tuple[Any, str, str]:
    return {"trust_tiers": {name: {key: value}}}, f"messaging.trust_tiers.{name}.{key}", fragment


WHOLE = "must be a whole number from 0 to"
INVALID = [
    # compute: numbers
    bad(*compute("max_queue_depth", -1), id="compute-negative"),
    bad(*compute("max_queue_depth", True), id="compute-bool-true"),
    bad(*compute("cooldown_between_tasks", False), id="compute-bool-false"),
    bad(*compute("max_queue_depth", "20"), id="compute-string"),
    bad(*compute("max_queue_depth", 2.5), id="compute-float"),
    bad(*compute("max_queue_depth", 20.0), id="compute-whole-float"),
    bad(*compute("max_queue_depth", None), id="compute-null"),
    bad(*compute("max_queue_depth", [20]), id="compute-list"),
    bad(*compute("daily_budget_tokens", MAX_LIMIT + 1), id="compute-too-big"),
    bad(*compute("per_sender_daily_max", -100), id="per_sender_daily_max-negative"),
    bad(*compute("per_task_max_tokens", "lots"), id="per_task_max_tokens-string"),
    bad(*compute("per_task_timeout_minutes", -1), id="per_task_timeout_minutes-negative"),
    bad(*compute("max_retries", True), id="max_retries-bool"),
    bad(*compute("default_task_tokens", 0, "must be at least 1"), id="default_task_tokens-0"),
    bad(*compute("default_task_tokens", -1), id="default_task_tokens-negative"),
    # compute: keys and shapes
    bad(*compute("bogus", 1, "unknown key"), id="compute-unknown-key"),
    bad(*compute("rate_limits", 5, "must be a mapping"), id="rate_limits-not-mapping"),
    bad(*compute("rate_limits", None, "must be a mapping"), id="rate_limits-null"),
    bad(
        {"compute": {"rate_limits": {"per_day": 3}}},
        "messaging.compute.rate_limits.per_day",
        "unknown key",
        id="rate_limits-unknown-key",
    ),
    bad(
        {"compute": {"rate_limits": {"tasks_per_hour": -1}}},
        "messaging.compute.rate_limits.tasks_per_hour",
        WHOLE,
        id="rate_limits-negative",
    ),
    bad(
        {"compute": {"rate_limits": {"tasks_per_hour": True}}},
        "messaging.compute.rate_limits.tasks_per_hour",
        WHOLE,
        id="rate_limits-bool",
    ),
    bad(
        {"compute": {"rate_limits": {"tasks_per_hour": "5"}}},
        "messaging.compute.rate_limits.tasks_per_hour",
        WHOLE,
        id="rate_limits-string",
    ),
    bad({"compute": [1]}, "messaging.compute", "must be a mapping", id="compute-list-section"),
    bad({"compute": "fast"}, "messaging.compute", "must be a mapping", id="compute-string-section"),
    bad({"compute": 5}, "messaging.compute", "must be a mapping", id="compute-number-section"),
    bad(
        {"compute": []},
        "messaging.compute",
        "must be a mapping",
        id="compute-empty-list",
    ),
    bad({"compute": 0}, "messaging.compute", "must be a mapping", id="compute-zero"),
    bad(
        {"compute": False},
        "messaging.compute",
        "must be a mapping",
        id="compute-false",
    ),
    bad(
        {"compute": ""},
        "messaging.compute",
        "must be a mapping",
        id="compute-empty-str",
    ),
    # trust_tiers
    bad({"trust_tiers": ["team"]}, "messaging.trust_tiers", "must be a mapping", id="tiers-list-section"),
    bad({"trust_tiers": "team"}, "messaging.trust_tiers", "must be a mapping", id="tiers-string-section"),
    bad(
        {"trust_tiers": []},
        "messaging.trust_tiers",
        "must be a mapping",
        id="tiers-empty-list",
    ),
    bad(
        {"trust_tiers": False},
        "messaging.trust_tiers",
        "must be a mapping",
        id="tiers-false",
    ),
    bad(
        {"trust_tiers": {"admin": {}}}, "messaging.trust_tiers.admin", "unknown tier", id="tiers-unknown-tier"
    ),
    bad({"trust_tiers": {"Team": {}}}, "messaging.trust_tiers.Team", "unknown tier", id="tiers-wrong-case"),
    bad(
        {"trust_tiers": {"team": 5}}, "messaging.trust_tiers.team", "must be a mapping", id="tier-not-mapping"
    ),
    bad({"trust_tiers": {"team": [1]}}, "messaging.trust_tiers.team", "must be a mapping", id="tier-list"),
    bad({"trust_tiers": {"team": None}}, "messaging.trust_tiers.team", "must be a mapping", id="tier-null"),
    bad(*tier("team", "colour", "red", "unknown key"), id="tier-unknown-key"),
    bad(*tier("team", "tasks_per_hour", 3, "unknown key"), id="tier-compute-key"),
    bad(*tier("team", "max_effort", -1, WHOLE), id="max_effort-negative"),
    bad(*tier("team", "max_effort", True, WHOLE), id="max_effort-bool"),
    bad(*tier("team", "max_effort", "8", WHOLE), id="max_effort-string"),
    bad(*tier("team", "max_effort", 1.5, WHOLE), id="max_effort-float"),
    bad(*tier("trusted", "daily_token_limit", -5, WHOLE), id="daily_token_limit-negative"),
    bad(*tier("trusted", "daily_token_limit", False, WHOLE), id="daily_token_limit-bool"),
    bad(*tier("trusted", "daily_tokens", "lots", WHOLE), id="daily_tokens-string"),
    bad(*tier("owner", "daily_tokens", MAX_LIMIT + 1, WHOLE), id="daily_tokens-too-big"),
    bad(*tier("unknown", "auto_accept", "yes", "must be true or false"), id="auto_accept-string"),
    bad(*tier("unknown", "auto_accept", 1, "must be true or false"), id="auto_accept-int"),
    bad(*tier("unknown", "auto_accept", None, "must be true or false"), id="auto_accept-null"),
    bad(*tier("team", "priority_boost", True, "must be a number from 0 to 100"), id="priority_boost-bool"),
    bad(
        *tier("team", "priority_boost", "high", "must be a number from 0 to 100"), id="priority_boost-string"
    ),
    bad(
        *tier("team", "priority_boost", -0.1, "must be a number from 0 to 100"), id="priority_boost-negative"
    ),
    bad(*tier("team", "priority_boost", 101, "must be a number from 0 to 100"), id="priority_boost-too-big"),
    bad(*tier("team", "priority_boost", math.nan, "must be a number from 0 to 100"), id="priority_boost-nan"),
    bad(*tier("team", "priority_boost", math.inf, "must be a number from 0 to 100"), id="priority_boost-inf"),
    # trust_overrides
    bad(
        {"trust_overrides": ["bob"]},
        "messaging.trust_overrides",
        "must be a mapping",
        OVERRIDES,
        id="ov-list",
    ),
    bad(
        {"trust_overrides": "bob"},
        "messaging.trust_overrides",
        "must be a mapping",
        OVERRIDES,
        id="ov-string",
    ),
    bad(
        {"trust_overrides": []},
        "messaging.trust_overrides",
        "must be a mapping",
        OVERRIDES,
        id="ov-empty-list",
    ),
    bad(
        {"trust_overrides": False},
        "messaging.trust_overrides",
        "must be a mapping",
        OVERRIDES,
        id="ov-false",
    ),
    bad(
        {"trust_overrides": {"bad name": "team"}},
        "messaging.trust_overrides",
        "'bad name' is not a valid name",
        OVERRIDES,
        id="ov-name-space",
    ),
    bad(
        {"trust_overrides": {"-bob": "team"}},
        "messaging.trust_overrides",
        "'-bob' is not a valid name",
        OVERRIDES,
        id="ov-name-leading-dash",
    ),
    bad(
        {"trust_overrides": {"b" * 65: "team"}},
        "messaging.trust_overrides",
        "is not a valid name",
        OVERRIDES,
        id="ov-name-too-long",
    ),
    bad(
        {"trust_overrides": {"": "team"}},
        "messaging.trust_overrides",
        "'' is not a valid name",
        OVERRIDES,
        id="ov-name-empty",
    ),
    bad(
        {"trust_overrides": {42: "team"}},
        "messaging.trust_overrides",
        "42 is not a valid name",
        OVERRIDES,
        id="ov-name-int",
    ),
    bad(
        {"trust_overrides": {"bob": "admin"}},
        "messaging.trust_overrides.bob",
        "'admin' is not one of owner, team, trusted, unknown",
        OVERRIDES,
        id="ov-unknown-tier",
    ),
    bad(
        {"trust_overrides": {"bob": "Team"}},
        "messaging.trust_overrides.bob",
        "'Team' is not one of",
        OVERRIDES,
        id="ov-tier-wrong-case",
    ),
    bad(
        {"trust_overrides": {"bob": None}},
        "messaging.trust_overrides.bob",
        "None is not one of",
        OVERRIDES,
        id="ov-tier-null",
    ),
    bad(
        {"trust_overrides": {"bob": ["team"]}},
        "messaging.trust_overrides.bob",
        "['team'] is not one of",
        OVERRIDES,
        id="ov-tier-list",
    ),
    bad(
        {"trust_overrides": {"bob": 1}},
        "messaging.trust_overrides.bob",
        "1 is not one of",
        OVERRIDES,
        id="ov-tier-int",
    ),
]


@pytest.mark.parametrize(("messaging", "key", "fragment", "loader"), INVALID)
def test_invalid(messaging: Any, key: str, fragment: str, loader: str) -> None:
    settings = settings_with(messaging)
    load = load_policy if loader == POLICY else load_overrides
    with pytest.raises(ConfigError) as caught:
        load(settings, PATH)
    message = str(caught.value)
    assert message.startswith(f"{PATH}: {key}"), message
    # The dotted key is followed by a separator, not by more of a longer key.
    assert message[len(f"{PATH}: {key}")] in ": ", message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("messaging", "loader"),
    [
        pytest.param({"compute": {"max_queue_depth": -1}}, POLICY, id="compute"),
        pytest.param({"trust_tiers": {"admin": {}}}, POLICY, id="tiers"),
        pytest.param({"trust_overrides": {"bob": "admin"}}, OVERRIDES, id="overrides"),
    ],
)
def test_errors_name_the_file_given(messaging: Any, loader: str) -> None:
    path = Path("/home/gregor/.datacore/settings.local.yaml")
    settings = parse_settings({"messaging": messaging}, path)
    load = load_policy if loader == POLICY else load_overrides
    with pytest.raises(ConfigError, match=r"^/home/gregor/\.datacore/settings\.local\.yaml: messaging\."):
        load(settings, path)


@pytest.mark.parametrize("messaging", [[], "x", 5], ids=["list", "string", "number"])
def test_a_non_mapping_messaging_section_is_refused_by_parse_settings(messaging: Any) -> None:
    with pytest.raises(ConfigError, match=r"^settings\.local\.yaml: 'messaging' must be a mapping"):
        settings_with(messaging)


def test_policy_and_overrides_are_checked_independently() -> None:
    # A bad override does not stop the policy from loading, and a bad policy does not stop the overrides.
    settings = settings_with({"trust_overrides": {"bob": "admin"}, "compute": {"max_queue_depth": 3}})
    assert load_policy(settings, PATH).compute.max_queue_depth == 3
    settings = settings_with({"trust_overrides": {"bob": "team"}, "compute": {"max_queue_depth": -3}})
    assert load_overrides(settings, PATH) == {"bob": "team"}
