"""`w3msg-node`: parses the command line, builds a NodeConfig, calls the node; nothing else.

Every failure leaves as one ``error: ...`` line on stderr with exit code 2 (usage or configuration:
bad flag, config file, key file, topic, multiaddr) or 1 (runtime: node unreachable, publish
rejected), never as a traceback. Errors are translated here, at the edge, and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
import httpx

from . import __version__
from .core.errors import ConfigError, TopicError, W3MsgError
from .core.ratelimit import RateLimit
from .node.config import KEY_TYPES, LOG_LEVELS, MetricsConfig, NodeConfig, RestConfig
from .node.service_config import FilterConfig, LightpushConfig, PeerExchangeConfig, StoreConfig

DEFAULT_NODE_URL = "http://127.0.0.1:8645"
DEFAULT_STATUS_INTERVAL = 10.0
_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class W3MsgGroup(click.Group):
    """A click group whose every failure ends in ``error: <one line>`` and a meaningful exit code."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> NoReturn:
        try:
            rv = super().main(args, prog_name or "w3msg-node", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # stdout's reader went away (`| head -1`): stop quietly, and keep Python's final flush
            # from complaining about the dead pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except BaseException as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise  # not bad input but a bug: the traceback is what a bug report needs
            message, code = failure
            click.echo(f"error: {message}", err=True)
            sys.exit(code)
        sys.exit(rv if isinstance(rv, int) else 0)


def describe_failure(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code for an error a user can cause, or None for a bug.

    Errors raised inside trio nurseries arrive wrapped in exception groups: report the first one,
    but only if every error in the group is one we know how to describe.
    """
    leaves = _leaves(exc)
    described = [_describe_one(leaf) for leaf in leaves]
    if not described or any(d is None for d in described):
        return None
    return described[0]


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _describe_one(exc: BaseException) -> tuple[str, int] | None:
    match exc:
        case click.ClickException():
            return _one_line(exc.format_message()), exc.exit_code
        case click.Abort() | KeyboardInterrupt():
            return "interrupted", 1
        case ConfigError() | TopicError():
            return _one_line(str(exc)), 2
        case W3MsgError():
            return _one_line(str(exc)), 1
        case httpx.HTTPStatusError():
            request, response = exc.request, exc.response
            body = _one_line(response.text)[:300] or response.reason_phrase
            return f"node answered {response.status_code} to {request.method} {request.url.path}: {body}", 1
        case httpx.TimeoutException():
            return f"node at {_origin(exc)} did not answer in time ({type(exc).__name__})", 1
        case httpx.TransportError():
            return f"cannot reach node at {_origin(exc)}: {_one_line(str(exc)) or type(exc).__name__}", 1
        case OSError():
            where = f"{exc.filename}: " if exc.filename else ""
            return f"{where}{exc.strerror or exc}", 1
    return None


def _origin(exc: httpx.RequestError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # the error was raised before a request existed
        return "?"
    return f"{url.scheme}://{url.netloc.decode()}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


@click.group(cls=W3MsgGroup, context_settings=_CONTEXT)
@click.version_option(__version__, "--version", prog_name="w3msg-node")
def cli() -> None:
    """w3msg node: a Waku v2 compatible relay node, and tools to drive one over its REST API."""


def main() -> None:
    """Console-script entry point (``w3msg-node``)."""
    cli.main(prog_name="w3msg-node")


# -- run -------------------------------------------------------------------------------------------

@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file; flags override its settings.")
@click.option("--listen", multiple=True, metavar="MULTIADDR",
              help="Listen address, repeatable. "
              "[default: /ip4/0.0.0.0/tcp/60000 and /ip4/0.0.0.0/tcp/8000/ws]")
@click.option("--peer", multiple=True, metavar="MULTIADDR",
              help="Peer to dial and keep connected (must end in /p2p/<peer-id>), repeatable.")
@click.option("--cluster-id", type=int, help="Waku network cluster id. [default: 1]")
@click.option("--num-shards-in-cluster", type=int,
              help="Shards in the cluster, for autosharding. [default: 8]")
@click.option("--shard", multiple=True, type=int, help="Shard to relay, repeatable. [default: all shards]")
@click.option("--content-topic", multiple=True, metavar="TOPIC",
              help="Relay the shard of this content topic (autosharding), repeatable.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the node key and state. [default: ~/.w3msg]")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Node identity key; created if missing. [default: DATA_DIR/node.key]")
@click.option("--key-type", type=click.Choice(KEY_TYPES),
              help="Type of a newly created key. [default: secp256k1]")
@click.option("--store/--no-store", default=None,
              help="Archive relayed messages and serve store v3 queries. [default: on]")
@click.option("--store-url", metavar="URL",
              help="Archive database: sqlite:///PATH or postgresql://... [default: DATA_DIR/store.sqlite3]")
@click.option("--filter/--no-filter", "filter_", default=None, help="Serve filter v2 to light clients. [default: on]")
@click.option("--lightpush/--no-lightpush", default=None, help="Serve lightpush v3/v2. [default: on]")
@click.option("--peer-exchange/--no-peer-exchange", default=None, help="Serve peer exchange. [default: on]")
@click.option("--light", is_flag=True, default=None,
              help="Light mode: no relay; publish by lightpush, receive by filter, query store, all "
              "through --service-peer.")
@click.option("--service-peer", multiple=True, metavar="MULTIADDR",
              help="Service node for light mode and for the REST filter/lightpush/store client endpoints "
              "(must end in /p2p/<peer-id>), repeatable.")
@click.option("--rest-address", metavar="IP", help="REST API address. [default: 127.0.0.1]")
@click.option("--rest-port", type=int, help="REST API port; 0 picks a free one. [default: 8645]")
@click.option("--no-rest", is_flag=True, help="Do not serve the REST API.")
@click.option("--metrics-address", metavar="IP",
              help="Serve Prometheus metrics on this address. [default: 127.0.0.1]")
@click.option("--metrics-port", type=int,
              help="Serve Prometheus metrics on this port (metrics are off otherwise).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS),
              help="Log level (logs go to stderr). [default: info]")
@click.option("--status-interval", type=click.FloatRange(min=0), default=DEFAULT_STATUS_INTERVAL,
              show_default=True, metavar="SECONDS",
              help="Print a status line to stdout this often; 0 turns it off.")
@click.option("--print-config", is_flag=True,
              help="Print the effective configuration as JSON (config-file keys) and exit.")
def run(config_file: Path | None, status_interval: float, print_config: bool, **flags: Any) -> None:
    """Run a node until SIGINT or SIGTERM.

    On start, prints one JSON line to stdout: {"peer_id", "multiaddrs", "rest", "metrics"}.
    """
    config = build_config(config_file, **flags)
    if print_config:
        click.echo(json.dumps(config_to_mapping(config), indent=2))
        return
    from .cli_run import run_node  # imports trio and libp2p: keep them off the other commands' path

    run_node(config, status_interval)


def build_config(config_file: Path | None, **flags: Any) -> NodeConfig:
    """The file's settings (or the defaults) with every flag that was given applied on top."""
    base = NodeConfig.from_toml(config_file) if config_file is not None else NodeConfig()
    changes: dict[str, Any] = {}
    for name in ("listen", "peer", "shard", "content_topic", "service_peer"):
        values = flags.pop(name)
        if values:  # a repeatable flag replaces the file's list rather than extending it
            changes[_TUPLE_FIELD.get(name, name)] = tuple(values)
    for name in ("cluster_id", "num_shards_in_cluster", "data_dir", "key_file", "key_type", "log_level"):
        value = flags.pop(name)
        if value is not None:
            changes[name] = value
    changes.update(_service_configs(base, flags))
    changes["rest"] = _rest_config(base.rest, flags.pop("no_rest"), flags.pop("rest_address"),
                                   flags.pop("rest_port"))
    changes["metrics"] = _metrics_config(base.metrics, flags.pop("metrics_address"),
                                         flags.pop("metrics_port"))
    if flags:
        raise AssertionError(f"unhandled run flags: {sorted(flags)}")
    return base.with_overrides(**changes)


_TUPLE_FIELD = {"peer": "peers", "shard": "shards", "content_topic": "content_topics",
                "service_peer": "service_peers"}


def _service_configs(base: NodeConfig, flags: dict[str, Any]) -> dict[str, Any]:
    """--store/--no-store and friends: a flag mounts (with the file's settings, else defaults) or
    unmounts a service; --light turns relay and every server off."""
    changes: dict[str, Any] = {}
    store_url = flags.pop("store_url")
    store = flags.pop("store")
    if store is False and store_url is not None:
        raise click.UsageError("--no-store cannot be combined with --store-url")
    if store is not None or store_url is not None:
        section = (base.store or StoreConfig()) if store is not False else None
        if section is not None and store_url is not None:
            section = replace(section, url=store_url)
        changes["store"] = section
    kinds = {"filter_": ("filter", FilterConfig), "lightpush": ("lightpush", LightpushConfig),
             "peer_exchange": ("peer_exchange", PeerExchangeConfig)}
    for flag, (field_name, kind) in kinds.items():
        value = flags.pop(flag)
        if value is not None:
            changes[field_name] = (getattr(base, field_name) or kind()) if value else None
    if flags.pop("light"):
        changes.update(light=True, relay=None, store=None, filter=None, lightpush=None, peer_exchange=None)
    return changes


def _rest_config(base: RestConfig | None, off: bool, address: str | None,
                 port: int | None) -> RestConfig | None:
    given: dict[str, Any] = {k: v for k, v in (("address", address), ("port", port)) if v is not None}
    if off:
        if given:
            raise click.UsageError("--no-rest cannot be combined with --rest-address or --rest-port")
        return None
    if not given:
        return base
    return replace(base or RestConfig(), **given)


def _metrics_config(base: MetricsConfig | None, address: str | None,
                    port: int | None) -> MetricsConfig | None:
    given: dict[str, Any] = {k: v for k, v in (("address", address), ("port", port)) if v is not None}
    if not given:
        return base
    return replace(base or MetricsConfig(), **given)


def config_to_mapping(config: NodeConfig) -> dict[str, Any]:
    """``config`` in the config file's shape (dashed keys, tables, ``false`` for an unmounted
    section): what ``--print-config`` shows, and what ``NodeConfig.from_mapping`` reads back."""
    out: dict[str, Any] = {
        "data-dir": str(config.data_dir),
        "key-type": config.key_type,
        "listen": list(config.listen),
        "peers": list(config.peers),
        "cluster-id": config.cluster_id,
        "num-shards-in-cluster": config.num_shards_in_cluster,
        "shards": list(config.shards),
        "content-topics": list(config.content_topics),
        "log-level": config.log_level,
    }
    if config.key_file is not None:
        out["key-file"] = str(config.key_file)
    out["light"] = config.light
    out["service-peers"] = list(config.service_peers)
    for name in ("relay", "store", "filter", "lightpush", "peer_exchange", "rest", "metrics"):
        section = getattr(config, name)
        out[name.replace("_", "-")] = False if section is None else _dashed(section)
    return out


def _dashed(section: Any) -> dict[str, Any]:
    out = {}
    for name in section.__dataclass_fields__:
        value = getattr(section, name)
        if isinstance(value, RateLimit):
            value = str(value)
        # TOML has no null: an unset optional setting (no limit, default database) is false
        out[name.replace("_", "-")] = False if value is None else value
    return out


# -- identity --------------------------------------------------------------------------------------

def _key_options(func: Any) -> Any:
    func = click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Key file. [default: DATA_DIR/node.key]")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        help="Node data directory. [default: ~/.w3msg, or the config file's]")(func)
    return click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Take data-dir and key-file from this TOML config file.")(func)


def _key_path(config_file: Path | None, data_dir: Path | None, key_file: Path | None) -> Path:
    base = NodeConfig.from_toml(config_file) if config_file is not None else NodeConfig()
    changes = {k: v for k, v in (("data_dir", data_dir), ("key_file", key_file)) if v is not None}
    return base.with_overrides(**changes).resolved_key_file


@cli.command(name="id")
@_key_options
def id_command(config_file: Path | None, data_dir: Path | None, key_file: Path | None) -> None:
    """Print the peer id of the node key (creates nothing)."""
    from .node.keys import load_key_pair

    path = _key_path(config_file, data_dir, key_file)
    if not path.exists():
        raise ConfigError(f"no key file at {path} (`w3msg-node keygen` or running the node creates one)")
    click.echo(_peer_id(load_key_pair(path)))


@cli.command()
@_key_options
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="secp256k1", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing key file (the node's identity changes).")
def keygen(config_file: Path | None, data_dir: Path | None, key_file: Path | None, key_type: str,
           force: bool) -> None:
    """Create a node key (file mode 0600) and print its peer id."""
    from .node.keys import generate_key_pair, save_key_pair

    path = _key_path(config_file, data_dir, key_file)
    if path.exists() and not force:
        raise click.ClickException(f"key file {path} already exists (use --force to replace it)")
    key_pair = generate_key_pair(key_type)
    save_key_pair(key_pair, path)
    click.echo(_peer_id(key_pair))


def _peer_id(key_pair: Any) -> str:
    from libp2p.peer.id import ID

    return str(ID.from_pubkey(key_pair.public_key))


# -- REST client commands --------------------------------------------------------------------------

def _node_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parsed = httpx.URL(value) if value.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL", ctx, param)
    return value.rstrip("/")


def _client_options(func: Any) -> Any:
    func = click.option("--num-shards-in-cluster", type=int, default=8, show_default=True,
                        help="The node's shard count: used to autoshard content topics.")(func)
    func = click.option("--cluster-id", type=int, default=1, show_default=True,
                        help="The node's cluster id: used to autoshard content topics.")(func)
    func = click.option("--http-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
                        show_default=True, metavar="SECONDS", help="Timeout of each REST request.")(func)
    return click.option("--node", "node_url", default=DEFAULT_NODE_URL, show_default=True, callback=_node_url,
                        metavar="URL", help="REST API of the node to talk to.")(func)


@cli.command()
@_client_options
@click.option("--pubsub-topic", metavar="TOPIC", help="Publish on this pubsub topic. [default: autosharding]")
@click.option("--content-topic", required=True, metavar="TOPIC", help="The message's content topic.")
@click.option("--payload", metavar="TEXT", help="Payload as text (UTF-8).")
@click.option("--payload-file", type=click.File("rb"), help="Read the payload from this file ('-': stdin).")
@click.option("--payload-base64", metavar="B64", help="Payload as base64.")
@click.option("--timestamp-now", is_flag=True,
              help="Stamp the message with the current time (the default).")
@click.option("--timestamp", type=click.IntRange(min=1, max=2**63 - 1), metavar="NS",
              help="Stamp the message with this time (Unix nanoseconds) instead.")
@click.option("--ephemeral", is_flag=True, help="Mark the message ephemeral (store nodes do not keep it).")
def publish(node_url: str, http_timeout: float, cluster_id: int, num_shards_in_cluster: int,
            pubsub_topic: str | None, content_topic: str, payload: str | None, payload_file: BinaryIO | None,
            payload_base64: str | None, timestamp_now: bool, timestamp: int | None, ephemeral: bool) -> None:
    """Publish a message through a running node and print its hash (0x-hex, computed locally).

    The message always carries a timestamp: a node fills in a missing one with its own clock
    (as nwaku does), and the hash could then not be computed here.
    """
    from .cli_client import NodeClient, publish_target

    if timestamp_now and timestamp is not None:
        raise click.UsageError("give --timestamp-now or --timestamp, not both")
    stamp = timestamp if timestamp is not None else time.time_ns()
    data = _payload_bytes(payload, payload_file, payload_base64)
    target = publish_target(pubsub_topic, content_topic, cluster_id, num_shards_in_cluster)
    with NodeClient(node_url, http_timeout) as client:
        digest = client.publish(target, data, timestamp=stamp, ephemeral=ephemeral)
    click.echo("0x" + digest.hex())


def _payload_bytes(text: str | None, file: BinaryIO | None, b64: str | None) -> bytes:
    given = [v for v in (text, file, b64) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --payload, --payload-file, --payload-base64")
    if text is not None:
        return text.encode()
    if file is not None:
        return file.read()
    assert b64 is not None
    try:
        return base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise click.BadParameter("not valid base64", param_hint="--payload-base64") from None


@cli.command()
@_client_options
@click.option("--pubsub-topic", multiple=True, metavar="TOPIC",
              help="Subscribe to this pubsub topic, repeatable.")
@click.option("--content-topic", multiple=True, metavar="TOPIC",
              help="Subscribe to this content topic (autosharding), repeatable.")
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many messages.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this long; an error if --count messages have not arrived by then.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), default=0.25, show_default=True,
              metavar="SECONDS", help="How often to ask the node for new messages.")
def subscribe(node_url: str, http_timeout: float, cluster_id: int, num_shards_in_cluster: int,
              pubsub_topic: tuple[str, ...], content_topic: tuple[str, ...], count: int | None,
              timeout: float | None, poll_interval: float) -> None:
    """Subscribe through a running node; print each message as one JSON line.

    Lines: {"hash", "pubsub_topic", "content_topic", "payload" (base64), "timestamp"}.
    """
    from .cli_client import NodeClient, follow, subscribe_targets

    if bool(pubsub_topic) == bool(content_topic):
        raise click.UsageError("give --pubsub-topic or --content-topic (not both)")
    targets = subscribe_targets(pubsub_topic, content_topic, cluster_id, num_shards_in_cluster)
    with NodeClient(node_url, http_timeout) as client:
        follow(client, targets, count=count, timeout=timeout, poll_interval=poll_interval)
