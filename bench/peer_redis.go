package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The Redis peer: a real redis-server, started by the harness on a unix
// socket with persistence off and stopped after the cell, one connection
// per worker process, one round trip per operation (no pipelining: that
// is what a program that reads a value and acts on it gets). The client
// speaks RESP directly (a few dozen lines, for GET, SET, INCRBY, FLUSHALL)
// so that the library's module needs no Redis dependency.

func init() { register("redis", func() Peer { return &redisPeer{} }) }

type redisPeer struct {
	cmd *exec.Cmd
	dir string
}

func (*redisPeer) Name() string    { return "redis" }
func (*redisPeer) InProcess() bool { return false }
func (*redisPeer) MaxWorkers() int { return 0 }

func (*redisPeer) Available() string {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "redis-server not installed (make bench-deps installs it)"
	}
	return ""
}

func (p *redisPeer) Setup(c Cell) (string, error) {
	dir, err := os.MkdirTemp("", "shmdict-bench-redis-")
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("starting redis-server: %w", err)
	}
	p.cmd, p.dir = cmd, dir
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl, err := dialRedis(sock)
		if err == nil {
			err = cl.do("FLUSHALL")
			cl.Close()
			if err == nil {
				return sock, nil
			}
		}
		if time.Now().After(deadline) {
			p.Teardown(c)
			return "", fmt.Errorf("redis-server did not answer on %s within 10 s: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (*redisPeer) Open(c Cell) (Client, error) { return dialRedis(c.Target) }

func (p *redisPeer) Teardown(Cell) error {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
		p.dir = ""
	}
	return nil
}

// redisClient is a minimal RESP2 client on one connection.
type redisClient struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
}

func dialRedis(sock string) (*redisClient, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return &redisClient{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

// send writes one command as a RESP array of bulk strings.
func (r *redisClient) send(args ...[]byte) error {
	if err := r.write(args...); err != nil {
		return err
	}
	return r.w.Flush()
}

// write buffers one command without sending it.
func (r *redisClient) write(args ...[]byte) error {
	r.buf = append(r.buf[:0], '*')
	r.buf = strconv.AppendInt(r.buf, int64(len(args)), 10)
	r.buf = append(r.buf, '\r', '\n')
	for _, a := range args {
		r.buf = append(r.buf, '$')
		r.buf = strconv.AppendInt(r.buf, int64(len(a)), 10)
		r.buf = append(r.buf, '\r', '\n')
		r.buf = append(r.buf, a...)
		r.buf = append(r.buf, '\r', '\n')
	}
	_, err := r.w.Write(r.buf)
	return err
}

// reply reads one reply: a bulk string (appended to dst; ok false for
// nil), an integer, or a simple string; an error reply is an error.
func (r *redisClient) reply(dst []byte) (v []byte, n int64, ok bool, err error) {
	line, err := r.r.ReadSlice('\n')
	if err != nil {
		return dst, 0, false, err
	}
	if len(line) < 3 {
		return dst, 0, false, fmt.Errorf("redis: short reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return dst, 0, true, nil
	case '-':
		return dst, 0, false, fmt.Errorf("redis: %s", body)
	case ':':
		n, err := strconv.ParseInt(string(body), 10, 64)
		return dst, n, err == nil, err
	case '$':
		size, err := strconv.Atoi(string(body))
		if err != nil {
			return dst, 0, false, fmt.Errorf("redis: bad bulk length %q", body)
		}
		if size < 0 {
			return dst, 0, false, nil
		}
		start := len(dst)
		dst = append(dst, make([]byte, size+2)...)
		if _, err := io.ReadFull(r.r, dst[start:]); err != nil {
			return dst[:start], 0, false, err
		}
		return dst[:start+size], 0, true, nil
	}
	return dst, 0, false, fmt.Errorf("redis: unexpected reply %q", line)
}

func (r *redisClient) do(args ...string) error {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	if err := r.send(bs...); err != nil {
		return err
	}
	_, _, _, err := r.reply(nil)
	return err
}

var (
	cmdGet    = []byte("GET")
	cmdSet    = []byte("SET")
	cmdIncrBy = []byte("INCRBY")
)

func (r *redisClient) Get(dst, key []byte) ([]byte, bool, error) {
	if err := r.send(cmdGet, key); err != nil {
		return dst, false, err
	}
	v, _, ok, err := r.reply(dst)
	return v, ok, err
}

func (r *redisClient) Set(key, value []byte) error {
	if err := r.send(cmdSet, key, value); err != nil {
		return err
	}
	_, _, ok, err := r.reply(nil)
	if err == nil && !ok {
		err = errors.New("redis: SET returned nil")
	}
	return err
}

// Load pipelines one SET per key (the preload only: measured operations
// make one round trip each), then reads every reply.
func (r *redisClient) Load(keys, values [][]byte) error {
	for i := range keys {
		if err := r.write(cmdSet, keys[i], values[i]); err != nil {
			return err
		}
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	for range keys {
		if _, _, ok, err := r.reply(nil); err != nil || !ok {
			return fmt.Errorf("redis: pipelined SET: ok %v, %v", ok, err)
		}
	}
	return nil
}

func (r *redisClient) Incr(key []byte, delta int64) (int64, error) {
	var d [20]byte
	if err := r.send(cmdIncrBy, key, strconv.AppendInt(d[:0], delta, 10)); err != nil {
		return 0, err
	}
	_, n, _, err := r.reply(nil)
	return n, err
}

func (r *redisClient) Close() error { return r.c.Close() }
