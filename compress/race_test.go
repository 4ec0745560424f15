//go:build race

package compress

// raceEnabled: under the race detector sync.Pool drops items at random, so
// steady-state allocation counts are not meaningful.
const raceEnabled = true
