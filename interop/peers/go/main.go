// Command peer is a go-libp2p interop peer for w3msg: tcp + noise + yamux, identify, ping, an echo
// protocol and go-libp2p-pubsub gossipsub, driven by JSON-line commands on stdin (README.md).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

const (
	echoProtocol  = protocol.ID("/w3msg/echo/1.0.0")
	wakuRelayID   = protocol.ID("/vac/waku/relay/2.0.0")
	wakuMaxBytes  = 150*1024 + 1024 // a 150 KiB WakuMessage plus the pubsub envelope
	contentTopic  = "/interop/1/go-peer/proto"
	defaultWaitMs = 30000
)

type command struct {
	ID        int    `json:"id"`
	Cmd       string `json:"cmd"`
	Multiaddr string `json:"multiaddr"`
	PeerID    string `json:"peer_id"`
	Topic     string `json:"topic"`
	Count     int    `json:"count"`
	Size      int    `json:"size"`
	TimeoutMs int    `json:"timeout_ms"`
	// IntervalUs paces publish: go-libp2p-pubsub drops RPCs once a peer's 32-slot outbound queue is full.
	IntervalUs int `json:"interval_us"`
	// bench_* commands (bench.go): the round, the publish rate in msg/s, and subscribe without events.
	Round int     `json:"round"`
	Rate  float64 `json:"rate"`
	Quiet bool    `json:"quiet"`
}

type obj = map[string]any

type peerApp struct {
	ctx    context.Context
	host   host.Host
	ps     *pubsub.PubSub
	waku   bool
	outMu  sync.Mutex
	out    *bufio.Writer
	mu     sync.Mutex
	topics map[string]*pubsub.Topic
	tr     *tracer
	bench  *benchRound
}

func main() {
	mode := flag.String("mode", "waku", "gossipsub configuration: libp2p (library defaults) or waku")
	outboundQueue := flag.Int("outbound-queue", 0,
		"RPCs queued per peer before go-libp2p-pubsub drops them (0: the library default, 32)")
	flag.Parse()
	if *mode != "libp2p" && *mode != "waku" {
		fmt.Fprintln(os.Stderr, "--mode must be libp2p or waku")
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Ping(true),
		libp2p.UserAgent("w3msg-interop-go-peer"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "libp2p.New:", err)
		os.Exit(1)
	}
	defer h.Close()
	app := &peerApp{ctx: ctx, host: h, waku: *mode == "waku", out: bufio.NewWriter(os.Stdout),
		topics: map[string]*pubsub.Topic{}, bench: newBenchRound()}
	app.tr = newTracer(app)
	if app.ps, err = pubsub.NewGossipSub(ctx, h, app.pubsubOptions(*outboundQueue)...); err != nil {
		fmt.Fprintln(os.Stderr, "NewGossipSub:", err)
		os.Exit(1)
	}
	h.SetStreamHandler(echoProtocol, serveEcho)
	addrs := []string{}
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.String()+"/p2p/"+h.ID().String())
	}
	app.emit(obj{"event": "ready", "peer_id": h.ID().String(), "multiaddrs": addrs, "mode": *mode,
		"versions": moduleVersions()})
	app.readCommands()
}

func (a *peerApp) pubsubOptions(outboundQueue int) []pubsub.Option {
	opts := []pubsub.Option{pubsub.WithRawTracer(a.tr)}
	if outboundQueue > 0 { // not what go-waku deploys: the side-by-side benchmark's what-if
		opts = append(opts, pubsub.WithPeerOutboundQueueSize(outboundQueue))
	}
	if !a.waku {
		return opts // StrictSign, from+seqno ids, 1 MiB max, /meshsub/1.x: the library defaults
	}
	// The Waku relay configuration (what nwaku and go-waku deploy).
	features := func(feat pubsub.GossipSubFeature, proto protocol.ID) bool {
		if proto == wakuRelayID {
			return feat == pubsub.GossipSubFeatureMesh || feat == pubsub.GossipSubFeaturePX
		}
		return pubsub.GossipSubDefaultFeatures(feat, proto)
	}
	return append(opts,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return sha256String(m.Data) }),
		pubsub.WithGossipSubProtocols([]protocol.ID{wakuRelayID, pubsub.GossipSubID_v11,
			pubsub.GossipSubID_v10}, features),
		pubsub.WithMaxMessageSize(wakuMaxBytes),
	)
}

func sha256String(b []byte) string {
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// emit writes one JSON line; stdout is shared by every command goroutine and the tracer.
func (a *peerApp) emit(v obj) {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(obj{"event": "error", "error": err.Error()})
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.out.Write(append(line, '\n'))
	a.out.Flush()
}

func (a *peerApp) readCommands() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	var wg sync.WaitGroup
	for scanner.Scan() {
		var c command
		if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
			a.emit(obj{"event": "error", "error": "bad command line: " + err.Error()})
			continue
		}
		if c.Cmd == "quit" {
			break
		}
		wg.Add(1)
		go func() { // commands run concurrently: wait_received must not block publish
			defer wg.Done()
			reply, err := a.run(c)
			if err != nil {
				reply = obj{"event": "error", "error": err.Error()}
			}
			reply["re"] = c.ID
			a.emit(reply)
		}()
	}
}

func (a *peerApp) run(c command) (obj, error) {
	timeout := time.Duration(c.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultWaitMs * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(a.ctx, timeout)
	defer cancel()
	switch c.Cmd {
	case "dial":
		return a.dial(ctx, c.Multiaddr)
	case "identify":
		return a.identify(ctx, c.PeerID)
	case "ping":
		return a.ping(ctx, c.PeerID, max(c.Count, 1))
	case "echo":
		return a.echo(ctx, c.PeerID, c.Size)
	case "subscribe":
		return a.subscribe(c.Topic, c.Quiet)
	case "wait_mesh":
		return a.waitMesh(ctx, c.Topic, c.PeerID)
	case "publish":
		return a.publish(ctx, c)
	case "wait_received":
		return a.waitReceived(ctx, c.Count)
	case "stats":
		return a.stats(), nil
	case "bench_start":
		return a.benchStart(c.Round), nil
	case "bench_publish":
		return a.benchPublish(ctx, c)
	case "bench_count":
		return a.benchCount(), nil
	case "bench_report":
		return a.benchReport(), nil
	}
	return nil, fmt.Errorf("unknown command %q", c.Cmd)
}

func parsePeer(id string) (peer.ID, error) {
	p, err := peer.Decode(id)
	if err != nil {
		return "", fmt.Errorf("bad peer_id %q: %w", id, err)
	}
	return p, nil
}

// dial connects and pings once: handshake_plus_one_rtt_ms as in libp2p/test-plans.
func (a *peerApp) dial(ctx context.Context, addr string) (obj, error) {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := a.host.Connect(ctx, *info); err != nil {
		return nil, err
	}
	res := <-ping.Ping(ctx, a.host, info.ID)
	if res.Error != nil {
		return nil, fmt.Errorf("ping after connect: %w", res.Error)
	}
	total := time.Since(start)
	return obj{"event": "dialed", "peer_id": info.ID.String(), "handshake_plus_one_rtt_ms": ms(total),
		"ping_rtt_ms": ms(res.RTT)}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// identify waits until identify has told us the remote's protocols.
func (a *peerApp) identify(ctx context.Context, id string) (obj, error) {
	p, err := parsePeer(id)
	if err != nil {
		return nil, err
	}
	ps := a.host.Peerstore()
	for {
		protos, _ := ps.GetProtocols(p)
		if len(protos) > 0 {
			agent, _ := ps.Get(p, "AgentVersion")
			pv, _ := ps.Get(p, "ProtocolVersion")
			addrs := []string{}
			for _, m := range ps.Addrs(p) {
				addrs = append(addrs, m.String())
			}
			return obj{"event": "identified", "peer_id": id, "protocols": protos, "agent_version": agent,
				"protocol_version": pv, "listen_addrs": addrs}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no identify result from %s: %w", id, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (a *peerApp) ping(ctx context.Context, id string, count int) (obj, error) {
	p, err := parsePeer(id)
	if err != nil {
		return nil, err
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	results := ping.Ping(pctx, a.host, p)
	rtts := []float64{}
	for len(rtts) < count {
		res := <-results
		if res.Error != nil {
			return nil, res.Error
		}
		rtts = append(rtts, ms(res.RTT))
	}
	return obj{"event": "pinged", "peer_id": id, "rtts_ms": rtts}, nil
}

func serveEcho(s network.Stream) {
	defer s.Close()
	if _, err := io.Copy(s, s); err != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
}

// echo writes size random bytes while reading them back (writing first would fill both flow-control windows).
func (a *peerApp) echo(ctx context.Context, id string, size int) (obj, error) {
	p, err := parsePeer(id)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	rand.Read(data)
	start := time.Now()
	s, err := a.host.NewStream(ctx, p, echoProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		writeErr <- err
	}()
	got, readErr := io.ReadAll(s)
	if err := <-writeErr; err != nil {
		return nil, fmt.Errorf("echo write: %w", err)
	}
	if readErr != nil {
		return nil, fmt.Errorf("echo read after %d bytes: %w", len(got), readErr)
	}
	ok := string(got) == string(data)
	return obj{"event": "echoed", "ok": ok, "bytes": len(got), "ms": ms(time.Since(start))}, nil
}

func (a *peerApp) topic(name string) (*pubsub.Topic, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.topics[name]; ok {
		return t, nil
	}
	t, err := a.ps.Join(name)
	if err == nil {
		a.topics[name] = t
	}
	return t, err
}

// subscribe joins name; quiet drops the per-message events (a benchmark line counts in process instead).
func (a *peerApp) subscribe(name string, quiet bool) (obj, error) {
	t, err := a.topic(name)
	if err != nil {
		return nil, err
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(4096))
	if err != nil {
		return nil, err
	}
	go a.deliver(sub, quiet)
	return obj{"event": "subscribed", "topic": name}, nil
}

// deliver reports every message from another peer (go-libp2p-pubsub also delivers our own).
func (a *peerApp) deliver(sub *pubsub.Subscription, quiet bool) {
	for {
		m, err := sub.Next(a.ctx)
		if err != nil {
			return
		}
		recvNs := time.Now().UnixNano()
		if m.ReceivedFrom == a.host.ID() {
			continue
		}
		a.tr.received()
		a.bench.observe(m.Data, recvNs)
		if quiet {
			continue
		}
		sum := sha256.Sum256(m.Data)
		a.emit(obj{"event": "message", "topic": m.GetTopic(), "from": m.ReceivedFrom.String(),
			"msg_id": hex.EncodeToString([]byte(m.ID)), "sha256": hex.EncodeToString(sum[:]),
			"size": len(m.Data), "signed": len(m.Signature) > 0, "recv_ns": recvNs})
	}
}

func (a *peerApp) waitMesh(ctx context.Context, topic, id string) (obj, error) {
	for {
		if mesh := a.tr.mesh(topic); len(mesh) > 0 && (id == "" || contains(mesh, id)) {
			return obj{"event": "mesh", "topic": topic, "peers": mesh}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no mesh peer %q on %s: %w", id, topic, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *peerApp) publish(ctx context.Context, c command) (obj, error) {
	t, err := a.topic(c.Topic)
	if err != nil {
		return nil, err
	}
	ok, failed, errs, msgs := 0, 0, []string{}, []obj{}
	for i := 0; i < c.Count; i++ {
		data := make([]byte, c.Size)
		rand.Read(data)
		if a.waku {
			data = wakuMessage(data)
		}
		sum := sha256.Sum256(data)
		if err := t.Publish(ctx, data); err != nil {
			failed++
			errs = append(errs, err.Error())
		} else {
			ok++
			a.tr.published()
			msgs = append(msgs, obj{"sha256": hex.EncodeToString(sum[:])})
		}
		if c.IntervalUs > 0 {
			time.Sleep(time.Duration(c.IntervalUs) * time.Microsecond)
		}
	}
	return obj{"event": "published", "ok": ok, "failed": failed, "errors": errs, "messages": msgs}, nil
}

// wakuMessage encodes a WakuMessage (payload=1, content_topic=2, timestamp=10 as sint64) by hand.
func wakuMessage(payload []byte) []byte {
	return encodeWakuMessage(payload, contentTopic, time.Now().UnixNano())
}

func (a *peerApp) waitReceived(ctx context.Context, count int) (obj, error) {
	for {
		if n := a.tr.receivedCount(); n >= count {
			return obj{"event": "received", "count": n}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("received %d of %d messages: %w", a.tr.receivedCount(), count, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (a *peerApp) stats() obj {
	conns := []obj{}
	for _, c := range a.host.Network().Conns() {
		streams := []protocol.ID{}
		for _, st := range c.GetStreams() {
			streams = append(streams, st.Protocol())
		}
		conns = append(conns, obj{"peer_id": c.RemotePeer().String(), "remote": c.RemoteMultiaddr().String(),
			"streams":   streams,
			"direction": c.Stat().Direction.String(), "muxer": c.ConnState().StreamMultiplexer,
			"security": c.ConnState().Security})
	}
	s := a.tr.snapshot()
	s["event"] = "stats"
	s["connections"] = conns
	subscribers := obj{}
	for _, t := range a.ps.GetTopics() {
		ids := []string{}
		for _, p := range a.ps.ListPeers(t) {
			ids = append(ids, p.String())
		}
		subscribers[t] = ids
	}
	s["subscribers"] = subscribers
	return s
}

func moduleVersions() obj {
	v := obj{}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/libp2p/go-libp2p" || d.Path == "github.com/libp2p/go-libp2p-pubsub" {
				v[d.Path] = d.Version
			}
		}
		v["go"] = info.GoVersion
	}
	return v
}

// tracer follows mesh membership and counts what gossipsub does with messages; rejections are also
// reported as {"event":"rejected"} lines, which is how the signed-vs-unsigned scenarios are observed.
type tracer struct {
	app                      *peerApp
	mu                       sync.Mutex
	meshes                   map[string]map[peer.ID]bool
	rejected                 map[string]int
	recv, pub, dup, drop, un int
}

func newTracer(a *peerApp) *tracer {
	return &tracer{app: a, meshes: map[string]map[peer.ID]bool{}, rejected: map[string]int{}}
}

func (t *tracer) locked(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
}

func (t *tracer) received()  { t.locked(func() { t.recv++ }) }
func (t *tracer) published() { t.locked(func() { t.pub++ }) }
func (t *tracer) dropCount() (n int) {
	t.locked(func() { n = t.drop })
	return n
}
func (t *tracer) receivedCount() (n int) {
	t.locked(func() { n = t.recv })
	return n
}

func (t *tracer) mesh(topic string) (ids []string) {
	t.locked(func() {
		for p := range t.meshes[topic] {
			if t.app.host.Network().Connectedness(p) == network.Connected {
				ids = append(ids, p.String())
			}
		}
	})
	sort.Strings(ids)
	return ids
}

func (t *tracer) snapshot() (s obj) {
	t.locked(func() {
		meshes, rejected := obj{}, obj{}
		for topic, m := range t.meshes {
			ids := []string{}
			for p := range m {
				ids = append(ids, p.String())
			}
			meshes[topic] = ids
		}
		for r, n := range t.rejected {
			rejected[r] = n
		}
		s = obj{"mesh": meshes, "rejected": rejected, "received": t.recv,
			"published": t.pub, "duplicates": t.dup, "dropped_rpcs": t.drop, "undeliverable": t.un}
	})
	return s
}

func (t *tracer) Graft(p peer.ID, topic string) {
	t.locked(func() {
		if t.meshes[topic] == nil {
			t.meshes[topic] = map[peer.ID]bool{}
		}
		t.meshes[topic][p] = true
	})
}
func (t *tracer) Prune(p peer.ID, topic string) { t.locked(func() { delete(t.meshes[topic], p) }) }
func (t *tracer) RejectMessage(m *pubsub.Message, reason string) {
	t.locked(func() { t.rejected[reason]++ })
	t.app.emit(obj{"event": "rejected", "reason": reason, "from": m.ReceivedFrom.String(),
		"topic": m.GetTopic(), "signed": len(m.Signature) > 0, "has_from": len(m.From) > 0,
		"has_seqno": len(m.Seqno) > 0})
}
func (t *tracer) DuplicateMessage(*pubsub.Message)                     { t.locked(func() { t.dup++ }) }
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID)                         { t.locked(func() { t.drop++ }) }
func (t *tracer) UndeliverableMessage(*pubsub.Message)                 { t.locked(func() { t.un++ }) }
func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *tracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *tracer) Join(string)                                          {}
func (t *tracer) Leave(string)                                         {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) DeliverMessage(*pubsub.Message)                       {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
