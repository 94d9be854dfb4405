package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// commands are every command path of the plugins, as users type them after "oc".
var commands = []string{
	"icsp migrate",
	"release sig", "release sig verify",
	"mhc pause", "mhc pause status", "mhc resume",
	"mirror lite", "mirror lite release", "mirror lite images", "mirror lite delete", "mirror lite delete release", "mirror lite delete images",
	"registries verify", "registries verify render", "registries verify resolve",
	"update service", "update service apply", "update service status",
}

var redirect = regexp.MustCompile(`\s+(\d?>|<).*$`)

// examples returns the plugin commands in the Examples of help: each
// continued line joined, each pipeline cut into its commands, redirections
// dropped, only the commands of our plugins kept.
func examples(help string) []string {
	_, block, ok := strings.Cut(help, "\nExamples:\n")
	if !ok {
		return nil
	}
	block, _, _ = strings.Cut(block, "\n\n"+"Flags:")
	block, _, _ = strings.Cut(block, "\nAvailable Commands:")
	block = strings.ReplaceAll(block, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, part := range strings.Split(line, "|") {
			part = strings.TrimSpace(redirect.ReplaceAllString(strings.TrimSpace(part), ""))
			for _, c := range commands {
				if strings.HasPrefix(part, "oc "+strings.SplitN(c, " ", 3)[0]+" "+strings.SplitN(c, " ", 3)[1]) {
					out = append(out, part)
					break
				}
			}
		}
	}
	return out
}

// TestHelpExamplesParse runs every example in every command's help, as kubectl
// would find it, with --help added: cobra parses the whole command line first,
// so an example naming a command or flag that does not exist fails (exit 2).
// Examples that need a real OpenShift cluster or quay.io cannot run here;
// the chains in this package run the same commands for real.
func TestHelpExamplesParse(t *testing.T) {
	e := newEnv(t, "", "")
	total := 0
	for _, c := range commands {
		help := e.must(t, "oc-"+strings.Replace(c, " ", "-", 1)+" "+strings.Join(strings.Fields(c)[2:], " ")+" --help").stdout
		exs := examples(help)
		if len(exs) == 0 {
			t.Errorf("oc %s --help has no examples", c)
		}
		for _, ex := range exs {
			total++
			words := strings.Fields(ex)
			// oc mhc pause ... -> kubectl mhc pause ... (kubectl's plugin lookup)
			r := e.sh(t, "", "kubectl "+strings.Join(words[1:], " ")+" --help >/dev/null")
			if r.code != 0 {
				t.Errorf("example of oc %s does not parse: %s\nexit %d: %s", c, ex, r.code, r.stderr)
			}
		}
	}
	t.Logf("%d examples parsed", total)
}
