// A js-libp2p 3.x node running gossipsub the way js-waku's @waku/relay configures it
// (packages/relay/src/relay.ts, wakuGossipSub), driven over stdin/stdout by tests/interop.
//
// Protocol: prints one JSON line {"event":"ready", peer_id, multiaddrs, versions, config}, then
// reads one JSON command per line on stdin. Every reply carries "re": the command's "id".
// Unsolicited lines: {"event":"message", ...} per delivered message, {"event":"rejected", ...}
// per message the Waku validator refused. Exits when stdin closes (or on "quit").
// Listens on 127.0.0.1 only.

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

import { decodeWakuMessage, encodeWakuMessage, wakuMessageHash, wakuMessageToJson } from './waku-message.mjs'

const RELAY_CODEC = '/vac/waku/relay/2.0.0' // js-waku RelayCodecs[0]

const { values: args } = parseArgs({
  options: {
    // StrictSign exists only to play a misbehaving peer in the invalid-message test.
    'signature-policy': { type: 'string', default: StrictNoSign },
    'no-ws': { type: 'boolean', default: false }
  }
})
const signaturePolicy = args['signature-policy']
if (![StrictNoSign, StrictSign].includes(signaturePolicy)) {
  process.stderr.write(`unknown --signature-policy ${signaturePolicy}\n`)
  process.exit(2)
}

const sha256 = (data) => new Uint8Array(createHash('sha256').update(data).digest())
const hex = (bytes) => Buffer.from(bytes).toString('hex')
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// What js-waku sets (wakuGossipSub) plus the mesh degrees and heartbeat the brief asks us to
// pin explicitly (js-waku leaves these at gossipsub's defaults: D 6, Dlo 4, Dhi 12, 1 s).
const GOSSIPSUB_OPTIONS = {
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

// js-waku's messageValidator (packages/relay/src/message_validator.ts): reject what does not
// decode as a WakuMessage or has an empty content topic or an empty payload.
const counters = { received: 0, rejected: 0, published: 0, publishErrors: 0 }
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
  counters.rejected++
  emit({ event: 'rejected', topic: message.topic, from: peer.toString(), reason, sha256: hex(sha256(message.data)) })
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
    identify: identify({ agentVersion: 'js-waku' }),
    ping: ping({ maxInboundStreams: 10 }), // js-waku's DefaultPingMaxInboundStreams
    pubsub: wakuGossipSub(GOSSIPSUB_OPTIONS)
  }
})
const pubsub = node.services.pubsub

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
  try {
    const waku = decodeWakuMessage(msg.data)
    out.waku = wakuMessageToJson(waku)
    out.hash = wakuMessageHash(msg.topic, waku)
  } catch (err) {
    out.decode_error = err.message
  }
  emit(out)
})

async function waitFor (predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

async function publishWaku (cmd) {
  const count = cmd.count ?? 1
  const size = cmd.size ?? 100
  const results = []
  let failed = 0
  const errors = []
  for (let i = 0; i < count; i++) {
    const message = {
      payload: new Uint8Array(randomBytes(size)),
      contentTopic: cmd.content_topic,
      // Unique per message even within one millisecond.
      timestamp: BigInt(Date.now()) * 1_000_000n + BigInt(i % 1_000_000)
    }
    if (cmd.meta != null) message.meta = Buffer.from(cmd.meta, 'hex')
    if (cmd.ephemeral != null) message.ephemeral = cmd.ephemeral
    const data = encodeWakuMessage(message)
    try {
      const { recipients } = await pubsub.publish(cmd.topic, data)
      counters.published++
      results.push({
        msg_id: hex(sha256(data)),
        data: hex(data),
        hash: wakuMessageHash(cmd.topic, message),
        recipients: recipients.map(String),
        waku: wakuMessageToJson(message)
      })
    } catch (err) {
      failed++
      counters.publishErrors++
      if (errors.length < 5) errors.push(err.message)
    }
  }
  return { event: 'published', topic: cmd.topic, ok: results.length, failed, errors, messages: results }
}

async function publishRaw (cmd) {
  const data = Buffer.from(cmd.data_hex, 'hex')
  const { recipients } = await pubsub.publish(cmd.topic, new Uint8Array(data))
  counters.published++
  return { event: 'published_raw', topic: cmd.topic, msg_id: hex(sha256(data)), recipients: recipients.map(String) }
}

function stats () {
  const topics = {}
  for (const topic of pubsub.getTopics()) {
    topics[topic] = {
      mesh: pubsub.getMeshPeers(topic),
      subscribers: pubsub.getSubscribers(topic).map(String)
    }
  }
  const scores = {}
  for (const peer of pubsub.getPeers()) scores[peer.toString()] = pubsub.getScore(peer.toString())
  return {
    event: 'stats',
    connections: node.getConnections().map((c) => ({ peer_id: c.remotePeer.toString(), addr: c.remoteAddr.toString() })),
    gossipsub_peers: pubsub.getPeers().map(String),
    topics,
    scores,
    counters
  }
}

async function handle (cmd) {
  switch (cmd.cmd) {
    case 'subscribe':
      pubsub.topicValidators.set(cmd.topic, wakuMessageValidator)
      pubsub.subscribe(cmd.topic)
      return { event: 'subscribed', topic: cmd.topic }
    case 'dial': {
      const conn = await node.dial(multiaddr(cmd.multiaddr))
      return { event: 'dialed', peer_id: conn.remotePeer.toString(), addr: conn.remoteAddr.toString() }
    }
    case 'wait_mesh': {
      const want = cmd.peer_id
      const ok = await waitFor(() => {
        const mesh = pubsub.getMeshPeers(cmd.topic)
        return want == null ? mesh.length > 0 : mesh.includes(want)
      }, cmd.timeout_ms ?? 10000)
      if (!ok) throw new Error(`no mesh peer ${want ?? ''} on ${cmd.topic} in time`)
      return { event: 'mesh', topic: cmd.topic, peers: pubsub.getMeshPeers(cmd.topic) }
    }
    case 'wait_received': {
      const ok = await waitFor(() => counters.received >= cmd.count, cmd.timeout_ms ?? 30000)
      return { event: 'received', ok, count: counters.received }
    }
    case 'publish': return await publishWaku(cmd)
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

// Commands run one at a time, in order: the driver waits for each reply anyway.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let cmd
  try {
    cmd = JSON.parse(line)
    const reply = await handle(cmd)
    if (reply != null) emit({ re: cmd.id ?? null, ...reply })
  } catch (err) {
    emit({ re: cmd?.id ?? null, event: 'error', cmd: cmd?.cmd ?? null, error: String(err?.message ?? err) })
  }
}
await shutdown(0)
