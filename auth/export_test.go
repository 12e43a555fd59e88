package auth

// Hooks into unexported parts, for the black-box tests in package auth_test.

// SetKeyFunc replaces the argon2id derivation of h (argon2.IDKey). Call it
// before h is used.
func SetKeyFunc(h *Hasher, f func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte) {
	h.idKey = f
}

// DecodeHash parses a PHC string under h's caps, as Verify does.
func DecodeHash(h *Hasher, encoded string) (p Params, salt, key []byte, err error) {
	ph, err := decodePHC(encoded, h.lim)
	if err != nil {
		return Params{}, nil, nil, err
	}
	return ph.params(), ph.salt, ph.key, nil
}

// EncodeHash writes a PHC string, as Hash does.
func EncodeHash(p Params, salt, key []byte) string { return encodePHC(p, salt, key) }

// CacheLen returns how many tokens v's cache holds, expired ones not yet
// dropped included (0 when the cache is off).
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// SetWaitHook makes h call f (with "verify" or "hash") each time a caller
// starts waiting for a hashing slot. Call it before h is used.
func SetWaitHook(h *Hasher, f func(class string)) {
	h.slots.onWait = func(class int) {
		if class == classVerify {
			f("verify")
		} else {
			f("hash")
		}
	}
}

// Waiting returns how many Verify and Hash calls wait for a slot.
func Waiting(h *Hasher) (verify, hash int) { return h.slots.waiting() }
