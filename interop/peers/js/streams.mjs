// Stream-level commands of the interop peer on js-libp2p 3.x streams (send()/onDrain(), async
// iteration for reading): the /w3msg/echo/1.0.0 protocol (served and dialled) and a ping that
// measures each round trip with performance.now() (@libp2p/ping reports whole milliseconds,
// which is 0 on loopback).

import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'

export const ECHO_PROTOCOL = '/w3msg/echo/1.0.0'
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const CHUNK = 64 * 1024

const ms = (start) => Math.round((performance.now() - start) * 1000) / 1000
const bytesOf = (chunk) => (chunk instanceof Uint8Array ? chunk : chunk.subarray())

/** Write honouring backpressure: send() returning false means wait for drain. */
async function write (stream, bytes) {
  if (!stream.send(bytes)) await stream.onDrain()
}

/** Reads a stream in exact-size pieces (ping needs 32 bytes at a time). */
class Reader {
  constructor (stream) {
    this.iter = stream[Symbol.asyncIterator]()
    this.buf = Buffer.alloc(0)
  }

  async exactly (n) {
    while (this.buf.length < n) {
      const { value, done } = await this.iter.next()
      if (done) throw new Error(`stream ended after ${this.buf.length} of ${n} bytes`)
      this.buf = Buffer.concat([this.buf, bytesOf(value)])
    }
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }
}

/** Serves /w3msg/echo/1.0.0: echo until the remote half-closes, then half-close. */
export async function serveEcho (stream, counters) {
  let total = 0
  try {
    for await (const chunk of stream) {
      const bytes = bytesOf(chunk)
      total += bytes.length
      await write(stream, bytes)
    }
    await stream.close()
    counters.echoServed += 1
    counters.echoServedBytes += total
  } catch (err) {
    stream.abort(err)
  }
}

/** Writes `size` random bytes, half-closes, and reads the echo concurrently (flow-control windows). */
export async function echo (node, peerId, size, timeoutMs) {
  const data = randomBytes(size)
  const signal = AbortSignal.timeout(timeoutMs)
  const start = performance.now()
  const stream = await node.dialProtocol(peerId, ECHO_PROTOCOL, { signal })
  const writer = (async () => {
    for (let i = 0; i < size; i += CHUNK) await write(stream, data.subarray(i, i + CHUNK))
    await stream.close({ signal })
  })()
  const chunks = []
  try {
    for await (const chunk of stream) {
      chunks.push(Buffer.from(bytesOf(chunk)))
      if (signal.aborted) throw new Error(`echo timed out after ${timeoutMs} ms`)
    }
    await writer
  } catch (err) {
    stream.abort(err)
    throw err
  }
  const got = Buffer.concat(chunks)
  return { event: 'echoed', ok: got.equals(data), bytes: got.length, ms: ms(start) }
}

/** `count` pings on one /ipfs/ping/1.0.0 stream; round trips in ms (microsecond resolution). */
export async function pingRtts (node, peerId, count) {
  const stream = await node.dialProtocol(peerId, PING_PROTOCOL, { signal: AbortSignal.timeout(10000) })
  const reader = new Reader(stream)
  const rtts = []
  try {
    for (let i = 0; i < count; i++) {
      const payload = randomBytes(32)
      const start = performance.now()
      await write(stream, payload)
      const back = await reader.exactly(32)
      rtts.push(ms(start))
      if (!back.equals(payload)) throw new Error('ping payload mismatch')
    }
    await stream.close()
  } catch (err) {
    stream.abort(err)
    throw err
  }
  return rtts
}

/** test-plans' dial measure: connect, then one ping; both in ms. */
export async function dialAndPing (node, addr) {
  const start = performance.now()
  const conn = await node.dial(addr, { signal: AbortSignal.timeout(20000) })
  const [rtt] = await pingRtts(node, conn.remotePeer, 1)
  return { conn, handshakePlusOneRtt: ms(start), rtt }
}
