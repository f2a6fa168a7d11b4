package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MetricValue returns the value of the sample named name, with no labels,
// in a Prometheus text exposition, and whether there is one.
func MetricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || !strings.HasPrefix(rest, " ") {
			continue // another metric, a labelled sample or a comment
		}
		fields := strings.Fields(rest) // value, then an optional timestamp
		if len(fields) == 0 || len(fields) > 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		return v, true
	}
	return 0, false
}

// MetricsCounter returns a Config.ServerWrites function that reads the
// counter name from the Prometheus endpoint at metricsURL.
func MetricsCounter(client *http.Client, metricsURL, name string) func(context.Context) (float64, error) {
	return func(ctx context.Context) (float64, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %s", metricsURL, resp.Status)
		}
		v, ok := MetricValue(body, name)
		if !ok {
			return 0, fmt.Errorf("%s: no %s", metricsURL, name)
		}
		return v, nil
	}
}
