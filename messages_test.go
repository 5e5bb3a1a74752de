package trainyard_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMessagesSpeakToUsers holds that no string of the program, which is what users read in
// messages, help and events, quotes the project's own documents: "SPEC rule: …" means nothing
// to a user. Comments may cite them; tests are not scanned.
func TestMessagesSpeakToUsers(t *testing.T) {
	internal := []string{"SPEC", "DESIGN.md", "STYLE.md"}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "python") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, w := range internal {
				if strings.Contains(s, w) {
					t.Errorf("%s: a string quotes %q, the project's own document; say the rule itself: %s", fset.Position(lit.Pos()), w, lit.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
