// Command pki writes the certificates and keys of the local test control
// plane into one directory. It uses only the Go standard library.
//
//	pki -dir DIR [-days N]
//
// Files written (PEM):
//
//	ca.crt, ca.key                 cluster CA (ECDSA P-256)
//	apiserver.crt, apiserver.key   kube-apiserver serving cert (localhost, 127.0.0.1, ::1,
//	                               kubernetes.default.svc..., the first service IP)
//	admin.crt, admin.key           client cert CN=deployment-tracker-admin, O=system:masters
//	kube-controller-manager.crt/.key  client cert CN=system:kube-controller-manager
//	kube-scheduler.crt/.key        client cert CN=system:kube-scheduler
//	kwok.crt, kwok.key             client cert CN=kwok-controller, O=system:masters
//	front-proxy-client.crt/.key    aggregation-layer client cert CN=front-proxy-client
//	sa.key, sa.pub                 service-account token signing key pair (RSA 2048)
//
// An existing ca.crt in DIR makes the command a no-op, so a state directory
// keeps its PKI across restarts.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type leaf struct {
	file   string
	cn     string
	orgs   []string
	server bool
}

func main() {
	dir := flag.String("dir", "", "output directory")
	days := flag.Int("days", 365, "validity in days")
	serviceIP := flag.String("service-ip", "10.0.0.1", "first IP of the service cluster IP range (apiserver SAN)")
	flag.Parse()
	if *dir == "" {
		fail(fmt.Errorf("-dir is required"))
	}
	if _, err := os.Stat(filepath.Join(*dir, "ca.crt")); err == nil {
		return
	}
	fail(os.MkdirAll(*dir, 0o700))

	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(time.Duration(*days) * 24 * time.Hour)

	caKey := newECKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "deployment-tracker-test-ca"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	fail(err)
	caCert, err := x509.ParseCertificate(caDER)
	fail(err)

	leaves := []leaf{
		{file: "apiserver", cn: "kube-apiserver", server: true},
		{file: "admin", cn: "deployment-tracker-admin", orgs: []string{"system:masters"}},
		{file: "kube-controller-manager", cn: "system:kube-controller-manager"},
		{file: "kube-scheduler", cn: "system:kube-scheduler"},
		{file: "kwok", cn: "kwok-controller", orgs: []string{"system:masters"}},
		{file: "front-proxy-client", cn: "front-proxy-client"},
	}
	for _, l := range leaves {
		key := newECKey()
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: l.cn, Organization: l.orgs},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if l.server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			tmpl.DNSNames = []string{
				"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local",
			}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
			if ip := net.ParseIP(*serviceIP); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
		fail(err)
		writeCert(*dir, l.file+".crt", der)
		writeKey(*dir, l.file+".key", key)
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	fail(err)
	writeKey(*dir, "sa.key", saKey)
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	fail(err)
	writePEM(*dir, "sa.pub", "PUBLIC KEY", pub, 0o644)

	// The CA is written last: its presence marks a complete directory.
	writeKey(*dir, "ca.key", caKey)
	writeCert(*dir, "ca.crt", caDER)
}

func newECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	return k
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	fail(err)
	return n
}

func writeCert(dir, name string, der []byte) {
	writePEM(dir, name, "CERTIFICATE", der, 0o644)
}

func writeKey(dir, name string, key crypto.Signer) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	fail(err)
	writePEM(dir, name, "PRIVATE KEY", der, 0o600)
}

func writePEM(dir, name, typ string, der []byte, mode os.FileMode) {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	tmp := filepath.Join(dir, name+".tmp")
	fail(os.WriteFile(tmp, data, mode))
	fail(os.Rename(tmp, filepath.Join(dir, name)))
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}
