// Package embedded runs the in-process nats-server (JetStream on a local
// store directory) that serve uses without nats.url, and the lock that keeps
// a second serve off the same store.
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded server defaults. The port is not 4222 so the embedded server
// does not collide with a NATS already running on the machine.
const (
	DefaultHost     = "127.0.0.1"
	DefaultPort     = 4333
	DefaultStoreDir = "data/nats"
)

// RandomPort asks Run for a free port chosen by the OS.
const RandomPort = server.RANDOM_PORT

// Options configures Run.
type Options struct {
	// Host to listen on; default DefaultHost (loopback only).
	Host string
	// Port to listen on; 0 means DefaultPort, RandomPort a free one.
	Port int
	// StoreDir is where JetStream keeps its files; default
	// DefaultStoreDir. Jobs survive restarts only if it does.
	StoreDir string
	// ServerName names the server in logs and advisories.
	ServerName string
	// Logger receives the server's log lines at debug level (warnings and
	// errors at their level); nil silences them.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept clients;
	// default 10s.
	ReadyTimeout time.Duration
	// SyncInterval is how often JetStream flushes its files to disk
	// (fsync); 0 keeps the server's default (2 minutes). A job is
	// acknowledged once it is written to the file, before the flush: a
	// process crash loses nothing, a host crash can lose what arrived since
	// the last flush. See docs/durability.md.
	SyncInterval time.Duration
	// SyncAlways flushes every write before it is acknowledged.
	SyncAlways bool
	// OnWriteError is told when a stream's store failed to write (a full
	// disk, an I/O error): nats-server then refuses every later write to
	// that stream, without answering the publisher, until the stream is
	// opened again (see Health).
	OnWriteError func(stream, reason string)
}

// SyncAlways is the nats.embedded.sync_interval value that flushes every
// write to disk before its acknowledgement.
const SyncAlways = "always"

// GroupBackgroundSync is the server's own flush interval with the default
// setting (empty sync_interval): jobs acknowledged by cdnpurge's producers
// are flushed by GroupSync before their acknowledgement; this interval
// bounds what else (consumer acknowledgements, status events, key-value
// buckets) a host crash can take back.
const GroupBackgroundSync = time.Second

// ParseSyncInterval reads a sync setting: "" (the default: group commit by
// the producers, see GroupSync, and the server's own flush every
// GroupBackgroundSync), a positive Go duration (lazy: a host crash can lose
// what was acknowledged since the last flush), or "always".
func ParseSyncInterval(s string) (interval time.Duration, always bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return GroupBackgroundSync, false, nil
	case SyncAlways:
		return 0, true, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("%q: want a positive duration such as 1s or 2m, or %q", s, SyncAlways)
	}
	return d, false, nil
}

// GroupCommit reports whether the setting s is the default, under which
// producers flush what they stored with a GroupSync before they answer.
func GroupCommit(s string) bool { return strings.TrimSpace(s) == "" }

// LazyRisk returns what a host crash can lose under the sync setting s, or
// "" when s flushes every acknowledged job (the default and "always").
func LazyRisk(s string) string {
	d, always, err := ParseSyncInterval(s)
	if err != nil || always || GroupCommit(s) {
		return ""
	}
	return fmt.Sprintf("nats.embedded.sync_interval is %s (lazy flush): a host crash (power loss, kernel panic, VM reset) can lose every job acknowledged in the last %s, and a stream created less than %s earlier whole; leave it empty or set %q to lose none (docs/durability.md)", d, d, d, SyncAlways)
}

// Run starts an in-process nats-server with JetStream and returns
// it with its client URL once it accepts connections. Call Shutdown and
// WaitForShutdown on the server to stop it.
func Run(o Options) (*server.Server, string, error) {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.StoreDir == "" {
		o.StoreDir = DefaultStoreDir
	}
	if o.ServerName == "" {
		o.ServerName = "cdnpurge-embedded"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		// Only a set value is passed on: the server keeps its default for
		// a zero SyncInterval.
		SyncInterval: o.SyncInterval,
		SyncAlways:   o.SyncAlways,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("configure embedded NATS on %s:%d with store %s: %w", o.Host, o.Port, o.StoreDir, err)
	}
	if o.Logger != nil || o.OnWriteError != nil {
		l := o.Logger
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		ns.SetLoggerV2(serverLogger{l: l, onWriteError: o.OnWriteError}, false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(o.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, "", fmt.Errorf("embedded NATS on %s:%d not ready after %s: %w (is the port taken? set another port or a NATS URL)", o.Host, o.Port, o.ReadyTimeout, errors.New("not ready"))
	}
	return ns, ns.ClientURL(), nil
}

// serverLogger adapts slog to the nats-server logger interface, and
// passes the store's write errors on.
type serverLogger struct {
	l            *slog.Logger
	onWriteError func(stream, reason string)
}

// writeErrorLines are the lines nats-server (v2.15, stream.go) logs when a
// stream's store fails to write; the first group is the stream's name.
var writeErrorLines = []*regexp.Regexp{
	regexp.MustCompile(`^JetStream stream '[^']* > ([^']*)' critical write error: (.*)$`),
	regexp.MustCompile(`^JetStream failed to store a msg on stream '[^']* > ([^']*)': (.*)$`),
}

func (s serverLogger) writeError(line string) {
	if s.onWriteError == nil {
		return
	}
	for _, re := range writeErrorLines {
		if m := re.FindStringSubmatch(line); m != nil {
			s.onWriteError(m[1], m[2])
			return
		}
	}
}

func (s serverLogger) Noticef(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), slog.String("component", "nats-server"))
}
func (s serverLogger) Warnf(format string, v ...any) {
	s.l.Warn(fmt.Sprintf(format, v...), slog.String("component", "nats-server"))
}
func (s serverLogger) Fatalf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...), slog.String("component", "nats-server"))
}
func (s serverLogger) Errorf(format string, v ...any) {
	line := fmt.Sprintf(format, v...)
	s.l.Error(line, slog.String("component", "nats-server"))
	s.writeError(line)
}
func (s serverLogger) Debugf(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), slog.String("component", "nats-server"))
}
func (s serverLogger) Tracef(format string, v ...any) {}
