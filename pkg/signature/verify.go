// Package signature fetches, verifies and packages OpenShift release-image
// signatures: OpenPGP-signed "atomic container signature" documents, the
// stores that serve them (<store>/sha256=<hex>/signature-<N>) and the
// ConfigMap the Cluster Version Operator reads them from.
package signature

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	// Release signatures are verified with x/crypto/openpgp, the package the
	// Cluster Version Operator and containers/image's pure-Go mechanism
	// use. It is frozen, but unlike github.com/ProtonMail/go-crypto it still
	// reads version 3 signature packets, which Red Hat's release signatures
	// are: a cluster accepts them, so we must too.
	"golang.org/x/crypto/openpgp"                  //nolint:staticcheck // see above
	pgperrors "golang.org/x/crypto/openpgp/errors" //nolint:staticcheck // see above
	"golang.org/x/crypto/openpgp/packet"           //nolint:staticcheck // see above
)

// SignatureType is the only critical.type a release signature may carry.
const SignatureType = "atomic container signature"

// maxSignatureSize caps a signature read from a store or a ConfigMap.
const maxSignatureSize = 50 * 1024

// Keyring holds the public keys a signature must be made by.
type Keyring struct {
	entities openpgp.EntityList
}

const (
	armorStart = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	armorEnd   = "-----END PGP PUBLIC KEY BLOCK-----"
)

// ReadKeyring reads public keys, ASCII-armored or binary.
func ReadKeyring(r io.Reader) (Keyring, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Keyring{}, fmt.Errorf("reading keyring: %w", err)
	}
	var el openpgp.EntityList
	if bytes.Contains(data, []byte(armorStart)) {
		// Armored files are often several keys concatenated (cat a.asc
		// b.asc); the library reads one armor block at a time.
		for i, block := range bytes.SplitAfter(data, []byte(armorEnd)) {
			if !bytes.Contains(block, []byte(armorStart)) {
				continue
			}
			one, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
			if err != nil {
				return Keyring{}, fmt.Errorf("reading keyring: armored block %d: %w", i+1, err)
			}
			el = append(el, one...)
		}
	} else if el, err = openpgp.ReadKeyRing(bytes.NewReader(data)); err != nil {
		return Keyring{}, fmt.Errorf("reading keyring: %w", err)
	}
	if len(el) == 0 {
		return Keyring{}, errors.New("reading keyring: no keys found")
	}
	return Keyring{entities: el}, nil
}

// NewKeyring wraps entities already parsed (for example keys generated in tests).
func NewKeyring(entities ...*openpgp.Entity) Keyring {
	return Keyring{entities: openpgp.EntityList(entities)}
}

// Merge returns a keyring holding the keys of both.
func (k Keyring) Merge(other Keyring) Keyring {
	el := make(openpgp.EntityList, 0, len(k.entities)+len(other.entities))
	el = append(el, k.entities...)
	el = append(el, other.entities...)
	return Keyring{entities: el}
}

// Len is the number of keys (primary keys) in the keyring.
func (k Keyring) Len() int { return len(k.entities) }

// Fingerprints lists the upper-case hex fingerprints of the primary keys.
func (k Keyring) Fingerprints() []string {
	out := make([]string, 0, len(k.entities))
	for _, e := range k.entities {
		out = append(out, strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint[:])))
	}
	return out
}

// Signature is a verified release signature.
type Signature struct {
	// Digest is critical.image.docker-manifest-digest, equal to the digest verified for.
	Digest string
	// Identity is critical.identity.docker-reference.
	Identity string
	// Creator is optional.creator, empty when absent.
	Creator string
	// Timestamp is optional.timestamp, zero when absent.
	Timestamp time.Time
	// SignerKeyID is the 16-hex-digit id of the key that made the signature.
	SignerKeyID string
	// SignerFingerprint is the fingerprint of that signing key's primary key.
	SignerFingerprint string
	// Raw is the signature as it was read.
	Raw []byte
}

// Errors that Verify wraps, for callers that map them to messages or exit codes.
var (
	ErrUnknownSigner  = errors.New("signed by a key not in the keyring")
	ErrExpired        = errors.New("key or signature expired")
	ErrDigestMismatch = errors.New("signature is for another digest")
	ErrMalformed      = errors.New("malformed signature")
)

// ValidateDigest checks that d is "sha256:" followed by 64 lower-case hex digits.
func ValidateDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok {
		return fmt.Errorf("digest %q: must start with sha256:", d)
	}
	if len(hexPart) != 64 {
		return fmt.Errorf("digest %q: want 64 hex digits, got %d", d, len(hexPart))
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("digest %q: not lower-case hex", d)
		}
	}
	return nil
}

// Verify checks that raw is an OpenPGP signed message made by a key in kr,
// neither the key nor the signature expired, whose payload is an atomic
// container signature for digest. It returns what the signature claims.
func Verify(raw []byte, digest string, kr Keyring) (*Signature, error) {
	return verifyAt(raw, digest, kr, time.Now)
}

func verifyAt(raw []byte, digest string, kr Keyring, now func() time.Time) (*Signature, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	if len(raw) > maxSignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(raw), maxSignatureSize)
	}
	if len(kr.entities) == 0 {
		return nil, errors.New("verifying signature: empty keyring")
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(raw), kr.entities, nil, &packet.Config{Time: now})
	if err != nil {
		return nil, fmt.Errorf("%w: not an OpenPGP message: %v", ErrMalformed, err)
	}
	if md.IsEncrypted {
		return nil, fmt.Errorf("%w: message is encrypted, not signed", ErrMalformed)
	}
	if !md.IsSigned {
		return nil, fmt.Errorf("%w: message is not signed", ErrMalformed)
	}
	keyID := fmt.Sprintf("%016X", md.SignedByKeyId)
	if md.SignedBy == nil {
		return nil, fmt.Errorf("%w: key ID %s", ErrUnknownSigner, keyID)
	}
	// Reading the body to its end makes the library check the signature
	// packet that follows it.
	payload, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading signed payload: %v", ErrMalformed, err)
	}
	if len(payload) > maxSignatureSize {
		return nil, fmt.Errorf("%w: signed payload larger than %d bytes", ErrMalformed, maxSignatureSize)
	}
	if md.SignatureError != nil {
		var structural pgperrors.StructuralError
		if errors.As(md.SignatureError, &structural) {
			return nil, fmt.Errorf("%w: signature by key %s: %v", ErrMalformed, keyID, md.SignatureError)
		}
		return nil, fmt.Errorf("signature by key %s is invalid: %w", keyID, md.SignatureError)
	}
	if md.Signature == nil && md.SignatureV3 == nil {
		return nil, fmt.Errorf("%w: no verified signature packet", ErrMalformed)
	}
	if err := checkExpiry(md, now()); err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrExpired, keyID, err)
	}

	claims, err := parsePayload(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if claims.digest != digest {
		return nil, fmt.Errorf("%w: signed %s, want %s", ErrDigestMismatch, claims.digest, digest)
	}
	sig := &Signature{
		Digest:            claims.digest,
		Identity:          claims.identity,
		Creator:           claims.creator,
		SignerKeyID:       keyID,
		SignerFingerprint: strings.ToUpper(hex.EncodeToString(md.SignedBy.Entity.PrimaryKey.Fingerprint[:])),
		Raw:               append([]byte(nil), raw...),
	}
	if claims.hasTimestamp {
		sig.Timestamp = time.Unix(claims.timestamp, 0).UTC()
	}
	return sig, nil
}

// checkExpiry rejects a signature made by an expired key (the signing
// subkey, or the primary key it belongs to) or one past its own lifetime.
// The library verifies the cryptography only; these dates are policy.
func checkExpiry(md *openpgp.MessageDetails, now time.Time) error {
	key := md.SignedBy
	if key.SelfSignature != nil && key.SelfSignature.KeyExpired(now) {
		return fmt.Errorf("the signing key expired on %s", keyExpiry(key.SelfSignature))
	}
	if key.PublicKey != key.Entity.PrimaryKey {
		// A subkey is only as valid as its primary key.
		if self := primarySelfSignature(key.Entity); self != nil && self.KeyExpired(now) {
			return fmt.Errorf("the primary key expired on %s", keyExpiry(self))
		}
	}
	if sig := md.Signature; sig != nil && sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		expiry := sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
		if now.After(expiry) {
			return fmt.Errorf("the signature expired on %s", expiry.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func keyExpiry(self *packet.Signature) string {
	return self.CreationTime.Add(time.Duration(*self.KeyLifetimeSecs) * time.Second).UTC().Format(time.RFC3339)
}

// primarySelfSignature is the self-signature that carries the primary key's
// lifetime: the one on the identity marked primary, else the newest.
func primarySelfSignature(e *openpgp.Entity) *packet.Signature {
	var best *packet.Signature
	for _, id := range e.Identities {
		sig := id.SelfSignature
		if sig == nil {
			continue
		}
		isPrimary := sig.IsPrimaryId != nil && *sig.IsPrimaryId
		bestPrimary := best != nil && best.IsPrimaryId != nil && *best.IsPrimaryId
		if best == nil || (isPrimary && !bestPrimary) || (isPrimary == bestPrimary && sig.CreationTime.After(best.CreationTime)) {
			best = sig
		}
	}
	return best
}

type claims struct {
	typ, digest, identity, creator string
	timestamp                      int64
	hasTimestamp                   bool
}

// parsePayload reads the atomic container signature JSON strictly: every
// object must hold only known fields, each at most once, of the right type.
func parsePayload(data []byte) (*claims, error) {
	var c claims
	seenCritical := false
	err := strictObject(data, "", map[string]func(json.RawMessage) error{
		"critical": func(v json.RawMessage) error {
			seenCritical = true
			return c.parseCritical(v)
		},
		"optional": func(v json.RawMessage) error { return c.parseOptional(v) },
	})
	if err != nil {
		return nil, err
	}
	if !seenCritical {
		return nil, errors.New("field critical: missing")
	}
	return &c, nil
}

func (c *claims) parseCritical(v json.RawMessage) error {
	var seenType, seenImage, seenIdentity bool
	err := strictObject(v, "critical", map[string]func(json.RawMessage) error{
		"type": func(v json.RawMessage) error {
			seenType = true
			return stringField(v, "critical.type", &c.typ)
		},
		"image": func(v json.RawMessage) error {
			seenImage = true
			seen := false
			err := strictObject(v, "critical.image", map[string]func(json.RawMessage) error{
				"docker-manifest-digest": func(v json.RawMessage) error {
					seen = true
					return stringField(v, "critical.image.docker-manifest-digest", &c.digest)
				},
			})
			if err == nil && !seen {
				err = errors.New("field critical.image.docker-manifest-digest: missing")
			}
			return err
		},
		"identity": func(v json.RawMessage) error {
			seenIdentity = true
			seen := false
			err := strictObject(v, "critical.identity", map[string]func(json.RawMessage) error{
				"docker-reference": func(v json.RawMessage) error {
					seen = true
					return stringField(v, "critical.identity.docker-reference", &c.identity)
				},
			})
			if err == nil && !seen {
				err = errors.New("field critical.identity.docker-reference: missing")
			}
			return err
		},
	})
	switch {
	case err != nil:
		return err
	case !seenType:
		return errors.New("field critical.type: missing")
	case c.typ != SignatureType:
		return fmt.Errorf("field critical.type: %q, want %q", c.typ, SignatureType)
	case !seenImage:
		return errors.New("field critical.image: missing")
	case !seenIdentity:
		return errors.New("field critical.identity: missing")
	case c.identity == "":
		return errors.New("field critical.identity.docker-reference: empty")
	case c.digest == "":
		return errors.New("field critical.image.docker-manifest-digest: empty")
	}
	return nil
}

func (c *claims) parseOptional(v json.RawMessage) error {
	return strictObject(v, "optional", map[string]func(json.RawMessage) error{
		"creator": func(v json.RawMessage) error { return stringField(v, "optional.creator", &c.creator) },
		"timestamp": func(v json.RawMessage) error {
			if t := bytes.TrimSpace(v); len(t) == 0 || t[0] == '"' {
				return fmt.Errorf("field optional.timestamp: not a number")
			}
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var n json.Number
			if err := dec.Decode(&n); err != nil {
				return fmt.Errorf("field optional.timestamp: not a number")
			}
			i, err := strconv.ParseInt(n.String(), 10, 64)
			if err != nil {
				return fmt.Errorf("field optional.timestamp: %s is not an integer", n)
			}
			c.timestamp, c.hasTimestamp = i, true
			return nil
		},
	})
}

func stringField(v json.RawMessage, path string, dst *string) error {
	if err := json.Unmarshal(v, dst); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return fmt.Errorf("field %s: not a string", path)
	}
	return nil
}

// strictObject decodes data as one JSON object and calls fields[key] for
// each member. Unknown and repeated members are errors naming the path.
func strictObject(data []byte, path string, fields map[string]func(json.RawMessage) error) error {
	name := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	where := path
	if where == "" {
		where = "payload"
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: invalid JSON: %v", where, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%s: not a JSON object", where)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: invalid JSON: %v", where, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s: invalid JSON key", where)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("field %s: invalid JSON: %v", name(key), err)
		}
		parse, known := fields[key]
		if !known {
			return fmt.Errorf("field %s: unknown field", name(key))
		}
		if seen[key] {
			return fmt.Errorf("field %s: appears twice", name(key))
		}
		seen[key] = true
		if err := parse(value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s: invalid JSON: %v", where, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: trailing data after JSON object", where)
	}
	return nil
}
