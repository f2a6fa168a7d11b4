package herald_test

import (
	"go/ast"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestErrorMessagesFollowOnePrefixStyle holds the error strings outside
// the tests to one style:
//
//   - a sentinel error (var ErrX = errors.New(…)) is a class, read in HTTP
//     reasons and CLI messages: a lower-case phrase without a package
//     prefix ("unknown or expired event id"), wrapped class first:
//     fmt.Errorf("%w: detail", ErrX);
//   - any other error that names a package names its own, as its first
//     word ("hub: Config.Log is required", "boltlog: open …"), so that an
//     operator knows which part failed; context wraps go before the error:
//     fmt.Errorf("doing what: %w", err);
//   - no error string starts with a capital letter or ends with a period
//     (names such as "Ed25519" or "HEAD" excepted).
func TestErrorMessagesFollowOnePrefixStyle(t *testing.T) {
	pkgs := map[string]bool{}
	type call struct {
		pkg, pos, msg string
		sentinel      bool
	}
	var calls []call
	walkSource(t, func(_ string, f *ast.File, fset *token.FileSet) {
		pkgs[f.Name.Name] = true
		sentinels := map[ast.Expr]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					if strings.HasPrefix(name.Name, "Err") && i < len(vs.Values) {
						sentinels[vs.Values[i]] = true
					}
				}
			}
			ce, ok := n.(*ast.CallExpr)
			if !ok || len(ce.Args) == 0 || !isErrorConstructor(ce.Fun) {
				return true
			}
			lit, ok := ce.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			msg, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			calls = append(calls, call{f.Name.Name, fset.Position(ce.Pos()).String(), msg, sentinels[ce]})
			return true
		})
	})
	prefix := regexp.MustCompile(`^([a-z]+): `)
	for _, c := range calls {
		if m := prefix.FindStringSubmatch(c.msg); m != nil && pkgs[m[1]] {
			switch {
			case c.sentinel:
				t.Errorf("%s: sentinel error %q carries a package prefix; a class is a bare phrase", c.pos, c.msg)
			case m[1] != c.pkg && m[1] != "herald":
				t.Errorf("%s: error %q in package %s names package %s", c.pos, c.msg, c.pkg, m[1])
			}
		}
		if strings.HasSuffix(c.msg, ".") {
			t.Errorf("%s: error %q ends with a period", c.pos, c.msg)
		}
		if r := c.msg; r != "" && r[0] >= 'A' && r[0] <= 'Z' && !startsWithName(r) {
			t.Errorf("%s: error %q starts with a capital letter", c.pos, c.msg)
		}
	}
}

// isErrorConstructor reports whether fun is errors.New or fmt.Errorf.
func isErrorConstructor(fun ast.Expr) bool {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && (x.Name == "errors" && sel.Sel.Name == "New" || x.Name == "fmt" && sel.Sel.Name == "Errorf")
}

// startsWithName reports whether msg starts with a name that is written
// with capitals: an acronym, or a word with a digit or a dot in it.
func startsWithName(msg string) bool {
	word, _, _ := strings.Cut(msg, " ")
	word = strings.TrimRight(word, ":,")
	return strings.ToUpper(word) == word || strings.ContainsAny(word, "0123456789.")
}
