package deadline

// Armed reports whether a deadline is armed in the poller, per direction.
func Armed(c *Conn) (read, write bool) {
	c.r.mu.Lock()
	read = !c.r.armed.IsZero()
	c.r.mu.Unlock()
	c.w.mu.Lock()
	write = !c.w.armed.IsZero()
	c.w.mu.Unlock()
	return read, write
}
