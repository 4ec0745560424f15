package balancer

var _ Picker = (*roundRobin)(nil)

// roundRobin hands requests to the up servers in turn, ignoring weights
// (Nginx round robin with equal weights; HAProxy `balance roundrobin`).
//
// A pick is one atomic add on a counter that starts at a random offset, so
// that many lb processes do not all start on the same server. It is the
// smooth weighted round robin machinery (wrr) with every weight counted as
// 1: the schedule is the up servers, rebuilt by Pool on state transitions,
// so a down server's turns are shared by all the others instead of going
// to its neighbour. A server that is not Available at pick time is skipped
// by taking the next turn, a bounded number of times, then by a scan of all
// servers.
//
// It is safe for concurrent use, like wrr.
type roundRobin struct {
	wrr
}

func newRoundRobin(servers []*Server, opts Options) (Picker, error) {
	p := &roundRobin{}
	p.init(servers, opts, true)
	return p, nil
}
