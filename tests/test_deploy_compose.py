"""``deploy/docker-compose.yml`` cannot be run here (no images), so it is checked against what it
names: each relay's command is one the CLI accepts, with a JetStream store naming every NATS node of
the file; the NATS nodes route to each other with JetStream on; the balancer reaches every relay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from datacore_msg.cli.relay_commands import serve_cmd
from datacore_msg.transport.relay_jetstream import parse_servers

COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "docker-compose.yml"


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return loaded


def test_every_relay_command_is_accepted_by_the_cli_and_names_every_nats_node() -> None:
    found = services()
    nodes = sorted(name for name, svc in found.items() if "nats" in str(svc.get("image", "")))
    relays = sorted(name for name, svc in found.items() if "datacore-msg" in svc.get("command", []))
    assert len(nodes) == 3 and len(relays) == 2
    for name in relays:
        command = found[name]["command"]
        assert command[:3] == ["datacore-msg", "relay", "serve"]
        context = serve_cmd.make_context("serve", command[3:])
        assert context.params["store_spec"].startswith("nats://")
        hosts = [
            url.removeprefix("nats://").split(":")[0] for url in parse_servers(context.params["store_spec"])
        ]
        assert sorted(hosts) == nodes
        assert context.params["replicas"] == 3 and context.params["host"] == "0.0.0.0"
        assert "RELAY_SECRET" in found[name]["environment"]


def test_the_nats_nodes_form_one_jetstream_cluster_and_the_balancer_reaches_every_relay() -> None:
    found = services()
    nodes = {name: svc for name, svc in found.items() if "nats" in str(svc.get("image", ""))}
    for name, svc in nodes.items():
        command = svc["command"]
        assert "-js" in command and command[command.index("-n") + 1] == name
        routes = command[command.index("--routes") + 1]
        assert sorted(r.removeprefix("nats://").split(":")[0] for r in routes.split(",")) == sorted(
            set(nodes) - {name}
        )
    balancer = found["balancer"]["command"]
    targets = [balancer[i + 1].split(":")[0] for i, arg in enumerate(balancer) if arg == "--to"]
    assert sorted(targets) == ["relay1", "relay2"]


def test_the_nats_nodes_require_the_login_the_relays_are_given() -> None:
    found = services()
    for svc in found.values():
        if "nats" in str(svc.get("image", "")):
            command = svc["command"]
            assert command[command.index("--user") + 1] == "relay"
            assert command[command.index("--pass") + 1] == "${NATS_PASSWORD:?}"
        elif "datacore-msg" in svc.get("command", []):
            assert {"NATS_PASSWORD", "NATS_USER=relay"} <= set(svc["environment"])
