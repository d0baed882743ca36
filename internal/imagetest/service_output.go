package imagetest

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// writeServicesText writes each service test's results side by side, one
// column per platform it ran on: how it ran, when it was ready, the load
// numbers and each fault's phases.
func (r *Report) writeServicesText(w io.Writer) error {
	for _, s := range r.Services {
		var cols []int
		for j, res := range s.Results {
			if res.Status != "" {
				cols = append(cols, j)
			}
		}
		if len(cols) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nService Test: %s (%s:%d)\n", s.Name, s.Pos.File, s.Pos.Line)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		row := func(label string, cell func(res *ServiceResult) string) {
			fmt.Fprint(tw, "  "+label)
			for _, j := range cols {
				fmt.Fprint(tw, "\t"+cell(&s.Results[j]))
			}
			fmt.Fprintln(tw)
		}
		row("", func(res *ServiceResult) string { return columnName(res.Platform) })
		row("status", func(res *ServiceResult) string { return statusWord(res.Status) })
		row("emulation", func(res *ServiceResult) string { return orDash(res.Emulation) })
		row("address", func(res *ServiceResult) string { return orDash(res.Address) })
		row("ready", func(res *ServiceResult) string {
			if !res.Readiness.Ready {
				return "NOT READY"
			}
			return fmt.Sprintf("%s (%d probes)", fmtDuration(res.Readiness.Took), res.Readiness.Attempts)
		})
		if anyResult(s, cols, func(res *ServiceResult) bool { return res.Restarts > 0 }) {
			row("restarts", func(res *ServiceResult) string { return fmt.Sprint(res.Restarts) })
		}
		if anyResult(s, cols, func(res *ServiceResult) bool { return res.Load != nil }) {
			row("load", func(res *ServiceResult) string {
				if res.Load == nil {
					return "-"
				}
				return fmt.Sprintf("%d at c=%d", res.Load.Requests, res.Load.Concurrency)
			})
			loadRows(row, func(res *ServiceResult) *LoadStats { return res.Load })
			row("load result", func(res *ServiceResult) string {
				if res.Load == nil {
					return "-"
				}
				if len(res.LoadFailures) > 0 {
					return "FAIL"
				}
				return "ok"
			})
		}
		for k := 0; ; k++ {
			var name string
			for _, j := range cols {
				if k < len(s.Results[j].Faults) {
					name = s.Results[j].Faults[k].Name
				}
			}
			if name == "" {
				break
			}
			fault := func(res *ServiceResult) *FaultResult {
				if k < len(res.Faults) {
					return &res.Faults[k]
				}
				return nil
			}
			row("fault "+name, func(res *ServiceResult) string {
				if f := fault(res); f != nil {
					if f.Status == StatusSkip {
						return "skip (not injected, see below)"
					}
					if f.Err != "" {
						return "FAIL (not injected)"
					}
					return statusWord(f.Status)
				}
				return "-"
			})
			for _, ph := range []struct {
				name string
				get  func(*FaultResult) *LoadStats
			}{{"before", func(f *FaultResult) *LoadStats { return f.Before }}, {"during", func(f *FaultResult) *LoadStats { return f.During }}, {"after", func(f *FaultResult) *LoadStats { return f.After }}} {
				if !anyResult(s, cols, func(res *ServiceResult) bool { f := fault(res); return f != nil && ph.get(f) != nil }) {
					continue
				}
				row("  "+ph.name, func(res *ServiceResult) string {
					f := fault(res)
					if f == nil || ph.get(f) == nil {
						return "-"
					}
					st := ph.get(f)
					return fmt.Sprintf("%s ok, p50 %s, p95 %s", percent(st.SuccessRate), fmtLatency(st.P50), fmtLatency(st.P95))
				})
			}
			if anyResult(s, cols, func(res *ServiceResult) bool { f := fault(res); return f != nil && f.Recovered }) {
				row("  recovered", func(res *ServiceResult) string {
					f := fault(res)
					if f == nil || !f.Recovered {
						return "-"
					}
					return "after " + fmtDuration(f.RecoveryTime)
				})
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// A skipped fault says why in the report, never silently.
		for _, j := range cols {
			for _, f := range s.Results[j].Faults {
				if f.Status == StatusSkip && f.Err != "" {
					fmt.Fprintf(w, "  fault %s skipped on %s (ifUnsupported: skip): %s\n", f.Name, columnName(s.Results[j].Platform), f.Err)
				}
			}
		}
	}
	return nil
}

// loadRows adds the rows of a load's numbers.
func loadRows(row func(string, func(*ServiceResult) string), get func(*ServiceResult) *LoadStats) {
	num := func(label string, f func(*LoadStats) string) {
		row(label, func(res *ServiceResult) string {
			if st := get(res); st != nil {
				return f(st)
			}
			return "-"
		})
	}
	num("  success", func(st *LoadStats) string { return percent(st.SuccessRate) })
	num("  req/s", func(st *LoadStats) string { return fmt.Sprintf("%.1f", st.RPS) })
	num("  p50", func(st *LoadStats) string { return fmtLatency(st.P50) })
	num("  p95", func(st *LoadStats) string { return fmtLatency(st.P95) })
	num("  p99", func(st *LoadStats) string { return fmtLatency(st.P99) })
	num("  min / max", func(st *LoadStats) string { return fmtLatency(st.Min) + " / " + fmtLatency(st.Max) })
	num("  errors", func(st *LoadStats) string {
		if st.Errors == 0 {
			return "0"
		}
		return errorKinds(st.ErrorKinds)
	})
}

func anyResult(s ServiceReport, cols []int, f func(*ServiceResult) bool) bool {
	for _, j := range cols {
		if f(&s.Results[j]) {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// junitServiceProperties are a platform's service numbers as properties of
// its JUnit suite: "service.NAME.load.rps" and so on.
func (r *Report) junitServiceProperties(j int) []junitProperty {
	var ps []junitProperty
	add := func(name, value string) { ps = append(ps, junitProperty{Name: name, Value: value}) }
	stats := func(prefix string, st *LoadStats) {
		add(prefix+".requests", fmt.Sprint(st.Requests))
		add(prefix+".successRate", fmt.Sprintf("%.4f", st.SuccessRate))
		add(prefix+".rps", fmt.Sprintf("%.1f", st.RPS))
		add(prefix+".p50", fmtLatency(st.P50))
		add(prefix+".p95", fmtLatency(st.P95))
		add(prefix+".p99", fmtLatency(st.P99))
	}
	for _, s := range r.Services {
		if j >= len(s.Results) || s.Results[j].Status == "" {
			continue
		}
		res := s.Results[j]
		prefix := "service." + s.Name
		add(prefix+".address", res.Address)
		if res.Readiness.Ready {
			add(prefix+".ready", fmtDuration(res.Readiness.Took))
		}
		if res.Load != nil {
			stats(prefix+".load", res.Load)
		}
		for _, f := range res.Faults {
			for _, ph := range []struct {
				name string
				st   *LoadStats
			}{{"before", f.Before}, {"during", f.During}, {"after", f.After}} {
				if ph.st != nil {
					stats(prefix+".fault."+f.Name+"."+ph.name, ph.st)
				}
			}
		}
	}
	return ps
}
