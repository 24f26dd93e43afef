package main

import (
	"encoding/hex"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	wpb "github.com/waku-org/go-waku/waku/v2/protocol/pb"
	"google.golang.org/protobuf/proto"
)

// tracer is a go-libp2p-pubsub RawTracer on go-waku's relay: it keeps the mesh (GRAFT/PRUNE),
// reports every message delivered from another peer (sha256 of the exact pubsub data and the
// Waku message hash) and counts rejections, duplicates and dropped RPCs.
type tracer struct {
	app      *peerApp
	mu       sync.Mutex
	mesh     map[string]map[peer.ID]bool
	counts   map[string]int
	rejected map[string]int
}

func newTracer(app *peerApp) *tracer {
	return &tracer{app: app, mesh: map[string]map[peer.ID]bool{}, counts: map[string]int{}, rejected: map[string]int{}}
}

func (t *tracer) count(key string, n int) {
	t.mu.Lock()
	t.counts[key] += n
	t.mu.Unlock()
}

func (t *tracer) meshPeers(topic string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for p := range t.mesh[topic] {
		ids = append(ids, p.String())
	}
	return ids
}

func (t *tracer) snapshot() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	mesh := map[string][]string{}
	for topic, peers := range t.mesh {
		for p := range peers {
			mesh[topic] = append(mesh[topic], p.String())
		}
	}
	rejected := map[string]int{}
	for k, v := range t.rejected {
		rejected[k] = v
	}
	return map[string]any{"received": t.counts["received"], "published": t.counts["published"],
		"duplicates": t.counts["duplicates"], "dropped_rpcs": t.counts["dropped_rpcs"],
		"undeliverable": t.counts["undeliverable"], "rejected": rejected, "mesh": mesh}
}

func (t *tracer) Graft(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mesh[topic] == nil {
		t.mesh[topic] = map[peer.ID]bool{}
	}
	t.mesh[topic][p] = true
}

func (t *tracer) Prune(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh[topic], p)
}

func (t *tracer) RemovePeer(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, peers := range t.mesh {
		delete(peers, p)
	}
}

func (t *tracer) DeliverMessage(msg *pubsub.Message) {
	if msg.ReceivedFrom == t.app.node.Host().ID() {
		return // our own publish
	}
	topic := msg.GetTopic()
	event := map[string]any{"event": "message", "via": "relay", "topic": topic, "from": msg.ReceivedFrom.String(),
		"sha256": sha(msg.Data), "size": len(msg.Data), "signed": len(msg.Signature) > 0}
	wm := &wpb.WakuMessage{}
	if err := proto.Unmarshal(msg.Data, wm); err == nil {
		h := wm.Hash(topic)
		event["hash"] = hex.EncodeToString(h[:])
		event["content_topic"] = wm.ContentTopic
	}
	t.count("received", 1)
	t.app.out.emit(event)
}

func (t *tracer) RejectMessage(msg *pubsub.Message, reason string) {
	t.mu.Lock()
	t.rejected[reason]++
	t.mu.Unlock()
	t.app.out.emit(map[string]any{"event": "rejected", "reason": reason, "from": msg.ReceivedFrom.String(),
		"topic": msg.GetTopic(), "signed": len(msg.Signature) > 0, "has_from": len(msg.From) > 0,
		"has_seqno": len(msg.Seqno) > 0})
}

func (t *tracer) DuplicateMessage(*pubsub.Message)     { t.count("duplicates", 1) }
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID)         { t.count("dropped_rpcs", 1) }
func (t *tracer) UndeliverableMessage(*pubsub.Message) { t.count("undeliverable", 1) }
func (t *tracer) AddPeer(peer.ID, protocol.ID)         {}
func (t *tracer) Join(string)                          {}
func (t *tracer) Leave(string)                         {}
func (t *tracer) ValidateMessage(*pubsub.Message)      {}
func (t *tracer) ThrottlePeer(peer.ID)                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                  {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)         {}
