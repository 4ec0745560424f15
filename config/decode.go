package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// positions records where each key path of a file was written. A key path
// is dotted: "pools.web.servers[0].weight"; the root is "".
type positions struct {
	// lines maps a key path to the line of its key (of the item, for list
	// items). The root maps to 0, so a missing top-level key has no line.
	lines map[string]int
	// set holds the key paths that were given a non-null value.
	set map[string]bool
}

// line returns the line of path, or of its nearest ancestor that was
// written in the file.
func (p *positions) line(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parent(path)
	}
}

// has reports whether path was written in the file.
func (p *positions) has(path string) bool {
	_, ok := p.lines[path]
	return ok
}

// parent returns the key path one level up: "a.b[2]" → "a.b" → "a" → "".
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// join appends a mapping key to a key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a key path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// Aliases let a small file name the same nodes many times over; the walk
// stops after this many nodes plus aliasFactor per node in the file, which
// no real configuration comes near.
const (
	aliasBase   = 100_000
	aliasFactor = 10
)

// decoder walks a YAML node tree and fills a Config, guided by the yaml
// tags of its fields. It records every problem in errs, the position of
// every key in pos, and in bad the key paths whose value could not be
// decoded (validation stays quiet about those).
type decoder struct {
	*errorList
	pos     *positions
	bad     map[string]bool
	budget  int                 // nodes left to visit; see aliasBase
	merging map[*yaml.Node]bool // mappings being merged, to stop cycles
}

func newDecoder(errs *errorList, root *yaml.Node) *decoder {
	return &decoder{
		errorList: errs,
		pos:       &positions{lines: map[string]int{"": 0}, set: map[string]bool{"": true}},
		bad:       map[string]bool{},
		budget:    aliasBase + aliasFactor*countNodes(root),
		merging:   map[*yaml.Node]bool{},
	}
}

// countNodes counts the nodes of a tree without following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, child := range n.Content {
		c += countNodes(child)
	}
	return c
}

// decode fills c from the root node of the document.
func (d *decoder) decode(root *yaml.Node, c *Config) {
	if r := deref(root); r.Kind != yaml.MappingNode {
		d.fail(r.Line, "", "the configuration must be a mapping of keys (listeners, routes, pools, ...), got %s", describe(r))
		return
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
}

// fail records a value that could not be decoded.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.add(line, path, format, args...)
	d.bad[path] = true
}

// spend takes one node from the budget; false means the walk must stop.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.budget <= 0 {
		return false
	}
	d.budget--
	if d.budget == 0 {
		d.fail(n.Line, "", "aliases expand the document too much; decoding stopped here")
		return false
	}
	return true
}

// record notes that path was written at line, with the value val.
func (d *decoder) record(path string, line int, val *yaml.Node) {
	if _, ok := d.pos.lines[path]; !ok {
		d.pos.lines[path] = line
	}
	if v := deref(val); v != nil && !isNull(v) {
		d.pos.set[path] = true
	}
}

var (
	durationType   = reflect.TypeFor[time.Duration]()
	byteSizeType   = reflect.TypeFor[ByteSize]()
	stringListType = reflect.TypeFor[StringList]()
	poolsType      = reflect.TypeFor[[]Pool]()
	boolPtrType    = reflect.TypeFor[*bool]()
)

// value decodes node n into v, the field at key path path. A null value
// leaves v at its zero value.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if n == nil || !d.spend(n) || isNull(n) || !d.checkTag(n, path) {
		return
	}
	switch v.Type() {
	case durationType:
		if dur, ok := d.duration(n, path); ok {
			v.SetInt(int64(dur))
		}
		return
	case byteSizeType:
		if size, ok := d.byteSize(n, path); ok {
			v.SetInt(int64(size))
		}
		return
	case stringListType:
		if n.Kind == yaml.ScalarNode {
			v.Set(reflect.ValueOf(StringList{n.Value}))
			return
		}
	case poolsType:
		d.pools(n, v, path)
		return
	case boolPtrType:
		if b, ok := d.boolean(n, path); ok {
			v.Set(reflect.ValueOf(&b))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if i, ok := d.integer(n, path); ok {
			if v.OverflowInt(i) {
				d.fail(n.Line, path, "integer %s is too large", n.Value)
				return
			}
			v.SetInt(i)
		}
	case reflect.Bool:
		if b, ok := d.boolean(n, path); ok {
			v.SetBool(b)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for field type %s at %q", v.Type(), path))
	}
}

// field is a struct field as named in YAML.
type field struct {
	name  string
	index int
}

// yamlFields lists the fields of struct type t that have a YAML name.
func yamlFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fs = append(fs, field{name, i})
		}
	}
	return fs
}

// structure decodes mapping n into struct v.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if !d.expect(n, yaml.MappingNode, path) {
		return
	}
	fields := yamlFields(v.Type())
	for _, e := range d.entries(n, path, "") {
		key := e.key.Value
		p := join(path, key)
		i := -1
		for _, f := range fields {
			if f.name == key {
				i = f.index
			}
		}
		if i < 0 {
			if path == "" && strings.HasPrefix(key, "x-") {
				continue // an extension key, e.g. to hold anchors
			}
			d.add(e.key.Line, p, "unknown key%s", suggest(key, fields))
			continue
		}
		d.record(p, e.key.Line, e.val)
		d.value(e.val, v.Field(i), p)
	}
}

// sequence decodes list n into slice v. An empty list leaves v nil.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if !d.expect(n, yaml.SequenceNode, path) || len(n.Content) == 0 {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := index(path, i)
		d.record(p, item.Line, item)
		d.value(item, s.Index(i), p)
	}
	v.Set(s)
}

// mapping decodes mapping n into map v (string keys). An empty mapping
// leaves v nil.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if !d.expect(n, yaml.MappingNode, path) {
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, e := range d.entries(n, path, "") {
		p := join(path, e.key.Value)
		d.record(p, e.key.Line, e.val)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(e.val, elem, p)
		m.SetMapIndex(reflect.ValueOf(e.key.Value), elem)
	}
	if m.Len() > 0 {
		v.Set(m)
	}
}

// pools decodes the pools mapping (name → pool) into a []Pool in file
// order, each Pool.Name set to its key.
func (d *decoder) pools(n *yaml.Node, v reflect.Value, path string) {
	if !d.expect(n, yaml.MappingNode, path) {
		return
	}
	var pools []Pool
	for _, e := range d.entries(n, path, "pool") {
		name := e.key.Value
		if name == "" {
			d.add(e.key.Line, path, "empty pool name")
			continue
		}
		p := join(path, name)
		d.record(p, e.key.Line, e.val)
		pool := Pool{Name: name}
		d.value(e.val, reflect.ValueOf(&pool).Elem(), p)
		pools = append(pools, pool)
	}
	v.Set(reflect.ValueOf(pools))
}

// entry is one key and value of a mapping.
type entry struct{ key, val *yaml.Node }

// entries returns the key/value pairs of mapping n in file order, with
// merge keys ("<<") expanded: keys written in n win over merged ones, and
// earlier merged mappings over later ones. Duplicate keys are reported
// (as "duplicate NOUN" when noun is set) and dropped.
func (d *decoder) entries(n *yaml.Node, path, noun string) []entry {
	var own, merged []entry
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if !d.spend(k) {
			break
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.add(k.Line, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, join(path, k.Value))...)
			continue
		}
		if line, dup := first[k.Value]; dup {
			if noun == "" {
				d.add(k.Line, join(path, k.Value), "duplicate key (first at line %d)", line)
			} else {
				d.add(k.Line, join(path, k.Value), "duplicate %s %q (first at line %d)", noun, k.Value, line)
			}
			continue
		}
		first[k.Value] = k.Line
		own = append(own, entry{k, val})
	}
	for _, e := range merged {
		if _, ok := first[e.key.Value]; !ok {
			first[e.key.Value] = e.key.Line
			own = append(own, e)
		}
	}
	return own
}

// merge returns the entries of the value of a merge key: one mapping or a
// list of mappings.
func (d *decoder) merge(val *yaml.Node, path string) []entry {
	val = deref(val)
	var maps []*yaml.Node
	switch val.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{val}
	case yaml.SequenceNode:
		maps = val.Content
	}
	if len(maps) == 0 {
		d.add(val.Line, path, "must be a mapping or a list of mappings, got %s", describe(val))
		return nil
	}
	var out []entry
	for _, m := range maps {
		m = deref(m)
		if m.Kind != yaml.MappingNode {
			d.add(m.Line, path, "must be a mapping or a list of mappings, got %s", describe(m))
			continue
		}
		if d.merging[m] {
			d.add(m.Line, path, "a mapping cannot merge itself")
			continue
		}
		d.merging[m] = true
		out = append(out, d.entries(m, parent(path), "")...)
		delete(d.merging, m)
	}
	return out
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a null scalar ("~", "null" or nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
