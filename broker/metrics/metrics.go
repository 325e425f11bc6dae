// Package metrics serves the broker's Prometheus metrics and health check
// (metrics_listen in broker.toml). Calls are counted by a wire.Backend
// wrapper outside the access policy, so a denied call counts with the
// answer the client got; the broker reports worker starts and crashes,
// connections and denials through the methods here, and HA groups through
// a function read at each scrape. All methods are safe on a nil *Metrics:
// with metrics off nothing is wrapped or counted.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Metrics is the broker's set of metrics.
type Metrics struct {
	reg         *prometheus.Registry
	calls       *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections prometheus.Gauge
	starts      *prometheus.CounterVec
	crashes     *prometheus.CounterVec
	denials     *prometheus.CounterVec
	modLatency  *prometheus.HistogramVec

	// Also, if set, brings families counted in another process (a
	// hand-off worker serves the calls): they replace this process's
	// families of the same name at each scrape.
	Also func() ([]*dto.MetricFamily, error)

	// Per function, resolved at its first call (so that functions never
	// called export no series); then the call path does no label lookup.
	fn [wire.NumCalls]perFunction
}

type perFunction struct {
	once sync.Once
	ok   prometheus.Counter
	dur  prometheus.Observer
}

// MemberState is one HA group member's state, for the group gauges.
type MemberState struct {
	Group, Member string
	Up            bool
	Calls         uint64
}

// ModuleSessions is a shared module instance's session counts.
type ModuleSessions struct {
	Module        string
	Virtual, Real int
}

// New makes the metrics; groups and sessions, if not nil, are read at
// every scrape.
func New(groups func() []MemberState, sessions func() []ModuleSessions) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gop11_calls_total",
			Help: "PKCS #11 calls answered, by function and return value."}, []string{"function", "rv"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gop11_call_duration_seconds",
			Help:    "Time from a call's arrival to its answer, by function.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10)}, []string{"function"}), // 10 us to 2.6 s
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gop11_connections",
			Help: "Client connections open."}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gop11_worker_starts_total",
			Help: "Worker processes started, by module."}, []string{"module"}),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gop11_worker_crashes_total",
			Help: "Worker processes that crashed, were killed for a hung call, or exited with an error, by module."}, []string{"module"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gop11_policy_denials_total",
			Help: "Calls the access policy denied, by [[client]] and function."}, []string{"client", "function"}),
		modLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gop11_module_call_duration_seconds",
			Help:    "Time a module's worker or instance took to answer, by module and function.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10)}, []string{"module", "function"}),
	}
	m.reg.MustRegister(m.calls, m.latency, m.connections, m.starts, m.crashes, m.denials, m.modLatency)
	if groups != nil {
		m.reg.MustRegister(groupCollector(groups))
	}
	if sessions != nil {
		m.reg.MustRegister(sessionCollector(sessions))
	}
	return m
}

// Wrap counts every call next answers.
func (m *Metrics) Wrap(next wire.BackendFunc) wire.BackendFunc {
	if m == nil {
		return next
	}
	return func(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
		start := time.Now()
		resp, err := next(ctx, id, req)
		d := wire.Lookup(id)
		if d == nil {
			return resp, err
		}
		f := &m.fn[id]
		f.once.Do(func() {
			f.ok, f.dur = m.calls.WithLabelValues(d.Name, "CKR_OK"), m.latency.WithLabelValues(d.Name)
		})
		f.dur.Observe(time.Since(start).Seconds())
		if err == nil {
			f.ok.Inc()
		} else {
			m.calls.WithLabelValues(d.Name, rvName(err)).Inc()
		}
		return resp, err
	}
}

func rvName(err error) string {
	if rv, ok := err.(wire.RV); ok {
		return rv.String()
	}
	return "error" // not a CK_RV: the connection's failure
}

// ModuleCall times a call module answered (the router's hop to it and
// the module's work).
func (m *Metrics) ModuleCall(module string, id wire.CallID, took time.Duration) {
	if m != nil {
		m.modLatency.WithLabelValues(module, id.String()).Observe(took.Seconds())
	}
}

// Connected and Disconnected follow the open connections.
func (m *Metrics) Connected() {
	if m != nil {
		m.connections.Inc()
	}
}

func (m *Metrics) Disconnected() {
	if m != nil {
		m.connections.Dec()
	}
}

// WorkerStarted and WorkerDied count module's worker processes.
func (m *Metrics) WorkerStarted(module string) {
	if m != nil {
		m.starts.WithLabelValues(module).Inc()
	}
}

func (m *Metrics) WorkerDied(module string) {
	if m != nil {
		m.crashes.WithLabelValues(module).Inc()
	}
}

// Denied counts a call the policy of [[client]] client denied.
func (m *Metrics) Denied(client string, id wire.CallID) {
	if m != nil {
		m.denials.WithLabelValues(client, id.String()).Inc()
	}
}

// groupCollector exports HA group members' state at scrape time.
type groupCollector func() []MemberState

var (
	memberUp = prometheus.NewDesc("gop11_group_member_up",
		"1 while a group member takes calls, 0 while it is down.", []string{"group", "member"}, nil)
	memberCalls = prometheus.NewDesc("gop11_group_member_calls_total",
		"Calls a group member answered, every connection together.", []string{"group", "member"}, nil)
)

func (g groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- memberUp
	ch <- memberCalls
}

func (g groupCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range g() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(memberUp, prometheus.GaugeValue, up, s.Group, s.Member)
		ch <- prometheus.MustNewConstMetric(memberCalls, prometheus.CounterValue, float64(s.Calls), s.Group, s.Member)
	}
}

// sessionCollector exports shared instances' sessions at scrape time.
type sessionCollector func() []ModuleSessions

var moduleSessions = prometheus.NewDesc("gop11_sessions",
	"Sessions of a shared module instance (isolation shared or inprocess): the clients' virtual ones and the module's real ones.",
	[]string{"module", "kind"}, nil)

func (f sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- moduleSessions }

func (f sessionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range f() {
		ch <- prometheus.MustNewConstMetric(moduleSessions, prometheus.GaugeValue, float64(s.Virtual), s.Module, "virtual")
		ch <- prometheus.MustNewConstMetric(moduleSessions, prometheus.GaugeValue, float64(s.Real), s.Module, "real")
	}
}

// Health is the broker's check of its modules: nil when each answers
// C_GetInfo, else the modules that do not and why.
type Health func(ctx context.Context) map[string]string

// healthTTL spares the modules a check per scrape: a process-isolated
// module's check starts a worker.
const healthTTL = 2 * time.Second

// Handler serves /metrics and /healthz (200 while every module answers,
// 503 with a JSON reason otherwise).
func (m *Metrics) Handler(health Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.GathererFunc(m.gather), promhttp.HandlerOpts{}))
	var mu sync.Mutex
	var at time.Time
	var failed map[string]string
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if time.Since(at) > healthTTL {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			failed, at = health(ctx), time.Now()
			cancel()
		}
		f := failed
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if len(f) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"status": "unhealthy", "modules": f})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "ok"})
	})
	return mux
}

// gather is this process's families, and Also's in place of any of the
// same name. Without Also's (the worker is down) the scrape still
// answers, with an error the handler logs.
func (m *Metrics) gather() ([]*dto.MetricFamily, error) {
	own, err := m.reg.Gather()
	if m.Also == nil || err != nil {
		return own, err
	}
	more, err := m.Also()
	if err != nil {
		return own, err
	}
	names := map[string]bool{}
	for _, f := range more {
		names[f.GetName()] = true
	}
	for _, f := range own {
		if !names[f.GetName()] {
			more = append(more, f)
		}
	}
	return more, nil
}

// Write encodes the metrics for Read (protobuf, length-delimited): a
// hand-off worker's answer to the broker.
func (m *Metrics) Write(w io.Writer) error {
	fams, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// Read decodes what Write wrote.
func Read(r io.Reader) ([]*dto.MetricFamily, error) {
	dec := expfmt.NewDecoder(r, expfmt.NewFormat(expfmt.TypeProtoDelim))
	var out []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		err := dec.Decode(f)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}
