package service

import (
	"fmt"
	"sync"
)

// jsonDocs caches the documents /json serves, by size in KiB. Its keys
// are bounded (0..16 MiB in KiB steps, requests pick a few sizes).
type jsonDocs struct{ m sync.Map }

// get returns a JSON list of items of about kb KiB.
func (d *jsonDocs) get(kb int) []byte {
	if kb < 0 || kb > 16<<10 {
		kb = 0
	}
	if v, ok := d.m.Load(kb); ok {
		return v.([]byte)
	}
	b := []byte(`{"items":[`)
	for i := 0; len(b) < kb<<10; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%d,"name":"item-%06d","price":%d.99}`, i, i, i%1000)
	}
	b = append(b, "]}\n"...)
	d.m.Store(kb, b)
	return b
}
