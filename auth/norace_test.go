//go:build !race

package auth_test

// raceEnabled reports a build with the race detector, to size tests.
const raceEnabled = false
