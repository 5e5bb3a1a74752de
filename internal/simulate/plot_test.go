package simulate

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// Plot writes well-formed SVG: two panels with a line per result, and a legend naming each.
func TestPlot(t *testing.T) {
	tr := trace(t, "0 3600 1", "60 600 2", "4000 60 1")
	var results []Result
	for _, keys := range []string{"idle=120s", "idle=1800s"} {
		r, err := Run(t.Context(), tr, setting(t, keys), Options{Series: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Series) < 4 {
			t.Fatalf("%s recorded %d samples, want the cluster's changes", keys, len(r.Series))
		}
		results = append(results, r)
	}
	var b strings.Builder
	if err := Plot(&b, "a <tiny> trace", results); err != nil {
		t.Fatal(err)
	}
	lines := 0
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Plot wrote SVG that does not parse: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	// The nodes line ends at 0: the cluster scaled down at the replay's end, and the axis
	// runs past it so that the step down shows.
	pts := strings.Fields(strings.SplitN(strings.SplitN(b.String(), `points="`, 2)[1], `"`, 2)[0])
	if last, want := pts[len(pts)-1], fmt.Sprintf("%d,%d.0", marginLeft+plotWidth, marginTop+plotHeight); last != want {
		t.Errorf("the nodes line ends at %s, want %s: no nodes", last, want)
	}
	if lines != 4 {
		t.Errorf("Plot drew %d lines, want 4: nodes and queue for each of 2 settings", lines)
	}
	for _, want := range []string{"idle=120s: STANDARD_NC24", "idle=1800s: STANDARD_NC24", "a &lt;tiny&gt; trace", "nodes billed", "jobs queued"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Plot lacks %q", want)
		}
	}
}

// A column holds the most its samples reach; a sample lasts until the next one, and counts in
// every column it touches.
func TestColumns(t *testing.T) {
	end := time.Duration(plotWidth) // a nanosecond per column
	series := []Sample{{At: 0, Nodes: 1}, {At: 1, Nodes: 5}, {At: 2, Nodes: 2}, {At: 500, Nodes: 0}}
	got := columns(series, func(s Sample) int { return s.Nodes }, end)
	want := map[int]int{0: 1, 1: 5, 2: 5, 3: 2, 499: 2, 500: 2, 501: 0, plotWidth: 0}
	for c, v := range want {
		if got[c] != v {
			t.Errorf("column %d = %d, want %d", c, got[c], v)
		}
	}
}

// Value ticks are whole numbers, one to four of them past zero, the last at or above the peak.
func TestValueTicks(t *testing.T) {
	for _, tt := range []struct{ peak, step, top int }{
		{1, 1, 1}, {3, 1, 3}, {4, 1, 4}, {5, 2, 6}, {8, 2, 8}, {9, 5, 10}, {10, 5, 10},
		{19, 5, 20}, {20, 5, 20}, {400, 100, 400}, {401, 200, 600}, {82247, 50000, 100000}, {100000, 50000, 100000},
	} {
		if step, top := valueTicks(tt.peak); step != tt.step || top != tt.top {
			t.Errorf("valueTicks(%d) = %d, %d; want step %d, top %d", tt.peak, step, top, tt.step, tt.top)
		}
	}
}

// The first 32 series are drawn each in its own colour and dash.
func TestStrokesDiffer(t *testing.T) {
	seen := map[string]int{}
	for j := range 32 {
		if k, ok := seen[stroke(j)]; ok {
			t.Errorf("series %d and %d are both drawn %s", k, j, stroke(j))
		}
		seen[stroke(j)] = j
	}
}
