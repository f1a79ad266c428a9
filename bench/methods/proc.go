package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// treeRSS is the resident memory (KiB) of process pid and all its
// descendants (the host and its plugin processes), read from /proc; 0 for
// processes that are gone.
func treeRSS(pid int) float64 {
	total := rssKiB(pid)
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				total += treeRSS(c)
			}
		}
	}
	return total
}

// rssKiB reads VmRSS of one process.
func rssKiB(pid int) float64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				v, _ := strconv.ParseFloat(fs[0], 64)
				return v
			}
		}
	}
	return 0
}
