package config

import (
	"reflect"
	"testing"
)

// withCompression returns a valid configuration with a global compression
// block (global, in flow style, or "" for none) and one route whose
// compression block is route ("" for none). Both sit on line 5.
func withCompression(global, route string) string {
	g, r := "", ""
	if global != "" {
		g = "compression: " + global
	}
	if route != "" {
		r = ", compression: " + route
	}
	return `
listeners: [{address: ":8080"}]
pools: {web: {servers: [{address: "127.0.0.1:9001"}]}}
x-c: &x {}
` + g + `
routes: [{pool: web` + r + `}]
`
}

func TestCompressionDefaults(t *testing.T) {
	defaults := Compression{
		Present:    true,
		Enabled:    ptr(true),
		Algorithms: []string{"br", "gzip"},
		Levels:     map[string]int{"br": 4, "gzip": 6},
		MinLength:  256,
		Types:      defaultCompressionTypes(),
		Offload:    ptr(true),
	}
	with := func(edit func(*Compression)) Compression {
		c := defaults
		c.Levels = map[string]int{"br": 4, "gzip": 6}
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		name, global, route string
		wantGlobal          Compression
		wantRoute           Compression
		globalOn, routeOn   bool
	}{
		{"absent: off", "", "", Compression{}, Compression{}, false, false},
		{"{} turns it on", "{}", "", defaults, Compression{}, true, true},
		{"null turns it on", "~", "", defaults, Compression{}, true, true},
		{"route block off", "{}", "{enabled: false}", defaults, with(func(c *Compression) { c.Enabled = ptr(false) }), true, false},
		{"route block alone", "", "{}", Compression{}, defaults, false, true},
		{"route block is not merged with the global one", "{min_length: 1k, offload: false}", "{algorithms: [gzip]}",
			with(func(c *Compression) { c.MinLength, c.Offload = 1024, ptr(false) }),
			with(func(c *Compression) { c.Algorithms, c.Levels = []string{"gzip"}, map[string]int{"gzip": 6} }), true, true},
		{"levels filled for listed algorithms only", "{algorithms: [gzip, br], levels: {gzip: 1}}", "",
			with(func(c *Compression) {
				c.Algorithms, c.Levels = []string{"gzip", "br"}, map[string]int{"gzip": 1, "br": 4}
			}), Compression{}, true, true},
		{"levels written empty", "{levels: {}, exclude_paths: []}", "", defaults, Compression{}, true, true},
		{"enabled null is the default", "{enabled: ~, offload: null}", "", defaults, Compression{}, true, true},
		{"from an anchor", "*x", "", defaults, Compression{}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(withCompression(tc.global, tc.route)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Compression, tc.wantGlobal) {
				t.Errorf("global = %+v, want %+v", c.Compression, tc.wantGlobal)
			}
			if got := c.Routes[0].Compression; !reflect.DeepEqual(got, tc.wantRoute) {
				t.Errorf("route = %+v, want %+v", got, tc.wantRoute)
			}
			if got := c.Compression.On(); got != tc.globalOn {
				t.Errorf("global On() = %v, want %v", got, tc.globalOn)
			}
			if got := c.Routes[0].CompressionFor(&c.Compression).On(); got != tc.routeOn {
				t.Errorf("route CompressionFor(global).On() = %v, want %v", got, tc.routeOn)
			}
		})
	}
	// Every block gets slices and maps of its own.
	c, err := Parse("t.yaml", []byte(withCompression("{}", "{}")))
	if err != nil {
		t.Fatal(err)
	}
	c.Compression.Types[0], c.Compression.Levels["br"] = "changed", 0
	if r := c.Routes[0].Compression; r.Types[0] != "text/*" || r.Levels["br"] != 4 {
		t.Errorf("route block shares the global block's slices or maps: %+v", r)
	}
}

func TestCompressionAccepts(t *testing.T) {
	for _, block := range []string{
		"{enabled: false, algorithms: [gzip], levels: {gzip: 9}}",
		"{levels: {br: 0, gzip: 1}}",
		"{levels: {br: 11, gzip: 9}}",
		"{algorithms: [br], levels: {br: 7}}",
		"{min_length: 1}",
		"{types: [text/html, \"application/*+json\", application/vnd.api+json, application/x-www-form-urlencoded, text/*]}",
		"{exclude_paths: [/, /a/b, /%41]}",
	} {
		t.Run(block, func(t *testing.T) {
			if _, err := Parse("t.yaml", []byte(withCompression(block, block))); err != nil {
				t.Errorf("Parse:\n%v", err)
			}
		})
	}
}

// TestCompressionRejects pins messages that the badconfig files do not show.
func TestCompressionRejects(t *testing.T) {
	const bad = ` (want "type/subtype", e.g. "text/html", "text/*" or "application/*+json")`
	for _, tc := range []struct {
		block string
		want  string
	}{
		{"{algorithms: []}", `compression.algorithms: must not be empty (set enabled: false to turn compression off)`},
		{"{algorithms: [GZIP]}", `compression.algorithms[0]: algorithm "GZIP" must be lower-case (did you mean "gzip"?)`},
		{"{algorithms: gzip}", `compression.algorithms: must be a list, got "gzip"`},
		{"{levels: {zstd: 3}}", `compression.levels.zstd: unknown algorithm "zstd" (want br or gzip)`},
		{"{levels: {br: high}}", `compression.levels.br: must be an integer, got "high"`},
		{"{levels: {br: -1}}", `compression.levels.br: br level must be from 0 to 11, got -1`},
		{"{min_length: 0}", `compression.min_length: must be positive, got "0"`},
		{"{types: []}", `compression.types: must not be empty (set enabled: false to turn compression off)`},
		{"{types: [\"*/*\"]}", `compression.types[0]: bad type "*/*": the type cannot be a wildcard (most binary types are compressed already)` + bad},
		{"{types: [\"*+json\"]}", `compression.types[0]: bad type "*+json": not a media type` + bad},
		{"{types: [text/]}", `compression.types[0]: bad type "text/": not a media type` + bad},
		{"{types: [\"text/*+\"]}", `compression.types[0]: bad type "text/*+": not a valid suffix after "*+"` + bad},
		{"{types: [\"text /html\"]}", `compression.types[0]: bad type "text /html": contains spaces or control characters` + bad},
		{"{types: [\"text/(html)\"]}", `compression.types[0]: bad type "text/(html)": not a valid subtype name` + bad},
		{"{types: [\"\"]}", `compression.types[0]: empty type`},
		{"{types: text/html}", `compression.types: must be a list, got "text/html"`},
		{"{exclude_paths: [/a, /a]}", `compression.exclude_paths[1]: duplicate path "/a" (first at line 5)`},
		{"{enabled: yes}", `compression.enabled: must be true or false, got "yes"`},
		{"{offload: 1}", `compression.offload: must be true or false, got "1"`},
		{"{level: {br: 5}}", `compression.level: unknown key (did you mean "levels"?)`},
		{"5", `compression: must be a mapping, got "5"`},
	} {
		t.Run(tc.block, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(withCompression(tc.block, "")))
			want := "t.yaml:5: " + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("Parse(global %s) = %v\nwant %s", tc.block, err, want)
			}
		})
	}
}
