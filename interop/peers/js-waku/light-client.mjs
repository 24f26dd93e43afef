// A js-waku light node (@waku/sdk createLightNode: WebSocket + Noise + mplex, lightpush v3,
// filter v2, store v3) driven over stdin/stdout by the interop harness (interop/harness/kind_js_waku.py).
//
// Protocol: prints one JSON line {"event":"ready", peer_id, versions, config}, then reads one
// JSON command per line on stdin. Every reply carries "re": the command's "id"; a failed command
// answers {"re":id,"event":"error","error":"..."}. Unsolicited lines: {"event":"message",
// "via":"filter",...} per message the filter subscription delivers. Exits when stdin closes (or on "quit").
// Never listens; dials only the multiaddrs it is given (the test gives 127.0.0.1 ones).

import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { multiaddr } from '@multiformats/multiaddr'
import { createLightNode, Protocols, utils as wakuUtils, waku as wakuCore } from '@waku/sdk'

const { values: args } = parseArgs({
  options: {
    'cluster-id': { type: 'string', default: '1' },
    'num-shards': { type: 'string', default: '8' }
  }
})
const networkConfig = { clusterId: Number(args['cluster-id']), numShardsInCluster: Number(args['num-shards']) }

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const hex = (bytes) => (bytes == null ? null : Buffer.from(bytes).toString('hex'))
const fromHex = (text) => new Uint8Array(Buffer.from(text ?? '', 'hex'))

function packageVersion (name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')).version
}

// Offline: no DNS discovery, no peer exchange, no peer cache; dial only what we are told.
// filterMultiaddrs: false lets the WebSocket transport dial ws:// (not only wss://).
const waku = await createLightNode({
  defaultBootstrap: false,
  networkConfig,
  libp2p: { filterMultiaddrs: false, hideWebSocketInfo: true }
})

// A decoded message as the test reads it: bytes in hex, timestamp as ns in a decimal string.
function messageToJson (msg) {
  return {
    pubsub_topic: msg.pubsubTopic,
    content_topic: msg.contentTopic,
    payload: hex(msg.payload),
    timestamp_ns: msg.timestamp == null ? null : (BigInt(msg.timestamp.getTime()) * 1_000_000n).toString(),
    meta: msg.meta == null || msg.meta.length === 0 ? null : hex(msg.meta),
    ephemeral: msg.ephemeral ?? false,
    version: msg.version,
    hash: msg.hashStr
  }
}

const filterDecoders = new Map() // content topic -> decoder
let filterReceived = 0

async function peerInfo (peerIdText) {
  const peers = await waku.libp2p.peerStore.all()
  const peer = peers.find((p) => p.id.toString() === peerIdText)
  if (peer == null) return { known: false }
  const shardInfo = peer.metadata.get('shardInfo')
  return {
    known: true,
    protocols: peer.protocols,
    agent: peer.metadata.get('AgentVersion') == null ? null : Buffer.from(peer.metadata.get('AgentVersion')).toString(),
    shard_info: shardInfo == null ? null : decodeShardInfo(shardInfo)
  }
}

// @waku/core's metadata service stores the peer's answer in the peer store as "shardInfo"
// (encodeRelayShard of the cluster id and shards it received).
function decodeShardInfo (bytes) {
  try {
    return wakuUtils.decodeRelayShard(bytes)
  } catch (err) {
    return { raw: hex(bytes), error: String(err?.message ?? err) }
  }
}

async function lightpush (cmd) {
  // js-waku sets WakuMessage.meta only through an encoder's metaSetter (IMessage has no meta).
  const encoder = cmd.meta == null
    ? waku.createEncoder({ contentTopic: cmd.content_topic, ephemeral: cmd.ephemeral ?? false })
    : wakuCore.createEncoder({
      contentTopic: cmd.content_topic,
      ephemeral: cmd.ephemeral ?? false,
      routingInfo: wakuUtils.createRoutingInfo(networkConfig, { contentTopic: cmd.content_topic }),
      metaSetter: () => fromHex(cmd.meta)
    })
  const message = { payload: fromHex(cmd.payload), timestamp: new Date(cmd.timestamp_ms ?? Date.now()) }
  // What js-waku will put on the wire (toProtoObj is deterministic for a fixed timestamp).
  const proto = await encoder.toProtoObj(message)
  const hash = wakuCore.messageHashStr(encoder.pubsubTopic, proto)
  const result = await waku.lightPush.send(encoder, message, { autoRetry: false, useLegacy: cmd.legacy ?? false })
  return {
    event: 'pushed',
    pubsub_topic: encoder.pubsubTopic,
    hash,
    timestamp_ns: proto.timestamp.toString(),
    successes: result.successes.map(String),
    failures: result.failures.map((f) => ({ error: String(f.error), peer_id: f.peerId?.toString() ?? null }))
  }
}

async function filterSubscribe (cmd) {
  const decoder = waku.createDecoder({ contentTopic: cmd.content_topic })
  filterDecoders.set(cmd.content_topic, decoder)
  const ok = await waku.filter.subscribe(decoder, (msg) => {
    filterReceived++
    emit({ event: 'message', via: 'filter', ...messageToJson(msg) })
  })
  return { event: 'filter_subscribed', ok, pubsub_topic: decoder.pubsubTopic }
}

async function storeQuery (cmd) {
  const decoder = waku.createDecoder({ contentTopic: cmd.content_topic })
  const options = { paginationForward: cmd.forward ?? true, includeData: true }
  if (cmd.page_size != null) options.paginationLimit = cmd.page_size
  if (cmd.time_start_ms != null) options.timeStart = new Date(cmd.time_start_ms)
  if (cmd.time_end_ms != null) options.timeEnd = new Date(cmd.time_end_ms)
  if (cmd.message_hashes != null) options.messageHashes = cmd.message_hashes.map(fromHex)
  const pages = []
  for await (const page of waku.store.queryGenerator([decoder], options)) {
    const messages = await Promise.all(page)
    pages.push(messages.map((m) => (m == null ? null : messageToJson(m))))
    if (cmd.max_pages != null && pages.length >= cmd.max_pages) break
  }
  return { event: 'store_result', pubsub_topic: decoder.pubsubTopic, pages }
}

async function waitFor (predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

const PROTOCOL_NAMES = { lightpush: Protocols.LightPush, filter: Protocols.Filter, store: Protocols.Store }

async function handle (cmd) {
  switch (cmd.cmd) {
    case 'dial': {
      const conn = await waku.libp2p.dial(multiaddr(cmd.multiaddr))
      return { event: 'dialed', peer_id: conn.remotePeer.toString(), addr: conn.remoteAddr.toString(), muxer: conn.multiplexer ?? null, encryption: conn.encryption ?? null }
    }
    case 'wait_peers': {
      const protocols = (cmd.protocols ?? ['lightpush', 'filter', 'store']).map((p) => PROTOCOL_NAMES[p])
      await waku.waitForPeers(protocols, cmd.timeout_ms ?? 15000)
      return { event: 'peers_ready' }
    }
    case 'peer_info': return { event: 'peer_info', ...(await peerInfo(cmd.peer_id)) }
    case 'connections':
      return {
        event: 'connections',
        connections: waku.libp2p.getConnections().map((c) => ({
          peer_id: c.remotePeer.toString(),
          addr: c.remoteAddr.toString(),
          muxer: c.multiplexer ?? null,
          streams: c.streams.map((s) => ({ protocol: s.protocol ?? null, direction: s.direction }))
        }))
      }
    case 'lightpush': return await lightpush(cmd)
    case 'filter_subscribe': return await filterSubscribe(cmd)
    case 'wait_filter': {
      const ok = await waitFor(() => filterReceived >= cmd.count, cmd.timeout_ms ?? 15000)
      return { event: 'filter_count', ok, count: filterReceived }
    }
    case 'filter_unsubscribe_all':
      waku.filter.unsubscribeAll()
      return { event: 'filter_unsubscribed' }
    case 'store_query': return await storeQuery(cmd)
    case 'quit': await shutdown(0); return null
    default: throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`)
  }
}

let stopping = false
async function shutdown (code) {
  if (stopping) return
  stopping = true
  try {
    // Without this the filter's keep-alive timers hold the process open after stop().
    waku.filter.unsubscribeAll()
    await waku.stop()
  } finally {
    process.exit(code)
  }
}

process.on('SIGTERM', () => { shutdown(0) })
process.on('SIGINT', () => { shutdown(0) })

emit({
  event: 'ready',
  peer_id: waku.peerId.toString(),
  versions: {
    node: process.version,
    sdk: packageVersion('@waku/sdk'),
    core: packageVersion('@waku/core'),
    libp2p: packageVersion('libp2p'),
    mplex: packageVersion('@libp2p/mplex')
  },
  config: {
    network: networkConfig,
    protocols: waku.protocols,
    codecs: {
      lightpush: waku.lightPush.multicodec,
      filter: waku.filter.multicodec,
      store: waku.store.multicodec
    }
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
    emit({ re: cmd?.id ?? null, event: 'error', cmd: cmd?.cmd ?? null, error: String(err?.stack ?? err?.message ?? err) })
  }
}
await shutdown(0)
