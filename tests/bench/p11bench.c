/*
 * p11bench: one benchmark driver for any PKCS #11 module.
 *
 * The parent process never loads the module: every measurement runs in a
 * forked child that dlopen()s it, so a module that crashes or hangs costs one
 * error row (CRASH:SIG... or TIMEOUT), never the campaign, and a Go
 * c-shared module is never forked after its runtime started.  Children get
 * PR_SET_PDEATHSIG, so killing p11bench kills them.
 *
 * Modes (see usage()):
 *   default        per operation x thread count: one child process, one
 *                  C_Initialize, one session per thread, one C_Login.
 *   --procs LIST   N client processes (one C_Initialize, so one connection,
 *                  each) signing ECDSA single-threaded; aggregate ops/s in
 *                  rows with op "ecdsa_sign_procs" and procs N.
 *   --hold-procs N N processes each holding C_Initialize + C_OpenSession;
 *                  reports the RSS of --rss-pid and its descendants.
 *   --sessions N   one process with N open sessions, RSS as above, then a
 *                  C_GetInfo and a C_Sign must still answer.
 *   --rss-pid PID  alone: RSS of PID and descendants now ("idle").
 *
 * Rows (stdout or --out):
 *   target,op,threads,procs,ops_per_s,p50_us,p99_us,errors,first_error_rv
 *   rss,target,scenario,n,ok,broker_kib,tree_kib,tree_procs,tree_pss_kib,
 *       sys_used_kib,errors,first_error_rv
 * first_error_rv is FUNCTION:CKR_NAME for the first failure of the cell.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Platform macros the standard (OASIS-style) header expects from us; the
 * p11-kit header used before include/pkcs11.h existed ignores them. */
#ifndef CK_PTR
#define CK_PTR *
#endif
#ifndef CK_DECLARE_FUNCTION
#define CK_DECLARE_FUNCTION(rv, name) rv name
#endif
#ifndef CK_DECLARE_FUNCTION_POINTER
#define CK_DECLARE_FUNCTION_POINTER(rv, name) rv(*name)
#endif
#ifndef CK_CALLBACK_FUNCTION
#define CK_CALLBACK_FUNCTION(rv, name) rv(*name)
#endif
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
#include "pkcs11.h"

#include "bench_common.h"

/* CK_GCM_PARAMS as in PKCS #11 v2.40/v3.0 (with ulIvBits).  Written out here
 * because the p11-kit header names its fields differently (iv_ptr, ...). */
struct bench_gcm_params {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_ULONG ulIvBits;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

/* Pseudo return values for failures that are not a CK_RV. */
#define BRV_BAD_RESULT ((CK_RV)0xB0000001UL)
#define BRV_NOT_FOUND ((CK_RV)0xB0000002UL)
#define BRV_DLOPEN ((CK_RV)0xB0000003UL)

static const char *rv_name(CK_RV rv)
{
	static __thread char buf[32];
#define R(x) \
	case x: \
		return #x;
	switch (rv) {
		R(CKR_OK)
		R(CKR_CANCEL)
		R(CKR_HOST_MEMORY)
		R(CKR_SLOT_ID_INVALID)
		R(CKR_GENERAL_ERROR)
		R(CKR_FUNCTION_FAILED)
		R(CKR_ARGUMENTS_BAD)
		R(CKR_CANT_LOCK)
		R(CKR_ATTRIBUTE_SENSITIVE)
		R(CKR_ATTRIBUTE_TYPE_INVALID)
		R(CKR_DATA_INVALID)
		R(CKR_DATA_LEN_RANGE)
		R(CKR_DEVICE_ERROR)
		R(CKR_DEVICE_MEMORY)
		R(CKR_DEVICE_REMOVED)
		R(CKR_FUNCTION_CANCELED)
		R(CKR_FUNCTION_NOT_SUPPORTED)
		R(CKR_KEY_HANDLE_INVALID)
		R(CKR_KEY_TYPE_INCONSISTENT)
		R(CKR_KEY_FUNCTION_NOT_PERMITTED)
		R(CKR_MECHANISM_INVALID)
		R(CKR_MECHANISM_PARAM_INVALID)
		R(CKR_OBJECT_HANDLE_INVALID)
		R(CKR_OPERATION_ACTIVE)
		R(CKR_OPERATION_NOT_INITIALIZED)
		R(CKR_PIN_INCORRECT)
		R(CKR_PIN_LOCKED)
		R(CKR_SESSION_CLOSED)
		R(CKR_SESSION_COUNT)
		R(CKR_SESSION_HANDLE_INVALID)
		R(CKR_SESSION_PARALLEL_NOT_SUPPORTED)
		R(CKR_TEMPLATE_INCOMPLETE)
		R(CKR_TEMPLATE_INCONSISTENT)
		R(CKR_TOKEN_NOT_PRESENT)
		R(CKR_TOKEN_NOT_RECOGNIZED)
		R(CKR_USER_ALREADY_LOGGED_IN)
		R(CKR_USER_NOT_LOGGED_IN)
		R(CKR_USER_PIN_NOT_INITIALIZED)
		R(CKR_USER_TYPE_INVALID)
		R(CKR_BUFFER_TOO_SMALL)
		R(CKR_CRYPTOKI_NOT_INITIALIZED)
		R(CKR_CRYPTOKI_ALREADY_INITIALIZED)
	case BRV_BAD_RESULT:
		return "BAD_RESULT";
	case BRV_NOT_FOUND:
		return "NOT_FOUND";
	case BRV_DLOPEN:
		return "FAILED";
	}
#undef R
	snprintf(buf, sizeof buf, "0x%08lx", (unsigned long)rv);
	return buf;
}

/* ---- options ---------------------------------------------------------- */

enum op_id {
	OP_GETINFO,
	OP_RANDOM32,
	OP_GETATTR2,
	OP_FIND,
	OP_ECDSA,
	OP_RSA,
	OP_DIGEST,
	OP_AESGCM,
	OP_OPENCLOSE,
	OP_BUSY, /* not in "all": the busy-host scenario */
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"getinfo", "random32", "getattr2", "find", "ecdsa_sign",
	"rsa_sign", "digest_1m", "aes_gcm_1k", "open_close", "busy_sign",
};

static struct {
	const char *module;
	const char *target;
	const char *token;
	const char *pin;
	const char *ec_label, *rsa_label, *aes_label;
	double duration;      /* seconds per cell */
	long max_ops;         /* per cell, whichever comes first */
	double timeout;       /* per cell; 0 = derived */
	int ops[OP_COUNT], nops;
	int threads[16], nthreads;
	int procs[16], nprocs;
	int hold_procs;
	int sessions;
	int work_us;          /* busy_sign: application work after each call */
	pid_t rss_pid;
	const char *held;	/* --held "SCENARIO N OK ERRORS FIRST": another program holds the clients */
	int header;
	FILE *out;
} opt;

/* ---- shared results --------------------------------------------------- */

struct slot {
	uint64_t ok, err;
	uint64_t t_end;
	CK_RV first_rv;
	char first_fn[48];
	struct hist h;
};

struct shared {
	volatile int done;          /* child finished measuring */
	volatile int setup_failed;
	CK_RV setup_rv;
	char setup_fn[64];
	volatile uint64_t t_go, t_deadline;
	uint64_t extra_ok;          /* hold/sessions: how many succeeded */
	int nslots;
	struct slot slots[];
};

static struct shared *shm_new(int nslots)
{
	size_t sz = sizeof(struct shared) + (size_t)nslots * sizeof(struct slot);
	struct shared *s = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	s->nslots = nslots;
	return s;
}

static void shm_free(struct shared *s)
{
	munmap(s, sizeof(struct shared) + (size_t)s->nslots * sizeof(struct slot));
}

static void slot_error(struct slot *sl, const char *fn, CK_RV rv)
{
	if (sl->err++ == 0) {
		sl->first_rv = rv;
		snprintf(sl->first_fn, sizeof sl->first_fn, "%s", fn);
	}
}

static void setup_error(struct shared *s, const char *fn, CK_RV rv)
{
	if (!s->setup_failed) {
		s->setup_rv = rv;
		snprintf(s->setup_fn, sizeof s->setup_fn, "%s", fn);
		__sync_synchronize();
		s->setup_failed = 1;
	}
}

/* ---- module setup (in a child) ---------------------------------------- */

static CK_FUNCTION_LIST_PTR F;
static CK_SLOT_ID g_slot;
static CK_OBJECT_HANDLE k_ec_priv, k_ec_pub, k_rsa, k_aes;
static CK_BYTE *g_big; /* 1 MiB digest input */

#define TRY(s, fn, call) \
	do { \
		CK_RV rv_ = (call); \
		if (rv_ != CKR_OK) { \
			setup_error((s), (fn), rv_); \
			return -1; \
		} \
	} while (0)

static int module_init(struct shared *s)
{
	void *h = dlopen(opt.module, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "p11bench: dlopen %s: %s\n", opt.module, dlerror());
		setup_error(s, "dlopen", BRV_DLOPEN);
		return -1;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (!gfl) {
		setup_error(s, "dlsym(C_GetFunctionList)", BRV_DLOPEN);
		return -1;
	}
	TRY(s, "C_GetFunctionList", gfl(&F));
	CK_C_INITIALIZE_ARGS ia;
	memset(&ia, 0, sizeof ia);
	ia.flags = CKF_OS_LOCKING_OK;
	TRY(s, "C_Initialize", F->C_Initialize(&ia));

	CK_ULONG n = 0;
	TRY(s, "C_GetSlotList", F->C_GetSlotList(CK_TRUE, NULL, &n));
	CK_SLOT_ID *slots = calloc(n + 1, sizeof *slots);
	TRY(s, "C_GetSlotList", F->C_GetSlotList(CK_TRUE, slots, &n));
	char want[32];
	memset(want, ' ', sizeof want);
	memcpy(want, opt.token, strnlen(opt.token, sizeof want));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (F->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (memcmp(ti.label, want, sizeof want) == 0) {
			g_slot = slots[i];
			free(slots);
			return 0;
		}
	}
	free(slots);
	setup_error(s, "token-label", BRV_NOT_FOUND);
	return -1;
}

static int login(struct shared *s, CK_SESSION_HANDLE sess)
{
	CK_RV rv = F->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)opt.pin,
			      (CK_ULONG)strlen(opt.pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		setup_error(s, "C_Login", rv);
		return -1;
	}
	return 0;
}

static int find_key(struct shared *s, CK_SESSION_HANDLE sess,
		    CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) },
	};
	CK_ULONG n = 0;
	TRY(s, "C_FindObjectsInit", F->C_FindObjectsInit(sess, t, 2));
	CK_RV rv = F->C_FindObjects(sess, out, 1, &n);
	F->C_FindObjectsFinal(sess);
	if (rv != CKR_OK) {
		setup_error(s, "C_FindObjects", rv);
		return -1;
	}
	if (n != 1) {
		char fn[64];
		snprintf(fn, sizeof fn, "find-key(%s)", label);
		setup_error(s, fn, BRV_NOT_FOUND);
		return -1;
	}
	return 0;
}

static int find_keys_for(struct shared *s, CK_SESSION_HANDLE sess, int op)
{
	switch (op) {
	case OP_GETATTR2:
		return find_key(s, sess, CKO_PUBLIC_KEY, opt.ec_label, &k_ec_pub);
	case OP_ECDSA:
		return find_key(s, sess, CKO_PRIVATE_KEY, opt.ec_label, &k_ec_priv);
	case OP_RSA:
		return find_key(s, sess, CKO_PRIVATE_KEY, opt.rsa_label, &k_rsa);
	case OP_AESGCM:
		return find_key(s, sess, CKO_SECRET_KEY, opt.aes_label, &k_aes);
	case OP_BUSY:
		return find_key(s, sess, CKO_PRIVATE_KEY, opt.ec_label, &k_ec_priv) ||
		       find_key(s, sess, CKO_PRIVATE_KEY, opt.rsa_label, &k_rsa);
	}
	return 0;
}

/* ---- operations ------------------------------------------------------- */

struct tstate {
	CK_SESSION_HANDLE sess;
	uint64_t iv_ctr;
	uint64_t busy_ctr;
	uint32_t work; /* the application's own computation, kept live */
	CK_BYTE label[256];
	CK_BYTE point[1024];
	CK_BYTE in[1024];
	CK_BYTE out[2048];
};

#define CALL(fn, call) \
	do { \
		CK_RV rv_ = (call); \
		if (rv_ != CKR_OK) { \
			*failed = (fn); \
			return rv_; \
		} \
	} while (0)

/* app_work is the application's own CPU work between calls (checking
 * what it signed, say): work_us microseconds of computation. */
static void app_work(struct tstate *t)
{
	uint64_t end = now_ns() + (uint64_t)opt.work_us * 1000u;
	uint32_t x = t->work | 1;
	do {
		for (int i = 0; i < 256; i++)
			x = x * 1664525u + 1013904223u;
	} while (now_ns() < end);
	t->work = x;
}

static CK_RV do_op(int op, struct tstate *t, const char **failed)
{
	CK_SESSION_HANDLE s = t->sess;
	switch (op) {
	case OP_BUSY: {
		/* ECDSA and RSA signatures in turn, each followed by the
		 * application's own work: a busy host's signing service. */
		CK_RV rv = do_op(t->busy_ctr++ % 2 ? OP_RSA : OP_ECDSA, t, failed);
		if (rv == CKR_OK)
			app_work(t);
		return rv;
	}
	case OP_GETINFO: {
		CK_INFO info;
		CALL("C_GetInfo", F->C_GetInfo(&info));
		return CKR_OK;
	}
	case OP_RANDOM32:
		CALL("C_GenerateRandom", F->C_GenerateRandom(s, t->out, 32));
		return CKR_OK;
	case OP_GETATTR2: {
		CK_ATTRIBUTE a[2] = {
			{ CKA_LABEL, NULL, 0 },
			{ CKA_EC_POINT, NULL, 0 },
		};
		CALL("C_GetAttributeValue", F->C_GetAttributeValue(s, k_ec_pub, a, 2));
		if (a[0].ulValueLen > sizeof t->label || a[1].ulValueLen > sizeof t->point ||
		    a[1].ulValueLen == 0) {
			*failed = "C_GetAttributeValue(length)";
			return BRV_BAD_RESULT;
		}
		CK_ULONG l0 = a[0].ulValueLen, l1 = a[1].ulValueLen;
		a[0].pValue = t->label;
		a[1].pValue = t->point;
		CALL("C_GetAttributeValue", F->C_GetAttributeValue(s, k_ec_pub, a, 2));
		if (a[0].ulValueLen != l0 || a[1].ulValueLen != l1) {
			*failed = "C_GetAttributeValue(value)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_FIND: {
		CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE a[2] = {
			{ CKA_CLASS, &cls, sizeof cls },
			{ CKA_LABEL, (void *)opt.ec_label, (CK_ULONG)strlen(opt.ec_label) },
		};
		CK_OBJECT_HANDLE h[16];
		CK_ULONG n = 0;
		CALL("C_FindObjectsInit", F->C_FindObjectsInit(s, a, 2));
		CK_RV rv = F->C_FindObjects(s, h, 16, &n);
		CK_RV rv2 = F->C_FindObjectsFinal(s);
		if (rv != CKR_OK) {
			*failed = "C_FindObjects";
			return rv;
		}
		if (rv2 != CKR_OK) {
			*failed = "C_FindObjectsFinal";
			return rv2;
		}
		if (n != 1) {
			*failed = "C_FindObjects(count)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_ECDSA: {
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		CK_ULONG len = sizeof t->out;
		CALL("C_SignInit", F->C_SignInit(s, &m, k_ec_priv));
		CALL("C_Sign", F->C_Sign(s, t->in, 32, t->out, &len));
		if (len != 64) {
			*failed = "C_Sign(length)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_RSA: {
		CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
		CK_ULONG len = sizeof t->out;
		CALL("C_SignInit", F->C_SignInit(s, &m, k_rsa));
		CALL("C_Sign", F->C_Sign(s, t->in, 64, t->out, &len));
		if (len != 256) {
			*failed = "C_Sign(length)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_DIGEST: {
		CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
		CK_ULONG len = sizeof t->out;
		CALL("C_DigestInit", F->C_DigestInit(s, &m));
		CALL("C_Digest", F->C_Digest(s, g_big, 1 << 20, t->out, &len));
		if (len != 32) {
			*failed = "C_Digest(length)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_AESGCM: {
		CK_BYTE iv[12] = { 0 };
		uint64_t c = ++t->iv_ctr;
		memcpy(iv + 4, &c, sizeof c);
		struct bench_gcm_params p = { iv, sizeof iv, 96, NULL, 0, 128 };
		CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof p };
		CK_ULONG len = sizeof t->out;
		CALL("C_EncryptInit", F->C_EncryptInit(s, &m, k_aes));
		CALL("C_Encrypt", F->C_Encrypt(s, t->in, 1024, t->out, &len));
		if (len != 1024 + 16) {
			*failed = "C_Encrypt(length)";
			return BRV_BAD_RESULT;
		}
		return CKR_OK;
	}
	case OP_OPENCLOSE: {
		CK_SESSION_HANDLE h;
		CALL("C_OpenSession", F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &h));
		CALL("C_CloseSession", F->C_CloseSession(h));
		return CKR_OK;
	}
	}
	*failed = "unknown-op";
	return BRV_BAD_RESULT;
}

static uint64_t warmup_ns(void)
{
	double w = opt.duration * 0.2;
	if (w > 0.1)
		w = 0.1;
	return (uint64_t)(w * 1e9);
}

static void warm_up(int op, struct tstate *t, int max_ops)
{
	uint64_t end = now_ns() + warmup_ns();
	for (int i = 0; i < max_ops; i++) {
		const char *fn;
		if (do_op(op, t, &fn) != CKR_OK)
			break;
		if (now_ns() >= end)
			break;
	}
}

/* Runs op until the shared deadline or quota; 100 errors in a row end it. */
static void measure(int op, struct tstate *t, struct slot *sl,
		    uint64_t deadline, uint64_t quota)
{
	int consecutive = 0;
	uint64_t done = 0, t0, t1 = now_ns();
	while (done < quota) {
		const char *fn = "";
		t0 = t1;
		if (t0 >= deadline)
			break;
		CK_RV rv = do_op(op, t, &fn);
		t1 = now_ns();
		done++;
		if (rv == CKR_OK) {
			sl->ok++;
			hist_add(&sl->h, t1 - t0);
			consecutive = 0;
		} else {
			slot_error(sl, fn, rv);
			if (++consecutive >= 100)
				break;
		}
	}
	sl->t_end = now_ns();
}

static void fill_input(struct tstate *t)
{
	for (size_t i = 0; i < sizeof t->in; i++)
		t->in[i] = (CK_BYTE)(i * 131 + 7);
}

/* ---- thread cells ----------------------------------------------------- */

struct cell {
	int op, nthreads;
	struct shared *shm;
	pthread_barrier_t warm, go;
	uint64_t quota;
};

struct worker {
	struct cell *c;
	int idx;
};

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	struct cell *c = w->c;
	struct slot *sl = &c->shm->slots[w->idx];
	struct tstate *t = calloc(1, sizeof *t);
	int ok = 1;
	fill_input(t);
	CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &t->sess);
	if (rv != CKR_OK) {
		slot_error(sl, "C_OpenSession", rv);
		ok = 0;
	} else {
		warm_up(c->op, t, 200);
	}
	pthread_barrier_wait(&c->warm);
	pthread_barrier_wait(&c->go);
	if (ok) {
		measure(c->op, t, sl, c->shm->t_deadline, c->quota);
		F->C_CloseSession(t->sess);
	} else {
		sl->t_end = now_ns();
	}
	free(t);
	return NULL;
}

static void cell_child(int op, int nthreads, struct shared *shm)
{
	CK_SESSION_HANDLE main_sess;
	if (module_init(shm) != 0)
		return;
	CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &main_sess);
	if (rv != CKR_OK) {
		setup_error(shm, "C_OpenSession", rv);
		return;
	}
	if (login(shm, main_sess) != 0 || find_keys_for(shm, main_sess, op) != 0)
		return;
	if (op == OP_DIGEST) {
		g_big = malloc(1 << 20);
		for (size_t i = 0; i < (1 << 20); i++)
			g_big[i] = (CK_BYTE)(i * 2654435761u >> 24);
	}
	struct cell c = { .op = op, .nthreads = nthreads, .shm = shm };
	c.quota = (uint64_t)((opt.max_ops + nthreads - 1) / nthreads);
	pthread_barrier_init(&c.warm, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&c.go, NULL, (unsigned)nthreads + 1);
	pthread_t th[64];
	struct worker w[64];
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ &c, i };
		if (pthread_create(&th[i], NULL, thread_main, &w[i]) != 0) {
			perror("pthread_create");
			_exit(3);
		}
	}
	pthread_barrier_wait(&c.warm);
	shm->t_go = now_ns();
	shm->t_deadline = shm->t_go + (uint64_t)(opt.duration * 1e9);
	pthread_barrier_wait(&c.go);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	__sync_synchronize();
	shm->done = 1;
	F->C_CloseSession(main_sess);
	F->C_Finalize(NULL);
}

/* ---- process management ----------------------------------------------- */

static pid_t *g_kids;
static int g_nkids;

static void kill_kids(void)
{
	for (int i = 0; i < g_nkids; i++)
		if (g_kids[i] > 0)
			kill(g_kids[i], SIGKILL);
}

static void on_signal(int sig)
{
	kill_kids();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void child_prologue(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (getppid() == 1)
		_exit(1);
}

static double cell_timeout(void)
{
	if (opt.timeout > 0)
		return opt.timeout;
	return 20.0 + 3.0 * opt.duration;
}

/* Waits for all kids until the deadline, then SIGKILLs the rest.
 * status[i] gets the wait status, or -1 when it had to be killed. */
static void reap_kids(uint64_t deadline, int *status)
{
	int left = 0;
	for (int i = 0; i < g_nkids; i++)
		if (g_kids[i] > 0)
			left++;
	while (left > 0) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			for (int i = 0; i < g_nkids; i++)
				if (g_kids[i] == p) {
					status[i] = st;
					g_kids[i] = 0;
					left--;
				}
			continue;
		}
		if (p < 0 && errno == ECHILD)
			break;
		if (now_ns() >= deadline) {
			for (int i = 0; i < g_nkids; i++)
				if (g_kids[i] > 0) {
					kill(g_kids[i], SIGKILL);
					waitpid(g_kids[i], NULL, 0);
					status[i] = -1;
					g_kids[i] = 0;
					left--;
				}
			break;
		}
		sleep_ns(2000000);
	}
}

static void set_kids(int n)
{
	free(g_kids);
	g_kids = calloc((size_t)n, sizeof *g_kids);
	g_nkids = n;
}

/* Describes a failed child; returns NULL when the child exited normally. */
static const char *status_error(int st, char *buf, size_t n)
{
	if (st == -1)
		return "TIMEOUT";
	if (WIFSIGNALED(st)) {
		snprintf(buf, n, "CRASH:SIG%s", sigabbrev_np(WTERMSIG(st)) ?
			 sigabbrev_np(WTERMSIG(st)) : "?");
		return buf;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		snprintf(buf, n, "EXIT:%d", WEXITSTATUS(st));
		return buf;
	}
	return NULL;
}

/* The host's context switches so far (/proc/stat "ctxt"); NO_CTXSW when
 * unreadable. Around a process-sweep cell's window they say what the
 * cell's waits cost the scheduler. */
#define NO_CTXSW UINT64_MAX
static uint64_t host_ctxt(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	unsigned long long v;
	uint64_t n = NO_CTXSW;
	if (!f)
		return n;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "ctxt %llu", &v) == 1) {
			n = v;
			break;
		}
	fclose(f);
	return n;
}

/* Merges slots and prints one row. */
static void report(const char *op, int threads, int procs, struct shared *shm,
		   int nslots, const char *failure, uint64_t ctxsw)
{
	struct hist *h = calloc(1, sizeof *h);
	uint64_t ok = 0, err = 0, t_end = 0;
	char first[96] = "";
	for (int i = 0; i < nslots; i++) {
		struct slot *sl = &shm->slots[i];
		ok += sl->ok;
		err += sl->err;
		if (sl->t_end > t_end)
			t_end = sl->t_end;
		hist_merge(h, &sl->h);
		if (sl->err && !first[0])
			snprintf(first, sizeof first, "%s:%s", sl->first_fn, rv_name(sl->first_rv));
	}
	if (shm->setup_failed) {
		err++;
		snprintf(first, sizeof first, "%s:%s", shm->setup_fn, rv_name(shm->setup_rv));
	}
	if (failure) {
		err++;
		if (!first[0] || !shm->done)
			snprintf(first, sizeof first, "%s", failure);
	}
	double secs = (t_end > shm->t_go && shm->t_go) ? (double)(t_end - shm->t_go) / 1e9 : 0;
	double rate = (secs > 0 && shm->done) ? (double)ok / secs : 0;
	if (!shm->done)
		h->n = 0;
	print_row(opt.out, opt.target, op, threads, procs, rate, h, err, first,
		  ctxsw != NO_CTXSW && ok ? (double)ctxsw / (double)ok : -1);
	free(h);
}

static void run_cell(int op, int nthreads)
{
	struct shared *shm = shm_new(nthreads);
	set_kids(1);
	int st = 0;
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(2);
	}
	if (p == 0) {
		child_prologue();
		cell_child(op, nthreads, shm);
		_exit(0);
	}
	g_kids[0] = p;
	uint64_t deadline = now_ns() + (uint64_t)(cell_timeout() * 1e9);
	/* A child that measured but hangs in C_Finalize gets 5 s, not the
	 * whole timeout. */
	for (;;) {
		int s2;
		pid_t r = waitpid(p, &s2, WNOHANG);
		if (r == p) {
			st = s2;
			g_kids[0] = 0;
			break;
		}
		if (shm->done && deadline > now_ns() + 5000000000ull)
			deadline = now_ns() + 5000000000ull;
		if (now_ns() >= deadline) {
			kill(p, SIGKILL);
			waitpid(p, NULL, 0);
			g_kids[0] = 0;
			st = -1;
			break;
		}
		sleep_ns(5000000);
	}
	char buf[64];
	const char *failure = status_error(st, buf, sizeof buf);
	if (failure && shm->done && st == -1)
		failure = NULL, fprintf(stderr, "p11bench: %s %s: child hung after measuring; killed\n",
					opt.target, op_names[op]);
	report(op_names[op], nthreads, 1, shm, nthreads, failure, NO_CTXSW);
	shm_free(shm);
}

/* ---- process sweep ---------------------------------------------------- */

static int read_n(int fd, int n, uint64_t deadline)
{
	int got = 0;
	char buf[256];
	while (got < n) {
		int64_t left_ms = ((int64_t)deadline - (int64_t)now_ns()) / 1000000;
		if (left_ms <= 0)
			break;
		struct pollfd pf = { fd, POLLIN, 0 };
		int r = poll(&pf, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
		if (r <= 0)
			continue;
		ssize_t k = read(fd, buf, (size_t)(n - got) < sizeof buf ? (size_t)(n - got) : sizeof buf);
		if (k <= 0)
			break;
		got += (int)k;
	}
	return got;
}

/* Waits for one ready byte from child number idx; gives up when the child
 * exits first (its status goes to status[idx]) or at the deadline. */
static int wait_ready(int fd, int idx, uint64_t deadline, int *status)
{
	char b;
	while (now_ns() < deadline) {
		struct pollfd pf = { fd, POLLIN, 0 };
		if (poll(&pf, 1, 50) > 0)
			return read(fd, &b, 1) == 1;
		int st;
		if (g_kids[idx] > 0 && waitpid(g_kids[idx], &st, WNOHANG) == g_kids[idx]) {
			status[idx] = st;
			g_kids[idx] = 0;
			return 0;
		}
	}
	return 0;
}

static void proc_child(int idx, struct shared *shm, int ready_w, int go_r)
{
	struct slot *sl = &shm->slots[idx];
	struct shared local; /* setup errors land in this child's slot */
	memset(&local, 0, sizeof local);
	struct tstate *t = calloc(1, sizeof *t);
	fill_input(t);
	int ok = module_init(&local) == 0;
	if (ok) {
		CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &t->sess);
		if (rv != CKR_OK) {
			setup_error(&local, "C_OpenSession", rv);
			ok = 0;
		}
	}
	ok = ok && login(&local, t->sess) == 0 &&
	     find_keys_for(&local, t->sess, OP_ECDSA) == 0;
	if (ok)
		warm_up(OP_ECDSA, t, 20); /* setup is serial: keep it short */
	else
		slot_error(sl, local.setup_fn, local.setup_rv);
	char b = 1;
	if (write(ready_w, &b, 1) != 1)
		_exit(4);
	while (read(go_r, &b, 1) > 0) /* EOF = go */
		;
	if (ok) {
		uint64_t quota = (uint64_t)((opt.max_ops + shm->nslots - 1) / shm->nslots);
		measure(OP_ECDSA, t, sl, shm->t_deadline, quota);
		F->C_Finalize(NULL);
	} else {
		sl->t_end = now_ns();
	}
	_exit(0);
}

static void run_procs(int n)
{
	struct shared *shm = shm_new(n);
	int ready[2], go[2];
	if (pipe(ready) || pipe(go)) {
		perror("pipe");
		exit(2);
	}
	set_kids(n);
	int *status = calloc((size_t)n, sizeof *status);
	int got = 0;
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			break;
		}
		if (p == 0) {
			child_prologue();
			close(ready[0]);
			close(go[1]);
			proc_child(i, shm, ready[1], go[0]);
		}
		g_kids[i] = p;
		/* One child sets up at a time: SoftHSM2's file store fails
		 * C_Initialize/C_Login now and then (token missing, slot list
		 * changing) when many processes load the same token at once.
		 * Only the measured window runs concurrently. */
		got += wait_ready(ready[0], i, now_ns() + (uint64_t)(cell_timeout() * 1e9), status);
	}
	close(ready[1]);
	close(go[0]);
	uint64_t ctxt0 = host_ctxt();
	shm->t_go = now_ns();
	shm->t_deadline = shm->t_go + (uint64_t)(opt.duration * 1e9);
	__sync_synchronize();
	close(go[1]);
	struct timespec until = { (time_t)(shm->t_deadline / 1000000000u),
				  (long)(shm->t_deadline % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	uint64_t ctxt1 = host_ctxt();
	uint64_t ctxsw = ctxt0 != NO_CTXSW && ctxt1 != NO_CTXSW ? ctxt1 - ctxt0 : NO_CTXSW;
	reap_kids(shm->t_deadline + (uint64_t)(cell_timeout() * 1e9), status);
	close(ready[0]);
	shm->done = 1;
	const char *failure = NULL;
	char buf[64];
	for (int i = 0; i < n && !failure; i++)
		failure = status_error(status[i], buf, sizeof buf);
	if (!failure && got < n)
		failure = "TIMEOUT(setup)";
	report("ecdsa_sign_procs", 1, n, shm, n, failure, ctxsw);
	free(status);
	shm_free(shm);
}

/* ---- RSS -------------------------------------------------------------- */

static long vmrss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Pss of a process (shared pages divided among their users), or -1. */
static long pss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Pss: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long meminfo_kib(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			kib = atol(line + n + 1);
			break;
		}
	fclose(f);
	return kib;
}

static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	int ppid;
	char state;
	if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

struct mem {
	long root_kib;  /* VmRSS of the root */
	long tree_kib;  /* VmRSS of root + descendants */
	long pss_kib;   /* Pss of root + descendants */
	int nprocs;
};

/* Memory of root and of root plus all its descendants. */
static void tree_mem(pid_t root, struct mem *m)
{
	long *root_kib = &m->root_kib, *tree_kib = &m->tree_kib;
	int *nprocs = &m->nprocs;
	int cap = 4096, n = 0;
	pid_t *pid = malloc(sizeof *pid * (size_t)cap), *par = malloc(sizeof *par * (size_t)cap);
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (n == cap) {
			cap *= 2;
			pid = realloc(pid, sizeof *pid * (size_t)cap);
			par = realloc(par, sizeof *par * (size_t)cap);
		}
		pid[n] = (pid_t)atoi(e->d_name);
		par[n] = ppid_of(pid[n]);
		n++;
	}
	if (d)
		closedir(d);
	char *in = calloc((size_t)n, 1);
	*root_kib = vmrss_kib(root);
	*tree_kib = *root_kib;
	*nprocs = *root_kib >= 0 ? 1 : 0;
	m->pss_kib = pss_kib(root);
	for (int changed = 1; changed;) { /* fixpoint over the parent links */
		changed = 0;
		for (int i = 0; i < n; i++) {
			if (in[i] || pid[i] == root)
				continue;
			int under = par[i] == root;
			for (int j = 0; j < n && !under; j++)
				under = in[j] && par[i] == pid[j];
			if (under) {
				in[i] = 1;
				changed = 1;
				long k = vmrss_kib(pid[i]), p = pss_kib(pid[i]);
				if (k > 0)
					*tree_kib += k;
				if (p > 0)
					m->pss_kib += p;
				(*nprocs)++;
			}
		}
	}
	free(in);
	free(pid);
	free(par);
}

/* sys_used: how much MemAvailable dropped since the scenario began (all
 * processes: clients, server, kernel), or -1 when not measured. */
static void print_mem(const char *scenario, int n, uint64_t ok, const struct mem *m,
		      long sys_used, uint64_t errors, const char *first)
{
	fprintf(opt.out, "rss,%s,%s,%d,%llu,%ld,%ld,%d,%ld,%ld,%llu,%s\n", opt.target, scenario,
		n, (unsigned long long)ok, m->root_kib, m->tree_kib, m->nprocs, m->pss_kib,
		sys_used, (unsigned long long)errors, first ? first : "");
	fflush(opt.out);
}

static void measure_mem(struct mem *m)
{
	m->root_kib = m->tree_kib = m->pss_kib = -1;
	m->nprocs = 0;
	if (opt.rss_pid > 0)
		tree_mem(opt.rss_pid, m);
}

static void print_rss(const char *scenario, int n, uint64_t ok, uint64_t errors,
		      const char *first, long sys_used)
{
	struct mem m;
	measure_mem(&m);
	print_mem(scenario, n, ok, &m, sys_used, errors, first);
}

/* ---- hold mode: N processes each with one open session ---------------- */

/* Reads up to need ready bytes; a child that exits before writing one (a
 * crash in C_Initialize, say) counts against need, so it costs no timeout.
 * Returns the bytes read; *exited counts the children reaped here. */
static int wait_batch(int fd, int need, uint64_t deadline, int *status, int *exited)
{
	int got = 0;
	char buf[256];
	while (got + *exited < need && now_ns() < deadline) {
		struct pollfd pf = { fd, POLLIN, 0 };
		if (poll(&pf, 1, 50) > 0) {
			size_t want = (size_t)(need - got) < sizeof buf ? (size_t)(need - got) : sizeof buf;
			ssize_t k = read(fd, buf, want);
			if (k <= 0)
				break;
			got += (int)k;
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			for (int i = 0; i < g_nkids; i++)
				if (g_kids[i] == p) {
					status[i] = st;
					g_kids[i] = 0;
					(*exited)++;
				}
	}
	return got;
}

static void hold_child(int idx, struct shared *shm, int ready_w, int go_r)
{
	struct slot *sl = &shm->slots[idx];
	struct shared local;
	memset(&local, 0, sizeof local);
	CK_SESSION_HANDLE sess;
	char b = 1;
	if (module_init(&local) == 0) {
		CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &sess);
		if (rv == CKR_OK)
			sl->ok = 1;
		else
			slot_error(sl, "C_OpenSession", rv);
	} else {
		slot_error(sl, local.setup_fn, local.setup_rv);
	}
	if (write(ready_w, &b, 1) != 1)
		_exit(4);
	while (read(go_r, &b, 1) > 0)
		;
	if (F)
		F->C_Finalize(NULL);
	_exit(0);
}

static void run_hold(int n)
{
	struct shared *shm = shm_new(n);
	int ready[2], go[2];
	if (pipe(ready) || pipe(go)) {
		perror("pipe");
		exit(2);
	}
	set_kids(n);
	int *status = calloc((size_t)n, sizeof *status);
	int got = 0, forked = 0, exited = 0;
	const int batch = 50;
	uint64_t t0 = now_ns();
	long avail0 = meminfo_kib("MemAvailable"), total = meminfo_kib("MemTotal");
	char first[96] = "";
	for (int i = 0; i < n; i++) {
		/* Never push a shared machine into the OOM killer: stop adding
		 * clients when less than 15% of memory is left. */
		if (i % batch == 0 && total > 0 &&
		    meminfo_kib("MemAvailable") < total * 15 / 100) {
			snprintf(first, sizeof first, "MEMORY(stopped at %d: MemAvailable < 15%%)", i);
			fprintf(stderr, "p11bench: %s: %s\n", opt.target, first);
			break;
		}
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			break;
		}
		if (p == 0) {
			child_prologue();
			close(ready[0]);
			close(go[1]);
			hold_child(i, shm, ready[1], go[0]);
		}
		g_kids[i] = p;
		forked = i + 1;
		if ((i + 1) % batch == 0 || i == n - 1) /* start in batches */
			got += wait_batch(ready[0], i + 1 - got, now_ns() +
					  (uint64_t)(cell_timeout() * 1e9), status, &exited);
	}
	if (forked > got + exited)
		got += wait_batch(ready[0], forked - got, now_ns() +
				  (uint64_t)(cell_timeout() * 1e9), status, &exited);
	fprintf(stderr, "p11bench: %s: %d/%d processes holding a session after %.1f s\n",
		opt.target, got, n, (double)(now_ns() - t0) / 1e9);
	sleep_ns(500000000ull); /* let the server settle */
	long sys_used = avail0 > 0 ? avail0 - meminfo_kib("MemAvailable") : -1;
	uint64_t ok = 0, err = 0;
	for (int i = 0; i < n; i++) {
		ok += shm->slots[i].ok;
		err += shm->slots[i].err;
		if (shm->slots[i].err && !first[0])
			snprintf(first, sizeof first, "%s:%s", shm->slots[i].first_fn,
				 rv_name(shm->slots[i].first_rv));
	}
	if (got < n) {
		err += (uint64_t)(n - got);
		char buf[64];
		const char *why = NULL;
		for (int i = 0; i < n && !why; i++)
			why = status_error(status[i], buf, sizeof buf);
		if (!first[0])
			snprintf(first, sizeof first, "%s(%d not ready)", why ? why : "TIMEOUT", n - got);
	}
	print_rss("hold_procs", n, ok, err, first, sys_used);
	close(go[1]);
	close(ready[1]);
	reap_kids(now_ns() + (uint64_t)(cell_timeout() * 1e9), status);
	close(ready[0]);
	close(go[0]);
	free(status);
	shm_free(shm);
}

/* ---- sessions mode: one process, N sessions --------------------------- */

static void sessions_child(int n, struct shared *shm, int ready_w, int go_r)
{
	struct slot *sl = &shm->slots[0];
	CK_SESSION_HANDLE main_sess, last = 0;
	char b = 1;
	int ok = module_init(shm) == 0;
	if (ok) {
		CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &main_sess);
		if (rv != CKR_OK) {
			setup_error(shm, "C_OpenSession", rv);
			ok = 0;
		}
	}
	ok = ok && login(shm, main_sess) == 0 &&
	     find_keys_for(shm, main_sess, OP_ECDSA) == 0;
	for (int i = 0; ok && i < n; i++) {
		CK_RV rv = F->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &last);
		if (rv != CKR_OK) {
			slot_error(sl, "C_OpenSession", rv);
			break;
		}
		shm->extra_ok++;
	}
	if (write(ready_w, &b, 1) != 1)
		_exit(4);
	while (read(go_r, &b, 1) > 0)
		;
	if (ok && shm->extra_ok > 0) {
		struct tstate *t = calloc(1, sizeof *t);
		const char *fn = "";
		CK_RV rv;
		fill_input(t);
		t->sess = last;
		if ((rv = do_op(OP_GETINFO, t, &fn)) != CKR_OK ||
		    (rv = do_op(OP_ECDSA, t, &fn)) != CKR_OK)
			slot_error(sl, fn, rv);
		else
			sl->ok = 1;
		F->C_CloseAllSessions(g_slot);
	}
	shm->done = 1;
	if (F)
		F->C_Finalize(NULL);
	_exit(0);
}

static void run_sessions(int n)
{
	struct shared *shm = shm_new(1);
	int ready[2], go[2];
	if (pipe(ready) || pipe(go)) {
		perror("pipe");
		exit(2);
	}
	set_kids(1);
	int status = 0;
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(2);
	}
	if (p == 0) {
		child_prologue();
		close(ready[0]);
		close(go[1]);
		sessions_child(n, shm, ready[1], go[0]);
	}
	g_kids[0] = p;
	close(ready[1]);
	close(go[0]);
	long avail0 = meminfo_kib("MemAvailable");
	int got = read_n(ready[0], 1, now_ns() + (uint64_t)((cell_timeout() + n / 200.0) * 1e9));
	sleep_ns(500000000ull);
	struct mem m;
	measure_mem(&m);
	long sys_used = avail0 > 0 ? avail0 - meminfo_kib("MemAvailable") : -1;
	close(go[1]);
	reap_kids(now_ns() + (uint64_t)(cell_timeout() * 1e9), &status);
	close(ready[0]);
	char buf[64], first[96] = "";
	uint64_t err = shm->slots[0].err;
	const char *failure = status_error(status, buf, sizeof buf);
	if (shm->setup_failed) {
		err++;
		snprintf(first, sizeof first, "%s:%s", shm->setup_fn, rv_name(shm->setup_rv));
	} else if (shm->slots[0].err) {
		snprintf(first, sizeof first, "%s:%s", shm->slots[0].first_fn,
			 rv_name(shm->slots[0].first_rv));
	} else if (failure) {
		err++;
		snprintf(first, sizeof first, "%s%s", failure, got ? "" : "(setup)");
	} else if (!got) {
		err++;
		snprintf(first, sizeof first, "TIMEOUT(setup)");
	} else if (!shm->slots[0].ok) {
		err++;
		snprintf(first, sizeof first, "no-check");
	}
	/* ok = sessions held; the C_GetInfo + C_Sign check shows in errors */
	print_mem("sessions", n, shm->extra_ok, &m, sys_used, err, first);
	shm_free(shm);
}

/* ---- main ------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: p11bench --module PATH [options]\n"
		"  --target NAME        name in the rows (default: module file name)\n"
		"  --token LABEL        token label (default bench)\n"
		"  --pin PIN            user PIN (default 1234)\n"
		"  --ops LIST|all       getinfo,random32,getattr2,find,ecdsa_sign,rsa_sign,\n"
		"                       digest_1m,aes_gcm_1k,open_close (default all), and\n"
		"                       busy_sign: ECDSA and RSA in turn, --work-us of the\n"
		"                       application's own work after each (not in all)\n"
		"  --work-us N          busy_sign's application work per call (default 0)\n"
		"  --threads LIST       default 1,2,4,8\n"
		"  --duration SEC       per cell (default 2)\n"
		"  --max-ops N          per cell, whichever comes first (default 1000000)\n"
		"  --timeout SEC        per cell watchdog (default 20 + 3 x duration)\n"
		"  --procs LIST         process sweep: N processes, ECDSA sign, 1 thread each\n"
		"  --hold-procs N       N processes each holding C_Initialize + one session\n"
		"  --sessions N         one process holding N sessions, then C_GetInfo + C_Sign\n"
		"  --rss-pid PID        report RSS of PID + descendants (alone: idle)\n"
		"  --held \"S N OK E F\"   with --rss-pid: the row of scenario S, whose N clients\n"
		"                       another program holds (OK answered, E errors, F the first)\n"
		"  --ec-label L --rsa-label L --aes-label L   key labels (bench-ec, ...)\n"
		"  --out FILE           append rows to FILE (default stdout)\n"
		"  --header             print the CSV header first\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", 1, 0, 'm' }, { "target", 1, 0, 'T' }, { "token", 1, 0, 'k' },
		{ "pin", 1, 0, 'p' }, { "ops", 1, 0, 'o' }, { "threads", 1, 0, 't' },
		{ "duration", 1, 0, 'd' }, { "max-ops", 1, 0, 'n' }, { "timeout", 1, 0, 'W' },
		{ "procs", 1, 0, 'P' }, { "hold-procs", 1, 0, 'H' }, { "sessions", 1, 0, 'S' },
		{ "rss-pid", 1, 0, 'R' }, { "held", 1, 0, 'K' }, { "ec-label", 1, 0, 'E' }, { "rsa-label", 1, 0, 'A' },
		{ "aes-label", 1, 0, 'G' }, { "out", 1, 0, 'O' }, { "header", 0, 0, 'h' },
		{ "work-us", 1, 0, 'w' },
		{ "help", 0, 0, '?' }, { 0, 0, 0, 0 },
	};
	opt.token = "bench";
	opt.pin = "1234";
	opt.ec_label = "bench-ec";
	opt.rsa_label = "bench-rsa";
	opt.aes_label = "bench-aes";
	opt.duration = 2.0;
	opt.max_ops = 1000000;
	opt.out = stdout;
	const char *ops = "all", *threads = "1,2,4,8", *procs = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': opt.module = optarg; break;
		case 'T': opt.target = optarg; break;
		case 'k': opt.token = optarg; break;
		case 'p': opt.pin = optarg; break;
		case 'o': ops = optarg; break;
		case 't': threads = optarg; break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.max_ops = atol(optarg); break;
		case 'W': opt.timeout = atof(optarg); break;
		case 'P': procs = optarg; break;
		case 'H': opt.hold_procs = atoi(optarg); break;
		case 'S': opt.sessions = atoi(optarg); break;
		case 'R': opt.rss_pid = (pid_t)atoi(optarg); break;
		case 'K': opt.held = optarg; break;
		case 'E': opt.ec_label = optarg; break;
		case 'A': opt.rsa_label = optarg; break;
		case 'G': opt.aes_label = optarg; break;
		case 'O':
			opt.out = fopen(optarg, "a");
			if (!opt.out) {
				perror(optarg);
				return 2;
			}
			break;
		case 'h': opt.header = 1; break;
		case 'w': opt.work_us = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || (!opt.module && !(opt.rss_pid && !opt.hold_procs && !opt.sessions)))
		usage();
	if (opt.duration <= 0 || opt.max_ops <= 0)
		usage();
	if (!opt.target) {
		const char *b = opt.module ? strrchr(opt.module, '/') : NULL;
		opt.target = b ? b + 1 : (opt.module ? opt.module : "none");
	}
	if (strcmp(ops, "all") == 0) {
		for (int i = 0; i < OP_BUSY; i++)
			opt.ops[opt.nops++] = i;
	} else {
		char *dup = strdup(ops), *save = NULL;
		for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int found = -1;
			for (int i = 0; i < OP_COUNT; i++)
				if (strcmp(tok, op_names[i]) == 0)
					found = i;
			if (found < 0 || opt.nops == OP_COUNT) {
				fprintf(stderr, "p11bench: unknown op %s\n", tok);
				usage();
			}
			opt.ops[opt.nops++] = found;
		}
		free(dup);
	}
	opt.nthreads = parse_int_list(threads, opt.threads, 16);
	if (opt.nthreads <= 0)
		usage();
	for (int i = 0; i < opt.nthreads; i++)
		if (opt.threads[i] > 64)
			usage();
	if (procs && (opt.nprocs = parse_int_list(procs, opt.procs, 16)) <= 0)
		usage();

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.header)
		fprintf(opt.out, "%s\n", CSV_HEADER);

	if (opt.hold_procs > 0) {
		run_hold(opt.hold_procs);
	} else if (opt.sessions > 0) {
		run_sessions(opt.sessions);
	} else if (opt.nprocs > 0) {
		for (int i = 0; i < opt.nprocs; i++)
			run_procs(opt.procs[i]);
	} else if (!opt.module && opt.held) {
		char scenario[64], first[128];
		int n;
		unsigned long long ok, errors;

		if (sscanf(opt.held, "%63s %d %llu %llu %127s", scenario, &n, &ok, &errors, first) != 5)
			usage();
		print_rss(scenario, n, ok, errors, strcmp(first, "-") ? first : "", -1);
	} else if (!opt.module) {
		print_rss("idle", 0, 0, 0, "", -1);
	} else {
		for (int i = 0; i < opt.nops; i++)
			for (int j = 0; j < opt.nthreads; j++)
				run_cell(opt.ops[i], opt.threads[j]);
	}
	if (opt.out != stdout)
		fclose(opt.out);
	return 0;
}
