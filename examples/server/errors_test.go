package main

import (
	"net/http"
	"testing"
)

// TestErrorCodesHaveStatuses checks that every row of the error table
// answers with a status: the rows that take the library's status name an
// error the library classifies.
func TestErrorCodesHaveStatuses(t *testing.T) {
	for _, c := range errorCodes {
		status := c.status
		if status == 0 {
			status = libraryStatus(c.err)
		}
		if http.StatusText(status) == "" || status < 400 {
			t.Errorf("error %q answers status %d; want an error status", c.err, status)
		}
	}
}
