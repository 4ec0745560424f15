package kubernetes_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"lb/config"
	"lb/process"
)

// The manifests are checked the way `kubectl apply -k` would need them:
// every document parses and has its required fields, names referenced
// between objects exist (selectors, ports, ConfigMaps, Secrets, HPA and
// PDB targets), and the lb configuration in the ConfigMap passes lb's own
// validation and agrees with the objects around it (ports, probe token,
// the headless Service's DNS name, drain and grace periods).

// Only what the tests read; unknown fields are ignored.
type object struct {
	file       string
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   meta      `yaml:"metadata"`
	Spec       yaml.Node `yaml:"spec"`
}

type meta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type deploymentSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata meta    `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			ConfigMapKeyRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapKeyRef"`
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
			Exec *struct{} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path        string `yaml:"path"`
		Port        string `yaml:"port"`
		HTTPHeaders []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"httpHeaders"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port string `yaml:"port"`
	} `yaml:"tcpSocket"`
	Exec *struct{} `yaml:"exec"`
}

type serviceSpec struct {
	Type         string            `yaml:"type"`
	ClusterIP    string            `yaml:"clusterIP"`
	ExternalName string            `yaml:"externalName"`
	Selector     map[string]string `yaml:"selector"`
	Ports        []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable   *string `yaml:"minAvailable"`
	MaxUnavailable *string `yaml:"maxUnavailable"`
	Selector       struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

type hpaSpec struct {
	ScaleTargetRef struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Name       string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	MinReplicas int `yaml:"minReplicas"`
	MaxReplicas int `yaml:"maxReplicas"`
	Metrics     []struct {
		Type     string `yaml:"type"`
		Resource struct {
			Name string `yaml:"name"`
		} `yaml:"resource"`
	} `yaml:"metrics"`
}

type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

// stableAPI is the API version each kind must use: the GA ones.
var stableAPI = map[string]string{
	"Namespace":               "v1",
	"Service":                 "v1",
	"ConfigMap":               "v1",
	"Deployment":              "apps/v1",
	"PodDisruptionBudget":     "policy/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
}

// externalSecrets are created by hand, not by the manifests (no password
// in the repository); README.md says how.
var externalSecrets = []string{"backend-db"}

// manifests is everything kustomization.yaml applies, parsed.
type manifests struct {
	k       kustomization
	objects []object
	// configMaps: generated ConfigMap name → key → file (relative).
	configMaps map[string]map[string]string
}

func decodeAll(t *testing.T, file string, data []byte) []object {
	t.Helper()
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", file, i+1, err)
		}
		if o.Kind == "" && o.APIVersion == "" {
			continue // an empty document
		}
		o.file = fmt.Sprintf("%s (document %d)", file, i+1)
		out = append(out, o)
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{configMaps: map[string]map[string]string{}}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&m.k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if len(m.k.Resources) == 0 {
		t.Fatal("kustomization.yaml lists no resources")
	}
	for _, r := range m.k.Resources {
		data, err := os.ReadFile(r)
		if err != nil {
			t.Fatalf("kustomization.yaml resource: %v", err)
		}
		m.objects = append(m.objects, decodeAll(t, r, data)...)
	}
	for _, g := range m.k.ConfigMapGenerator {
		keys := map[string]string{}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				key, file = filepath.Base(f), f
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("configMapGenerator %s: %v", g.Name, err)
			}
			keys[key] = file
		}
		m.configMaps[g.Name] = keys
	}
	return m
}

func (m *manifests) find(kind, name string) *object {
	for i := range m.objects {
		if m.objects[i].Kind == kind && m.objects[i].Metadata.Name == name {
			return &m.objects[i]
		}
	}
	return nil
}

func (m *manifests) all(kind string) []*object {
	var out []*object
	for i := range m.objects {
		if m.objects[i].Kind == kind {
			out = append(out, &m.objects[i])
		}
	}
	return out
}

func spec[T any](t *testing.T, o *object) T {
	t.Helper()
	var s T
	if err := o.Spec.Decode(&s); err != nil {
		t.Fatalf("%s: %s %s spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
	return s
}

// subset reports whether every label of sel is in labels (and sel is not
// empty: an empty selector selects everything).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// selected returns the Deployments whose pods sel selects.
func (m *manifests) selected(t *testing.T, sel map[string]string) []*object {
	var out []*object
	for _, d := range m.all("Deployment") {
		if subset(sel, spec[deploymentSpec](t, d).Template.Metadata.Labels) {
			out = append(out, d)
		}
	}
	return out
}

// containerPort resolves a probe's or Service's port (a name or a
// number) in c; 0 when c has no such port.
func containerPort(c container, port string) int {
	for _, p := range c.Ports {
		if p.Name == port && port != "" || strconv.Itoa(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	return 0
}

// TestManifestsWellFormed: required fields, stable API versions, unique
// names, selectors that match their templates, probes and volumes that
// name what exists, resources on every container.
func TestManifestsWellFormed(t *testing.T) {
	m := load(t)
	seen := map[string]string{}
	for _, o := range m.objects {
		id := o.Kind + "/" + o.Metadata.Name
		switch {
		case o.Kind == "" || o.Metadata.Name == "":
			t.Errorf("%s: kind %q, metadata.name %q: both are required", o.file, o.Kind, o.Metadata.Name)
		case stableAPI[o.Kind] == "":
			t.Errorf("%s: kind %s is not one this test knows", o.file, o.Kind)
		case o.APIVersion != stableAPI[o.Kind]:
			t.Errorf("%s: %s apiVersion %q, want %q", o.file, id, o.APIVersion, stableAPI[o.Kind])
		}
		if o.Metadata.Namespace != "" && o.Metadata.Namespace != m.k.Namespace {
			t.Errorf("%s: %s in namespace %q; kustomization.yaml puts everything in %q", o.file, id, o.Metadata.Namespace, m.k.Namespace)
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("%s: %s already defined in %s", o.file, id, prev)
		}
		seen[id] = o.file
		if o.Kind != "Namespace" && o.Spec.Kind == 0 {
			t.Errorf("%s: %s has no spec", o.file, id)
		}
	}
	if m.k.Namespace == "" || m.find("Namespace", m.k.Namespace) == nil {
		t.Errorf("kustomization.yaml namespace %q: want one, defined by a Namespace object", m.k.Namespace)
	}

	for _, d := range m.all("Deployment") {
		s := spec[deploymentSpec](t, d)
		if !subset(s.Selector.MatchLabels, s.Template.Metadata.Labels) {
			t.Errorf("%s: Deployment %s selector %v does not match its template's labels %v", d.file, d.Metadata.Name, s.Selector.MatchLabels, s.Template.Metadata.Labels)
		}
		pod := s.Template.Spec
		if len(pod.Containers) == 0 {
			t.Errorf("%s: Deployment %s has no containers", d.file, d.Metadata.Name)
		}
		volumes := map[string]bool{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = true
			if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil && m.find("ConfigMap", v.ConfigMap.Name) == nil {
				t.Errorf("%s: volume %s: ConfigMap %s is neither generated nor defined", d.file, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !slices.Contains(externalSecrets, v.Secret.SecretName) {
				t.Errorf("%s: volume %s: Secret %s unknown", d.file, v.Name, v.Secret.SecretName)
			}
		}
		for _, c := range pod.Containers {
			where := fmt.Sprintf("%s: Deployment %s container %q", d.file, d.Metadata.Name, c.Name)
			if c.Name == "" || c.Image == "" {
				t.Errorf("%s: name and image are required", where)
			}
			if !slices.ContainsFunc(m.k.Images, func(i struct {
				Name string `yaml:"name"`
			}) bool {
				return i.Name == c.Image
			}) {
				t.Errorf("%s: image %q is not set by kustomization.yaml's images", where, c.Image)
			}
			for _, r := range []string{"cpu", "memory"} {
				if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
					t.Errorf("%s: resources.requests and .limits need %s", where, r)
				}
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: readiness and liveness probes are required", where)
			}
			for name, p := range map[string]*probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
				if p == nil {
					continue
				}
				port := ""
				switch {
				case p.HTTPGet != nil:
					port = p.HTTPGet.Port
				case p.TCPSocket != nil:
					port = p.TCPSocket.Port
				default:
					t.Errorf("%s: %s: want httpGet or tcpSocket (the image has no shell for exec)", where, name)
					continue
				}
				if containerPort(c, port) == 0 {
					t.Errorf("%s: %s port %q is not a port of the container", where, name, port)
				}
			}
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil {
				t.Errorf("%s: preStop exec needs a shell the image does not have; use sleep", where)
			}
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					t.Errorf("%s: volumeMount %s names no volume of the pod", where, vm.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !slices.Contains(externalSecrets, r.Name) {
					t.Errorf("%s: env %s: Secret %s unknown", where, e.Name, r.Name)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && m.configMaps[r.Name] == nil && m.find("ConfigMap", r.Name) == nil {
					t.Errorf("%s: env %s: ConfigMap %s unknown", where, e.Name, r.Name)
				}
			}
		}
	}

	for _, o := range m.all("Service") {
		s := spec[serviceSpec](t, o)
		if s.Type == "ExternalName" {
			if s.ExternalName == "" || len(s.Selector) != 0 {
				t.Errorf("%s: ExternalName Service %s: want externalName and no selector", o.file, o.Metadata.Name)
			}
			continue
		}
		ds := m.selected(t, s.Selector)
		if len(ds) != 1 {
			t.Errorf("%s: Service %s selects %d Deployments, want 1", o.file, o.Metadata.Name, len(ds))
			continue
		}
		pod := spec[deploymentSpec](t, ds[0]).Template.Spec
		for _, p := range s.Ports {
			if p.Port == 0 || p.TargetPort == "" {
				t.Errorf("%s: Service %s port %q: port and targetPort are required", o.file, o.Metadata.Name, p.Name)
			}
			if !slices.ContainsFunc(pod.Containers, func(c container) bool { return containerPort(c, p.TargetPort) != 0 }) {
				t.Errorf("%s: Service %s targetPort %q is not a port of Deployment %s", o.file, o.Metadata.Name, p.TargetPort, ds[0].Metadata.Name)
			}
		}
	}

	for _, o := range m.all("PodDisruptionBudget") {
		s := spec[pdbSpec](t, o)
		ds := m.selected(t, s.Selector.MatchLabels)
		if len(ds) != 1 || (s.MinAvailable == nil) == (s.MaxUnavailable == nil) {
			t.Errorf("%s: PodDisruptionBudget %s selects %d Deployments (want 1) with minAvailable %v maxUnavailable %v (want one)", o.file, o.Metadata.Name, len(ds), s.MinAvailable, s.MaxUnavailable)
			continue
		}
		d := spec[deploymentSpec](t, ds[0])
		if s.MinAvailable != nil && d.Replicas != nil {
			if n, err := strconv.Atoi(*s.MinAvailable); err == nil && n >= *d.Replicas {
				t.Errorf("%s: PodDisruptionBudget %s minAvailable %d with %d replicas blocks every node drain", o.file, o.Metadata.Name, n, *d.Replicas)
			}
		}
	}

	for _, o := range m.all("HorizontalPodAutoscaler") {
		s := spec[hpaSpec](t, o)
		ref := s.ScaleTargetRef
		d := m.find(ref.Kind, ref.Name)
		if d == nil || ref.APIVersion != d.APIVersion {
			t.Errorf("%s: HorizontalPodAutoscaler %s targets %s %s/%s, which is not defined", o.file, o.Metadata.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if s.MinReplicas < 1 || s.MaxReplicas < s.MinReplicas {
			t.Errorf("%s: HorizontalPodAutoscaler %s replicas %d..%d", o.file, o.Metadata.Name, s.MinReplicas, s.MaxReplicas)
		}
		ds := spec[deploymentSpec](t, d)
		if ds.Replicas != nil {
			t.Errorf("%s: Deployment %s sets replicas, which every apply would reset under its HorizontalPodAutoscaler", d.file, ref.Name)
		}
		for _, mt := range s.Metrics {
			if mt.Type != "Resource" {
				continue
			}
			for _, c := range ds.Template.Spec.Containers {
				if c.Resources.Requests[mt.Resource.Name] == "" {
					t.Errorf("%s: container %s has no %s request: the autoscaler's utilization needs one", d.file, c.Name, mt.Resource.Name)
				}
			}
		}
	}
}

// deployment returns the Deployment name and its only container.
func (m *manifests) deployment(t *testing.T, name string) (deploymentSpec, container) {
	t.Helper()
	o := m.find("Deployment", name)
	if o == nil {
		t.Fatalf("no Deployment %s", name)
	}
	s := spec[deploymentSpec](t, o)
	if len(s.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", name, len(s.Template.Spec.Containers))
	}
	return s, s.Template.Spec.Containers[0]
}

// lbConfig loads the configuration the lb Deployment mounts from its
// ConfigMap at the image's /etc/lb/config.yaml.
func (m *manifests) lbConfig(t *testing.T) (*config.Config, string) {
	t.Helper()
	s, c := m.deployment(t, "lb")
	mount := ""
	for _, vm := range c.VolumeMounts {
		for _, v := range s.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && (vm.MountPath == "/etc/lb" || vm.MountPath == "/etc/lb/") {
				mount = v.ConfigMap.Name
			}
		}
	}
	file := m.configMaps[mount]["config.yaml"]
	if file == "" {
		t.Fatalf("the lb container mounts no generated ConfigMap with config.yaml at /etc/lb (found %q)", mount)
	}
	if len(c.Command) != 0 || len(c.Args) != 0 {
		t.Fatalf("the lb container overrides the image's entrypoint (/lb -config /etc/lb/config.yaml): command %v args %v", c.Command, c.Args)
	}
	if err := process.Check(file); err != nil {
		t.Fatalf("lb -check on the ConfigMap's config.yaml (%s):\n%v", file, err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, file
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// flagValue returns the value of -name in args (-name=v or -name v).
func flagValue(args []string, name string) string {
	for i, a := range args {
		a = "-" + strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
		if a == "-"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestLBConfigAgreesWithManifests: the ConfigMap's configuration passes
// lb -check, and the objects around it agree with it: ports, the probes'
// admin token, the headless Service's DNS name and port, the grace
// periods against shutdown_timeout and the backend's drain, GOMAXPROCS.
func TestLBConfigAgreesWithManifests(t *testing.T) {
	m := load(t)
	cfg, file := m.lbConfig(t)
	ls, lc := m.deployment(t, "lb")

	if len(cfg.Listeners) == 0 || containerPort(lc, "http") != port(t, cfg.Listeners[0].Address) {
		t.Errorf("%s: first listener %v; want it on the lb container's port http (%d)", file, cfg.Listeners, containerPort(lc, "http"))
	}
	if !cfg.Admin.Enabled || containerPort(lc, "admin") != port(t, cfg.Admin.Address) {
		t.Fatalf("%s: admin %+v; want it on the lb container's port admin (%d) for the probes", file, cfg.Admin.Address, containerPort(lc, "admin"))
	}
	for name, p := range map[string]*probe{"readiness": lc.ReadinessProbe, "liveness": lc.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port != "admin" || p.HTTPGet.Path != "/api/status" {
			t.Errorf("lb %s probe: want httpGet /api/status on port admin", name)
			continue
		}
		auth := ""
		for _, h := range p.HTTPGet.HTTPHeaders {
			if h.Name == "Authorization" {
				auth = h.Value
			}
		}
		if cfg.Admin.Token != "" && auth != "Bearer "+cfg.Admin.Token {
			t.Errorf("lb %s probe sends Authorization %q; the admin token of %s differs", name, auth, file)
		}
	}
	// A rollout: preStop sleep, then SIGTERM and at most shutdown_timeout.
	preStop := 0
	if lc.Lifecycle != nil && lc.Lifecycle.PreStop != nil && lc.Lifecycle.PreStop.Sleep != nil {
		preStop = lc.Lifecycle.PreStop.Sleep.Seconds
	}
	if preStop == 0 {
		t.Error("lb has no preStop sleep: it would stop accepting before the endpoints stop sending to it")
	}
	need := time.Duration(preStop)*time.Second + cfg.ShutdownTimeout
	if g := ls.Template.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
		t.Errorf("lb terminationGracePeriodSeconds %v: want more than preStop %ds + shutdown_timeout %v", g, preStop, cfg.ShutdownTimeout)
	}
	if lc.Resources.Limits["cpu"] == "" {
		t.Error("lb has no CPU limit: Go's GOMAXPROCS would be the node's CPU count")
	}
	for _, c := range []container{lc} {
		for _, e := range c.Env {
			if e.Name == "GOMAXPROCS" && (e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.cpu") {
				t.Errorf("container %s sets GOMAXPROCS other than from limits.cpu", c.Name)
			}
		}
	}

	// The pool finds the backends through the headless Service.
	var resolved []config.Server
	var pool config.Pool
	for _, p := range cfg.Pools {
		for _, s := range p.Servers {
			if s.Resolve {
				resolved = append(resolved, s)
				pool = p
			}
		}
	}
	if len(resolved) != 1 {
		t.Fatalf("%s: %d servers with resolve, want 1 (the headless Service)", file, len(resolved))
	}
	host, p, _ := net.SplitHostPort(resolved[0].Address)
	svcName, rest, _ := strings.Cut(host, ".")
	if rest != m.k.Namespace+".svc.cluster.local" {
		t.Errorf("%s: server %s: want NAME.%s.svc.cluster.local (the kustomization's namespace)", file, resolved[0].Address, m.k.Namespace)
	}
	svc := m.find("Service", svcName)
	if svc == nil {
		t.Fatalf("%s: server %s names Service %s, which is not defined", file, resolved[0].Address, svcName)
	}
	ss := spec[serviceSpec](t, svc)
	if ss.ClusterIP != "None" {
		t.Errorf("Service %s clusterIP %q: want None (headless: one A record per pod)", svcName, ss.ClusterIP)
	}
	ds := m.selected(t, ss.Selector)
	if len(ds) != 1 {
		t.Fatalf("Service %s selects %d Deployments", svcName, len(ds))
	}
	bs, bc := m.deployment(t, ds[0].Metadata.Name)
	// A records give pod addresses: the pool's port is the container's.
	if strconv.Itoa(containerPort(bc, ss.Ports[0].TargetPort)) != p {
		t.Errorf("%s: server port %s; the pods of Service %s listen on %d", file, p, svcName, containerPort(bc, ss.Ports[0].TargetPort))
	}
	if bc.ReadinessProbe == nil || bc.ReadinessProbe.HTTPGet == nil || !pool.HealthCheck.Enabled || bc.ReadinessProbe.HTTPGet.Path != pool.HealthCheck.Path {
		t.Errorf("the backend's readiness probe and lb's health check should both ask /healthz (probe %+v, check %+v)", bc.ReadinessProbe, pool.HealthCheck)
	}
	if a := flagValue(bc.Args, "addr"); port(t, a) != containerPort(bc, "http") {
		t.Errorf("backend -addr %q: want the container's port http", a)
	}

	// The backend's drain: readiness 503 for -drain-grace, longer than lb
	// needs to take it out; then -shutdown-timeout; within the grace.
	grace, err1 := time.ParseDuration(flagValue(bc.Args, "drain-grace"))
	stop, err2 := time.ParseDuration(flagValue(bc.Args, "shutdown-timeout"))
	if err1 != nil || err2 != nil {
		t.Fatalf("backend args %v: want -drain-grace and -shutdown-timeout (%v, %v)", bc.Args, err1, err2)
	}
	if out := pool.HealthCheck.Interval * time.Duration(pool.HealthCheck.Fall); grace <= out {
		t.Errorf("backend -drain-grace %v: want more than lb's health interval × fall (%v)", grace, out)
	}
	if g := bs.Template.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= grace+stop {
		t.Errorf("backend terminationGracePeriodSeconds %v: want more than -drain-grace %v + -shutdown-timeout %v", g, grace, stop)
	}
	if len(bc.Command) != 1 || bc.Command[0] != "/backend" {
		t.Errorf("backend command %v, want [/backend] (the image's second program)", bc.Command)
	}
	if bc.Resources.Limits["cpu"] == "" {
		t.Error("backend has no CPU limit: GOMAXPROCS (and /work's workers) would be the node's CPU count")
	}
	// The stores: Redis through an ExternalName Service of the manifests,
	// PostgreSQL through the hand-made Secret.
	for _, e := range bc.Env {
		if e.Name == "REDIS_URL" {
			host := regexp.MustCompile(`^rediss?://(?:[^@/]*@)?([^:/]+)`).FindStringSubmatch(e.Value)
			if host == nil || m.find("Service", host[1]) == nil || spec[serviceSpec](t, m.find("Service", host[1])).Type != "ExternalName" {
				t.Errorf("backend REDIS_URL %q: want the host to be an ExternalName Service of the manifests", e.Value)
			}
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range externalSecrets {
		if !bytes.Contains(readme, []byte("create secret generic "+s)) {
			t.Errorf("README.md does not say how to create Secret %s", s)
		}
	}

	// GOMAXPROCS from the CPU limit is the Go runtime's own from Go 1.25
	// on, for modules that say go 1.25 or later.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`(?m)^go 1\.(\d+)`).FindSubmatch(gomod)
	if minor, _ := strconv.Atoi(string(v[1])); v == nil || minor < 25 {
		t.Errorf("go.mod's go directive is before 1.25: GOMAXPROCS would not follow the CPU limit")
	}
}

// TestKustomizeBuild renders the manifests with `kubectl kustomize` (no
// cluster needed) where kubectl is installed: every object lands in the
// namespace, the ConfigMap's name carries its content hash and the lb
// Deployment mounts that name, and the rendered configuration passes
// lb -check.
func TestKustomizeBuild(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skipf("kubectl not installed (%v): the raw files are checked by the other tests", err)
	}
	out, err := exec.Command("kubectl", "kustomize", ".").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	m := load(t)
	objs := decodeAll(t, "kubectl kustomize", out)
	if len(objs) != len(m.objects)+len(m.configMaps) {
		t.Errorf("kustomize rendered %d objects, want %d", len(objs), len(m.objects)+len(m.configMaps))
	}
	var cmName string
	for _, o := range objs {
		if o.Kind != "Namespace" && o.Metadata.Namespace != m.k.Namespace {
			t.Errorf("%s %s rendered in namespace %q, want %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, m.k.Namespace)
		}
		if o.Kind == "ConfigMap" {
			cmName = o.Metadata.Name
		}
	}
	if !regexp.MustCompile(`^lb-config-[a-z0-9]{10}$`).MatchString(cmName) {
		t.Fatalf("rendered ConfigMap %q: want lb-config-<hash>, so that a change rolls the Deployment", cmName)
	}
	// The rendered ConfigMap's config.yaml, as lb would read it.
	var cms []struct {
		Kind     string            `yaml:"kind"`
		Metadata meta              `yaml:"metadata"`
		Data     map[string]string `yaml:"data"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var d struct {
			Kind     string            `yaml:"kind"`
			Metadata meta              `yaml:"metadata"`
			Data     map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&d); err != nil {
			break
		}
		if d.Kind == "ConfigMap" {
			cms = append(cms, d)
		}
	}
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(cms[0].Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := process.Check(f); err != nil {
		t.Fatalf("rendered config.yaml: %v", err)
	}
	for _, o := range objs {
		if o.Kind != "Deployment" || o.Metadata.Name != "lb" {
			continue
		}
		s := spec[deploymentSpec](t, &o)
		if len(s.Template.Spec.Volumes) == 0 || s.Template.Spec.Volumes[0].ConfigMap == nil || s.Template.Spec.Volumes[0].ConfigMap.Name != cmName {
			t.Errorf("rendered lb Deployment does not mount %s", cmName)
		}
		if img := s.Template.Spec.Containers[0].Image; img == "lb" {
			t.Errorf("rendered lb image %q: kustomization.yaml's images did not apply", img)
		}
	}
}

// A pod, as far as it can be run here: the container's program, built
// from this repository, in a network namespace of its own (the pod's
// network), as user 65532 (the image's nonroot), with the manifest's
// arguments and environment and the ConfigMap's file; then the kubelet's
// probes, and the stop: SIGTERM after the preStop sleep, within the
// grace period.

// needNetns fails the test under CI=true and skips it elsewhere.
func needNetns(t *testing.T, why string) {
	t.Helper()
	msg := "cannot run a pod here (" + why + "): needs root, iproute2 and setpriv"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// podNetns makes a namespace with loopback up and deletes it at cleanup.
func podNetns(t *testing.T, pod string) string {
	t.Helper()
	for _, tool := range []string{"ip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			needNetns(t, err.Error())
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	ns := fmt.Sprintf("lbpod%d-%x-%s", os.Getpid(), rnd, pod)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		needNetns(t, fmt.Sprintf("ip netns add: %v: %s", err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", ns, err, out)
	}
	return ns
}

// dialIn connects to addr from inside namespace ns: the socket is made by
// a thread that joined it (and then ends with its goroutine).
func dialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- res{nil, err}
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// probeOnce does what the kubelet does for p: a TCP connect, or an HTTP
// GET with the probe's headers whose status must be 200..399.
func probeOnce(ns string, c container, p *probe) (string, error) {
	var port string
	switch {
	case p.HTTPGet != nil:
		port = p.HTTPGet.Port
	case p.TCPSocket != nil:
		port = p.TCPSocket.Port
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(containerPort(c, port)))
	conn, err := dialIn(ns, addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if p.HTTPGet == nil {
		return "connected", nil
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+addr+p.HTTPGet.Path, nil)
	req.Header.Set("User-Agent", "kube-probe/1.32")
	for _, h := range p.HTTPGet.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	if err := req.Write(conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	resp.Body.Close()
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > 40 {
		text = text[:40] + "…"
	}
	out := fmt.Sprintf("%d %s", resp.StatusCode, text)
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return out, fmt.Errorf("status %d", resp.StatusCode)
	}
	return out, nil
}

// waitProbe probes until the outcome is want (success or failure) or the
// limit passes; it returns the last answer.
func waitProbe(t *testing.T, ns string, c container, p *probe, want bool, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := probeOnce(ns, c, p)
		if (err == nil) == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: probe %+v: %q %v after %v, want success %v", c.Name, p, out, err, limit, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runPod starts Deployment name's container as its pod would run it and
// returns the process; the caller stops it.
func runPod(t *testing.T, m *manifests, name, bin, configDir string) (*exec.Cmd, chan struct{}, string, *bytes.Buffer) {
	t.Helper()
	_, c := m.deployment(t, name)
	ns := podNetns(t, name)
	env := []string{"PATH=/usr/bin:/bin"} // the image has nothing on PATH anyway
	vars := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			switch {
			case e.ValueFrom.SecretKeyRef != nil:
				t.Logf("pod %s: %s comes from Secret %s, made by hand: left unset here", name, e.Name, e.ValueFrom.SecretKeyRef.Name)
				continue
			default:
				v = "podsim-" + name // metadata.name
			}
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	expand := func(a string) string {
		return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(ref string) string {
			if v, ok := vars[ref[2:len(ref)-1]]; ok {
				return v
			}
			return ref
		})
	}
	// The image's entrypoint is /lb -config /etc/lb/config.yaml; the
	// ConfigMap is mounted at /etc/lb.
	args := []string{"-config", filepath.Join(configDir, "config.yaml")}
	if len(c.Command) != 0 {
		args = nil
		for _, a := range c.Args {
			args = append(args, expand(a))
		}
	}
	cmdline := append([]string{"netns", "exec", ns, "setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", "--inh-caps=-all", "--", bin}, args...)
	cmd := exec.Command("ip", cmdline...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("pod %s output:\n%s", name, logs.String())
		}
	})
	return cmd, done, ns, &logs
}

// TestPodsRunProbeAndStop runs the lb and backend pods as far as one
// machine can: lb with the ConfigMap's configuration becomes ready and
// alive by the manifest's own probes (the token and port they name), both
// run as user 65532, a backend without its stores is alive but not ready,
// and each stops on SIGTERM with status 0 within its grace period less
// its preStop sleep.
func TestPodsRunProbeAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs lb and backend")
	}
	m := load(t)
	_, file := m.lbConfig(t)
	// A folder user 65532 can read: the mounted ConfigMap.
	dir, err := os.MkdirTemp("", "lb-pods-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{}
	for _, p := range []string{"lb", "backend"} {
		bins[p] = filepath.Join(dir, p)
		if out, err := exec.Command("go", "build", "-o", bins[p], "lb/"+p).CombinedOutput(); err != nil {
			t.Fatalf("go build lb/%s: %v\n%s", p, err, out)
		}
	}
	cfg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		ready bool // the readiness probe succeeds here
	}{
		{"lb", true},
		{"backend", false}, // Redis and PostgreSQL are not here: alive, not ready
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := m.deployment(t, tc.name)
			cmd, done, ns, logs := runPod(t, m, tc.name, bins[tc.name], dir)
			begin := time.Now()
			live := waitProbe(t, ns, c, c.LivenessProbe, true, 30*time.Second)
			ready := waitProbe(t, ns, c, c.ReadinessProbe, tc.ready, 30*time.Second)
			t.Logf("pod %s: alive (%s), readiness %q after %v", tc.name, live, ready, time.Since(begin).Round(time.Millisecond))
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if uid := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(status); uid == nil || string(uid[1]) != "65532" {
				t.Fatalf("pod %s runs as uid %s, want 65532", tc.name, uid)
			}

			// Stop: the preStop sleep is the kubelet's; then SIGTERM.
			preStop := 0
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				preStop = c.Lifecycle.PreStop.Sleep.Seconds
			}
			budget := time.Duration(*s.Template.Spec.TerminationGracePeriodSeconds-preStop) * time.Second
			stopAt := time.Now()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(budget):
				t.Fatalf("pod %s still running %v after SIGTERM: the kubelet would kill it\n%s", tc.name, budget, logs)
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("pod %s exited with %d after SIGTERM, want 0\n%s", tc.name, code, logs)
			}
			t.Logf("pod %s: stopped %v after SIGTERM (budget %v: grace %ds less preStop %ds)", tc.name,
				time.Since(stopAt).Round(time.Millisecond), budget, *s.Template.Spec.TerminationGracePeriodSeconds, preStop)
		})
	}
}
