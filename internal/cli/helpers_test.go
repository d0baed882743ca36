//go:build linux

package cli

import "time"

func timeNowPlus(s int) time.Time { return time.Now().Add(time.Duration(s) * time.Second) }
