package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// gcmClientC is a small C client for what pkcs11-tool 0.23 cannot do:
// AES-GCM, whose CK_GCM_PARAMS carries two pointers (IV, AAD) for a proxy
// to serialise, and the two-call output convention of C_Encrypt (a NULL
// buffer asks for the length; a short buffer gets CKR_BUFFER_TOO_SMALL and
// the length, and the operation stays active). It prints one line per
// step, so that a direct and a proxied run can be compared line by line.
// It takes MODULE TOKEN-LABEL KEY-LABEL and the PIN in $P11_TEST_PIN.
const gcmClientC = `
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;

static void show(const char *step, CK_RV rv, const unsigned char *p, CK_ULONG n)
{
	printf("%s: rv=0x%lx len=%lu", step, (unsigned long)rv, (unsigned long)n);
	if (p != NULL && rv == CKR_OK) {
		printf(" data=");
		for (CK_ULONG i = 0; i < n; i++)
			printf("%02x", p[i]);
	}
	printf("\n");
}

static void check(const char *step, CK_RV rv)
{
	if (rv != CKR_OK) {
		printf("%s: rv=0x%lx (fatal)\n", step, (unsigned long)rv);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MODULE TOKEN-LABEL KEY-LABEL\n", argv[0]);
		return 64;
	}
	const char *pin = getenv("P11_TEST_PIN");
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (lib == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 3;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (gfl == NULL)
		return 3;
	check("C_GetFunctionList", gfl(&f));
	check("C_Initialize", f->C_Initialize(NULL));

	CK_SLOT_ID slots[32];
	CK_ULONG nslots = 32;
	check("C_GetSlotList", f->C_GetSlotList(CK_TRUE, slots, &nslots));
	char want[32];
	memset(want, ' ', sizeof want);
	memcpy(want, argv[2], strlen(argv[2]) < 32 ? strlen(argv[2]) : 32);
	CK_SLOT_ID slot = 0;
	int found = 0;
	for (CK_ULONG i = 0; i < nslots && !found; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, want, 32) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		printf("token %s not found\n", argv[2]);
		return 2;
	}

	CK_SESSION_HANDLE s;
	check("C_OpenSession", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	check("C_Login", f->C_Login(s, CKU_USER, (unsigned char *)pin, pin ? strlen(pin) : 0));

	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, argv[3], strlen(argv[3])},
	};
	CK_OBJECT_HANDLE key;
	CK_ULONG nkeys = 0;
	check("C_FindObjectsInit", f->C_FindObjectsInit(s, tmpl, 2));
	check("C_FindObjects", f->C_FindObjects(s, &key, 1, &nkeys));
	check("C_FindObjectsFinal", f->C_FindObjectsFinal(s));
	if (nkeys != 1) {
		printf("key %s not found\n", argv[3]);
		return 2;
	}

	unsigned char iv[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	unsigned char aad[] = "authenticated, not encrypted";
	unsigned char pt[] = "AES-GCM through gop11: forty-odd bytes of text";
	CK_ULONG ptlen = sizeof pt - 1;
	/* iv, ivLen, ivBits, aad, aadLen, tagBits */
	CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, aad, sizeof aad - 1, 128};
	CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
	unsigned char ct[256], ct2[256], out[256];
	CK_ULONG len, ctlen;

	/* Single-part, with both forms of the length query first. */
	check("C_EncryptInit", f->C_EncryptInit(s, &mech, key));
	/* A length query may answer "somewhat more" than needed (PKCS #11
	 * v2.40 section 5.2): a proxy that has already done the operation may
	 * answer exactly. So print whether the length suffices, not the
	 * length. (rv first: C leaves the order of evaluating arguments open.) */
	CK_ULONG query, shortlen;
	query = 0;
	CK_RV rv = f->C_Encrypt(s, pt, ptlen, NULL, &query);
	printf("encrypt size query: rv=0x%lx\n", (unsigned long)rv);
	shortlen = 4;
	rv = f->C_Encrypt(s, pt, ptlen, ct, &shortlen);
	printf("encrypt short buffer: rv=0x%lx\n", (unsigned long)rv);
	ctlen = sizeof ct;
	rv = f->C_Encrypt(s, pt, ptlen, ct, &ctlen);
	show("encrypt", rv, ct, ctlen);
	printf("encrypt size query suffices: %s\n", query >= ctlen ? "yes" : "no");
	printf("encrypt short buffer length suffices: %s\n", shortlen >= ctlen ? "yes" : "no");

	/* Multi-part: the same ciphertext and tag, in pieces. */
	CK_ULONG off = 0, n;
	check("C_EncryptInit multi-part", f->C_EncryptInit(s, &mech, key));
	n = sizeof ct2 - off;
	rv = f->C_EncryptUpdate(s, pt, 16, ct2 + off, &n);
	show("encrypt update 1", rv, NULL, n);
	off += (rv == CKR_OK) ? n : 0;
	n = sizeof ct2 - off;
	rv = f->C_EncryptUpdate(s, pt + 16, ptlen - 16, ct2 + off, &n);
	show("encrypt update 2", rv, NULL, n);
	off += (rv == CKR_OK) ? n : 0;
	n = sizeof ct2 - off;
	rv = f->C_EncryptFinal(s, ct2 + off, &n);
	show("encrypt final", rv, NULL, n);
	off += (rv == CKR_OK) ? n : 0;
	show("multi-part result", CKR_OK, ct2, off);
	printf("multi-part matches single-part: %s\n", off == ctlen && memcmp(ct, ct2, off) == 0 ? "yes" : "no");

	/* Decrypt, with a size query first. */
	check("C_DecryptInit", f->C_DecryptInit(s, &mech, key));
	query = 0;
	rv = f->C_Decrypt(s, ct, ctlen, NULL, &query);
	printf("decrypt size query: rv=0x%lx\n", (unsigned long)rv);
	len = sizeof out;
	rv = f->C_Decrypt(s, ct, ctlen, out, &len);
	show("decrypt", rv, out, len);
	printf("decrypt size query suffices: %s\n", query >= len ? "yes" : "no");
	printf("round trip: %s\n", rv == CKR_OK && len == ptlen && memcmp(out, pt, ptlen) == 0 ? "yes" : "no");

	/* A flipped tag bit must fail authentication. */
	ct[ctlen - 1] ^= 1;
	check("C_DecryptInit tampered", f->C_DecryptInit(s, &mech, key));
	len = sizeof out;
	rv = f->C_Decrypt(s, ct, ctlen, out, &len);
	show("decrypt tampered", rv, NULL, 0);

	/* Other AAD, other ciphertext. */
	unsigned char aad2[] = "other AAD";
	CK_GCM_PARAMS gcm2 = {iv, sizeof iv, 96, aad2, sizeof aad2 - 1, 96};
	CK_MECHANISM mech2 = {CKM_AES_GCM, &gcm2, sizeof gcm2};
	check("C_EncryptInit other AAD", f->C_EncryptInit(s, &mech2, key));
	len = sizeof ct;
	rv = f->C_Encrypt(s, pt, ptlen, ct, &len);
	show("encrypt other AAD, 96-bit tag", rv, ct, len);

	check("C_Logout", f->C_Logout(s));
	check("C_CloseSession", f->C_CloseSession(s));
	check("C_Finalize", f->C_Finalize(NULL));
	return 0;
}
`

// TestToolsAESGCM covers AES-GCM, which pkcs11-tool 0.23 lacks, with the C
// client above, built with gcc against p11-kit's pkcs11.h as a third-party
// application would be. Twin AES keys make every line comparable,
// ciphertexts included.
func TestToolsAESGCM(t *testing.T) {
	t.Parallel()
	harness.Require(t, "gcc")
	const header = "/usr/include/p11-kit-1/p11-kit/pkcs11.h"
	harness.Require(t, header)
	dir := t.TempDir()
	src := filepath.Join(dir, "gcmclient.c")
	bin := filepath.Join(dir, "gcmclient")
	if err := os.WriteFile(src, []byte(gcmClientC), 0o600); err != nil {
		t.Fatal(err)
	}
	cc := harness.RunCmd(t, harness.Command{Name: "gcc", Args: []string{
		"-std=c99", "-Wall", "-Werror", "-I/usr/include/p11-kit-1", "-o", bin, src, "-ldl"}})
	if cc.Code != 0 {
		t.Fatalf("gcc: exit %d\n%s%s", cc.Code, cc.Stdout, cc.Stderr)
	}

	p := newToolsPair(t, "tools-gcm", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "aes")
	})
	d, x := p.bothRun(t, "AES-GCM client", nil, func(tg *toolsTarget) harness.Command {
		return harness.Command{
			Name: bin,
			Args: []string{tg.module, tg.tok.Label, "aes"},
			Env:  append(append([]string(nil), tg.env...), "P11_TEST_PIN="+tg.tok.PIN),
		}
	})
	toolsBothOK(t, "AES-GCM client", d, x)
	for _, want := range []string{"round trip: yes", "multi-part matches single-part: yes",
		"encrypt short buffer: rv=0x150", "encrypt size query suffices: yes", "encrypt short buffer length suffices: yes", "decrypt size query suffices: yes"} {
		if !strings.Contains(d.Stdout, want) {
			t.Errorf("direct run lacks %q: SoftHSM2 behaves differently than this test assumes:\n%s", want, d.Stdout)
		}
	}
	// SoftHSM 2.6.1 reports a failed tag check as CKR_GENERAL_ERROR rather
	// than CKR_ENCRYPTED_DATA_INVALID: the comparison above holds the proxy
	// to the same; here it is enough that authentication failed.
	if strings.Contains(d.Stdout, "decrypt tampered: rv=0x0 ") {
		t.Errorf("a tampered GCM tag decrypted directly:\n%s", d.Stdout)
	}
	toolsAssertCalls(t, p.proxy, "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal",
		"C_DecryptInit", "C_Decrypt")
	decryptFailed := func() bool {
		for rv, n := range p.proxy.broker.Results("C_Decrypt") {
			if rv != "CKR_OK" && n > 0 {
				return true
			}
		}
		return false
	}
	if !toolsEventually(decryptFailed) {
		t.Errorf("broker log shows no failed C_Decrypt for the tampered tag: %v", p.proxy.broker.Results("C_Decrypt"))
	}
}
