package signature

import "fmt"

// Verdict is one signature of a digest and whether it verified.
type Verdict struct {
	// Store is where it came from ("" when not from a store); N its
	// place there (signature-N).
	Store string
	N     int
	Raw   []byte
	// Signature is set when it verified.
	Signature *Signature
	// Err says why it did not.
	Err error
}

// VerifyEach verifies every signature in raw for digest with kr.
func VerifyEach(raw [][]byte, digest string, kr Keyring) []Verdict {
	out := make([]Verdict, len(raw))
	for i, r := range raw {
		sig, err := Verify(r, digest, kr)
		out[i] = Verdict{N: i + 1, Raw: r, Signature: sig, Err: err}
	}
	return out
}

// Verified are the signatures of vs that verified, in order.
func Verified(vs []Verdict) [][]byte {
	var out [][]byte
	for _, v := range vs {
		if v.Err == nil {
			out = append(out, v.Raw)
		}
	}
	return out
}

// Rejected are the reasons the others did not, each naming the signature
// (and its store).
func Rejected(vs []Verdict) []error {
	var out []error
	for _, v := range vs {
		if v.Err != nil {
			out = append(out, fmt.Errorf("%s: %w", v.Name(), v.Err))
		}
	}
	return out
}

// Name is "signature-N", and the store it came from.
func (v Verdict) Name() string {
	if v.Store == "" {
		return fmt.Sprintf("signature-%d", v.N)
	}
	return fmt.Sprintf("signature-%d of %s", v.N, v.Store)
}
