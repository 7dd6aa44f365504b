package ssh

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// KeyPair is a temporary SSH key pair made for one build.
type KeyPair struct {
	// Type is "rsa", "ecdsa" or "ed25519".
	Type string
	// AuthorizedKey is the public key as one authorized_keys line
	// ("ssh-ed25519 AAAA... comment"), without a trailing newline.
	AuthorizedKey string
	// PrivateKeyPEM is the private key in OpenSSH PEM form. It is
	// registered with internal/secret so that it is never shown.
	PrivateKeyPEM []byte
}

// GenerateKeyPair makes a key pair of keyType ("rsa", "ecdsa" or "ed25519";
// "" means rsa) with bits (RSA: 0 means 4096; ECDSA: the curve, 256, 384 or
// 521, 0 meaning 521 as in Packer; ed25519 has no size). comment ends the public key
// line, so that the key can be found again in authorized_keys.
func GenerateKeyPair(keyType string, bits int, comment string) (*KeyPair, error) {
	var (
		priv any
		pub  any
	)
	switch keyType {
	case "", "rsa":
		keyType = "rsa"
		if bits == 0 {
			bits = 4096
		}
		if bits < 2048 {
			return nil, fmt.Errorf("generating an rsa key pair: %d bits is too few (use at least 2048)", bits)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("generating an rsa key pair: %w", err)
		}
		priv, pub = k, &k.PublicKey
	case "ecdsa":
		curve, err := ecdsaCurve(bits)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating an ecdsa key pair: %w", err)
		}
		priv, pub = k, &k.PublicKey
	case "ed25519":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating an ed25519 key pair: %w", err)
		}
		priv, pub = k, p
	default:
		return nil, fmt.Errorf("generating a key pair: type %q is not supported (use rsa, ecdsa or ed25519)", keyType)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s public key: %w", keyType, err)
	}
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s private key: %w", keyType, err)
	}
	line := strings.TrimSuffix(string(gossh.MarshalAuthorizedKey(sshPub)), "\n")
	if comment != "" {
		line += " " + comment
	}
	kp := &KeyPair{Type: keyType, AuthorizedKey: line, PrivateKeyPEM: pem.EncodeToMemory(block)}
	secret.Add(string(kp.PrivateKeyPEM))
	return kp, nil
}

// ecdsaCurve is the curve of an ECDSA key of bits (0: 521).
func ecdsaCurve(bits int) (elliptic.Curve, error) {
	switch bits {
	case 0, 521:
		return elliptic.P521(), nil
	case 384:
		return elliptic.P384(), nil
	case 256:
		return elliptic.P256(), nil
	}
	return nil, fmt.Errorf("generating an ecdsa key pair: %d bits is not a size SSH supports (use 256, 384 or 521)", bits)
}
