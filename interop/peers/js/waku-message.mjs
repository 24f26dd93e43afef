// WakuMessage (14/WAKU2-MESSAGE) protobuf, hand-written so the peer encodes its messages
// independently of our Python code and of js-waku's generated codec.
//
//   bytes payload = 1; string content_topic = 2; optional uint32 version = 3;
//   optional sint64 timestamp = 10; optional bytes meta = 11;
//   optional bytes rate_limit_proof = 21; optional bool ephemeral = 31;
//
// Encoding follows protobuf's canonical form (fields in number order; proto3 singular fields
// omitted when empty, `optional` fields written whenever present), which is what the Python
// protobuf runtime and protons (js-waku) both produce, so sha256(data) agrees across stacks.

import { createHash } from 'node:crypto'

const LEN = 2
const VARINT = 0

function pushVarint (out, value) {
  let v = BigInt.asUintN(64, BigInt(value))
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n))
    v >>= 7n
  }
  out.push(Number(v))
}

function pushBytes (out, field, bytes) {
  pushVarint(out, (field << 3) | LEN)
  pushVarint(out, bytes.length)
  for (const b of bytes) out.push(b)
}

function pushUint (out, field, value) {
  pushVarint(out, (field << 3) | VARINT)
  pushVarint(out, value)
}

/** @returns {Uint8Array} */
export function encodeWakuMessage (msg) {
  const out = []
  if (msg.payload != null && msg.payload.length > 0) pushBytes(out, 1, msg.payload)
  if (msg.contentTopic != null && msg.contentTopic.length > 0) {
    pushBytes(out, 2, new TextEncoder().encode(msg.contentTopic))
  }
  if (msg.version != null) pushUint(out, 3, msg.version)
  if (msg.timestamp != null) {
    const n = BigInt(msg.timestamp)
    pushUint(out, 10, BigInt.asUintN(64, (n << 1n) ^ (n >> 63n))) // zigzag (sint64)
  }
  if (msg.meta != null) pushBytes(out, 11, msg.meta)
  if (msg.rateLimitProof != null) pushBytes(out, 21, msg.rateLimitProof)
  if (msg.ephemeral != null) pushUint(out, 31, msg.ephemeral ? 1 : 0)
  return Uint8Array.from(out)
}

class Reader {
  constructor (bytes) {
    this.bytes = bytes
    this.pos = 0
  }

  get done () { return this.pos >= this.bytes.length }

  varint () {
    let result = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.bytes.length) throw new Error('truncated varint')
      const b = this.bytes[this.pos++]
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result)
    }
    throw new Error('varint too long')
  }

  take (n) {
    if (n > this.bytes.length - this.pos) throw new Error('truncated length-delimited field')
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  skip (wireType) {
    switch (wireType) {
      case 0: this.varint(); break
      case 1: this.take(8); break
      case 2: this.take(Number(this.varint())); break
      case 5: this.take(4); break
      default: throw new Error(`unsupported wire type ${wireType}`)
    }
  }
}

/** Decodes a WakuMessage; throws on malformed input. Timestamps are BigInt. */
export function decodeWakuMessage (bytes) {
  const r = new Reader(bytes)
  const msg = { payload: new Uint8Array(0), contentTopic: '' }
  const expect = (wt, want, field) => {
    if (wt !== want) throw new Error(`field ${field}: wire type ${wt}, expected ${want}`)
  }
  while (!r.done) {
    const tag = r.varint()
    const field = Number(tag >> 3n)
    const wt = Number(tag & 7n)
    if (field === 0) throw new Error('field number 0')
    switch (field) {
      case 1: expect(wt, LEN, field); msg.payload = r.take(Number(r.varint())); break
      case 2:
        expect(wt, LEN, field)
        msg.contentTopic = new TextDecoder('utf-8', { fatal: true }).decode(r.take(Number(r.varint())))
        break
      case 3: expect(wt, VARINT, field); msg.version = Number(BigInt.asUintN(32, r.varint())); break
      case 10: {
        expect(wt, VARINT, field)
        const z = r.varint()
        msg.timestamp = BigInt.asIntN(64, (z >> 1n) ^ -(z & 1n))
        break
      }
      case 11: expect(wt, LEN, field); msg.meta = r.take(Number(r.varint())); break
      case 21: expect(wt, LEN, field); msg.rateLimitProof = r.take(Number(r.varint())); break
      case 31: expect(wt, VARINT, field); msg.ephemeral = r.varint() !== 0n; break
      default: r.skip(wt)
    }
  }
  return msg
}

/** The deterministic Waku message hash (14/WAKU2-MESSAGE): sha256(pubsub_topic || payload ||
 *  content_topic || meta || timestamp as 8-byte big-endian). A missing timestamp hashes as
 *  zero, as nwaku and go-waku do. */
export function wakuMessageHash (pubsubTopic, msg) {
  const h = createHash('sha256')
  h.update(pubsubTopic)
  h.update(msg.payload)
  h.update(msg.contentTopic)
  if (msg.meta != null) h.update(msg.meta)
  const ts = Buffer.alloc(8)
  ts.writeBigUInt64BE(BigInt.asUintN(64, msg.timestamp ?? 0n))
  h.update(ts)
  return h.digest('hex')
}

/** JSON-friendly view of a decoded WakuMessage (bytes as hex, timestamp as a decimal string). */
export function wakuMessageToJson (msg) {
  const hex = (b) => (b == null ? null : Buffer.from(b).toString('hex'))
  return {
    payload: hex(msg.payload),
    content_topic: msg.contentTopic,
    version: msg.version ?? null,
    timestamp: msg.timestamp == null ? null : msg.timestamp.toString(),
    meta: hex(msg.meta),
    rate_limit_proof: hex(msg.rateLimitProof),
    ephemeral: msg.ephemeral ?? null
  }
}
