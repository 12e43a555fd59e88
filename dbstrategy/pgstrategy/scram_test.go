package pgstrategy_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// TestScramVerifierRFC7677 checks the verifier against the SCRAM-SHA-256
// exchange of RFC 7677 section 3 (user "user", password "pencil"): the
// server side of that exchange, run on the verifier alone as PostgreSQL
// runs it, must accept the RFC's client proof and produce the RFC's server
// signature.
func TestScramVerifierRFC7677(t *testing.T) {
	const (
		salt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
		clientFirst = "n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		proof       = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverSig   = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	authMessage := clientFirst + "," + serverFirst + "," + clientFinal
	tests := []struct {
		password   string
		wantAccept bool
	}{
		{"pencil", true},
		{"pencil ", false},
		{"Pencil", false},
	}
	for _, tt := range tests {
		rawSalt, _ := base64.StdEncoding.DecodeString(salt)
		v, err := pgstrategy.ScramVerifier(tt.password, rawSalt, 4096)
		if err != nil {
			t.Fatalf("ScramVerifier(%q) error = %v", tt.password, err)
		}
		storedKey, serverKey := parseVerifier(t, v, salt)

		clientSig := hmacSum(storedKey, authMessage)
		p, _ := base64.StdEncoding.DecodeString(proof)
		clientKey := make([]byte, len(p))
		for i := range p {
			clientKey[i] = p[i] ^ clientSig[i]
		}
		sum := sha256.Sum256(clientKey)
		if got := hmac.Equal(sum[:], storedKey); got != tt.wantAccept {
			t.Errorf("password %q: verifier accepts the RFC's client proof = %v; want %v", tt.password, got, tt.wantAccept)
		}
		gotSig := base64.StdEncoding.EncodeToString(hmacSum(serverKey, authMessage))
		if (gotSig == serverSig) != tt.wantAccept {
			t.Errorf("password %q: server signature = %s; want it %v to the RFC's %s", tt.password, gotSig, tt.wantAccept, serverSig)
		}
	}
}

// parseVerifier splits SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>.
func parseVerifier(t *testing.T, v, wantSalt string) (storedKey, serverKey []byte) {
	t.Helper()
	rest, ok := strings.CutPrefix(v, "SCRAM-SHA-256$4096:")
	salt, keys, ok2 := strings.Cut(rest, "$")
	stored, server, ok3 := strings.Cut(keys, ":")
	if !ok || !ok2 || !ok3 || salt != wantSalt {
		t.Fatalf("verifier %q: want SCRAM-SHA-256$4096:%s$<StoredKey>:<ServerKey>", v, wantSalt)
	}
	var err1, err2 error
	storedKey, err1 = base64.StdEncoding.DecodeString(stored)
	serverKey, err2 = base64.StdEncoding.DecodeString(server)
	if err1 != nil || err2 != nil || len(storedKey) != 32 || len(serverKey) != 32 {
		t.Fatalf("verifier %q: keys are not 32 bytes of base64", v)
	}
	return storedKey, serverKey
}

func hmacSum(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

func BenchmarkScramVerifier(b *testing.B) {
	salt := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pgstrategy.ScramVerifier("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", salt, 4096); err != nil {
			b.Fatal(err)
		}
	}
}
