// Command lb is a Layer-7 load balancer and reverse proxy configured by
// one YAML file: lb -config config.yaml.
package main

import (
	"flag"
	"fmt"
	"os"

	"lb/process"
)

func main() {
	path := flag.String("config", "config.yaml", "configuration file")
	check := flag.Bool("check", false, "validate the configuration and exit (like nginx -t)")
	pidFile := flag.String("pid", "", "PID file: written while serving, read by -s")
	sig := flag.String("s", "", "send a command to the running lb and exit: reload, stop or upgrade (like nginx -s; needs -pid)")
	showVersion := flag.Bool("version", false, "print version, commit and Go version, and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(versionLine())
		return
	}
	if *sig != "" {
		if err := process.Signal(*pidFile, *sig); err != nil {
			fmt.Fprintln(os.Stderr, "lb:", err)
			os.Exit(1)
		}
		return
	}
	if *check {
		if err := process.Check(*path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: configuration ok\n", *path)
		return
	}
	if err := process.Run(*path, *pidFile); err != nil {
		fmt.Fprintln(os.Stderr, "lb:", err)
		os.Exit(1)
	}
}
