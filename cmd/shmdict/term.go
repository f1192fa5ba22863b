package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress prints a one-line status to a terminal, at most every 100 ms;
// on anything else it prints nothing.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
}

func newProgress(e *env) *progress {
	return &progress{w: e.stderr, on: e.stderrTTY, start: time.Now()}
}

func (p *progress) update(format string, args ...any) {
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\r\033[K%s (%.1fs)", fmt.Sprintf(format, args...), now.Sub(p.start).Seconds())
}

// done clears the status line.
func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// during runs f, showing label with the elapsed time on a terminal while
// it runs (for single library calls that report no progress themselves).
func during[T any](e *env, label string, f func() (T, error)) (T, error) {
	p := newProgress(e)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.update("%s", label)
			}
		}
	}()
	v, err := f()
	close(stop)
	<-finished
	p.done()
	return v, err
}

// printable reports whether b reads well as text: valid UTF-8 of printable
// characters, spaces and tabs.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\t' {
			return false
		}
	}
	return true
}

// display renders bytes for a terminal: as is when printable (and not
// empty or padded, which would be invisible), else Go-quoted.
func display(b []byte) string {
	if len(b) > 0 && printable(b) && strings.TrimSpace(string(b)) == string(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// humanBytes renders a size with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// parseSize reads a byte size: a number with an optional binary suffix
// K, M, G or T (also written KB, KiB, ...; case does not matter).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, usagef("bad size %q: want a number of bytes such as 65536, 64K or 1G", s)
	}
	return v * mult, nil
}
