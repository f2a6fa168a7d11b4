package herald_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxComplexity is the highest cyclomatic complexity a function outside
// the tests may have: past it, split the function into steps that can be
// read, and tested, one at a time.
const maxComplexity = 25

// complexityExceptions are functions over maxComplexity that are being
// rewritten; each is removed from here once it is under. None today.
var complexityExceptions = map[string]bool{}

// TestNoFunctionIsTooComplex computes the cyclomatic complexity of every
// function outside the tests (1, plus one per if, for, range, case,
// select case, && and ||) and fails on any above maxComplexity.
func TestNoFunctionIsTooComplex(t *testing.T) {
	var over []string
	walkSource(t, func(path string, f *ast.File, _ *token.FileSet) {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := filepath.ToSlash(filepath.Dir(path)) + "." + funcName(fn)
			if c := complexity(fn.Body); c > maxComplexity && !complexityExceptions[name] {
				over = append(over, name+" "+itoa(c))
			}
		}
	})
	sort.Strings(over)
	for _, o := range over {
		t.Errorf("%s: cyclomatic complexity above %d; split it", o, maxComplexity)
	}
}

// walkSource parses every Go file of the module outside the tests (bench/,
// a module of its own, and testdata/ excepted) and calls fn with each.
func walkSource(t *testing.T, fn func(path string, f *ast.File, fset *token.FileSet)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bench") {
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
		fn(path, f, fset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// funcName is fn's name, with its receiver's type for a method: "T.m".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch tt := typ.(type) {
	case *ast.IndexExpr:
		typ = tt.X
	case *ast.IndexListExpr:
		typ = tt.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// complexity is 1 plus the number of decision points in body, function
// literals included (they run as part of the function that holds them).
func complexity(body ast.Node) int {
	c := 1
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
