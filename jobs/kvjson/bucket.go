package kvjson

// ValidBucket reports whether name can be a JetStream key-value bucket:
// one or more ASCII letters, digits, '-' and '_' (the rule nats.go's
// jetstream package applies before creating a bucket). Config validation
// of every bucket name uses it.
func ValidBucket(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
