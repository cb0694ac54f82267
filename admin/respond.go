package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// maxEchoValue bounds a configured value quoted back in an error.
const maxEchoValue = 128

// clip cuts s to at most n bytes, dropping a rune cut in half, and says how
// long it was when it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	suffix := fmt.Sprintf("...(%d bytes)", len(s))
	return strings.ToValidUTF8(s[:max(0, n-len(suffix))], "") + suffix
}

// writeJSON answers with body as JSON.
func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
