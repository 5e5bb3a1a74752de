package server

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	_, err = lockDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by another trainyard server (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("second lock = %v, want an error naming the holder's pid", err)
	}
	unlock()
	unlock2, err := lockDataDir(dir)
	if err != nil {
		t.Errorf("lock after unlock: %v", err)
	} else {
		unlock2()
	}
}
