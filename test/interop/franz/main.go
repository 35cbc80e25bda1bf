// franz — the franz-go client (github.com/twmb/franz-go) against kbroker,
// for test/t_kbroker_franz.sh.
//
//	franz produce BOOT TOPIC COUNT CODEC [START]
//	    COUNT records (key "k<i>", value "v<i>", i from START) with acks=all
//	    and compression CODEC (none, gzip, snappy, lz4, zstd), idempotence
//	    off (kbroker keeps no producer state yet); every record must be
//	    acknowledged; the topic is created if absent. Prints "sent N".
//	franz group BOOT TOPIC GROUP MAX [IDLE_MS]
//	    A group member (franz-go's default balancer, cooperative-sticky)
//	    that reads at most MAX records, committing each one it printed
//	    (synchronously, before the next; one a rebalance overtook is printed
//	    as "uncommitted PARTITION OFFSET VALUE (error)"), then leaves. Stops after
//	    IDLE_MS (default 6000) without records once it has partitions.
//	    Prints "rec PARTITION OFFSET VALUE", "assigned P,..." and
//	    "revoked P,..." lines, "leaving" before it leaves, "consumed N".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "franz: "+f+"\n", a...)
	os.Exit(1)
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	die("unknown codec %s", name)
	return kgo.NoCompression()
}

func produce(boot, topic string, count, start int, cname string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchCompression(codec(cname)), kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		die("client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := start; i < start+count; i++ {
		wg.Add(1)
		r := &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		die("produce: %v", firstErr)
	}
	fmt.Printf("sent %d\n", count)
}

func parts(m map[string][]int32) string {
	var ps []int
	for _, l := range m {
		for _, p := range l {
			ps = append(ps, int(p))
		}
	}
	sort.Ints(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func group(boot, topic, gid string, max int, idle time.Duration) {
	var mu sync.Mutex
	owned := 0
	cl, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.ConsumerGroup(gid), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			for _, l := range m {
				owned += len(l)
			}
			mu.Unlock()
			fmt.Printf("assigned %s\n", parts(m))
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			for _, l := range m {
				owned -= len(l)
			}
			mu.Unlock()
			fmt.Printf("revoked %s\n", parts(m))
		}))
	if err != nil {
		die("client: %v", err)
	}
	got := 0
	last := time.Now()
	deadline := last.Add(120 * time.Second)
	for got < max && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollRecords(ctx, 7)
		cancel()
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				die("poll: %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
		}
		n := 0
		for _, r := range fs.Records() {
			if got == max {
				break // the rest stays uncommitted: the next member reads it
			}
			fmt.Printf("rec %d %d %s\n", r.Partition, r.Offset, r.Value)
			cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := cl.CommitRecords(cctx, r)
			ccancel()
			if errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) ||
				errors.Is(err, kerr.UnknownMemberID) {
				// A rebalance overtook the commit (Kafka answers the same):
				// the next owner may read the record again.
				fmt.Printf("uncommitted %d %d %s (%v)\n", r.Partition, r.Offset, r.Value, err)
			} else if err != nil {
				die("commit: %v", err)
			}
			got++
			n++
		}
		mu.Lock()
		o := owned
		mu.Unlock()
		if n > 0 || o == 0 {
			last = time.Now()
		} else if time.Since(last) > idle {
			break
		}
	}
	fmt.Println("leaving")
	cl.LeaveGroup()
	cl.Close()
	fmt.Printf("consumed %d\n", got)
}

func main() {
	a := os.Args
	if len(a) < 2 {
		die("usage: franz produce|group ...")
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			die("bad number %q", s)
		}
		return n
	}
	switch {
	case a[1] == "produce" && len(a) >= 6:
		start := 0
		if len(a) > 6 {
			start = atoi(a[6])
		}
		produce(a[2], a[3], atoi(a[4]), start, a[5])
	case a[1] == "group" && len(a) >= 6:
		idle := 6000
		if len(a) > 6 {
			idle = atoi(a[6])
		}
		group(a[2], a[3], a[4], atoi(a[5]), time.Duration(idle)*time.Millisecond)
	default:
		die("usage: franz produce|group ...")
	}
}
