// Package secretfile reads files that hold secrets (tokens, key pairs,
// NATS credentials) without letting the file choose how much is read or
// whether the read returns: only regular files are read, opened without
// blocking (a FIFO or a device is refused by its type, not waited on), at
// most MaxSize bytes, and a file other users may read is refused unless
// the caller allows it. Errors name the file and never any of its content,
// not even how many lines it has.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSize bounds a secret file, in bytes.
const MaxSize = 64 << 10

// ErrLoosePermissions marks a file that its group or others may read.
var ErrLoosePermissions = errors.New("group or others may read it")

// Options tune Read.
type Options struct {
	// AllowLoose accepts a file its group or others may read: Kubernetes
	// mounts secrets 0644 by default (behind a 0755 symlink), Docker 0444.
	AllowLoose bool
	// Max bounds the size; 0 means MaxSize.
	Max int64
	// What names the file in errors ("secret file", "credentials file").
	What string
}

// Read returns the content of the file at path within the bounds of o.
func Read(path string, o Options) ([]byte, error) {
	if o.Max <= 0 {
		o.Max = MaxSize
	}
	if o.What == "" {
		o.What = "secret file"
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, forever and deaf to SIGTERM. The type is checked on the open
	// descriptor, so a file swapped after a Stat cannot slip through.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s %s: %w", o.What, path, pe.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is a %s, not a regular file; point it at a file", o.What, path, kind(st.Mode()))
	}
	if st.Size() > o.Max {
		return nil, fmt.Errorf("%s %s is larger than %d KiB; a secret file holds the secret alone", o.What, path, o.Max>>10)
	}
	if perm := st.Mode().Perm(); perm&0o044 != 0 && !o.AllowLoose {
		return nil, fmt.Errorf("%s %s: %w (mode %04o): chmod 600 it, or set secret_files.allow_loose_permissions for a Kubernetes or Docker secret mount (docs/security.md)",
			o.What, path, ErrLoosePermissions, perm)
	}
	// The file may grow after the Stat: read one byte past the cap.
	data, err := io.ReadAll(io.LimitReader(f, o.Max+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", o.What, path, err)
	}
	if int64(len(data)) > o.Max {
		return nil, fmt.Errorf("%s %s is larger than %d KiB; a secret file holds the secret alone", o.What, path, o.Max>>10)
	}
	return data, nil
}

// kind names a file type for a message.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}
