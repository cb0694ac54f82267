package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ossBucket is the bucket of the OSS row's rule (clusterOpts.oss).
const ossBucket = "e2e-bucket"

// ossEvents is the size of the OSS burst: the 5,000 object events.
const ossEvents = 5_000

// ossCloudEvent is one EventBridge event for an object of ossBucket, in
// the shape of EventBridge's OSS events (webhooks/testdata has the full
// published sample).
func ossCloudEvent(id, name, key, etag string, at time.Time) map[string]any {
	t := at.UTC().Format("2006-01-02T15:04:05.000Z")
	return map[string]any{
		"id": id, "source": "acs.oss", "specversion": "1.0", "type": "oss:" + name,
		"subject": "acs:oss:cn-hangzhou:1234567890123456:" + ossBucket + "/" + key, "time": t,
		"datacontenttype": "application/json;charset=utf-8", "aliyunregionid": "cn-hangzhou",
		"data": map[string]any{
			"eventName": name, "eventSource": "acs:oss", "eventTime": t, "eventVersion": "1.0", "region": "cn-hangzhou",
			"oss": map[string]any{
				"bucket":           map[string]any{"name": ossBucket, "arn": "acs:oss:cn-hangzhou:1234567890123456:" + ossBucket},
				"object":           map[string]any{"key": key, "eTag": etag, "size": 1024},
				"ossSchemaVersion": "1.0",
			},
		},
	}
}

// ossAnswer is the part of /hooks/oss's answer the row counts.
type ossAnswer struct {
	Queued     int `json:"queued"`
	Duplicates int `json:"duplicates"`
	Ignored    []struct {
		Field string `json:"field"`
	} `json:"ignored"`
}

// ossBurst is row 18: a burst of 5,000 OSS object events from EventBridge
// (7 in 10 distinct creates and deletes under the rule's prefix, 1 in 10
// parts of multipart uploads, 2 in 10 redeliveries: half inside the burst,
// a tenth of those under another id, half once everything landed), in
// batches of 100 sent side by side to two replicas. Every changed URL is
// refreshed once: the quota spent is the number of distinct URLs.
func ossBurst(t *testing.T, run *runState, f *figures) {
	c := newCluster(t, run, "oss", clusterOpts{oss: true})
	rng := rand.New(rand.NewPCG(15, 15))
	at := time.Now()
	distinct, noise := ossEvents*7/10, ossEvents/10
	want := map[string]bool{}
	var originals, burst []map[string]any
	for i := range distinct {
		name, key := "ObjectCreated:PutObject", fmt.Sprintf("public/burst/%d/%d.js", i%50, i)
		if i%10 == 9 {
			name = "ObjectRemoved:DeleteObject"
		}
		want[fmt.Sprintf("static.example.com/oss/burst/%d/%d.js", i%50, i)] = true
		originals = append(originals, ossCloudEvent(fmt.Sprintf("ev-%d", i), name, key, fmt.Sprintf("%032X", i), at))
	}
	burst = append(burst, originals...)
	for i := range noise {
		name := "ObjectCreated:UploadPart"
		if i%5 == 0 {
			name = "ObjectCreated:InitiateMultipartUpload"
		}
		burst = append(burst, ossCloudEvent(fmt.Sprintf("part-%d", i), name, fmt.Sprintf("public/big/%d.bin", i/5), "", at))
	}
	redeliver := (ossEvents - distinct - noise) / 2
	for k := range redeliver {
		ev := originals[rng.IntN(len(originals))]
		if k%10 == 0 { // the same change by another route: another id
			cp := map[string]any{}
			for key, v := range ev {
				cp[key] = v
			}
			cp["id"] = fmt.Sprintf("other-route-%d", k)
			ev = cp
		}
		burst = append(burst, ev)
	}
	rng.Shuffle(len(burst), func(i, j int) { burst[i], burst[j] = burst[j], burst[i] })
	var late []map[string]any
	for range ossEvents - len(burst) {
		late = append(late, originals[rng.IntN(len(originals))])
	}

	var queued, dups, ignored, resends, requests atomic.Int64
	send := func(batches [][]map[string]any) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		client := &http.Client{Timeout: 20 * time.Second}
		for s := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(batches) {
						return
					}
					body, _ := json.Marshal(batches[i])
					r := c.replicas[(i+s)%len(c.replicas)]
					for attempt := 0; ; attempt++ {
						req := newJSONRequest(t.Context(), r.base+"/hooks/oss", body)
						req.Header.Set("Content-Type", "application/cloudevents-batch+json")
						req.Header.Set("Authorization", "Bearer "+run.secrets.OSSToken)
						requests.Add(1)
						resp, err := client.Do(req)
						if err == nil {
							b, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
								var a ossAnswer
								_ = json.Unmarshal(b, &a)
								queued.Add(int64(a.Queued))
								dups.Add(int64(a.Duplicates))
								ignored.Add(int64(len(a.Ignored)))
								break
							}
							err = fmt.Errorf("%d %s", resp.StatusCode, b)
						}
						if attempt == 5 {
							t.Errorf("batch %d never accepted: %v", i, err)
							break
						}
						resends.Add(1) // as EventBridge retries a failed push
					}
				}
			}()
		}
		wg.Wait()
	}
	batchesOf := func(evs []map[string]any) [][]map[string]any {
		var out [][]map[string]any
		for len(evs) > 0 {
			n := min(100, len(evs))
			out = append(out, evs[:n])
			evs = evs[n:]
		}
		return out
	}

	start := time.Now()
	send(batchesOf(burst))
	answered := time.Since(start)
	l := c.waitLanded(want, 2*time.Minute)
	landedIn := time.Since(start)
	missing := l.missing(want)
	burstQueued := queued.Load()
	send(batchesOf(late))
	lateQueued := queued.Load() - burstQueued
	st := c.stats()
	used := st.Quota.Used.URL
	calls := st.Actions["RefreshObjectCaches"].Accepted
	twice := st.Paths["RefreshObjectCaches"].Duplicates
	f.add("%d events (%d distinct changes, %d multipart parts, %d redelivered in the burst, %d after it) in %d requests (%d resent)",
		len(burst)+len(late), distinct, noise, redeliver, len(late), requests.Load(), resends.Load())
	f.add("answers: queued %d, duplicates %d, ignored %d; burst answered in %s, landed in %s",
		queued.Load(), dups.Load(), ignored.Load(), answered.Round(100*time.Millisecond), landedIn.Round(100*time.Millisecond))
	f.add("landed %d of %d URLs, quota used %d (distinct URLs %d), RefreshObjectCaches calls %d, URLs sent twice %d, queued by the late redeliveries %d",
		len(want)-missing, len(want), used, len(want), calls, twice, lateQueued)
	if missing > 0 {
		t.Errorf("%d changed URLs never refreshed", missing)
	}
	if used != int64(len(want)) || twice > 0 {
		t.Errorf("quota used %d, %d URLs sent twice: want %d and none", used, twice, len(want))
	}
	if lateQueued > 0 {
		t.Errorf("redeliveries after the burst queued %d events, want none", lateQueued)
	}
	if int(ignored.Load()) != noise {
		t.Errorf("%d events answered as nothing to do, want the %d multipart parts", ignored.Load(), noise)
	}
}
