package webhooks

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// natsServerDesc describes the NATS server a connection uses. The public
// /readyz only says whether NATS answers ("nats": "ok"); which server of
// the cluster is one of the details kept for the admin listener.
var natsServerDesc = prometheus.NewDesc("cdnpurge_nats_server_info",
	"The NATS server this process is connected to (1), by its server name and its URL without user info; absent while reconnecting.",
	[]string{"server", "url"}, nil)

// NATSServerInfo is a collector of cdnpurge_nats_server_info for nc, read
// at every scrape, so it follows reconnects to another server of a cluster.
type NATSServerInfo struct{ nc *nats.Conn }

// NewNATSServerInfo returns the collector of nc.
func NewNATSServerInfo(nc *nats.Conn) *NATSServerInfo { return &NATSServerInfo{nc: nc} }

// Describe sends the metric's description.
func (c *NATSServerInfo) Describe(ch chan<- *prometheus.Desc) { ch <- natsServerDesc }

// Collect sends the server in use, nothing while disconnected.
func (c *NATSServerInfo) Collect(ch chan<- prometheus.Metric) {
	if c.nc.Status() != nats.CONNECTED {
		return
	}
	ch <- prometheus.MustNewConstMetric(natsServerDesc, prometheus.GaugeValue, 1, c.nc.ConnectedServerName(), c.nc.ConnectedUrlRedacted())
}
