package imagetest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/manyarch/manyarch/internal/cgroup"
)

// serviceTests reads the serviceTests section (docs/service-tests.md).
func (d *decoder) serviceTests(n *yaml.Node) []ServiceTest {
	var out []ServiceTest
	d.seq(n, "serviceTests", func(i int, item *yaml.Node) {
		t := ServiceTest{Pos: d.pos(item), Readiness: Readiness{Pos: d.pos(item)}}
		w := fmt.Sprintf("serviceTests[%d]", i)
		var readinessNode *yaml.Node
		d.inTest(&t.Invalid, func() {
			d.fields(item, w, map[string]func(*yaml.Node){
				"name":       func(n *yaml.Node) { t.Name = d.name(n, w) },
				"platforms":  func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
				"entrypoint": func(n *yaml.Node) { t.Entrypoint = d.strListPtr(n, w+".entrypoint") },
				"cmd":        func(n *yaml.Node) { t.Cmd = d.strListPtr(n, w+".cmd") },
				"envVars":    func(n *yaml.Node) { t.EnvVars = d.envVars(n, w+".envVars", false) },
				"user":       func(n *yaml.Node) { t.User = d.strPtr(n, w+".user") },
				"workdir":    func(n *yaml.Node) { t.Workdir = d.strPtr(n, w+".workdir") },
				"port":       func(n *yaml.Node) { t.Port = d.port(n, w+".port", false) },
				"hostPort":   func(n *yaml.Node) { t.HostPort = d.port(n, w+".hostPort", true) },
				"readiness": func(n *yaml.Node) {
					readinessNode = n
					t.Readiness = d.readiness(n, w+".readiness")
				},
				"timeout":  func(n *yaml.Node) { t.Timeout = d.duration(n, w+".timeout") },
				"logLines": func(n *yaml.Node) { t.LogLines = d.bounded(n, w+".logLines", 1, MaxLogLines) },
				"restart": func(n *yaml.Node) {
					t.Restart, _ = d.str(n, w+".restart")
					switch t.Restart {
					case "", "no", "on-failure", "always":
					default:
						d.errorf(n, "%s.restart %q: want no, on-failure or always", w, t.Restart)
					}
				},
				"maxRestarts": func(n *yaml.Node) { t.MaxRestarts = d.bounded(n, w+".maxRestarts", 0, 100) },
				"checks":      func(n *yaml.Node) { t.Checks = d.httpChecks(n, w+".checks") },
				"consistency": func(n *yaml.Node) { t.Consistency = d.httpConsistency(n, w+".consistency") },
				"load": func(n *yaml.Node) {
					if !isNull(n) {
						t.Load = d.loadTest(n, w+".load")
					}
				},
				"faults": func(n *yaml.Node) { t.Faults = d.faultTests(n, w+".faults") },
			})
			if t.Name == "" {
				d.invalidf(item, "%s needs a name", w)
			}
			if t.Port == 0 {
				d.invalidf(item, "%s (%s) needs port: the container port the service listens on", w, t.Name)
			}
			if readinessNode == nil {
				t.Readiness = Readiness{Pos: t.Pos, TCP: true, Timeout: DefaultReadyTimeout, Interval: DefaultReadyInterval}
			}
		})
		if t.LogLines == 0 {
			t.LogLines = DefaultLogLines
		}
		out = append(out, t)
	})
	return out
}

// bounded reads an integer in [lo, hi].
func (d *decoder) bounded(n *yaml.Node, what string, lo, hi int) int {
	v, ok := d.integer(n, what)
	if !ok {
		return 0
	}
	if v < lo || v > hi {
		d.errorf(n, "%s is %d: want %d to %d", what, v, lo, hi)
		return 0
	}
	return v
}

func (d *decoder) port(n *yaml.Node, what string, zeroOK bool) int {
	v, ok := d.integer(n, what)
	if !ok {
		return 0
	}
	if v < 0 || v > 65535 || (v == 0 && !zeroOK) {
		d.errorf(n, "%s is %d: want a TCP port, 1 to 65535", what, v)
		return 0
	}
	return v
}

func (d *decoder) readiness(n *yaml.Node, w string) Readiness {
	r := Readiness{Pos: d.pos(n), Timeout: DefaultReadyTimeout, Interval: DefaultReadyInterval}
	kinds := 0
	d.fields(n, w, map[string]func(*yaml.Node){
		"tcp": func(n *yaml.Node) {
			if r.TCP = d.boolean(n, w+".tcp"); r.TCP {
				kinds++
			}
		},
		"http": func(n *yaml.Node) {
			r.HTTPPath, _ = d.str(n, w+".http")
			if !strings.HasPrefix(r.HTTPPath, "/") {
				d.errorf(n, "%s.http %q: want a path starting with /, such as /healthz", w, r.HTTPPath)
			}
			kinds++
		},
		"status": func(n *yaml.Node) { r.HTTPStatus = d.bounded(n, w+".status", 100, 599) },
		"command": func(n *yaml.Node) {
			if r.Command = d.strList(n, w+".command"); len(r.Command) == 0 {
				d.errorf(n, "%s.command is empty: give the command and its arguments as a list", w)
			}
			kinds++
		},
		"timeout":  func(n *yaml.Node) { r.Timeout = d.duration(n, w+".timeout") },
		"interval": func(n *yaml.Node) { r.Interval = d.duration(n, w+".interval") },
	})
	switch {
	case kinds > 1:
		d.errorf(n, "%s gives more than one of tcp, http and command: give one", w)
	case kinds == 0:
		r.TCP = true
	}
	if r.HTTPStatus != 0 && r.HTTPPath == "" {
		d.errorf(n, "%s.status needs http: PATH", w)
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultReadyTimeout
	}
	if r.Interval == 0 {
		r.Interval = DefaultReadyInterval
	}
	return r
}

// requestFields returns the handlers of an HTTPRequest's fields, for the
// mappings that embed one (checks, consistency, load).
func (d *decoder) requestFields(r *HTTPRequest, w string) map[string]func(*yaml.Node) {
	return map[string]func(*yaml.Node){
		"method": func(n *yaml.Node) {
			r.Method, _ = d.str(n, w+".method")
			r.Method = strings.ToUpper(r.Method)
			if r.Method == "" || strings.ContainsAny(r.Method, " \t\r\n/:") {
				d.errorf(n, "%s.method %q is not an HTTP method such as GET or POST", w, r.Method)
			}
		},
		"path": func(n *yaml.Node) {
			r.Path, _ = d.str(n, w+".path")
			d.checkTemplate(n, r.Path)
			if !strings.HasPrefix(r.Path, "/") {
				d.errorf(n, "%s.path %q: want a path starting with /; the host is always the service's published loopback address", w, r.Path)
			}
		},
		"headers": func(n *yaml.Node) { r.Headers = d.headers(n, w+".headers") },
		"body": func(n *yaml.Node) {
			r.Body, _ = d.str(n, w+".body")
			d.checkTemplate(n, r.Body)
		},
		"timeout": func(n *yaml.Node) { r.Timeout = d.duration(n, w+".timeout") },
	}
}

// finishRequest applies defaults and reports a missing path.
func (d *decoder) finishRequest(r *HTTPRequest, item *yaml.Node, w, name string) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultRequestTime
	}
	if r.Path == "" {
		d.invalidf(item, "%s (%s) needs a path, such as /status", w, name)
	}
}

// headers reads a mapping of header names to values, in file order.
func (d *decoder) headers(n *yaml.Node, what string) []Header {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of header names to values, not %s", what, kindName(n))
		return nil
	}
	var out []Header
	seen := map[string]bool{}
	for _, kv := range d.mergedPairs(n, what, 0) {
		k := kv[0].Value
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			d.errorf(kv[0], "%s: %q is not a header name", what, k)
			continue
		}
		if canon := http.CanonicalHeaderKey(k); seen[canon] {
			d.errorf(kv[0], "%s: header %q appears twice", what, k)
			continue
		} else {
			seen[canon] = true
		}
		v, ok := d.str(kv[1], what+"."+k)
		if !ok {
			continue
		}
		d.checkTemplate(kv[1], v)
		out = append(out, Header{Key: k, Value: v, Pos: d.pos(kv[0])})
	}
	return out
}

func (d *decoder) httpChecks(n *yaml.Node, what string) []HTTPCheck {
	var out []HTTPCheck
	d.seq(n, what, func(i int, item *yaml.Node) {
		t := HTTPCheck{Pos: d.pos(item)}
		w := fmt.Sprintf("%s[%d]", what, i)
		d.inTest(&t.Invalid, func() {
			h := d.requestFields(&t.Request, w)
			h["name"] = func(n *yaml.Node) { t.Name = d.name(n, w) }
			h["platforms"] = func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") }
			h["status"] = func(n *yaml.Node) { t.Status = d.bounded(n, w+".status", 100, 599) }
			h["expectedHeaders"] = func(n *yaml.Node) {
				t.Headers = d.headers(n, w+".expectedHeaders")
				for _, hd := range t.Headers {
					d.checkRegexAt(hd.Pos, w+".expectedHeaders."+hd.Key, hd.Value)
				}
			}
			h["json"] = func(n *yaml.Node) { t.JSON = d.jsonExpects(n, w+".json") }
			h["expectedBody"] = func(n *yaml.Node) { t.Body = d.regexes(n, w+".expectedBody") }
			h["excludedBody"] = func(n *yaml.Node) { t.ExcludedBody = d.regexes(n, w+".excludedBody") }
			d.fields(item, w, h)
			if t.Name == "" {
				d.invalidf(item, "%s needs a name", w)
			}
			d.finishRequest(&t.Request, item, w, t.Name)
		})
		if t.Status == 0 {
			t.Status = http.StatusOK
		}
		out = append(out, t)
	})
	return out
}

// checkRegexAt is checkRegex for a value whose node is gone (a header).
func (d *decoder) checkRegexAt(p Pos, what, s string) {
	d.checkRegex(&yaml.Node{Line: p.Line, Column: p.Column}, what, s)
}

var jsonTypes = []string{"string", "number", "integer", "boolean", "null", "object", "array"}

func (d *decoder) jsonExpects(n *yaml.Node, what string) []JSONExpect {
	var out []JSONExpect
	d.seq(n, what, func(i int, item *yaml.Node) {
		e := JSONExpect{Pos: d.pos(item)}
		w := fmt.Sprintf("%s[%d]", what, i)
		pathSet := false
		d.fields(item, w, map[string]func(*yaml.Node){
			"path": func(n *yaml.Node) {
				pathSet = true
				e.Path, _ = d.str(n, w+".path")
				if _, err := parseJSONPath(e.Path); err != nil {
					d.errorf(n, "%s.path: %v", w, err)
				}
			},
			"equals": func(n *yaml.Node) {
				e.HasEquals = true
				e.Equals = d.jsonValue(n, w+".equals", 0)
			},
			"type": func(n *yaml.Node) {
				e.Type, _ = d.str(n, w+".type")
				if !containsString(jsonTypes, e.Type) {
					d.errorf(n, "%s.type %q: want one of %s", w, e.Type, strings.Join(jsonTypes, ", "))
				}
			},
			"matches": func(n *yaml.Node) {
				e.Matches, _ = d.str(n, w+".matches")
				d.checkTemplate(n, e.Matches)
				d.checkRegex(n, w+".matches", e.Matches)
			},
			"absent": func(n *yaml.Node) { e.Absent = d.boolean(n, w+".absent") },
		})
		if !pathSet {
			d.invalidf(item, "%s needs a path (\"\" for the whole body)", w)
		}
		if e.Absent && (e.HasEquals || e.Type != "" || e.Matches != "") {
			d.errorf(item, "%s: absent: true cannot be combined with equals, type or matches", w)
		}
		out = append(out, e)
	})
	return out
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// jsonValue converts a YAML node to the value encoding/json would decode
// from the same JSON: numbers as float64, mappings as map[string]any.
func (d *decoder) jsonValue(n *yaml.Node, what string, depth int) any {
	n = resolve(n)
	if depth > 32 {
		d.errorf(n, "%s nests deeper than 32", what)
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			return n.Value == "true" || yaml11Bools[n.Value]
		case "!!int", "!!float":
			f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
			if err != nil {
				if i, ierr := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); ierr == nil {
					return float64(i)
				}
				d.errorf(n, "%s: %q is not a number JSON can hold", what, n.Value)
				return nil
			}
			return f
		}
		d.checkTemplate(n, n.Value)
		return n.Value
	case yaml.SequenceNode:
		l := []any{}
		for i, c := range n.Content {
			l = append(l, d.jsonValue(c, fmt.Sprintf("%s[%d]", what, i), depth+1))
		}
		return l
	case yaml.MappingNode:
		m := map[string]any{}
		for _, kv := range d.mergedPairs(n, what, 0) {
			m[kv[0].Value] = d.jsonValue(kv[1], what+"."+kv[0].Value, depth+1)
		}
		return m
	}
	d.errorf(n, "%s: unexpected YAML node", what)
	return nil
}

func (d *decoder) httpConsistency(n *yaml.Node, what string) []HTTPConsistency {
	var out []HTTPConsistency
	d.seq(n, what, func(i int, item *yaml.Node) {
		t := HTTPConsistency{Pos: d.pos(item)}
		w := fmt.Sprintf("%s[%d]", what, i)
		d.inTest(&t.Invalid, func() {
			h := d.requestFields(&t.Request, w)
			h["name"] = func(n *yaml.Node) { t.Name = d.name(n, w) }
			h["platforms"] = func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") }
			h["compareHeaders"] = func(n *yaml.Node) { t.Headers = d.strList(n, w+".compareHeaders") }
			h["ignore"] = func(n *yaml.Node) {
				t.Ignore = d.strList(n, w+".ignore")
				for _, p := range t.Ignore {
					if _, err := parseJSONPath(p); err != nil || p == "" {
						d.errorf(n, "%s.ignore: %q is not a JSON path such as items[0].time", w, p)
					}
				}
			}
			h["raw"] = func(n *yaml.Node) { t.Raw = d.boolean(n, w+".raw") }
			d.fields(item, w, h)
			if t.Name == "" {
				d.invalidf(item, "%s needs a name", w)
			}
			d.finishRequest(&t.Request, item, w, t.Name)
		})
		out = append(out, t)
	})
	return out
}

func (d *decoder) loadTest(n *yaml.Node, w string) *LoadTest {
	t := &LoadTest{Pos: d.pos(n)}
	d.inTest(&t.Invalid, func() {
		h := d.requestFields(&t.Request, w)
		h["name"] = func(n *yaml.Node) { t.Name = d.name(n, w) }
		h["requests"] = func(n *yaml.Node) { t.Requests = d.bounded(n, w+".requests", 1, MaxLoadRequests) }
		h["concurrency"] = func(n *yaml.Node) { t.Concurrency = d.bounded(n, w+".concurrency", 1, MaxLoadConcurrency) }
		h["duration"] = func(n *yaml.Node) {
			if t.Duration = d.duration(n, w+".duration"); t.Duration > MaxLoadDuration {
				d.errorf(n, "%s.duration %s is longer than %s", w, t.Duration, MaxLoadDuration)
			}
		}
		h["warmup"] = func(n *yaml.Node) { t.Warmup = d.bounded(n, w+".warmup", 0, MaxLoadRequests) }
		h["successStatus"] = func(n *yaml.Node) { t.SuccessStatus = d.bounded(n, w+".successStatus", 100, 599) }
		h["minSuccessRate"] = func(n *yaml.Node) { t.MinSuccessRate = d.rate(n, w+".minSuccessRate") }
		h["maxP95"] = func(n *yaml.Node) { t.MaxP95 = d.duration(n, w+".maxP95") }
		h["maxP99"] = func(n *yaml.Node) { t.MaxP99 = d.duration(n, w+".maxP99") }
		h["minRPS"] = func(n *yaml.Node) {
			if r, ok := d.number(n, w+".minRPS"); ok && r > 0 {
				t.MinRPS = r
			} else if ok {
				d.errorf(n, "%s.minRPS must be positive", w)
			}
		}
		d.fields(n, w, h)
		if t.Request.Path == "" {
			t.Request.Path = "/"
		}
		d.finishRequest(&t.Request, n, w, t.Name)
	})
	if t.Name == "" {
		t.Name = "load"
	}
	if t.Requests == 0 && t.Duration == 0 {
		t.Requests = DefaultLoadRequests
	}
	if t.Concurrency == 0 {
		t.Concurrency = DefaultLoadConcurrency
	}
	if t.Requests > 0 && t.Concurrency > t.Requests {
		t.Concurrency = t.Requests
	}
	return t
}

// number reads a YAML number (or a string holding one).
func (d *decoder) number(n *yaml.Node, what string) (float64, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		if f, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil {
			return f, true
		}
	}
	d.errorf(n, "%s must be a number, not %s", what, kindName(n))
	return 0, false
}

// rate reads a success rate: a number from 0 to 1, or a percentage
// ("99.5%").
func (d *decoder) rate(n *yaml.Node, what string) *float64 {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		s := strings.TrimSpace(n.Value)
		if p, ok := strings.CutSuffix(s, "%"); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(p), 64); err == nil && f >= 0 && f <= 100 {
				f /= 100
				return &f
			}
		} else if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
			return &f
		}
	}
	d.errorf(n, "%s: %s is not a rate: write a number from 0 to 1 (0.99) or a percentage (\"99%%\")", what, kindName(n))
	return nil
}

// faultKinds are the kinds of fault internal/fault injects.
var faultKinds = []string{"latency", "loss", "partition", "kill", "cpu", "memory"}

func (d *decoder) faultTests(n *yaml.Node, what string) []FaultTest {
	var out []FaultTest
	d.seq(n, what, func(i int, item *yaml.Node) {
		t := FaultTest{Pos: d.pos(item)}
		w := fmt.Sprintf("%s[%d]", what, i)
		d.inTest(&t.Invalid, func() {
			d.fields(item, w, d.faultFields(&t, w))
			if t.Name == "" {
				d.invalidf(item, "%s needs a name", w)
			}
			switch {
			case t.Kind == "":
				d.invalidf(item, "%s (%s) needs a kind: one of %s", w, t.Name, strings.Join(faultKinds, ", "))
			case t.Kind != "kill" && t.Duration == 0:
				d.invalidf(item, "%s (%s) needs a duration: how long the %s fault lasts, such as 5s", w, t.Name, t.Kind)
			case t.Kind == "latency" && t.Delay == 0:
				d.invalidf(item, "%s (%s) needs a delay, such as 100ms", w, t.Name)
			case t.Kind == "loss" && t.Loss == 0:
				d.invalidf(item, "%s (%s) needs loss: the percentage of packets dropped", w, t.Name)
			case t.Kind == "cpu" && t.CPUs == 0:
				d.invalidf(item, "%s (%s) needs cpus: the CPU quota, such as 0.2", w, t.Name)
			case t.Kind == "memory" && t.Memory == 0:
				d.invalidf(item, "%s (%s) needs memory: the limit, such as 32m", w, t.Name)
			}
		})
		out = append(out, t)
	})
	return out
}

func (d *decoder) faultFields(t *FaultTest, w string) map[string]func(*yaml.Node) {
	dur := func(dst *time.Duration, key string) func(*yaml.Node) {
		return func(n *yaml.Node) {
			if *dst = d.duration(n, w+"."+key); *dst > MaxFaultDuration {
				d.errorf(n, "%s.%s %s is longer than %s", w, key, *dst, MaxFaultDuration)
			}
		}
	}
	phase := func(dst **PhaseExpect, key string) func(*yaml.Node) {
		return func(n *yaml.Node) {
			p := &PhaseExpect{}
			d.fields(n, w+"."+key, map[string]func(*yaml.Node){
				"minSuccessRate": func(n *yaml.Node) { p.MinSuccessRate = d.rate(n, w+"."+key+".minSuccessRate") },
				"maxP95":         func(n *yaml.Node) { p.MaxP95 = d.duration(n, w+"."+key+".maxP95") },
			})
			*dst = p
		}
	}
	return map[string]func(*yaml.Node){
		"name":      func(n *yaml.Node) { t.Name = d.name(n, w) },
		"platforms": func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
		"kind": func(n *yaml.Node) {
			t.Kind, _ = d.str(n, w+".kind")
			if !containsString(faultKinds, t.Kind) {
				msg := fmt.Sprintf("%s.kind %q: want one of %s", w, t.Kind, strings.Join(faultKinds, ", "))
				if s := suggest(t.Kind, faultKinds); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				d.errorf(n, "%s", msg)
			}
		},
		"duration":      dur(&t.Duration, "duration"),
		"delay":         dur(&t.Delay, "delay"),
		"jitter":        dur(&t.Jitter, "jitter"),
		"recoverWithin": dur(&t.RecoverWithin, "recoverWithin"),
		"loss": func(n *yaml.Node) {
			s := strings.TrimSuffix(strings.TrimSpace(resolve(n).Value), "%")
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 || f > 100 {
				d.errorf(n, "%s.loss %q: want a percentage above 0, up to 100", w, resolve(n).Value)
				return
			}
			t.Loss = f
		},
		"cpus": func(n *yaml.Node) {
			if f, ok := d.number(n, w+".cpus"); ok && (f <= 0 || f > 1024) {
				d.errorf(n, "%s.cpus %v: want a positive number of CPUs, such as 0.5", w, f)
			} else {
				t.CPUs = f
			}
		},
		"memory": func(n *yaml.Node) {
			s, _ := d.str(n, w+".memory")
			b, err := cgroup.ParseSize(s)
			if err != nil || b <= 0 {
				d.errorf(n, "%s.memory %q: want a size such as 64m or 1g", w, s)
				return
			}
			t.Memory = b
		},
		"signal": func(n *yaml.Node) { t.Signal, _ = d.str(n, w+".signal") },
		"load": func(n *yaml.Node) {
			if !isNull(n) {
				t.Load = d.loadTest(n, w+".load")
			}
		},
		"during": phase(&t.During, "during"),
		"after":  phase(&t.After, "after"),
		"ifUnsupported": func(n *yaml.Node) {
			t.IfUnsupported, _ = d.str(n, w+".ifUnsupported")
			if t.IfUnsupported != "fail" && t.IfUnsupported != "skip" {
				d.errorf(n, "%s.ifUnsupported %q: want fail (the default: a fault this host cannot inject fails its row) or skip (the row is skipped, with the reason)", w, t.IfUnsupported)
			}
		},
	}
}
