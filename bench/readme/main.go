// Command readme replaces the benchmark section of README.md (from the
// line "<!-- BENCHMARKS -->" up to the next line "<!-- /BENCHMARKS -->")
// with a Markdown file written by `shmdict bench --markdown`.
//
// Usage: go run ./bench/readme REPORT.md README.md
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
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: readme REPORT.md README.md")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
}

func run(reportPath, readmePath string) error {
	report, err := os.ReadFile(reportPath)
	if err != nil {
		return err
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
