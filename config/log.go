package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// ParseLogLevel reads log.level: debug, info, warn (or warning) or error,
// in any case; "" is info. The logger setup and Validate both use it.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
}
