package sandboxinit

import "strconv"

// String is the NAME=SOFT:HARD form (cache keys, messages).
func (u Ulimit) String() string {
	return u.Name + "=" + LimitString(u.Soft) + ":" + LimitString(u.Hard)
}

// LimitString is a limit's value as --ulimit takes it: a number, or
// "unlimited" for RLIM_INFINITY.
func LimitString(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}
