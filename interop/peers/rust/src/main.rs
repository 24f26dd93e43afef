//! rust-libp2p 0.56 interop peer for w3msg, driven by JSON lines on stdin/stdout.
//!
//! Protocol: see ../README.md. `--mode libp2p` keeps gossipsub's library defaults (StrictSign,
//! default message ids, /meshsub/1.1.0); `--mode waku` is the Waku relay configuration
//! (anonymous messages, id = sha256(data), /vac/waku/relay/2.0.0, 150 KiB messages).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    gossipsub, identify, identity, multiaddr::Protocol, noise, ping, swarm::NetworkBehaviour,
    swarm::SwarmEvent, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

const ECHO: StreamProtocol = StreamProtocol::new("/w3msg/echo/1.0.0");
// rust-libp2p's ping behaviour pings each connection as soon as it opens, then at this interval;
// `dial` and `ping` report its round trips (test-plans measures them the same way).
const PING_INTERVAL: Duration = Duration::from_millis(200);
const WAKU_RELAY: &str = "/vac/waku/relay/2.0.0";
// Waku's 150 KiB message limit plus room for the RPC framing around it.
const WAKU_MAX_TRANSMIT: usize = 150 * 1024 + 16 * 1024;
const DEFAULT_CONTENT_TOPIC: &str = "/w3msg/1/interop/proto";

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Libp2p,
    Waku,
}

/// A command whose reply depends on later swarm events.
enum Waiter {
    Dial { id: Value, peer: PeerId, start: Instant },
    Ping { id: Value, peer: PeerId, count: usize, rtts: Vec<f64>, deadline: Instant },
    Mesh { id: Value, topic: gossipsub::TopicHash, peer: Option<PeerId>, deadline: Instant },
    Identify { id: Value, peer: PeerId, deadline: Instant },
    Received { id: Value, count: u64, deadline: Instant },
}

struct State {
    mode: Mode,
    out: mpsc::UnboundedSender<Value>,
    control: libp2p_stream::Control,
    waiters: Vec<Waiter>,
    identified: HashMap<PeerId, identify::Info>,
    received: u64,
    published: u64,
    publish_failed: u64,
    dropped: u64,
    timestamp_seq: i64,
    internal: mpsc::UnboundedSender<Paced>,
    paced: HashMap<String, PublishAcc>,
}

/// One message of a `publish` with `interval_us` > 0, fed back into the event loop by a timer task.
struct Paced {
    id: Value,
    cmd: Value,
    last: bool,
}

#[derive(Default)]
struct PublishAcc {
    ok: u64,
    failed: u64,
    messages: Vec<Value>,
    errors: Vec<String>,
}

fn emit(out: &mpsc::UnboundedSender<Value>, v: Value) {
    let _ = out.send(v); // the writer only stops when the process exits
}

fn reply(out: &mpsc::UnboundedSender<Value>, id: &Value, event: &str, mut fields: Value) {
    fields["re"] = id.clone();
    fields["event"] = json!(event);
    emit(out, fields);
}

fn error(out: &mpsc::UnboundedSender<Value>, id: &Value, msg: impl std::fmt::Display) {
    emit(out, json!({"re": id, "event": "error", "error": msg.to_string()}));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn waku_message_id(m: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
}

fn build_gossipsub(mode: Mode, key: &identity::Keypair) -> Result<gossipsub::Behaviour, String> {
    let mut b = gossipsub::ConfigBuilder::default();
    let auth = match mode {
        Mode::Libp2p => gossipsub::MessageAuthenticity::Signed(key.clone()),
        Mode::Waku => {
            b.protocol_id(WAKU_RELAY, gossipsub::Version::V1_1)
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .message_id_fn(waku_message_id)
                .max_transmit_size(WAKU_MAX_TRANSMIT);
            gossipsub::MessageAuthenticity::Anonymous
        }
    };
    let config = b.build().map_err(|e| e.to_string())?;
    gossipsub::Behaviour::new(auth, config).map_err(|e| e.to_string())
}

fn build_swarm(mode: Mode) -> Result<Swarm<Behaviour>, Box<dyn std::error::Error>> {
    let key = identity::Keypair::generate_ed25519();
    let gossipsub = build_gossipsub(mode, &key)?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| Behaviour {
            gossipsub,
            identify: identify::Behaviour::new(
                identify::Config::new("ipfs/0.1.0".into(), key.public())
                    .with_agent_version(format!("w3msg-rust-peer/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL)),
            stream: libp2p_stream::Behaviour::new(),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    Ok(swarm)
}

/// Protobuf WakuMessage{payload=1, content_topic=2, timestamp=10 (sint64)}, canonical order.
fn encode_waku_message(payload: &[u8], content_topic: &str, timestamp: i64) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::with_capacity(payload.len() + content_topic.len() + 24);
    out.push(0x0a);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out.push(0x12);
    varint(&mut out, content_topic.len() as u64);
    out.extend_from_slice(content_topic.as_bytes());
    out.push(0x50); // field 10, varint
    varint(&mut out, ((timestamp << 1) ^ (timestamp >> 63)) as u64);
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

fn str_field<'a>(cmd: &'a Value, name: &str) -> Result<&'a str, String> {
    cmd.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing string field {name:?}"))
}

fn u64_field(cmd: &Value, name: &str, default: u64) -> u64 {
    cmd.get(name).and_then(Value::as_u64).unwrap_or(default)
}

fn parse_peer(cmd: &Value) -> Result<PeerId, String> {
    str_field(cmd, "peer_id")?.parse().map_err(|e| format!("bad peer_id: {e}"))
}

/// Writes `size` random bytes while reading the echo concurrently (yamux windows would deadlock otherwise).
async fn echo_client(mut control: libp2p_stream::Control, peer: PeerId, size: usize) -> Result<Value, String> {
    let start = Instant::now();
    let stream = control.open_stream(peer, ECHO).await.map_err(|e| format!("open echo stream: {e}"))?;
    let data = random_bytes(size);
    let (mut rd, mut wr) = stream.split();
    let writer = async {
        for chunk in data.chunks(64 * 1024) {
            wr.write_all(chunk).await?;
        }
        wr.close().await
    };
    let reader = async {
        let mut back = Vec::with_capacity(size);
        rd.read_to_end(&mut back).await.map(|_| back)
    };
    let (w, r) = futures::join!(writer, reader);
    w.map_err(|e| format!("echo write: {e}"))?;
    let back = r.map_err(|e| format!("echo read: {e}"))?;
    Ok(json!({"ok": back == data, "bytes": back.len(), "ms": ms(start.elapsed())}))
}

/// Serves `protocol` (/w3msg/echo/1.0.0) by echoing every byte until EOF.
async fn echo_server(mut control: libp2p_stream::Control, protocol: StreamProtocol, out: mpsc::UnboundedSender<Value>) {
    let mut incoming = match control.accept(protocol.clone()) {
        Ok(i) => i,
        Err(e) => return emit(&out, json!({"event": "log", "error": format!("{protocol} accept: {e}")})),
    };
    while let Some((peer, stream)) = incoming.next().await {
        let (out, protocol) = (out.clone(), protocol.to_string());
        tokio::spawn(async move {
            let (mut rd, mut wr) = stream.split();
            let res = async {
                let n = futures::io::copy(&mut rd, &mut wr).await?;
                wr.close().await.map(|_| n)
            }
            .await;
            let ev = match res {
                Ok(n) => json!({"event": "echo_served", "protocol": protocol, "peer_id": peer.to_string(), "bytes": n}),
                Err(e) => json!({"event": "echo_served", "protocol": protocol, "peer_id": peer.to_string(), "error": e.to_string()}),
            };
            emit(&out, ev);
        });
    }
}

impl State {
    fn handle(&mut self, swarm: &mut Swarm<Behaviour>, cmd: Value) {
        let id = cmd.get("id").cloned().unwrap_or(Value::Null);
        let name = cmd.get("cmd").and_then(Value::as_str).unwrap_or("").to_string();
        if let Err(e) = self.dispatch(swarm, &id, &name, &cmd) {
            error(&self.out, &id, e);
        }
    }

    fn dispatch(&mut self, swarm: &mut Swarm<Behaviour>, id: &Value, name: &str, cmd: &Value) -> Result<(), String> {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(u64_field(cmd, "timeout_ms", 30_000));
        match name {
            "dial" => {
                let addr: Multiaddr = str_field(cmd, "multiaddr")?.parse().map_err(|e| format!("bad multiaddr: {e}"))?;
                let peer = peer_of(&addr).ok_or("multiaddr lacks /p2p/<peer id>")?;
                swarm.dial(addr).map_err(|e| format!("dial: {e}"))?;
                self.waiters.push(Waiter::Dial { id: id.clone(), peer, start: now });
            }
            "ping" => {
                let peer = parse_peer(cmd)?;
                if !swarm.is_connected(&peer) {
                    return Err(format!("not connected to {peer}"));
                }
                let count = u64_field(cmd, "count", 1) as usize;
                self.waiters.push(Waiter::Ping { id: id.clone(), peer, count, rtts: Vec::new(), deadline });
            }
            "echo" => {
                let peer = parse_peer(cmd)?;
                let (size, control, out, id) = (u64_field(cmd, "size", 1 << 20) as usize, self.control.clone(), self.out.clone(), id.clone());
                tokio::spawn(async move {
                    match echo_client(control, peer, size).await {
                        Ok(v) => reply(&out, &id, "echoed", v),
                        Err(e) => error(&out, &id, e),
                    }
                });
            }
            "identify" => {
                let peer = parse_peer(cmd)?;
                self.waiters.push(Waiter::Identify { id: id.clone(), peer, deadline });
            }
            "subscribe" => {
                let topic = gossipsub::IdentTopic::new(str_field(cmd, "topic")?);
                swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| format!("subscribe: {e}"))?;
                reply(&self.out, id, "subscribed", json!({"topic": topic.to_string()}));
            }
            "wait_mesh" => {
                let topic = gossipsub::IdentTopic::new(str_field(cmd, "topic")?).hash();
                let peer = match cmd.get("peer_id").and_then(Value::as_str) {
                    Some(p) => Some(p.parse().map_err(|e| format!("bad peer_id: {e}"))?),
                    None => None,
                };
                self.waiters.push(Waiter::Mesh { id: id.clone(), topic, peer, deadline });
            }
            "publish" => self.publish(swarm, id, cmd)?,
            "wait_received" => {
                self.waiters.push(Waiter::Received { id: id.clone(), count: u64_field(cmd, "count", 1), deadline });
            }
            "stats" => reply(&self.out, id, "stats", self.stats(swarm)),
            "quit" => std::process::exit(0),
            _ => return Err(format!("unknown command {name:?}")),
        }
        self.check_waiters(swarm);
        Ok(())
    }

    /// `publish`: all at once, or paced by `interval_us` through timer-fed `Paced` items.
    fn publish(&mut self, swarm: &mut Swarm<Behaviour>, id: &Value, cmd: &Value) -> Result<(), String> {
        str_field(cmd, "topic")?;
        let (count, interval) = (u64_field(cmd, "count", 1), u64_field(cmd, "interval_us", 0));
        if interval == 0 || count == 0 {
            let mut acc = PublishAcc::default();
            for _ in 0..count {
                self.publish_one(swarm, cmd, &mut acc)?;
            }
            self.finish_publish(id, acc);
            return Ok(());
        }
        self.paced.insert(id.to_string(), PublishAcc::default());
        let (tx, id, cmd) = (self.internal.clone(), id.clone(), cmd.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(interval));
            for i in 0..count {
                tick.tick().await;
                if tx.send(Paced { id: id.clone(), cmd: cmd.clone(), last: i + 1 == count }).is_err() {
                    return;
                }
            }
        });
        Ok(())
    }

    fn on_paced(&mut self, swarm: &mut Swarm<Behaviour>, p: Paced) {
        let key = p.id.to_string();
        let mut acc = self.paced.remove(&key).unwrap_or_default();
        if let Err(e) = self.publish_one(swarm, &p.cmd, &mut acc) {
            acc.failed += 1;
            acc.errors.push(e);
        }
        if p.last {
            self.finish_publish(&p.id, acc);
        } else {
            self.paced.insert(key, acc);
        }
    }

    fn finish_publish(&mut self, id: &Value, mut acc: PublishAcc) {
        self.published += acc.ok;
        self.publish_failed += acc.failed;
        acc.errors.dedup();
        reply(&self.out, id, "published", json!({"ok": acc.ok, "failed": acc.failed, "errors": acc.errors,
                                                 "messages": acc.messages}));
    }

    fn publish_one(&mut self, swarm: &mut Swarm<Behaviour>, cmd: &Value, acc: &mut PublishAcc) -> Result<(), String> {
        let topic = gossipsub::IdentTopic::new(str_field(cmd, "topic")?);
        let size = u64_field(cmd, "size", 100) as usize;
        let content_topic = cmd.get("content_topic").and_then(Value::as_str).unwrap_or(DEFAULT_CONTENT_TOPIC);
        let payload = random_bytes(size);
        let data = match self.mode {
            Mode::Libp2p => payload.clone(),
            Mode::Waku => {
                // Distinct timestamps keep ids unique even for identical payloads.
                self.timestamp_seq += 1;
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
                encode_waku_message(&payload, content_topic, now + self.timestamp_seq)
            }
        };
        let sha = hex::encode(Sha256::digest(&data));
        match swarm.behaviour_mut().gossipsub.publish(topic, data.clone()) {
            Ok(mid) => {
                acc.ok += 1;
                acc.messages.push(json!({"msg_id": hex::encode(&mid.0), "sha256": sha,
                                         "data_hex": hex::encode(&data), "payload_hex": hex::encode(&payload)}));
            }
            Err(e) => {
                acc.failed += 1;
                acc.errors.push(e.to_string());
            }
        }
        Ok(())
    }

    fn stats(&self, swarm: &Swarm<Behaviour>) -> Value {
        let gs = &swarm.behaviour().gossipsub;
        let mesh: HashMap<String, Vec<String>> = gs
            .topics()
            .map(|t| (t.to_string(), gs.mesh_peers(t).map(|p| p.to_string()).collect()))
            .collect();
        let peers: HashMap<String, Vec<String>> = gs
            .all_peers()
            .map(|(p, ts)| (p.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect();
        json!({"connections": swarm.network_info().connection_counters().num_established(),
               "connected": swarm.connected_peers().map(|p| p.to_string()).collect::<Vec<_>>(),
               "gossipsub_peers": peers, "mesh": mesh, "received": self.received,
               "published": self.published, "publish_failed": self.publish_failed,
               // rust-libp2p reports neither invalid nor duplicate messages without its metrics feature.
               "rejected": Value::Null, "duplicates": Value::Null, "dropped_rpcs": self.dropped})
    }

    /// Answers every waiter whose condition holds or whose deadline passed.
    fn check_waiters(&mut self, swarm: &mut Swarm<Behaviour>) {
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            match w {
                Waiter::Ping { id, peer, count, rtts, deadline } if now >= deadline => {
                    error(&self.out, &id, format!("{} of {count} pings from {peer} in time", rtts.len()))
                }
                Waiter::Mesh { id, topic, peer, deadline } => {
                    let mut mesh = swarm.behaviour().gossipsub.mesh_peers(&topic);
                    let found = match peer {
                        Some(p) => mesh.any(|m| *m == p),
                        None => mesh.next().is_some(),
                    };
                    if found {
                        reply(&self.out, &id, "mesh", json!({"topic": topic.to_string()}));
                    } else if now >= deadline {
                        error(&self.out, &id, format!("no mesh peer on {topic} in time"));
                    } else {
                        self.waiters.push(Waiter::Mesh { id, topic, peer, deadline });
                    }
                }
                Waiter::Identify { id, peer, deadline } => match self.identified.get(&peer) {
                    Some(info) => reply(&self.out, &id, "identified", json!({
                        "peer_id": peer.to_string(), "agent_version": info.agent_version,
                        "protocol_version": info.protocol_version,
                        "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                        "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "observed_addr": info.observed_addr.to_string()})),
                    None if now >= deadline => error(&self.out, &id, format!("no identify from {peer} in time")),
                    None => self.waiters.push(Waiter::Identify { id, peer, deadline }),
                },
                Waiter::Received { id, count, deadline } => {
                    if self.received >= count {
                        reply(&self.out, &id, "received", json!({"count": self.received}));
                    } else if now >= deadline {
                        error(&self.out, &id, format!("received {} of {count} messages in time", self.received));
                    } else {
                        self.waiters.push(Waiter::Received { id, count, deadline });
                    }
                }
                other => self.waiters.push(other),
            }
        }
    }

    /// A round trip of the ping behaviour: answers a dial waiting for its first ping
    /// (test-plans' handshakePlusOneRTT: from dial start to the end of the first ping) and the
    /// `ping` commands collecting round trips of that peer.
    fn on_ping(&mut self, peer: PeerId, result: Result<Duration, ping::Failure>) {
        let out = self.out.clone();
        self.waiters.retain_mut(|w| match (w, &result) {
            (Waiter::Dial { id, peer: p, start }, Ok(rtt)) if *p == peer => {
                reply(&out, id, "dialed", json!({"peer_id": peer.to_string(),
                    "handshake_plus_one_rtt_ms": ms(start.elapsed()), "ping_rtt_ms": ms(*rtt)}));
                false
            }
            (Waiter::Dial { id, peer: p, .. }, Err(e)) if *p == peer => {
                error(&out, id, format!("connected but the first ping failed: {e}"));
                false
            }
            (Waiter::Ping { id, peer: p, count, rtts, .. }, Ok(rtt)) if *p == peer => {
                rtts.push(ms(*rtt));
                if rtts.len() < *count {
                    return true;
                }
                reply(&out, id, "pinged", json!({"rtts_ms": rtts}));
                false
            }
            (Waiter::Ping { id, peer: p, .. }, Err(e)) if *p == peer => {
                error(&out, id, format!("ping failed: {e}"));
                false
            }
            _ => true,
        });
    }

    fn on_event(&mut self, swarm: &mut Swarm<Behaviour>, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                self.received += 1;
                emit(&self.out, json!({"event": "message", "topic": message.topic.to_string(),
                    "from": propagation_source.to_string(), "msg_id": hex::encode(&message_id.0),
                    "sha256": hex::encode(Sha256::digest(&message.data)), "source": message.source.map(|p| p.to_string()), "seqno": message.sequence_number,
                    "size": message.data.len(), "data_hex": hex::encode(&message.data)}));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer { peer_id, failed_messages })) => {
                // Messages gossipsub gave up on because this peer's send queue was full or timed out.
                let n = failed_messages.total_queue_full() + failed_messages.timeout;
                self.dropped += n as u64;
                emit(&self.out, json!({"event": "slow_peer", "peer_id": peer_id.to_string(), "dropped": n}));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => self.on_ping(peer, result),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                self.identified.insert(peer_id, info);
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error: err, .. } => {
                let out = self.out.clone();
                self.waiters.retain(|w| match w {
                    Waiter::Dial { id, peer: p, .. } if *p == peer => {
                        error(&out, id, format!("dial failed: {err}"));
                        false
                    }
                    _ => true,
                });
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                emit(&self.out, json!({"event": "connected", "peer_id": peer_id.to_string(),
                    "dialer": endpoint.is_dialer(), "num_established": num_established.get()}));
            }
            SwarmEvent::ConnectionClosed { peer_id, cause, endpoint, num_established, .. } => {
                emit(&self.out, json!({"event": "disconnected", "peer_id": peer_id.to_string(),
                    "dialer": endpoint.is_dialer(), "num_established": num_established,
                    "cause": cause.map(|c| c.to_string())}));
            }
            _ => {}
        }
        self.check_waiters(swarm);
    }
}

fn parse_mode() -> Result<Mode, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().position(|a| a == "--mode").map(|i| args.get(i + 1).map(String::as_str)) {
        None | Some(Some("libp2p")) => Ok(Mode::Libp2p),
        Some(Some("waku")) => Ok(Mode::Waku),
        other => Err(format!("usage: rust-peer [--mode libp2p|waku] (got {other:?})")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = parse_mode()?;
    let mut swarm = build_swarm(mode)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let local = *swarm.local_peer_id();
    let listen_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };

    let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = out_rx.recv().await {
            let line = format!("{v}\n");
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let control = swarm.behaviour().stream.new_control();
    tokio::spawn(echo_server(control.clone(), ECHO, out.clone()));
    emit(&out, json!({"event": "ready", "peer_id": local.to_string(),
        "multiaddrs": [listen_addr.with(Protocol::P2p(local)).to_string()],
        "versions": {"libp2p": "0.56", "peer": env!("CARGO_PKG_VERSION")},
        "config": {"mode": if mode == Mode::Waku { "waku" } else { "libp2p" }}}));

    let (internal, mut internal_rx) = mpsc::unbounded_channel::<Paced>();
    let mut state = State { mode, out, control, waiters: Vec::new(), identified: HashMap::new(),
        received: 0, published: 0, publish_failed: 0, dropped: 0, timestamp_seq: 0, internal, paced: HashMap::new() };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) if l.trim().is_empty() => {}
                Ok(Some(l)) => match serde_json::from_str::<Value>(&l) {
                    Ok(cmd) => state.handle(&mut swarm, cmd),
                    Err(e) => error(&state.out, &Value::Null, format!("bad JSON: {e}")),
                },
                _ => break, // stdin closed: exit
            },
            event = swarm.select_next_some() => state.on_event(&mut swarm, event),
            Some(p) = internal_rx.recv() => state.on_paced(&mut swarm, p),
            _ = tick.tick() => state.check_waiters(&mut swarm),
        }
    }
    // Let the writer drain replies already queued before exiting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}
