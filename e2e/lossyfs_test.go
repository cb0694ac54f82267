package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// lossyFS is a FUSE loopback filesystem that remembers, per file, what the
// application made durable (fsync, fdatasync, writes through an O_SYNC or
// O_DSYNC descriptor) and, on powerOff, puts back only that: a file never
// flushed is left empty, a flushed one holds what it held at its last
// flush. It models a disk whose volatile cache is lost with the power, as
// Jepsen's NATS 2.12.1 analysis (2025) did with its lazyfs. Directory
// entries are kept as they are (a journaling filesystem's metadata),
// which is kinder than a real power cut, never harsher.
type lossyFS struct {
	under string // the directory the mount shows
	mnt   string
	srv   *fuse.Server

	mu      sync.Mutex
	durable map[uint64][]byte // by the underlying inode: content at its last flush
	flushes int
}

// mountLossy mounts a lossyFS of under on mnt.
func mountLossy(under, mnt string) (*lossyFS, error) {
	l := &lossyFS{under: under, mnt: mnt, durable: map[uint64][]byte{}}
	var st syscall.Stat_t
	if err := syscall.Stat(under, &st); err != nil {
		return nil, err
	}
	root := &gofs.LoopbackRoot{Path: under, Dev: st.Dev}
	root.NewNode = func(r *gofs.LoopbackRoot, _ *gofs.Inode, _ string, _ *syscall.Stat_t) gofs.InodeEmbedder {
		return &lossyNode{LoopbackNode: gofs.LoopbackNode{RootData: r}, l: l}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	srv, err := gofs.Mount(mnt, root.RootNode, &gofs.Options{MountOptions: fuse.MountOptions{FsName: "lossyfs", Name: "lossyfs", DirectMount: true}})
	if err != nil {
		return nil, err
	}
	l.srv = srv
	return l, nil
}

// powerOff unmounts the filesystem and drops from the underlying files
// everything that was not flushed. Call it after the processes using the
// mount are gone.
func (l *lossyFS) powerOff() (files, dropped int, err error) {
	if err := l.unmount(); err != nil {
		return 0, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err = filepath.WalkDir(l.under, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return err
		}
		files++
		keep, ok := l.durable[st.Ino]
		if ok && int64(len(keep)) == st.Size {
			return nil
		}
		dropped++
		return os.WriteFile(p, keep, 0o600) // nil keep: empty
	})
	return files, dropped, err
}

func (l *lossyFS) unmount() error {
	if l.srv == nil {
		return nil
	}
	err := l.srv.Unmount()
	if err != nil {
		// A process still holding a file: detach lazily, as a power cut
		// does not wait for it either.
		err = syscall.Unmount(l.mnt, syscall.MNT_DETACH)
	}
	l.srv.Wait()
	l.srv = nil
	return err
}

// flushed records fd's file as durable with its current content.
func (l *lossyFS) flushed(fd int) syscall.Errno {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return gofs.ToErrno(err)
	}
	// The descriptor may be write-only; read the file through /proc.
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return gofs.ToErrno(err)
	}
	l.mu.Lock()
	l.durable[st.Ino] = b
	l.flushes++
	l.mu.Unlock()
	return 0
}

type lossyNode struct {
	gofs.LoopbackNode
	l *lossyFS
}

func (n *lossyNode) wrap(fh gofs.FileHandle, flags uint32) gofs.FileHandle {
	lf, ok := fh.(*gofs.LoopbackFile)
	if !ok {
		return fh
	}
	fd, _ := lf.PassthroughFd()
	return &lossyFile{LoopbackFile: lf, l: n.l, fd: fd, sync: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}
}

func (n *lossyNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fh, ff, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return fh, ff, errno
	}
	return n.wrap(fh, flags), ff, 0
}

func (n *lossyNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	in, fh, ff, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return in, fh, ff, errno
	}
	return in, n.wrap(fh, flags), ff, 0
}

// lossyFile is a loopback file that reports its flushes.
type lossyFile struct {
	*gofs.LoopbackFile
	l    *lossyFS
	fd   int
	sync bool // opened O_SYNC or O_DSYNC: every write is a flush
	// PassthroughFd hides the loopback file's method of that name: a file
	// handed to the kernel for passthrough I/O would bypass Write and
	// Fsync, and with them the record of what was flushed.
	PassthroughFd struct{}
}

func (f *lossyFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if errno := f.LoopbackFile.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	return f.l.flushed(f.fd)
}

func (f *lossyFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, errno := f.LoopbackFile.Write(ctx, data, off)
	if errno == 0 && f.sync {
		errno = f.l.flushed(f.fd)
	}
	return n, errno
}

func (f *lossyFile) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	n, errno := f.LoopbackFile.Writev(ctx, data, off)
	if errno == 0 && f.sync {
		errno = f.l.flushed(f.fd)
	}
	return n, errno
}
