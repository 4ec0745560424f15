package health

import (
	"testing"
	"time"

	"lb/internal/loopback"
)

func closedPort(t *testing.T) string { return loopback.Refusing(t) }

func TestProbeClosedPort(t *testing.T) {
	for _, kind := range []Kind{TCP, HTTP} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := Config{Kind: kind, Interval: time.Second, Timeout: 5 * time.Second}
			ok, reason, took := probeOnce(t, closedPort(t), cfg)
			if ok || reason != "connect: connection refused" {
				t.Errorf("probe() = %v, %q, want false, \"connect: connection refused\"", ok, reason)
			}
			if took > 3*time.Second {
				t.Errorf("probe took %v: a refused connection should fail at once", took)
			}
		})
	}
}
