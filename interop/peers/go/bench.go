package main

// Relay benchmark support (interop/harness/kind_side_by_side.py): a line of these peers is measured
// like a line of our relay_worker.py processes. Messages carry the same bytes as the worker's: a
// WakuMessage whose payload starts with (round, seq) as two big-endian uint32 and whose timestamp is
// the send time, so latency = receive wall clock - timestamp (one machine, one clock).

import (
	"context"
	"encoding/binary"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

const (
	benchContentTopic = "/bench/1/relay/proto" // relay_worker.CONTENT_TOPIC
	benchHeaderBytes  = 8
	benchLookahead    = 2 * time.Millisecond // publish messages due this soon in one burst
)

// benchRound is what this peer saw of the current round.
type benchRound struct {
	mu          sync.Mutex
	id          int64 // -1: no round yet
	seen        map[uint32]bool
	latenciesUs []int64
	dup, stale  int
	cpuStart    time.Duration
	wallStart   time.Time
	dropStart   int
}

func newBenchRound() *benchRound { return &benchRound{id: -1, seen: map[uint32]bool{}} }

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// observe records a delivered message if it is a benchmark message (anything else is ignored).
func (r *benchRound) observe(data []byte, recvNs int64) {
	payload, ts, ct, ok := decodeWakuMessage(data)
	if !ok || ct != benchContentTopic || len(payload) < benchHeaderBytes {
		return
	}
	round, seq := binary.BigEndian.Uint32(payload), binary.BigEndian.Uint32(payload[4:])
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case int64(round) != r.id:
		r.stale++
	case r.seen[seq]:
		r.dup++
	default:
		r.seen[seq] = true
		r.latenciesUs = append(r.latenciesUs, (recvNs-ts)/1000)
	}
}

// decodeWakuMessage reads payload (1), content_topic (2) and timestamp (10, sint64) of a WakuMessage.
func decodeWakuMessage(b []byte) (payload []byte, ts int64, ct string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, "", false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			payload, n = protowire.ConsumeBytes(b)
		case num == 2 && typ == protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			ct = string(s)
		case num == 10 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			ts = protowire.DecodeZigZag(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, 0, "", false
		}
		b = b[n:]
	}
	return payload, ts, ct, true
}

func encodeWakuMessage(payload []byte, ct string, ts int64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, payload)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, ct)
	b = protowire.AppendTag(b, 10, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(ts))
}

// benchMessage is relay_worker.bench_message: header, 0x5a padding to size, timestamp = now.
func benchMessage(round, seq uint32, size int) []byte {
	payload := make([]byte, max(size, benchHeaderBytes))
	binary.BigEndian.PutUint32(payload, round)
	binary.BigEndian.PutUint32(payload[4:], seq)
	for i := benchHeaderBytes; i < len(payload); i++ {
		payload[i] = 0x5a
	}
	return encodeWakuMessage(payload, benchContentTopic, time.Now().UnixNano())
}

func (a *peerApp) benchStart(round int) obj {
	r := a.bench
	r.mu.Lock()
	defer r.mu.Unlock()
	r.id, r.seen, r.latenciesUs, r.dup, r.stale = int64(round), map[uint32]bool{}, nil, 0, 0
	r.cpuStart, r.wallStart, r.dropStart = cpuTime(), time.Now(), a.tr.dropCount()
	return obj{"event": "bench_started", "round": round}
}

// benchPublish publishes count messages at rate msg/s on a schedule (not sleep-per-message, which
// drifts), as relay_worker.Worker.cmd_publish does.
func (a *peerApp) benchPublish(ctx context.Context, c command) (obj, error) {
	t, err := a.topic(c.Topic)
	if err != nil {
		return nil, err
	}
	a.bench.mu.Lock()
	round := uint32(a.bench.id)
	a.bench.mu.Unlock()
	rate := c.Rate
	if rate <= 0 {
		rate = 1000
	}
	errs := map[string]int{}
	start := time.Now()
	first, last := start, start
	for seq := 0; seq < c.Count; {
		due := start.Add(time.Duration(float64(seq) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > benchLookahead {
			time.Sleep(wait)
			continue
		}
		if err := t.Publish(ctx, benchMessage(round, uint32(seq), c.Size)); err != nil {
			errs[err.Error()]++
		} else {
			a.tr.published()
		}
		last = time.Now()
		if seq == 0 {
			first = last
		}
		seq++
	}
	achieved := rate
	if span := last.Sub(first).Seconds(); c.Count > 1 && span > 0 {
		achieved = float64(c.Count-1) / span
	}
	return obj{"event": "bench_published", "sent": c.Count, "achieved_rate": achieved,
		"publish_s": last.Sub(start).Seconds(), "errors": errs}, nil
}

func (a *peerApp) benchCount() obj {
	a.bench.mu.Lock()
	defer a.bench.mu.Unlock()
	return obj{"event": "bench_count", "received": len(a.bench.seen)}
}

func (a *peerApp) benchReport() obj {
	r := a.bench
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := r.latenciesUs
	if lat == nil {
		lat = []int64{}
	}
	return obj{"event": "bench_report", "received": len(r.seen), "duplicates": r.dup, "stale": r.stale,
		"latencies_us": lat, "cpu_s": (cpuTime() - r.cpuStart).Seconds(),
		"wall_s": time.Since(r.wallStart).Seconds(), "dropped_rpcs": a.tr.dropCount() - r.dropStart}
}
