// Command readme replaces the benchmark section of README.md (from the
// line "<!-- BENCHMARKS -->" up to the next line "<!-- /BENCHMARKS -->")
// with Markdown files written by `shmdict bench --markdown`, one after the
// other (make bench-readme: one run at 100k keys, one at 1M).
//
// Usage: go run ./bench/readme REPORT.md [REPORT.md...] README.md
package main

import (
	"bytes"
	"fmt"
	"os"
)

const (
	begin = "<!-- BENCHMARKS -->\n"
	end   = "<!-- /BENCHMARKS -->\n"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: readme REPORT.md [REPORT.md...] README.md")
		os.Exit(2)
	}
	if err := run(os.Args[1:len(os.Args)-1], os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
}

func run(reportPaths []string, readmePath string) error {
	var report []byte
	for _, p := range reportPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("%s is empty (did the run fail?)", p)
		}
		if len(report) > 0 {
			report = append(report, '\n')
		}
		report = append(report, bytes.TrimRight(b, "\n")...)
		report = append(report, '\n')
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	out, err := splice(readme, report)
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	return os.WriteFile(readmePath, out, 0o644)
}

// splice puts report between the markers of readme.
func splice(readme, report []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(begin))
	if i < 0 {
		return nil, fmt.Errorf("no %q line", begin[:len(begin)-1])
	}
	rest := readme[i+len(begin):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		return nil, fmt.Errorf("no %q line after %q", end[:len(end)-1], begin[:len(begin)-1])
	}
	var b bytes.Buffer
	b.Write(readme[:i+len(begin)])
	b.Write(bytes.TrimRight(report, "\n"))
	b.WriteString("\n")
	b.Write(rest[j:])
	return b.Bytes(), nil
}
