// A go-waku (v0.10.0) node for the w3msg interop harness, driven over JSON lines (see README.md).
//
// It runs go-waku with its defaults: relay, filter (full node and light client), lightpush, peer
// exchange, store client; cluster 1, shard 0; TCP on 127.0.0.1 only.
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
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	gcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/waku-org/go-waku/waku/v2/node"
	wps "github.com/waku-org/go-waku/waku/v2/peerstore"
	wproto "github.com/waku-org/go-waku/waku/v2/protocol"
	"github.com/waku-org/go-waku/waku/v2/protocol/filter"
	"github.com/waku-org/go-waku/waku/v2/protocol/lightpush"
	wpb "github.com/waku-org/go-waku/waku/v2/protocol/pb"
	"github.com/waku-org/go-waku/waku/v2/protocol/peer_exchange"
	"github.com/waku-org/go-waku/waku/v2/protocol/relay"
	"github.com/waku-org/go-waku/waku/v2/protocol/store"
	"github.com/waku-org/go-waku/waku/v2/protocol/subscription"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/proto"
)

const (
	goWakuVersion = "v0.10.0"
	clusterID     = 1
	shard         = 0
	contentTopic  = "/interop/1/go-waku/proto"
)

// out writes one JSON object per line; every goroutine shares it.
type out struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *out) emit(v map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(v)
}

type peerApp struct {
	node   *node.WakuNode
	out    *out
	tracer *tracer
	mu     sync.Mutex
	ownPub map[string]bool // hashes of messages this peer published (not reported as received)
	subs   map[string]bool // pubsub topics subscribed on relay
	filter struct {
		received int
		hashes   map[string]bool
	}
}

func main() {
	mode := flag.String("mode", "waku", "always waku (accepted for the harness)")
	discv5 := flag.Bool("discv5", false, "run discovery v5 (fills the peer-exchange cache)")
	var bootnodes multiFlag
	flag.Var(&bootnodes, "bootnode", "discv5 bootnode ENR (repeatable)")
	logLevel := flag.String("log-level", "warn", "go-waku log level (to stderr)")
	flag.Parse()
	if *mode != "waku" {
		fatal(fmt.Errorf("--mode %q: this peer only speaks the Waku relay configuration", *mode))
	}
	// go-waku binds discv5's UDP socket to 0.0.0.0 (not configurable in v0.10.0): allow it only in the
	// harness's loopback-only network namespace (interop/harness/netns.py), never on the host's network.
	if *discv5 && os.Getenv("W3MSG_INTEROP_NETNS") != "1" {
		fatal(fmt.Errorf("--discv5 binds 0.0.0.0: run it in the harness's network namespace (W3MSG_INTEROP_NETNS=1)"))
	}
	app, err := start(*discv5, bootnodes, *logLevel)
	if err != nil {
		fatal(err)
	}
	defer app.node.Stop()
	app.out.emit(app.readyLine())
	app.serve(os.Stdin)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "go-waku peer:", err)
	os.Exit(1)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func start(discv5 bool, bootnodes []string, logLevel string) (*peerApp, error) {
	lvl, err := zapcore.ParseLevel(logLevel)
	if err != nil {
		return nil, err
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	logger, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	key, err := gcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	app := &peerApp{out: &out{enc: json.NewEncoder(os.Stdout)}, ownPub: map[string]bool{}, subs: map[string]bool{}}
	app.filter.hashes = map[string]bool{}
	app.tracer = newTracer(app)
	opts := []node.WakuNodeOption{
		node.WithLogger(logger),
		node.WithPrivateKey(key),
		node.WithClusterID(clusterID),
		node.WithShards([]uint16{shard}),
		node.WithWakuRelay(pubsub.WithRawTracer(app.tracer)),
		node.WithWakuFilterFullNode(),
		node.WithWakuFilterLightNode(),
		node.WithLightPush(),
		node.WithPeerExchange(),
	}
	addr, err := listenAddr(discv5)
	if err != nil {
		return nil, err
	}
	opts = append(opts, node.WithHostAddress(addr))
	if discv5 {
		// An advertised address keeps discv5 from probing for a NAT gateway (UPnP / NAT-PMP).
		advertised, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", addr.Port))
		if err != nil {
			return nil, err
		}
		var boot []*enode.Node
		for _, b := range bootnodes {
			n, err := enode.Parse(enode.ValidSchemes, b)
			if err != nil {
				return nil, fmt.Errorf("bootnode %q: %w", b, err)
			}
			boot = append(boot, n)
		}
		opts = append(opts, node.WithAdvertiseAddresses(advertised), node.WithDiscoveryV5(0, boot, true))
	}
	w, err := node.New(opts...)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	if discv5 {
		if err := w.DiscV5().Start(ctx); err != nil {
			return nil, fmt.Errorf("discv5: %w", err)
		}
	}
	app.node = w
	return app, nil
}

// listenAddr is 127.0.0.1 with port 0, or a port chosen now when discv5 must advertise it.
func listenAddr(fixed bool) (*net.TCPAddr, error) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if !fixed {
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	addr.Port = l.Addr().(*net.TCPAddr).Port
	return addr, nil
}

func (a *peerApp) multiaddrs() []string {
	id := a.node.Host().ID()
	var addrs []string
	for _, m := range a.node.Host().Addrs() {
		addrs = append(addrs, fmt.Sprintf("%s/p2p/%s", m, id))
	}
	return addrs
}

func (a *peerApp) readyLine() map[string]any {
	enr := ""
	if n := a.node.ENR(); n != nil {
		enr = n.String()
	}
	return map[string]any{"event": "ready", "peer_id": a.node.Host().ID().String(), "multiaddrs": a.multiaddrs(),
		"enr": enr, "mode": "waku", "cluster_id": clusterID, "shards": []int{shard},
		"versions": map[string]string{"go-waku": goWakuVersion}}
}

// serve runs each command line concurrently; it returns when stdin closes.
func (a *peerApp) serve(stdin *os.File) {
	scanner := bufio.NewScanner(stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	var wg sync.WaitGroup
	for scanner.Scan() {
		var req map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &req); err != nil {
			a.out.emit(map[string]any{"event": "error", "error": "bad json: " + err.Error()})
			continue
		}
		if req["cmd"] == "quit" {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.run(req)
		}()
	}
}

type handler func(a *peerApp, r args) (map[string]any, error)

var commands = map[string]handler{
	"dial": cmdDial, "ping": cmdPing, "identify": cmdIdentify, "info": cmdInfo,
	"subscribe": cmdSubscribe, "wait_mesh": cmdWaitMesh, "publish": cmdPublish,
	"lightpush":        cmdLightpush,
	"filter_subscribe": cmdFilterSubscribe, "filter_ping": cmdFilterPing, "filter_unsubscribe": cmdFilterUnsubscribe,
	"store_query": cmdStoreQuery, "px_request": cmdPxRequest, "stats": cmdStats,
}

func (a *peerApp) run(req map[string]any) {
	id := req["id"]
	name, _ := req["cmd"].(string)
	h, ok := commands[name]
	if !ok {
		a.out.emit(map[string]any{"re": id, "event": "error", "error": "unknown command " + name})
		return
	}
	reply, err := h(a, args(req))
	if err != nil {
		a.out.emit(map[string]any{"re": id, "event": "error", "error": err.Error()})
		return
	}
	reply["re"] = id
	a.out.emit(reply)
}

// args reads typed fields of a command.
type args map[string]any

func (r args) str(k, def string) string {
	if v, ok := r[k].(string); ok {
		return v
	}
	return def
}

func (r args) num(k string, def int) int {
	if v, ok := r[k].(float64); ok {
		return int(v)
	}
	return def
}

func (r args) flag(k string, def bool) bool {
	if v, ok := r[k].(bool); ok {
		return v
	}
	return def
}

func (r args) strs(k string) []string {
	var s []string
	if v, ok := r[k].([]any); ok {
		for _, x := range v {
			if t, ok := x.(string); ok {
				s = append(s, t)
			}
		}
	}
	return s
}

func (r args) peer(k string) (peer.ID, error) {
	return peer.Decode(r.str(k, ""))
}

func (r args) timeout(def time.Duration) time.Duration {
	if ms := r.num("timeout_ms", 0); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func hashHex(h wpb.MessageHash) string { return hex.EncodeToString(h[:]) }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// -- connectivity -----------------------------------------------------------------------------

func cmdDial(a *peerApp, r args) (map[string]any, error) {
	addr, err := ma.NewMultiaddr(r.str("multiaddr", ""))
	if err != nil {
		return nil, err
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(20*time.Second))
	defer cancel()
	start := time.Now()
	if err := a.node.DialPeerWithMultiAddress(ctx, addr); err != nil {
		return nil, err
	}
	rtt, err := pingOnce(ctx, a, info.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"event": "dialed", "peer_id": info.ID.String(),
		"handshake_plus_one_rtt_ms": ms(time.Since(start)), "ping_rtt_ms": ms(rtt)}, nil
}

func pingOnce(ctx context.Context, a *peerApp, p peer.ID) (time.Duration, error) {
	res := <-ping.Ping(ctx, a.node.Host(), p)
	return res.RTT, res.Error
}

func cmdPing(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rtts []float64
	for i := 0; i < r.num("count", 1); i++ {
		rtt, err := pingOnce(ctx, a, p)
		if err != nil {
			return nil, err
		}
		rtts = append(rtts, ms(rtt))
	}
	return map[string]any{"event": "pinged", "rtts_ms": rtts}, nil
}

func cmdIdentify(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(r.timeout(10 * time.Second))
	for {
		protos, err := a.node.Host().Peerstore().GetProtocols(p)
		if err == nil && len(protos) > 0 {
			names := make([]string, len(protos))
			for i, x := range protos {
				names[i] = string(x)
			}
			sort.Strings(names)
			agent, _ := a.node.Host().Peerstore().Get(p, "AgentVersion")
			return map[string]any{"event": "identified", "protocols": names, "agent_version": agent}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no identify of %s", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdInfo(a *peerApp, _ args) (map[string]any, error) {
	line := a.readyLine()
	line["event"] = "info"
	return line, nil
}

// -- relay ------------------------------------------------------------------------------------

func cmdSubscribe(a *peerApp, r args) (map[string]any, error) {
	topic := r.str("topic", "")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.subs[topic] {
		subs, err := a.node.Relay().Subscribe(context.Background(), wproto.NewContentFilter(topic))
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			go func(ch chan *wproto.Envelope) { // reports come from the tracer; the channel is drained
				for range ch {
				}
			}(s.Ch)
		}
		a.subs[topic] = true
	}
	return map[string]any{"event": "subscribed"}, nil
}

func cmdWaitMesh(a *peerApp, r args) (map[string]any, error) {
	topic, want := r.str("topic", ""), r.str("peer_id", "")
	deadline := time.Now().Add(r.timeout(15 * time.Second))
	for {
		peers := a.tracer.meshPeers(topic)
		for _, p := range peers {
			if want == "" || p == want {
				return map[string]any{"event": "mesh", "peers": peers}, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%q not in the mesh of %s (mesh: %v)", want, topic, peers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newMessage is the i-th message of a publish: with meta_size > 0, every odd one carries meta
// (part of the message hash) and is marked ephemeral with version 0 (not part of it).
func newMessage(r args, size int, i int) *wpb.WakuMessage {
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	msg := &wpb.WakuMessage{Payload: payload, ContentTopic: r.str("content_topic", contentTopic),
		Timestamp: proto.Int64(time.Now().UnixNano())}
	if n := r.num("meta_size", 0); n > 0 && i%2 == 1 {
		msg.Meta = make([]byte, n)
		_, _ = rand.Read(msg.Meta)
		msg.Ephemeral, msg.Version = proto.Bool(true), proto.Uint32(0)
	}
	return msg
}

func cmdPublish(a *peerApp, r args) (map[string]any, error) {
	topic := r.str("topic", "")
	interval := time.Duration(r.num("interval_us", 0)) * time.Microsecond
	messages, errs := []map[string]any{}, []string{}
	for i := 0; i < r.num("count", 1); i++ {
		msg := newMessage(r, r.num("size", 64), i)
		data, _ := proto.Marshal(msg)
		h := hashHex(msg.Hash(topic))
		a.mu.Lock()
		a.ownPub[h] = true
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := a.node.Relay().Publish(ctx, msg, relay.WithPubSubTopic(topic))
		cancel()
		switch {
		case err != nil:
			errs = append(errs, err.Error())
		case hashHex(got) != h:
			errs = append(errs, fmt.Sprintf("relay returned hash %s, computed %s", hashHex(got), h))
		default:
			messages = append(messages, map[string]any{"sha256": sha(data), "hash": h})
		}
		time.Sleep(interval)
	}
	a.tracer.count("published", len(messages))
	return map[string]any{"event": "published", "ok": len(messages), "failed": len(errs), "errors": errs,
		"messages": messages}, nil
}

// -- light protocols --------------------------------------------------------------------------

func cmdLightpush(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	topic := r.str("topic", "")
	interval := time.Duration(r.num("interval_us", 0)) * time.Microsecond
	var results []map[string]any
	for i := 0; i < r.num("count", 1); i++ {
		msg := newMessage(r, r.num("size", 64), i)
		data, _ := proto.Marshal(msg)
		want := hashHex(msg.Hash(topic))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := a.node.Lightpush().Publish(ctx, msg, lightpush.WithPeer(p), lightpush.WithPubSubTopic(topic))
		cancel()
		res := map[string]any{"hash": want, "sha256": sha(data), "ok": err == nil, "error": nil}
		if err != nil {
			res["error"] = err.Error()
		} else if hashHex(got) != want {
			res["ok"], res["error"] = false, fmt.Sprintf("lightpush returned hash %s", hashHex(got))
		}
		results = append(results, res)
		time.Sleep(interval)
	}
	return map[string]any{"event": "lightpushed", "results": results}, nil
}

func contentFilter(r args) wproto.ContentFilter {
	return wproto.NewContentFilter(r.str("topic", ""), r.strs("content_topics")...)
}

func cmdFilterSubscribe(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(10*time.Second))
	defer cancel()
	subs, err := a.node.FilterLightnode().Subscribe(ctx, contentFilter(r), filter.WithPeer(p))
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		go a.reportFilter(s)
	}
	return map[string]any{"event": "filter_subscribed", "subscriptions": len(subs)}, nil
}

func (a *peerApp) reportFilter(s *subscription.SubscriptionDetails) {
	for env := range s.C {
		data, _ := proto.Marshal(env.Message())
		h := hashHex(env.Hash())
		a.mu.Lock()
		a.filter.received++
		a.filter.hashes[h] = true
		a.mu.Unlock()
		a.out.emit(map[string]any{"event": "message", "via": "filter", "topic": env.PubsubTopic(), "hash": h,
			"content_topic": env.Message().ContentTopic, "sha256": sha(data), "from": s.PeerID.String()})
	}
}

func cmdFilterPing(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(10*time.Second))
	defer cancel()
	start := time.Now()
	if err := a.node.FilterLightnode().Ping(ctx, p); err != nil {
		return nil, err
	}
	return map[string]any{"event": "filter_pong", "ms": ms(time.Since(start))}, nil
}

func cmdFilterUnsubscribe(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(10*time.Second))
	defer cancel()
	res, err := a.node.FilterLightnode().Unsubscribe(ctx, contentFilter(r), filter.WithPeer(p))
	if err != nil {
		return nil, err
	}
	errs := []string{}
	for _, e := range res.Errors() {
		if e.Err != nil { // go-waku lists every peer it asked, with a nil error on success
			errs = append(errs, fmt.Sprintf("%s: %v", e.PeerID, e.Err))
		}
	}
	return map[string]any{"event": "filter_unsubscribed", "errors": errs}, nil
}

func cmdStoreQuery(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(30*time.Second))
	defer cancel()
	var criteria store.Criteria = store.FilterCriteria{ContentFilter: contentFilter(r)}
	if hashes := r.strs("hashes"); len(hashes) > 0 {
		var hs []wpb.MessageHash
		for _, h := range hashes {
			b, err := hex.DecodeString(strings.TrimPrefix(h, "0x"))
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("bad message hash %q", h)
			}
			hs = append(hs, wpb.ToMessageHash(b))
		}
		criteria = store.MessageHashCriteria{MessageHashes: hs}
	}
	opts := []store.RequestOption{store.WithPeer(p), store.WithPaging(r.flag("forward", true),
		uint64(r.num("page_size", 20))), store.IncludeData(r.flag("include_data", true))}
	start := time.Now()
	res, err := a.node.Store().Request(ctx, criteria, opts...)
	if err != nil {
		return nil, err
	}
	pages, messages := []map[string]any{}, []map[string]any{}
	for maxPages := r.num("max_pages", 100); len(pages) < maxPages; {
		page := []string{}
		for _, kv := range res.Messages() {
			page = append(page, hex.EncodeToString(kv.MessageHash))
			m := map[string]any{"hash": hex.EncodeToString(kv.MessageHash), "has_message": kv.Message != nil}
			if kv.Message != nil {
				m["content_topic"] = kv.Message.ContentTopic
				m["timestamp"] = kv.Message.GetTimestamp()
				if kv.PubsubTopic != nil {
					m["hash_ok"] = hashHex(kv.Message.Hash(*kv.PubsubTopic)) == hex.EncodeToString(kv.MessageHash)
				}
			}
			messages = append(messages, m)
		}
		resp := res.Response()
		pages = append(pages, map[string]any{"count": len(page), "hashes": page, "status": resp.GetStatusCode(),
			"cursor": hex.EncodeToString(res.Cursor())})
		if res.Cursor() == nil {
			break
		}
		if err := res.Next(ctx, opts[1:]...); err != nil {
			return nil, fmt.Errorf("page %d: %w", len(pages)+1, err)
		}
		if res.IsComplete() {
			break
		}
	}
	return map[string]any{"event": "store_result", "pages": pages, "messages": messages,
		"ms": ms(time.Since(start))}, nil
}

func cmdPxRequest(a *peerApp, r args) (map[string]any, error) {
	p, err := r.peer("peer_id")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout(10*time.Second))
	defer cancel()
	ps := a.node.Host().Peerstore().(wps.WakuPeerstore)
	before := map[peer.ID]bool{}
	for _, id := range ps.PeersByOrigin(wps.PeerExchange) {
		before[id] = true
	}
	if err := a.node.PeerExchange().Request(ctx, r.num("count", 5), peer_exchange.WithPeer(p)); err != nil {
		return nil, err
	}
	// go-waku's client hands the peers it learnt to its peer connector, which records them in the
	// peerstore with origin PeerExchange: wait for them there.
	var found []map[string]any
	for ctx.Err() == nil {
		found = found[:0]
		for _, id := range ps.PeersByOrigin(wps.PeerExchange) {
			if before[id] {
				continue
			}
			entry := map[string]any{"peer_id": id.String(), "multiaddrs": addrStrings(a.node.Host().Peerstore().Addrs(id))}
			if n, err := ps.ENR(id); err == nil && n != nil {
				entry["enr"] = n.String()
			}
			found = append(found, entry)
		}
		if len(found) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return map[string]any{"event": "px_result", "peers": found}, nil
}

func addrStrings(addrs []ma.Multiaddr) []string {
	s := make([]string, len(addrs))
	for i, m := range addrs {
		s[i] = m.String()
	}
	return s
}

// -- stats ------------------------------------------------------------------------------------

func cmdStats(a *peerApp, _ args) (map[string]any, error) {
	s := a.tracer.snapshot()
	h := a.node.Host()
	conns := []map[string]any{}
	for _, c := range h.Network().Conns() {
		var protos []string
		for _, st := range c.GetStreams() {
			protos = append(protos, string(st.Protocol()))
		}
		conns = append(conns, map[string]any{"peer_id": c.RemotePeer().String(), "direction": c.Stat().Direction.String(),
			"streams": protos})
	}
	a.mu.Lock()
	s["filter_received"] = a.filter.received
	a.mu.Unlock()
	s["connections"] = conns
	s["event"] = "stats"
	return s, nil
}
