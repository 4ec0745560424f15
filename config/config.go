package config

import (
	"bytes"
	"errors"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path and returns it parsed,
// defaulted and validated; see Parse. Problems with the file's contents are
// reported as *Error values naming path; a file that cannot be read is
// reported with the error from os.ReadFile.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse turns the YAML text data into a Config in three steps: decode
// (every key checked against the schema, with its line kept), default (a
// key left out gets its documented default; a key written with a zero
// value is not repaired but validated), and validate. file names the
// source in error messages and is stored in Config.File.
//
// Parse reports every problem it finds, not only the first: the error is
// nil, or an errors.Join of *Error values sorted by line, one per line of
// err.Error(). Problems that follow from a value that could not be decoded
// at all (a list where a mapping belongs, say) are not reported twice. On
// error the returned Config is nil.
//
// Anchors, aliases and merge keys ("<<") may be used to share settings;
// top-level keys starting with "x-" are ignored, as a place to define
// anchors. Parse is safe for concurrent use.
func Parse(file string, data []byte) (*Config, error) {
	errs := &errorList{file: file}
	root := parseYAML(errs, data)
	if root == nil {
		return nil, errs.err()
	}
	c := &Config{File: file}
	d := newDecoder(errs, root)
	d.decode(root, c)
	setDefaults(c, d.pos)
	validate(c, d.pos, d.bad, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Pool returns the pool with the given name, or nil if there is none.
func (c *Config) Pool(name string) *Pool {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i]
		}
	}
	return nil
}

// parseYAML parses data into a node tree and returns the root value of
// its single document, or nil after recording why there is none.
func parseYAML(errs *errorList, data []byte) (root *yaml.Node) {
	// yaml.v3 reports syntax errors by panicking internally and recovering;
	// a panic that escapes it is a parser bug, reported here as a problem
	// with the file rather than taking the process (or a reload) down.
	defer func() {
		if r := recover(); r != nil {
			errs.add(0, "", "cannot parse YAML (parser failure: %v)", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(0, "", "empty configuration")
		} else {
			errs.errs = append(errs.errs, syntaxError(errs.file, err))
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		errs.errs = append(errs.errs, syntaxError(errs.file, err))
		return nil
	default:
		errs.add(next.Line, "", "a second YAML document starts here; the configuration must be a single document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		errs.add(0, "", "empty configuration")
		return nil
	}
	return doc.Content[0]
}
