"""The ClientApp: each SuperNode is the fleet's client named by its ``client-id`` node
config (``c0``, ``c1``...), an edgekit SoftmaxClient on its share of digits; the uplink
named in the run config (a codec, or secure aggregation) is applied by edgekit's mods."""

from __future__ import annotations

from typing import Any

from flwr.app import Context, Message

from edgekit.federated.flower import client_app, secagg_mod, update_codec_mod
from edgekit.federated.secagg import SecAggConfig
from ekflower.task import codec, fleet, settings


def _client(context: Context) -> Any:
    _, clients, _ = fleet(*settings(context.run_config))
    return clients[str(context.node_config["client-id"])]


def _uplink_mod(msg: Message, context: Context, call_next: Any) -> Message:
    if context.run_config["secagg"]:
        return secagg_mod(SecAggConfig())(msg, context, call_next)
    chosen = codec(str(context.run_config["codec"]))
    if chosen is None:
        return call_next(msg, context)
    return update_codec_mod(chosen)(msg, context, call_next)


app = client_app(_client, mods=[_uplink_mod])
