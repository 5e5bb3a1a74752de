package simulate

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Plot geometry, in SVG user units.
const (
	plotWidth  = 1000 // the plotting area of each panel
	plotHeight = 260
	marginLeft = 70
	marginTop  = 60
	panelGap   = 70
	legendRow  = 18
)

// plotColors tell the settings apart, in order.
var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// plotDashes tell apart series that run on top of each other: the first is solid, and each
// later one is drawn dashed over it, so the one beneath shows through the gaps.
var plotDashes = []string{"", "6 4", "2 3", "10 3 2 3"}

// stroke is the stroke of series j: no two of the first 32 alike.
func stroke(j int) string {
	s := fmt.Sprintf(`stroke="%s"`, plotColors[j%len(plotColors)])
	if d := plotDashes[(j+j/len(plotColors))%len(plotDashes)]; d != "" {
		s += fmt.Sprintf(` stroke-dasharray="%s"`, d)
	}
	return s
}

// Plot draws, as SVG, the nodes billed (top) and the jobs queued (bottom) over the time of
// each replay, one line per result, from the Series the replays recorded (Options.Series).
// Each point is the most of its column, so short peaks stay visible.
func Plot(w io.Writer, title string, results []Result) error {
	end := time.Duration(0)
	for _, r := range results {
		end = max(end, r.End)
	}
	// The time axis runs a little past the last change, so that the cluster's last step down
	// has columns of its own.
	end = max(end+end/50, time.Second)
	height := marginTop + 2*plotHeight + panelGap + 65 + legendRow*len(results)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		marginLeft+plotWidth+30, height, marginLeft+plotWidth+30, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15">%s</text>`+"\n", marginLeft, html.EscapeString(title))
	panels := []struct {
		label string
		value func(Sample) int
	}{
		{"nodes billed (starting, idle or busy)", func(s Sample) int { return s.Nodes }},
		{"jobs queued", func(s Sample) int { return s.Queued }},
	}
	for i, p := range panels {
		top := marginTop + i*(plotHeight+panelGap)
		cols := make([][]int, len(results))
		peak := 1
		for j, r := range results {
			cols[j] = columns(r.Series, p.value, end)
			for _, v := range cols[j] {
				peak = max(peak, v)
			}
		}
		step, ymax := valueTicks(peak)
		axes(&b, top, p.label, step, ymax, end)
		for j := range results {
			line(&b, top, cols[j], ymax, stroke(j))
		}
	}
	legendTop := marginTop + 2*plotHeight + panelGap + 62 // below the time axis's label
	for j, r := range results {
		y := legendTop + j*legendRow
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" %s stroke-width="3"/>`+"\n", marginLeft, y-4, marginLeft+24, y-4, stroke(j))
		legend := []rune(r.Setting.Name + ": " + r.Setting.Describe())
		if len(legend) > 150 { // what fits the width at 12 px
			legend = append(legend[:149], '…')
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", marginLeft+32, y, html.EscapeString(string(legend)))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// columns is the most a series reaches in each column of the plot: a sample holds until the
// next one.
func columns(series []Sample, value func(Sample) int, end time.Duration) []int {
	cols := make([]int, plotWidth+1)
	col := func(at time.Duration) int { return min(plotWidth, int(float64(at)/float64(end)*plotWidth)) }
	for i, s := range series {
		until := end
		if i+1 < len(series) {
			until = series[i+1].At
		}
		for c := col(s.At); c <= col(until); c++ {
			cols[c] = max(cols[c], value(s))
		}
	}
	return cols
}

// axes draws a panel's frame, its label, and ticks of values and of time.
func axes(b *strings.Builder, top int, label string, step, ymax int, end time.Duration) {
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", marginLeft, top-8, html.EscapeString(label))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", marginLeft, top, plotWidth, plotHeight)
	for v := 0; v <= ymax; v += step {
		y := int(yOf(top, v, ymax))
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", marginLeft, y, marginLeft+plotWidth, y)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", marginLeft-6, y+4, thousands(float64(v), 0))
	}
	unit, name := time.Hour, "hours"
	if end > 72*time.Hour {
		unit, name = 24*time.Hour, "days"
	} else if end < 3*time.Hour {
		unit, name = time.Minute, "minutes"
	}
	span := float64(end) / float64(unit)
	every := float64(niceCeil(int(math.Ceil(span / 8)))) // about 8 ticks
	for t := 0.0; t <= span; t += every {
		x := marginLeft + int(t/span*plotWidth)
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`+"\n", x, top+plotHeight, x, top+plotHeight+5)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+plotHeight+18, thousands(t, 0))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">time, %s</text>`+"\n", marginLeft+plotWidth/2, top+plotHeight+36, name)
}

// line draws one series of column values.
func line(b *strings.Builder, top int, cols []int, ymax int, stroke string) {
	fmt.Fprintf(b, `<polyline fill="none" %s stroke-width="1.5" points="`, stroke)
	for c, v := range cols {
		fmt.Fprintf(b, "%d,%.1f ", marginLeft+c, yOf(top, v, ymax))
	}
	b.WriteString(`"/>` + "\n")
}

// valueTicks is the step between a panel's value ticks, whole and nice, and the last tick:
// one to four steps, the last at or above peak.
func valueTicks(peak int) (step, top int) {
	step = niceCeil((peak + 3) / 4)
	return step, (peak + step - 1) / step * step
}

// headroom is the share of a panel's height above its last tick, so that a line at its peak
// clears the frame.
const headroom = 0.08

// yOf is where value v lies in the panel at top whose last tick is ymax.
func yOf(top, v, ymax int) float64 {
	return float64(top+plotHeight) - float64(v)/float64(ymax)*(1-headroom)*plotHeight
}

// niceCeil is the least of 1, 2 or 5 times a power of ten that is at least n.
func niceCeil(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}
