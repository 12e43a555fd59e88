package auth_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
)

var (
	testMaster2 = []byte("the next master secret, also 32+ bytes long")
	testMaster3 = []byte("and the one after that, 32 bytes or more!!")
	testSeed    = bytes.Repeat([]byte{0x5e}, 32)
)

func deriveKeys(t testing.TB, masters [][]byte, directory string) []auth.Key {
	t.Helper()
	keys, err := auth.DeriveKeys(masters, directory)
	if err != nil {
		t.Fatalf("DeriveKeys(%d masters, %q) error = %v", len(masters), directory, err)
	}
	return keys
}

func edKey(t testing.TB, seed []byte) auth.Key {
	t.Helper()
	k, err := auth.Ed25519KeyFromSeed(seed)
	if err != nil {
		t.Fatalf("Ed25519KeyFromSeed() error = %v", err)
	}
	return k
}

// publicOnly returns the verification-only form of an Ed25519 key.
func publicOnly(t testing.TB, k auth.Key) auth.Key {
	t.Helper()
	p, ok := k.PublicKey()
	if !ok {
		t.Fatalf("PublicKey() of %v: not an Ed25519 key", k)
	}
	return auth.Key{ID: p.ID, Public: p.Key}
}

func TestDeriveKeys(t *testing.T) {
	keys := deriveKeys(t, [][]byte{testMaster2, testMaster, testMaster3}, "tenant:42")
	if len(keys) != 3 {
		t.Fatalf("DeriveKeys() = %d keys; want 3", len(keys))
	}
	// Each key is DeriveKey of its master, in order: keys[0] signs.
	for i, m := range [][]byte{testMaster2, testMaster, testMaster3} {
		want := deriveKey(t, m, "tenant:42")
		if keys[i].ID != want.ID || !bytes.Equal(keys[i].Secret, want.Secret) {
			t.Errorf("DeriveKeys()[%d] = %v; want DeriveKey(master %d) = %v", i, keys[i], i, want)
		}
	}
	// IDs differ between masters and between directories.
	ids := map[string]string{}
	for _, dir := range []string{"core", "tenant:1", "tenant:42"} {
		for i, k := range deriveKeys(t, [][]byte{testMaster, testMaster2, testMaster3}, dir) {
			where := fmt.Sprintf("master %d, %s", i, dir)
			if prev, dup := ids[k.ID]; dup {
				t.Errorf("key ID %q of %s = that of %s; want different", k.ID, where, prev)
			}
			ids[k.ID] = where
		}
	}

	short := bytes.Repeat([]byte{1}, 31)
	for _, tt := range []struct {
		name    string
		masters [][]byte
		dir     string
	}{
		{"no masters", nil, "core"},
		{"empty list", [][]byte{}, "core"},
		{"empty directory", [][]byte{testMaster}, ""},
		{"short current master", [][]byte{short, testMaster}, "core"},
		{"short previous master", [][]byte{testMaster, short}, "core"},
		{"nil previous master", [][]byte{testMaster, nil}, "core"},
		{"same master twice", [][]byte{testMaster, testMaster2, testMaster}, "core"},
		{"same master twice, different slices", [][]byte{testMaster, bytes.Clone(testMaster)}, "core"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := auth.DeriveKeys(tt.masters, tt.dir)
			if err == nil || keys != nil {
				t.Fatalf("DeriveKeys() = %v, %v; want nil and an error", keys, err)
			}
			if msg := err.Error(); strings.Contains(msg, string(testMaster[:16])) || !strings.HasPrefix(msg, "auth: ") {
				t.Errorf("DeriveKeys() error %q: want an auth: error that does not quote a secret", msg)
			}
		})
	}
}

// TestRotationByConfiguration walks a server through a rotation, each
// phase a restart with new configuration: JWT_SECRET=current and
// JWT_PREVIOUS_SECRETS=previous,...
func TestRotationByConfiguration(t *testing.T) {
	type config struct {
		current  []byte
		previous [][]byte
	}
	server := func(t *testing.T, c config, dir string) (*auth.Issuer, *auth.Verifier) {
		t.Helper()
		keys := deriveKeys(t, append([][]byte{c.current}, c.previous...), dir)
		return newIssuer(t, keys[0], dir), newVerifier(t, dir, keys)
	}
	phases := []config{
		{testMaster, nil},                                // 0: before
		{testMaster2, [][]byte{testMaster}},              // 1: new master in front, old kept
		{testMaster3, [][]byte{testMaster2, testMaster}}, // 2: another, two kept
		{testMaster3, [][]byte{testMaster2}},             // 3: oldest retired
		{testMaster3, nil},                               // 4: only the current one
	}
	// tokens[phase][dir] was issued by the server in that phase.
	dirs := []string{"core", "tenant:1"}
	tokens := make([]map[string]string, len(phases))
	for p, c := range phases {
		tokens[p] = map[string]string{}
		for _, dir := range dirs {
			i, _ := server(t, c, dir)
			tokens[p][dir], _ = issue(t, i, "42")
		}
	}
	// masterOf[p] is the master that signed phase p's tokens.
	masterOf := []string{"m1", "m2", "m3", "m3", "m3"}
	accepts := []map[string]bool{
		{"m1": true},
		{"m1": true, "m2": true},
		{"m1": true, "m2": true, "m3": true},
		{"m2": true, "m3": true},
		{"m3": true},
	}
	for p, c := range phases {
		for _, dir := range dirs {
			_, v := server(t, c, dir)
			for tp := range phases {
				for _, tdir := range dirs {
					want := tdir == dir && accepts[p][masterOf[tp]]
					_, err := v.Verify(tokens[tp][tdir])
					if (err == nil) != want || (err != nil && !errors.Is(err, auth.ErrInvalidToken)) {
						t.Errorf("phase %d %s verifier, token of phase %d %s (signed by %s) = %v; want accepted %v",
							p, dir, tp, tdir, masterOf[tp], err, want)
					}
				}
			}
		}
	}
}

// TestRotationToEd25519 moves a directory from an HMAC key to an Ed25519
// key: both verify during the change, each with its own algorithm only.
func TestRotationToEd25519(t *testing.T) {
	hmacKey := deriveKey(t, testMaster, "core")
	ed := edKey(t, testSeed)
	oldTok, _ := issue(t, newIssuer(t, hmacKey, "core"), "42")
	newTok, _ := issue(t, newIssuer(t, ed, "core"), "42")
	both := newVerifier(t, "core", []auth.Key{publicOnly(t, ed), hmacKey})
	for name, tok := range map[string]string{"HS256": oldTok, "EdDSA": newTok} {
		if _, err := both.Verify(tok); err != nil {
			t.Errorf("Verify(%s token) with both keys = %v; want nil", name, err)
		}
	}
	if _, err := newVerifier(t, "core", []auth.Key{publicOnly(t, ed)}).Verify(oldTok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify(HS256 token) after the HMAC key was retired = %v; want ErrInvalidToken", err)
	}
}

func TestEd25519Key(t *testing.T) {
	k := edKey(t, testSeed)
	again := edKey(t, testSeed)
	if k.ID != again.ID || !k.Private.Equal(again.Private) {
		t.Errorf("Ed25519KeyFromSeed() twice = %v, %v; want the same key", k, again)
	}
	if k.Alg() != "EdDSA" || len(k.Private) != ed25519.PrivateKeySize || k.Secret != nil {
		t.Errorf("Ed25519KeyFromSeed() = alg %q, %d-byte private key, secret %v; want EdDSA, 64 bytes, none", k.Alg(), len(k.Private), k.Secret != nil)
	}
	// The ID is the RFC 7638 thumbprint.
	pub := k.Private.Public().(ed25519.PublicKey)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64url.EncodeToString(pub) + `"}`))
	if want := b64url.EncodeToString(sum[:]); k.ID != want {
		t.Errorf("ID = %q; want the JWK thumbprint %q", k.ID, want)
	}

	// RFC 8037 appendix A: the key of A.1, its x and its thumbprint (A.3).
	seed, _ := b64url.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	rfc := edKey(t, seed)
	if p, _ := rfc.PublicKey(); b64url.EncodeToString(p.Key) != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" || rfc.ID != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("RFC 8037 key: x %s, ID %q; want the RFC's x and thumbprint kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", b64url.EncodeToString(p.Key), rfc.ID)
	}

	r1 := auth.NewEd25519Key()
	r2 := auth.NewEd25519Key()
	if r1.ID == r2.ID || r1.Private.Equal(r2.Private) {
		t.Errorf("NewEd25519Key() twice gave the same key %v", r1)
	}
	if back := edKey(t, r1.Private.Seed()); back.ID != r1.ID || !back.Private.Equal(r1.Private) {
		t.Errorf("Ed25519KeyFromSeed(Seed()) = %v; want %v", back, r1)
	}
	for _, n := range []int{0, 31, 33, 64} {
		if k, err := auth.Ed25519KeyFromSeed(make([]byte, n)); err == nil {
			t.Errorf("Ed25519KeyFromSeed(%d bytes) = %v, nil; want an error", n, k)
		}
	}

	p, ok := k.PublicKey()
	if !ok || p.ID != k.ID || !p.Key.Equal(pub) {
		t.Errorf("PublicKey() = %+v, %v; want ID %q and the public key", p, ok, k.ID)
	}
	p.Key[0] ^= 1 // the caller's copy
	if p2, _ := k.PublicKey(); !p2.Key.Equal(pub) {
		t.Errorf("changing the result of PublicKey() changed the key")
	}
	if p, ok := publicOnly(t, k).PublicKey(); !ok || !p.Key.Equal(pub) {
		t.Errorf("PublicKey() of a public-only key = %+v, %v; want the key", p, ok)
	}
	if p, ok := deriveKey(t, testMaster, "core").PublicKey(); ok {
		t.Errorf("PublicKey() of an HMAC key = %+v, true; want false", p)
	}
}

func TestKeyAlg(t *testing.T) {
	ed := edKey(t, testSeed)
	secret := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name string
		key  auth.Key
		want string
	}{
		{"hmac", auth.Key{ID: "k", Secret: secret}, "HS256"},
		{"ed25519 private", ed, "EdDSA"},
		{"ed25519 public", publicOnly(t, ed), "EdDSA"},
		{"ed25519 both halves", auth.Key{ID: "k", Private: ed.Private, Public: publicOnly(t, ed).Public}, "EdDSA"},
		{"none", auth.Key{ID: "k"}, ""},
		{"hmac and ed25519", auth.Key{ID: "k", Secret: secret, Private: ed.Private}, ""},
		{"hmac and ed25519 public", auth.Key{ID: "k", Secret: secret, Public: publicOnly(t, ed).Public}, ""},
	}
	for _, tt := range tests {
		if got := tt.key.Alg(); got != tt.want {
			t.Errorf("%s: Alg() = %q; want %q", tt.name, got, tt.want)
		}
	}
}

// TestKeyRefused covers keys NewIssuer and NewVerifier both refuse.
func TestKeyRefused(t *testing.T) {
	ed := edKey(t, testSeed)
	other := edKey(t, bytes.Repeat([]byte{7}, 32))
	secret := bytes.Repeat([]byte{1}, 32)
	tampered := slices.Clone(ed.Private)
	tampered[40] ^= 1 // the public half
	tests := []struct {
		name string
		key  auth.Key
	}{
		{"hmac and ed25519 private", auth.Key{ID: "k", Secret: secret, Private: ed.Private}},
		{"hmac and ed25519 public", auth.Key{ID: "k", Secret: secret, Public: other.Private.Public().(ed25519.PublicKey)}},
		{"private key short", auth.Key{ID: "k", Private: ed.Private[:63]}},
		{"private key long", auth.Key{ID: "k", Private: append(slices.Clone(ed.Private), 0)}},
		{"private key is a seed", auth.Key{ID: "k", Private: ed.Private.Seed()}},
		{"private key's public half tampered", auth.Key{ID: "k", Private: tampered}},
		{"public key of another private key", auth.Key{ID: "k", Private: ed.Private, Public: other.Private.Public().(ed25519.PublicKey)}},
		{"public key short", auth.Key{ID: "k", Public: publicOnly(t, ed).Public[:31]}},
		{"public key long", auth.Key{ID: "k", Public: append(slices.Clone(publicOnly(t, ed).Public), 0)}},
		{"ed25519 key without ID", auth.Key{Private: ed.Private}},
		{"ed25519 key ID with space", auth.Key{ID: "a b", Private: ed.Private}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i, err := auth.NewIssuer(testIss, "core", tt.key); err == nil || i != nil {
				t.Errorf("NewIssuer() = %v, %v; want nil and an error", i, err)
			}
			if v, err := auth.NewVerifier(testIss, "core", []auth.Key{tt.key}); err == nil || v != nil {
				t.Errorf("NewVerifier() = %v, %v; want nil and an error", v, err)
			}
		})
	}

	// A public key verifies but cannot sign.
	if i, err := auth.NewIssuer(testIss, "core", publicOnly(t, ed)); err == nil || i != nil {
		t.Errorf("NewIssuer(public key) = %v, %v; want nil and an error", i, err)
	}
	// IDs are unique across kinds.
	if v, err := auth.NewVerifier(testIss, "core", []auth.Key{publicOnly(t, ed), {ID: ed.ID, Secret: secret}}); err == nil || v != nil {
		t.Errorf("NewVerifier(Ed25519 and HMAC key with one ID) = %v, %v; want nil and an error", v, err)
	}
	if v, err := auth.NewVerifier(testIss, "core", []auth.Key{ed, publicOnly(t, ed)}); err == nil || v != nil {
		t.Errorf("NewVerifier(the same Ed25519 key twice) = %v, %v; want nil and an error", v, err)
	}
}

func TestKeyNeverPrintsKeyMaterial(t *testing.T) {
	ed := edKey(t, testSeed)
	hm := auth.Key{ID: "kid-1", Secret: []byte("super secret value that is 32 b!")}
	for _, tt := range []struct {
		key      auth.Key
		material [][]byte
	}{
		{hm, [][]byte{hm.Secret}},
		{ed, [][]byte{ed.Private.Seed(), ed.Private}},
	} {
		k := tt.key
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
		out := buf.String()
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%T %v"} {
			out += fmt.Sprintf(verb, k) + fmt.Sprintf(verb, []auth.Key{k}) + fmt.Sprintf(verb, &k)
		}
		for _, m := range tt.material {
			for _, leak := range []string{
				fmt.Sprint(m), fmt.Sprint(m[:8])[1:20], fmt.Sprintf("%x", m[:8]), fmt.Sprintf("%X", m[:8]),
				base64.StdEncoding.EncodeToString(m)[:12], b64url.EncodeToString(m)[:12],
			} {
				if strings.Contains(out, leak) {
					t.Errorf("formatted key %v leaks its key material (%q): %q", k, leak, out)
				}
			}
		}
		if !strings.Contains(out, k.ID) {
			t.Errorf("formatted key %q lacks its ID", out)
		}
	}
}

func TestJWKS(t *testing.T) {
	a := edKey(t, testSeed)
	b := edKey(t, bytes.Repeat([]byte{7}, 32))
	pa, _ := a.PublicKey()
	pb, _ := b.PublicKey()
	got, err := auth.JWKS(pa, pb)
	if err != nil {
		t.Fatalf("JWKS() error = %v", err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS() = %s: %v", got, err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS() = %s; want 2 keys", got)
	}
	for i, p := range []auth.PublicKey{pa, pb} {
		want := map[string]any{
			"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(p.Key),
			"kid": p.ID, "alg": "EdDSA", "use": "sig",
		}
		if fmt.Sprint(set.Keys[i]) != fmt.Sprint(want) {
			t.Errorf("JWKS() key %d = %v; want %v", i, set.Keys[i], want)
		}
		// The published key verifies the key's tokens.
		x, err := b64url.DecodeString(set.Keys[i]["x"].(string))
		if err != nil {
			t.Fatalf("x: %v", err)
		}
		key := []auth.Key{a, b}[i]
		tok, _ := issue(t, newIssuer(t, key, "core"), "42")
		v := newVerifier(t, "core", []auth.Key{{ID: set.Keys[i]["kid"].(string), Public: x}})
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify() with the published key %d = %v; want nil", i, err)
		}
	}
	// No private material: the seed and private key appear nowhere.
	for _, k := range []auth.Key{a, b} {
		for _, leak := range []string{b64url.EncodeToString(k.Private.Seed()), b64url.EncodeToString(k.Private), base64.StdEncoding.EncodeToString(k.Private.Seed())} {
			if strings.Contains(string(got), leak) {
				t.Errorf("JWKS() = %s: contains private key material", got)
			}
		}
	}

	if got, err := auth.JWKS(); err != nil || string(got) != `{"keys":[]}` {
		t.Errorf("JWKS() with no keys = %s, %v; want {\"keys\":[]}", got, err)
	}
	for _, tt := range []struct {
		name string
		keys []auth.PublicKey
	}{
		{"duplicate ID", []auth.PublicKey{pa, {ID: pa.ID, Key: pb.Key}}},
		{"empty ID", []auth.PublicKey{{Key: pa.Key}}},
		{"ID with space", []auth.PublicKey{{ID: "a b", Key: pa.Key}}},
		{"ID too long", []auth.PublicKey{{ID: strings.Repeat("k", 65), Key: pa.Key}}},
		{"short key", []auth.PublicKey{{ID: "k", Key: pa.Key[:31]}}},
		{"no key", []auth.PublicKey{{ID: "k"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := auth.JWKS(tt.keys...); err == nil {
				t.Errorf("JWKS() = %s, nil; want an error", got)
			}
		})
	}
}
