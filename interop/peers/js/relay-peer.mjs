// A js-libp2p 3.x gossipsub node for the interop harness, driven over stdin/stdout (JSON lines, the
// protocol of interop/peers/go/README.md plus the JS-only commands of README.md here).
//
//   --mode waku    (default) gossipsub the way js-waku's @waku/relay configures it (wakuGossipSub):
//                  StrictNoSign, message id sha256(data), /vac/waku/relay/2.0.0, js-waku's message
//                  validator; publish sends WakuMessages.
//   --mode libp2p  @libp2p/gossipsub's library defaults (StrictSign, from+seqno ids, /meshsub/1.x,
//                  floodsub fallback); publish sends random bytes.
//
// Prints {"event":"ready", peer_id, multiaddrs, mode, versions, config}, then reads one command per
// line; commands run concurrently and every reply carries "re": the command's "id". Unsolicited lines:
// {"event":"message", ...} per delivered message, {"event":"rejected", ...} per refused message.
// Exits when stdin closes (or on "quit"). Listens on 127.0.0.1 only (TCP and WebSocket, port 0).

import { readFileSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, StrictSign, TopicValidatorResult } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

import { dialAndPing, ECHO_PROTOCOL, echo, pingRtts, serveEcho } from './streams.mjs'
import { decodeWakuMessage, encodeWakuMessage, wakuMessageHash, wakuMessageToJson } from './waku-message.mjs'

const RELAY_CODEC = '/vac/waku/relay/2.0.0' // js-waku RelayCodecs[0]
const DEFAULT_CONTENT_TOPIC = '/interop/1/js-peer/proto'

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'waku' },
    // Waku mode only: StrictSign plays a misbehaving peer in the invalid-message test.
    'signature-policy': { type: 'string' },
    'no-ws': { type: 'boolean', default: false }
  }
})
const mode = args.mode
const signaturePolicy = args['signature-policy'] ?? StrictNoSign
function usage (msg) {
  process.stderr.write(`${msg}\n`)
  process.exit(2)
}
if (!['waku', 'libp2p'].includes(mode)) usage(`unknown --mode ${mode} (waku | libp2p)`)
if (![StrictNoSign, StrictSign].includes(signaturePolicy)) usage(`unknown --signature-policy ${signaturePolicy}`)
if (mode === 'libp2p' && args['signature-policy'] != null) {
  usage('--signature-policy applies to --mode waku; --mode libp2p is gossipsub\'s defaults')
}

const sha256 = (data) => new Uint8Array(createHash('sha256').update(data).digest())
const hex = (bytes) => Buffer.from(bytes).toString('hex')
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// What js-waku sets (wakuGossipSub) plus the mesh degrees and heartbeat pinned explicitly
// (js-waku leaves these at gossipsub's defaults: D 6, Dlo 4, Dhi 12, 1 s).
const WAKU_OPTIONS = {
  msgIdFn: ({ data }) => sha256(data),
  globalSignaturePolicy: signaturePolicy,
  fallbackToFloodsub: false,
  D: 6,
  Dlo: 4,
  Dhi: 8,
  heartbeatInterval: 1000
}

function wakuGossipSub (init) {
  const factory = gossipsub(init)
  return (components) => {
    const pubsub = factory(components)
    // js-waku: `pubsub.multicodecs = RelayCodecs` (gossipsub 14); the field is `protocols` in
    // @libp2p/gossipsub 17, whose `protocols` constructor option is declared but not applied.
    pubsub.protocols = [RELAY_CODEC]
    return pubsub
  }
}

const counters = {
  received: 0, rejected: 0, published: 0, publishErrors: 0, duplicates: 0, droppedRpcs: 0,
  echoServed: 0, echoServedBytes: 0
}
const rejectedBy = {} // reason -> count

function reject (reason, peer, topic, data, extra = {}) {
  counters.rejected++
  rejectedBy[reason] = (rejectedBy[reason] ?? 0) + 1
  emit({ event: 'rejected', topic, from: peer.toString(), reason, sha256: data == null ? null : hex(sha256(data)), ...extra })
}

// js-waku's messageValidator (packages/relay/src/message_validator.ts): reject what does not
// decode as a WakuMessage or has an empty content topic or an empty payload.
function wakuMessageValidator (peer, message) {
  let reason = null
  try {
    const msg = decodeWakuMessage(message.data)
    if (!msg.contentTopic) reason = 'empty content topic'
    else if (msg.payload.length === 0) reason = 'empty payload'
  } catch (err) {
    reason = `undecodable: ${err.message}`
  }
  if (reason == null) return TopicValidatorResult.Accept
  reject(reason, peer, message.topic, message.data)
  return TopicValidatorResult.Reject
}

function packageVersion (name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')).version
}

const listen = ['/ip4/127.0.0.1/tcp/0']
if (!args['no-ws']) listen.push('/ip4/127.0.0.1/tcp/0/ws')

const node = await createLibp2p({
  addresses: { listen },
  transports: args['no-ws'] ? [tcp()] : [tcp(), webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(mode === 'waku' ? { agentVersion: 'js-waku' } : {}),
    ping: ping(mode === 'waku' ? { maxInboundStreams: 10 } : {}), // js-waku's DefaultPingMaxInboundStreams
    pubsub: mode === 'waku' ? wakuGossipSub(WAKU_OPTIONS) : gossipsub()
  }
})
const pubsub = node.services.pubsub
await node.handle(ECHO_PROTOCOL, (stream) => serveEcho(stream, counters))

// Observation only (the configuration is untouched): count duplicates and the messages gossipsub's
// own validation refuses (signature policy), and RPCs it could not send.
const validateReceived = pubsub.validateReceivedMessage.bind(pubsub)
pubsub.validateReceivedMessage = async (from, rpcMsg) => {
  const result = await validateReceived(from, rpcMsg)
  if (result.code === 'duplicate') counters.duplicates++
  else if (result.code === 'invalid' && result.reason !== 'reject') { // 'reject': counted by our validator
    reject(result.error ?? result.reason, from, rpcMsg.topic, rpcMsg.data, {
      signed: rpcMsg.signature != null && rpcMsg.signature.length > 0,
      has_from: rpcMsg.from != null && rpcMsg.from.length > 0,
      has_seqno: rpcMsg.seqno != null && rpcMsg.seqno.length > 0
    })
  }
  return result
}
const sendRpc = pubsub.sendRpc.bind(pubsub)
pubsub.sendRpc = (id, rpc) => {
  const sent = sendRpc(id, rpc)
  if (sent === false) counters.droppedRpcs++
  return sent
}

pubsub.addEventListener('gossipsub:message', (evt) => {
  const { msg, msgId, propagationSource } = evt.detail
  counters.received++
  const out = {
    event: 'message',
    topic: msg.topic,
    from: propagationSource.toString(),
    msg_id: Buffer.from(msgId, 'base64').toString('hex'),
    sha256: hex(sha256(msg.data)),
    signed: msg.type === 'signed',
    size: msg.data.length
  }
  if (mode === 'waku') {
    try {
      const waku = decodeWakuMessage(msg.data)
      out.waku = wakuMessageToJson(waku)
      out.hash = wakuMessageHash(msg.topic, waku)
    } catch (err) {
      out.decode_error = err.message
    }
  }
  emit(out)
})

async function waitFor (predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await sleep(20)
  }
  return true
}

/** The PeerId of a connected peer (commands name peers by their string id). */
function connectedPeer (id) {
  const peer = node.getPeers().find((p) => p.toString() === id)
  if (peer == null) throw new Error(`not connected to ${id}`)
  return peer
}

/** One message's pubsub data: a WakuMessage in waku mode, random bytes in libp2p mode. */
function messageData (cmd, i) {
  const payload = new Uint8Array(randomBytes(cmd.size ?? 100))
  if (mode === 'libp2p') return { data: payload }
  const message = {
    payload,
    contentTopic: cmd.content_topic ?? DEFAULT_CONTENT_TOPIC,
    // Unique per message even within one millisecond.
    timestamp: BigInt(Date.now()) * 1_000_000n + BigInt(i % 1_000_000)
  }
  if (cmd.meta != null) message.meta = Buffer.from(cmd.meta, 'hex')
  if (cmd.ephemeral != null) message.ephemeral = cmd.ephemeral
  return { data: encodeWakuMessage(message), message }
}

async function publish (cmd) {
  const count = cmd.count ?? 1
  const results = []
  const errors = []
  for (let i = 0; i < count; i++) {
    const { data, message } = messageData(cmd, i)
    try {
      const { recipients } = await pubsub.publish(cmd.topic, data)
      counters.published++
      const digest = hex(sha256(data))
      const out = { sha256: digest, msg_id: digest, data: hex(data), recipients: recipients.map(String) }
      if (message != null) Object.assign(out, { hash: wakuMessageHash(cmd.topic, message), waku: wakuMessageToJson(message) })
      results.push(out)
    } catch (err) {
      counters.publishErrors++
      errors.push(String(err?.message ?? err))
    }
    if (cmd.interval_us > 0) await sleep(cmd.interval_us / 1000)
  }
  return { event: 'published', topic: cmd.topic, ok: results.length, failed: errors.length, errors, messages: results }
}

async function publishRaw (cmd) {
  const data = Buffer.from(cmd.data_hex, 'hex')
  const { recipients } = await pubsub.publish(cmd.topic, new Uint8Array(data))
  counters.published++
  return { event: 'published_raw', topic: cmd.topic, msg_id: hex(sha256(data)), recipients: recipients.map(String) }
}

async function identifyPeer (cmd) {
  const peerId = connectedPeer(cmd.peer_id)
  let info = null
  // identify runs on every new connection; wait for its result in the peer store
  const deadline = Date.now() + (cmd.timeout_ms ?? 10000)
  while (Date.now() < deadline) {
    info = await node.peerStore.get(peerId).catch(() => null)
    if (info != null && info.protocols.length > 0) break
    await sleep(20)
  }
  if (info == null || info.protocols.length === 0) throw new Error(`no identify result from ${cmd.peer_id}`)
  const meta = (key) => {
    const v = info.metadata.get(key)
    return v == null ? null : Buffer.from(v).toString()
  }
  return {
    event: 'identified',
    peer_id: cmd.peer_id,
    protocols: info.protocols,
    agent_version: meta('AgentVersion'),
    protocol_version: meta('ProtocolVersion'),
    listen_addrs: info.addresses.map((a) => a.multiaddr.toString())
  }
}

function stats () {
  const topics = {}
  const mesh = {}
  for (const topic of pubsub.getTopics()) {
    mesh[topic] = pubsub.getMeshPeers(topic)
    topics[topic] = { mesh: mesh[topic], subscribers: pubsub.getSubscribers(topic).map(String) }
  }
  const scores = {}
  for (const peer of pubsub.getPeers()) scores[peer.toString()] = pubsub.getScore(peer.toString())
  return {
    event: 'stats',
    received: counters.received,
    published: counters.published,
    rejected: { ...rejectedBy },
    duplicates: counters.duplicates,
    dropped_rpcs: counters.droppedRpcs,
    mesh,
    connections: node.getConnections().map((c) => ({
      peer_id: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      direction: c.direction,
      streams: c.streams.map((s) => s.protocol)
    })),
    gossipsub_peers: pubsub.getPeers().map(String),
    topics,
    scores,
    counters
  }
}

async function handle (cmd) {
  switch (cmd.cmd) {
    case 'subscribe':
      if (mode === 'waku') pubsub.topicValidators.set(cmd.topic, wakuMessageValidator)
      pubsub.subscribe(cmd.topic)
      return { event: 'subscribed', topic: cmd.topic }
    case 'dial': {
      const { conn, handshakePlusOneRtt, rtt } = await dialAndPing(node, multiaddr(cmd.multiaddr))
      return {
        event: 'dialed',
        peer_id: conn.remotePeer.toString(),
        addr: conn.remoteAddr.toString(),
        handshake_plus_one_rtt_ms: handshakePlusOneRtt,
        ping_rtt_ms: rtt
      }
    }
    case 'ping':
      return { event: 'pinged', peer_id: cmd.peer_id, rtts_ms: await pingRtts(node, connectedPeer(cmd.peer_id), cmd.count ?? 1) }
    case 'identify': return await identifyPeer(cmd)
    case 'echo': return await echo(node, connectedPeer(cmd.peer_id), cmd.size, cmd.timeout_ms ?? 60000)
    case 'wait_mesh': {
      const want = cmd.peer_id
      const ok = await waitFor(() => {
        const peers = pubsub.getMeshPeers(cmd.topic)
        return want == null ? peers.length > 0 : peers.includes(want)
      }, cmd.timeout_ms ?? 10000)
      if (!ok) throw new Error(`no mesh peer ${want ?? ''} on ${cmd.topic} in time`)
      return { event: 'mesh', topic: cmd.topic, peers: pubsub.getMeshPeers(cmd.topic) }
    }
    case 'wait_received': {
      const ok = await waitFor(() => counters.received >= cmd.count, cmd.timeout_ms ?? 30000)
      return { event: 'received', ok, count: counters.received }
    }
    case 'publish': return await publish(cmd)
    case 'publish_raw': return await publishRaw(cmd)
    case 'stats': return stats()
    case 'quit': await shutdown(0); return null
    default: throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`)
  }
}

let stopping = false
async function shutdown (code) {
  if (stopping) return
  stopping = true
  try {
    await node.stop()
  } finally {
    process.exit(code)
  }
}

process.on('SIGTERM', () => { shutdown(0) })
process.on('SIGINT', () => { shutdown(0) })

emit({
  event: 'ready',
  peer_id: node.peerId.toString(),
  multiaddrs: node.getMultiaddrs().map(String),
  mode,
  versions: {
    node: process.version,
    libp2p: packageVersion('libp2p'),
    gossipsub: packageVersion('@libp2p/gossipsub')
  },
  config: {
    protocols: pubsub.protocols,
    globalSignaturePolicy: pubsub.globalSignaturePolicy,
    ...Object.fromEntries(['D', 'Dlo', 'Dhi', 'heartbeatInterval', 'fallbackToFloodsub', 'floodPublish']
      .map((k) => [k, pubsub.opts?.[k]]))
  }
})

async function run (cmd) {
  try {
    const reply = await handle(cmd)
    if (reply != null) emit({ re: cmd.id ?? null, ...reply })
  } catch (err) {
    emit({ re: cmd?.id ?? null, event: 'error', cmd: cmd?.cmd ?? null, error: String(err?.message ?? err) })
  }
}

// Commands run concurrently (a long publish does not hold up a stats or a ping).
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
const running = new Set()
for await (const line of lines) {
  if (!line.trim()) continue
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    emit({ re: null, event: 'error', cmd: null, error: `bad command line: ${err.message}` })
    continue
  }
  const task = run(cmd)
  running.add(task)
  task.finally(() => running.delete(task))
}
await Promise.allSettled([...running])
await shutdown(0)
