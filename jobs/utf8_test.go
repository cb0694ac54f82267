package jobs

import (
	"errors"
	"testing"
)

func TestValidJSONString(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`"https://static.example.com/a"`:            true,
		`"caf\u00e9 \"quoted\" \\u00e9"`:            true,
		"\"caf\xc3\xa9\"":                           true,
		`"emoji \ud83d\ude00"`:                      true,
		"\"a1/\xff\xfe\"":                           false,
		`"lone \ud83d end"`:                         false,
		`"lone low \ude00"`:                         false,
		`"high then other \ud83d\u0041"`:            false,
		`"broken escape \u12"`:                      false,
		"\"overlong \xc0\xaf\"":                     false,
		`"literal replacement char is fine \ufffd"`: true,
	} {
		if got := ValidJSONString([]byte(raw)); got != want {
			t.Errorf("ValidJSONString(%s) = %v, want %v", raw, got, want)
		}
	}
}

func TestDecodeRefusesInvalidUTF8NamingTheIndex(t *testing.T) {
	t.Parallel()
	msg := []byte("{\"kind\":\"refresh\",\"refresh\":{\"paths\":[\"https://example.com/ok\",\"https://example.com/a1/\xff\xfe\",\"https://example.com/\\udfff\"]}}")
	_, err := Decode(msg)
	var ve *ValidationError
	if !errors.Is(err, ErrDecode) || !errors.As(err, &ve) {
		t.Fatalf("Decode = %v, want ErrDecode and a *ValidationError", err)
	}
	if len(ve.Problems) != 2 || ve.Problems[0].Field != "refresh.paths[1]" || ve.Problems[0].Path != `https://example.com/a1/\xff\xfe` || ve.Problems[1].Field != "refresh.paths[2]" {
		t.Fatalf("problems = %+v", ve.Problems)
	}
}
