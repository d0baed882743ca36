// Command funclen lists the Go functions longer than a limit (120 lines by
// default) that carry no reason for their length, so that the remaining ones
// are visible (issue #17: no function longer than about 120 lines without a
// reason written beside it).
//
//	go run ./hack/funclen                 # internal/, tests included
//	go run ./hack/funclen -max 80 -tests=false internal/plan internal/engine
//
// A reason is a comment starting with "long:" on the line of the function's
// opening brace or as a line of its doc comment:
//
//	func table() map[string]rule { // long: one entry per BuildKit rule
//
// It prints FILE:LINE: NAME is N lines, longest first, and exits 1 when it
// printed anything (2 on a usage or parse error). Function literals count
// as part of the function that holds them.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Func is one function over the limit.
type Func struct {
	Pos   token.Position
	Name  string // Recv.Name for methods
	Lines int
}

func (f Func) String() string {
	return fmt.Sprintf("%s:%d: %s is %d lines", f.Pos.Filename, f.Pos.Line, f.Name, f.Lines)
}

func main() {
	max := flag.Int("max", 120, "longest function allowed without a reason, in lines (func line to closing brace)")
	tests := flag.Bool("tests", true, "check _test.go files too")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: funclen [-max N] [-tests=false] [DIR...] (default: internal)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"internal"}
	}
	var all []Func
	for _, dir := range dirs {
		fs, err := Long(dir, *max, *tests)
		if err != nil {
			fmt.Fprintln(os.Stderr, "funclen:", err)
			os.Exit(2)
		}
		all = append(all, fs...)
	}
	for _, f := range all {
		fmt.Println(f)
	}
	if len(all) > 0 {
		fmt.Fprintf(os.Stderr, "funclen: %d function(s) over %d lines without a \"// long: reason\" comment\n", len(all), *max)
		os.Exit(1)
	}
}

// Long walks the Go files under dir (skipping testdata and vendor) and
// returns the functions longer than max lines without a reason, longest first.
func Long(dir string, max int, tests bool) ([]Func, error) {
	var out []Func
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || (!tests && strings.HasSuffix(path, "_test.go")) {
			return nil
		}
		fs, err := longInFile(path, max)
		out = append(out, fs...)
		return err
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Lines > out[j].Lines })
	return out, err
}

func longInFile(path string, max int) ([]Func, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var out []Func
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start := fset.Position(fn.Pos())
		n := fset.Position(fn.End()).Line - start.Line + 1
		if n <= max || hasReason(fset, f, fn) {
			continue
		}
		out = append(out, Func{Pos: start, Name: funcName(fn), Lines: n})
	}
	return out, nil
}

// hasReason reports whether fn's doc comment or a comment on the line of
// its opening brace starts with "long:".
func hasReason(fset *token.FileSet, f *ast.File, fn *ast.FuncDecl) bool {
	isReason := func(c *ast.Comment) bool {
		return strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(c.Text, "//")), "long:")
	}
	if fn.Doc != nil {
		for _, c := range fn.Doc.List {
			if isReason(c) {
				return true
			}
		}
	}
	brace := fset.Position(fn.Body.Lbrace).Line
	for _, g := range f.Comments {
		for _, c := range g.List {
			if fset.Position(c.Pos()).Line == brace && isReason(c) {
				return true
			}
		}
	}
	return false
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}
