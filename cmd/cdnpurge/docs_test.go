package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// otherDocs are pages other parts of the project write; the README links
// them before they exist in every tree, so a missing one is not an error.
var otherDocs = map[string]bool{
	"docs/security.md": true, "docs/webhooks-security.md": true, "docs/webhooks.md": true, "docs/durability.md": true,
	"docs/connections.md": true, "docs/configuration.md": true, "docs/quota.md": true, "docs/alibaba-cloud.md": true,
}

// otherCommands are commands other parts of the project add (merged into
// main before this branch); their mentions are not checked here.
var otherCommands = map[string]bool{"domain": true}

// docFiles are the README and every page under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md"}
	more, _ := filepath.Glob("../../docs/*.md")
	return append(files, more...)
}

// codeOf returns the code of a Markdown file: fenced blocks and inline
// code spans, one string each.
func codeOf(md string) []string {
	var out []string
	var block strings.Builder
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			if in {
				out = append(out, block.String())
				block.Reset()
			}
			in = !in
			continue
		}
		if in {
			block.WriteString(l + "\n")
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var (
	inlineCode = regexp.MustCompile("`([^`]+)`")
	invocation = regexp.MustCompile(`(?:^|[\s(=$])(?:bin/|\./)?cdnpurge((?:[ \t]+[^\s|;&<>()]+)*)`)
	flagInHelp = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)( \S+)?`)
)

// flagsOf asks the program for the flags of a command (its --help): name
// to whether it takes a value.
func flagsOf(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	args := []string{"--help"}
	if cmd != "" {
		args = []string{cmd, "--help"}
	}
	var out bytes.Buffer
	_ = newApp(func(string) string { return "" }, strings.NewReader("")).main(context.Background(), args, &out, &out)
	flags := map[string]bool{"help": false, "h": false}
	for _, m := range flagInHelp.FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = m[2] != ""
	}
	if len(flags) < 3 {
		t.Fatalf("cdnpurge %s --help lists no flags:\n%s", cmd, out.String())
	}
	return flags
}

// Every command and flag the README and the docs show in code exists: a
// `cdnpurge <command> --flag` is checked against the command's own flags.
func TestDocsMentionOnlyRealCommandsAndFlags(t *testing.T) {
	t.Parallel()
	cmds := newApp(noEnv, nil).commands()
	rootFlags := flagsOf(t, "")
	flags := map[string]map[string]bool{}
	checked := 0
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range codeOf(string(b)) {
			for _, line := range strings.Split(code, "\n") {
				for _, m := range invocation.FindAllStringSubmatch(line, -1) {
					words := strings.Fields(m[1])
					checked += checkInvocation(t, filepath.Base(file), strings.TrimSpace(m[0]), words, cmds, rootFlags, flags)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d flags checked; the docs' invocations are not being found", checked)
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)

// Every relative link of the README and the docs points at a file in the
// tree, except the pages other parts of the project add (otherDocs).
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target := filepath.Clean(filepath.Join(filepath.Dir(file), link))
			rel, _ := filepath.Rel("../..", target)
			if _, err := os.Stat(target); err != nil && !otherDocs[filepath.ToSlash(rel)] {
				t.Errorf("%s links %s, which does not exist", filepath.Base(file), link)
			}
		}
	}
}

// checkInvocation checks one `cdnpurge [global flags] command [flags]
// [args]` and returns how many flags it checked.
func checkInvocation(t *testing.T, file, text string, words []string, cmds map[string]command,
	rootFlags map[string]bool, flags map[string]map[string]bool) int {
	t.Helper()
	cmd, n := "", 0
	known := rootFlags
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "[") && !strings.HasPrefix(w, "[-") {
			return n // [global flags] and other placeholders
		}
		w = strings.Trim(w, "[]")
		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			if cmd == "" {
				if strings.ContainsAny(w, "<[{*'\"$") {
					return n // a placeholder or a shell expression
				}
				if otherCommands[w] {
					return n
				}
				if _, ok := cmds[w]; !ok && w != "help" {
					t.Errorf("%s: %q names no command %q", file, text, w)
					return n
				}
				cmd = w
				if cmd == "help" {
					return n
				}
				if flags[cmd] == nil {
					flags[cmd] = flagsOf(t, cmd)
				}
				known = flags[cmd]
			}
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		name = strings.TrimRight(name, ".,:")
		takesValue, ok := known[name]
		if !ok && cmd != "" {
			takesValue, ok = rootFlags[name]
		}
		n++
		if !ok {
			where := "cdnpurge"
			if cmd != "" {
				where += " " + cmd
			}
			t.Errorf("%s: %q: %s has no flag --%s", file, text, where, name)
			continue
		}
		if takesValue && !hasValue {
			i++ // the flag's value
		}
	}
	return n
}
