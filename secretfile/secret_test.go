package secretfile

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Secret("super-secret-value")
	j, _ := s.MarshalJSON()
	y, _ := s.MarshalYAML()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", slog.Any("token", s))
	for _, out := range []string{s.String(), s.GoString(), string(j), fmt.Sprint(y), fmt.Sprintf("%v %s %#v %+v", s, s, s, s), logged.String()} {
		if strings.Contains(out, "super") {
			t.Fatalf("secret leaked: %q", out)
		}
		if !strings.Contains(out, Redacted) {
			t.Fatalf("%q does not say the secret is there", out)
		}
	}
	if s.Value() != "super-secret-value" {
		t.Fatalf("Value = %q", s.Value())
	}
	if Secret("").String() != "" {
		t.Fatal("an unset secret prints as set")
	}
}
