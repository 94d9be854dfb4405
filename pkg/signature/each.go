package signature

// Verdict is one signature of a digest and whether it verified.
type Verdict struct {
	Raw []byte
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
		out[i] = Verdict{Raw: r, Signature: sig, Err: err}
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

// Rejected are the reasons the others did not.
func Rejected(vs []Verdict) []error {
	var out []error
	for _, v := range vs {
		if v.Err != nil {
			out = append(out, v.Err)
		}
	}
	return out
}
