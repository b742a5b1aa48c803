"""The ClientApp: each SuperNode is the fleet's client named by its ``client-id`` node
config (``c0``, ``c1``...), an edgekit SoftmaxClient on its share of digits; the uplink
codec named in the run config is applied by edgekit's update_codec_mod."""

from __future__ import annotations

from typing import Any

from flwr.app import Context, Message

from edgekit.federated.flower import client_app, update_codec_mod
from ekflower.task import codec, fleet, settings


def _client(context: Context) -> Any:
    _, clients, _ = fleet(*settings(context.run_config))
    return clients[str(context.node_config["client-id"])]


def _codec_mod(msg: Message, context: Context, call_next: Any) -> Message:
    chosen = codec(str(context.run_config["codec"]))
    if chosen is None:
        return call_next(msg, context)
    return update_codec_mod(chosen)(msg, context, call_next)


app = client_app(_client, mods=[_codec_mod])
