// SPDX-License-Identifier: MIT
/*
 * The MMIO trap (see mmio_trap.h for the API, docs/mmio-trap.md for the
 * design and its limits).
 *
 * A fault of the in-process copy routine (ucopy.c) is resumed at its
 * fixup before anything else is looked at.
 *
 * Model.  A fixed table of MMIO_TRAP_MAX_REGIONS slots, each holding one
 * registered region [base, last] (last inclusive, the project's interval
 * convention) with its ops.  Our SIGSEGV/SIGBUS handler, on a fault the
 * kernel raised (si_code > 0), looks the fault address up in the table;
 * if a region holds it, the instruction at RIP is decoded (x86_decode.c)
 * and carried out against the region's ops on the interrupted context (its
 * GPRs, RFLAGS and, for SSE/AVX moves, the FPU/XSAVE image the kernel put
 * in the signal frame), and RIP is moved past it.  Every other fault, and
 * any instruction we cannot emulate (after a message on stderr), goes to
 * the program's disposition for the signal, which mmio_trap_sigaction()
 * keeps: the program's handler is called with the mask the kernel would
 * have set, SA_RESETHAND is honoured, and SIG_DFL (or SIG_IGN, which the
 * kernel overrides for a real fault) is put back in the kernel so that the
 * faulting instruction, run again, kills the process as it would have.
 *
 * The handler is async-signal-safe: it allocates nothing, takes no lock,
 * and calls only write, sigaction, pthread_sigmask, sched_yield (while a
 * disposition is being rewritten on another thread), getpid/gettid/tgkill
 * (as raw syscalls where the shim wraps the libc function) and the
 * region's callbacks.
 *
 * Locking.  reg_lock (a mutex) serialises register, unregister, install
 * and uninstall; the handler never takes it.  A slot's state (FREE, LIVE,
 * DYING), its address range and its reader count are atomics: the handler
 * counts itself a reader of a slot before it trusts it (increment, then
 * re-check the state, both sequentially consistent), and unregister marks
 * the slot DYING, then waits for its readers to drain before freeing it;
 * so a slot's ops and opaque never change under a handler that uses them.
 * The program's dispositions are published with a sequence lock whose
 * writers (mmio_trap_sigaction, install/uninstall, the handler resetting
 * a disposition) block all signals while they hold it, so that no handler
 * can interrupt a writer on its own thread and spin on it forever; readers
 * retry.
 */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "shim/mmio_trap.h"
#include "shim/ucopy.h"
#include "shim/x86_decode.h"

/* ---- the region table ---------------------------------------------------- */

enum { SLOT_FREE, SLOT_LIVE, SLOT_DYING };

struct slot {
	_Atomic unsigned int state;
	_Atomic unsigned int readers;
	_Atomic uintptr_t base;
	_Atomic uintptr_t last;
	unsigned int gen; /* reg_lock; part of the id */
	struct mmio_trap_ops ops;
	void *opaque;
	char name[MMIO_TRAP_NAME_MAX + 1];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[MMIO_TRAP_MAX_REGIONS];
static _Atomic unsigned int nslots; /* slots at and past it are FREE */
static _Atomic bool installed;
static mmio_trap_sigaction_fn real_sa; /* set at install */

#define GEN_MAX ((unsigned int)(0x7FFFFFFF / MMIO_TRAP_MAX_REGIONS))

static struct {
	_Atomic uint64_t emulated, unhandled, chained;
} stats;

/* ---- the program's dispositions ------------------------------------------ */

struct prog_action {
	_Atomic unsigned int seq; /* odd: a writer is at work */
	_Atomic bool owned;       /* our handler is the kernel's */
	_Atomic uintptr_t handler;
	_Atomic int flags;
	_Atomic uint64_t mask; /* bit n - 1: signal n, 1..64 */
};

struct prog_snap {
	uintptr_t handler;
	int flags;
	uint64_t mask;
	bool owned;
};

static struct prog_action prog_segv, prog_bus;

static struct prog_action *prog_of(int sig)
{
	return sig == SIGSEGV ? &prog_segv : sig == SIGBUS ? &prog_bus : NULL;
}

static uint64_t mask_bits(const sigset_t *set)
{
	uint64_t m = 0;
	int s;

	for (s = 1; s <= 64; s++)
		if (sigismember(set, s) == 1)
			m |= 1ULL << (s - 1);
	return m;
}

static void mask_add(sigset_t *set, uint64_t m)
{
	int s;

	for (s = 1; s <= 64; s++)
		if (m & (1ULL << (s - 1)))
			sigaddset(set, s);
}

static void pa_lock(struct prog_action *pa, sigset_t *saved)
{
	sigset_t all;
	unsigned int s;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	for (;;) {
		s = atomic_load_explicit(&pa->seq, memory_order_relaxed);
		if (!(s & 1) &&
		    atomic_compare_exchange_weak_explicit(&pa->seq, &s, s + 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			break;
		sched_yield();
	}
}

static void pa_unlock(struct prog_action *pa, const sigset_t *saved)
{
	atomic_fetch_add_explicit(&pa->seq, 1, memory_order_release);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static void pa_store(struct prog_action *pa, uintptr_t handler, int flags,
		     uint64_t mask)
{
	atomic_store_explicit(&pa->handler, handler, memory_order_relaxed);
	atomic_store_explicit(&pa->flags, flags, memory_order_relaxed);
	atomic_store_explicit(&pa->mask, mask, memory_order_relaxed);
}

static void pa_store_act(struct prog_action *pa, const struct sigaction *act)
{
	pa_store(pa, (uintptr_t)act->sa_handler, act->sa_flags,
		 mask_bits(&act->sa_mask));
}

static void pa_peek(struct prog_action *pa, struct prog_snap *snap)
{
	snap->handler = atomic_load_explicit(&pa->handler, memory_order_relaxed);
	snap->flags = atomic_load_explicit(&pa->flags, memory_order_relaxed);
	snap->mask = atomic_load_explicit(&pa->mask, memory_order_relaxed);
	snap->owned = atomic_load_explicit(&pa->owned, memory_order_relaxed);
}

/* A consistent snapshot, without taking the lock (signal handlers). */
static void pa_read(struct prog_action *pa, struct prog_snap *snap)
{
	unsigned int s1, s2;

	for (;;) {
		s1 = atomic_load_explicit(&pa->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		pa_peek(pa, snap);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&pa->seq, memory_order_relaxed);
		if (s1 == s2)
			return;
	}
}

static void snap_to_act(const struct prog_snap *snap, struct sigaction *act)
{
	memset(act, 0, sizeof(*act));
	act->sa_handler = (__sighandler_t)snap->handler;
	act->sa_flags = snap->flags;
	sigemptyset(&act->sa_mask);
	mask_add(&act->sa_mask, snap->mask);
}

static int call_real(int sig, const struct sigaction *act,
		     struct sigaction *old)
{
	mmio_trap_sigaction_fn fn = real_sa ? real_sa : sigaction;

	return fn(sig, act, old);
}

/* ---- raw output for the handler ------------------------------------------ */

struct msg {
	char buf[320];
	size_t len;
};

static void msg_str(struct msg *m, const char *s)
{
	while (*s && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = *s++;
}

static void msg_hex(struct msg *m, uint64_t v, unsigned int min_digits)
{
	char tmp[17];
	unsigned int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v || n < min_digits);
	while (n && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = tmp[--n];
}

static void msg_dec(struct msg *m, uint64_t v)
{
	char tmp[21];
	unsigned int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = tmp[--n];
}

static void msg_flush(struct msg *m)
{
	size_t off = 0;
	long rc;

	m->buf[m->len++] = '\n';
	while (off < m->len) {
		rc = syscall(SYS_write, 2, m->buf + off, m->len - off);
		if (rc <= 0 && errno != EINTR)
			return;
		if (rc > 0)
			off += (size_t)rc;
	}
}

/* ---- the interrupted context --------------------------------------------- */

static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static uint64_t size_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* Byte registers 4-7 without a REX prefix are ah, ch, dh, bh. */
static uint64_t gpr_get(const ucontext_t *uc, unsigned int reg,
			unsigned int size, bool rex)
{
	if (size == 1 && !rex && reg >= 4 && reg < 8)
		return ((uint64_t)uc->uc_mcontext.gregs[greg_of[reg - 4]] >> 8) &
		       0xFF;
	return (uint64_t)uc->uc_mcontext.gregs[greg_of[reg]] & size_mask(size);
}

/* 32-bit writes zero the upper half; 8- and 16-bit ones keep the rest. */
static void gpr_set(ucontext_t *uc, unsigned int reg, unsigned int size,
		    bool rex, uint64_t v)
{
	greg_t *g;
	uint64_t old;

	if (size == 1 && !rex && reg >= 4 && reg < 8) {
		g = &uc->uc_mcontext.gregs[greg_of[reg - 4]];
		old = (uint64_t)*g;
		*g = (greg_t)((old & ~0xFF00ULL) | ((v & 0xFF) << 8));
		return;
	}
	g = &uc->uc_mcontext.gregs[greg_of[reg]];
	old = (uint64_t)*g;
	if (size >= 4)
		*g = (greg_t)(v & size_mask(size));
	else
		*g = (greg_t)((old & ~size_mask(size)) | (v & size_mask(size)));
}

/*
 * The vector registers in the signal frame: the FXSAVE image (xmm0-15 at
 * _xmm), followed, when the kernel saved with XSAVE (the software-reserved
 * bytes at 464 carry FP_XSTATE_MAGIC1), by the XSAVE header at 512 (the
 * XSTATE_BV bitmap: a component whose bit is clear is in its initial, all
 * zero state and the bytes of its area are not to be trusted) and the
 * extended components in the standard layout: YMM_Hi128 (bit 2, the upper
 * halves of ymm0-15) and ZMM_Hi256 (bit 6, bits 511:256 of zmm0-15), at
 * the offsets CPUID leaf 0xD reports.
 */
#ifndef FP_XSTATE_MAGIC1
#define FP_XSTATE_MAGIC1 0x46505853u
#endif
#define XFEAT_SSE 0x02u
#define XFEAT_YMM 0x04u
#define XFEAT_ZMM 0x40u

static unsigned int ymm_off, zmm_off; /* 0: not reported (set at install) */

struct vregs {
	uint8_t *fx;     /* NULL: no FPU state in the frame */
	uint8_t *xsave;  /* NULL: FXSAVE only */
	uint64_t xfeat;  /* features saved in the frame */
	uint32_t xsize;  /* bytes of the XSAVE image */
};

static void vregs_of(ucontext_t *uc, struct vregs *v)
{
	uint32_t magic, xsize;
	uint64_t xfeat;

	memset(v, 0, sizeof(*v));
	v->fx = (uint8_t *)uc->uc_mcontext.fpregs;
	if (!v->fx)
		return;
	memcpy(&magic, v->fx + 464, 4);
	memcpy(&xfeat, v->fx + 472, 8);
	memcpy(&xsize, v->fx + 480, 4);
	if (magic != FP_XSTATE_MAGIC1 || xsize < 576)
		return;
	v->xsave = v->fx;
	v->xfeat = xfeat;
	v->xsize = xsize;
}

static uint64_t xbv_get(const struct vregs *v)
{
	uint64_t bv;

	memcpy(&bv, v->xsave + 512, 8);
	return bv;
}

static void xbv_set(const struct vregs *v, uint64_t bv)
{
	memcpy(v->xsave + 512, &bv, 8);
}

static uint8_t *xmm_at(const struct vregs *v, unsigned int reg)
{
	return v->fx + offsetof(struct _libc_fpstate, _xmm) + 16 * reg;
}

/* The area of an extended component for @reg, or NULL if not in the frame. */
static uint8_t *xcomp_at(const struct vregs *v, uint64_t feat,
			 unsigned int off, unsigned int width, unsigned int reg)
{
	if (!v->xsave || !(v->xfeat & feat) || !off ||
	    off + 16 * width > v->xsize)
		return NULL;
	return v->xsave + off + width * reg;
}

static void vec_read(const struct vregs *v, unsigned int reg, unsigned int off,
		     unsigned int len, uint8_t *out)
{
	uint8_t full[32];
	uint8_t *hi;
	uint64_t bv = v->xsave ? xbv_get(v) : ~0ULL;

	memset(full, 0, sizeof(full));
	if (bv & XFEAT_SSE)
		memcpy(full, xmm_at(v, reg), 16);
	hi = xcomp_at(v, XFEAT_YMM, ymm_off, 16, reg);
	if (hi && (bv & XFEAT_YMM))
		memcpy(full + 16, hi, 16);
	memcpy(out, full + off, len);
}

/* Makes component @feat live in the frame, zeroing its area if it was not. */
static void xcomp_live(const struct vregs *v, uint64_t feat, uint8_t *area0,
		       size_t area_len)
{
	uint64_t bv;

	if (!v->xsave)
		return;
	bv = xbv_get(v);
	if (bv & feat)
		return;
	memset(area0, 0, area_len);
	xbv_set(v, bv | feat);
}

static void vec_write(const struct vregs *v, unsigned int reg, unsigned int off,
		      unsigned int len, const uint8_t *in, unsigned int zero)
{
	uint8_t full[32];
	uint8_t *hi, *zhi;

	/* The register as it will be: old bytes, the loaded ones, zeroes. */
	vec_read(v, reg, 0, 32, full);
	memcpy(full + off, in, len);
	if (zero == X86_VZ_XMM && off + len < 16)
		memset(full + off + len, 0, 16 - off - len);
	else if (zero == X86_VZ_ALL)
		memset(full + off + len, 0, 32 - off - len);

	xcomp_live(v, XFEAT_SSE, xmm_at(v, 0), 16 * 16);
	memcpy(xmm_at(v, reg), full, 16);

	hi = xcomp_at(v, XFEAT_YMM, ymm_off, 16, reg);
	if (hi && (off + len > 16 || zero == X86_VZ_ALL)) {
		if (off + len > 16 || (xbv_get(v) & XFEAT_YMM)) {
			xcomp_live(v, XFEAT_YMM, v->xsave + ymm_off, 16 * 16);
			memcpy(hi, full + 16, 16);
		}
	}
	/* A VEX write also clears bits 511:256 of zmm0-15. */
	zhi = xcomp_at(v, XFEAT_ZMM, zmm_off, 32, reg);
	if (zhi && zero == X86_VZ_ALL && (xbv_get(v) & XFEAT_ZMM))
		memset(zhi, 0, 32);
}

/* ---- the region side ----------------------------------------------------- */

/* The slot holding @addr, counted as read by us; NULL if none. */
static struct slot *slot_get(uintptr_t addr)
{
	unsigned int i, n = atomic_load_explicit(&nslots, memory_order_acquire);
	struct slot *s;

	for (i = 0; i < n; i++) {
		s = &slots[i];
		if (atomic_load_explicit(&s->state, memory_order_relaxed) !=
			    SLOT_LIVE ||
		    addr < atomic_load_explicit(&s->base, memory_order_relaxed) ||
		    addr > atomic_load_explicit(&s->last, memory_order_relaxed))
			continue;
		atomic_fetch_add(&s->readers, 1);
		if (atomic_load(&s->state) == SLOT_LIVE &&
		    addr >= atomic_load_explicit(&s->base, memory_order_relaxed) &&
		    addr <= atomic_load_explicit(&s->last, memory_order_relaxed))
			return s;
		atomic_fetch_sub(&s->readers, 1);
	}
	return NULL;
}

static void slot_put(struct slot *s)
{
	atomic_fetch_sub_explicit(&s->readers, 1, memory_order_release);
}

static int slot_id(const struct slot *s)
{
	return (int)(s->gen * MMIO_TRAP_MAX_REGIONS + (unsigned int)(s - slots));
}

static uint64_t region_read(struct slot *s, uint64_t off, unsigned int size)
{
	return s->ops.read(s->opaque, off, size) & size_mask(size);
}

static void region_write(struct slot *s, uint64_t off, unsigned int size,
			 uint64_t v)
{
	s->ops.write(s->opaque, off, size, v & size_mask(size));
}

static void region_read_bytes(struct slot *s, uint64_t off, unsigned int size,
			      uint8_t *data)
{
	unsigned int i;
	uint64_t v;

	if (size <= 8) {
		v = region_read(s, off, size);
		memcpy(data, &v, size);
	} else if (s->ops.read_wide) {
		s->ops.read_wide(s->opaque, off, size, data);
	} else {
		for (i = 0; i < size; i += 8) {
			v = region_read(s, off + i, 8);
			memcpy(data + i, &v, 8);
		}
	}
}

static void region_write_bytes(struct slot *s, uint64_t off, unsigned int size,
			       const uint8_t *data)
{
	unsigned int i;
	uint64_t v = 0;

	if (size <= 8) {
		memcpy(&v, data, size);
		region_write(s, off, size, v);
	} else if (s->ops.write_wide) {
		s->ops.write_wide(s->opaque, off, size, data);
	} else {
		for (i = 0; i < size; i += 8) {
			memcpy(&v, data + i, 8);
			region_write(s, off + i, 8, v);
		}
	}
}

static uint64_t bswap_n(uint64_t v, unsigned int size)
{
	switch (size) {
	case 2:
		return __builtin_bswap16((uint16_t)v);
	case 4:
		return __builtin_bswap32((uint32_t)v);
	default:
		return __builtin_bswap64(v);
	}
}

static uint64_t sext(uint64_t v, unsigned int size)
{
	if (size < 8 && (v >> (8 * size - 1)) & 1)
		v |= ~0ULL << (8 * size);
	return v;
}

/* Carries @in out on region @s at offset @off; returns NULL or a reason. */
static const char *emulate(const struct x86_insn *in, struct slot *s,
			   uint64_t off, ucontext_t *uc)
{
	greg_t *gregs = uc->uc_mcontext.gregs;
	uint8_t data[32];
	struct vregs v;
	uint64_t a, b, r, fl;

	switch (in->kind) {
	case X86_LOAD:
		a = region_read(s, off, in->size);
		if (in->bswap)
			a = bswap_n(a, in->size);
		if (in->sign_extend)
			a = sext(a, in->size);
		gpr_set(uc, in->reg, in->reg_size, in->rex, a);
		break;
	case X86_STORE:
		a = gpr_get(uc, in->reg, in->size, in->rex);
		if (in->bswap)
			a = bswap_n(a, in->size);
		region_write(s, off, in->size, a);
		break;
	case X86_STORE_IMM:
		region_write(s, off, in->size, (uint64_t)in->imm);
		break;
	case X86_ALU_MEM:
		a = region_read(s, off, in->size);
		b = in->src_reg ? gpr_get(uc, in->reg, in->size, in->rex)
				: (uint64_t)in->imm;
		fl = (uint64_t)gregs[REG_EFL];
		r = x86_alu(in->alu, in->size, a, b, &fl);
		if (x86_alu_writes(in->alu))
			region_write(s, off, in->size, r);
		gregs[REG_EFL] = (greg_t)fl;
		break;
	case X86_ALU_REG:
		a = gpr_get(uc, in->reg, in->size, in->rex);
		b = region_read(s, off, in->size);
		fl = (uint64_t)gregs[REG_EFL];
		r = x86_alu(in->alu, in->size, a, b, &fl);
		if (x86_alu_writes(in->alu))
			gpr_set(uc, in->reg, in->size, in->rex, r);
		gregs[REG_EFL] = (greg_t)fl;
		break;
	case X86_VEC_LOAD:
		vregs_of(uc, &v);
		if (!v.fx)
			return "no FPU state in the signal frame";
		if (in->size + in->vec_off > 16 &&
		    !xcomp_at(&v, XFEAT_YMM, ymm_off, 16, in->reg))
			return "no AVX state in the signal frame";
		region_read_bytes(s, off, in->size, data);
		vec_write(&v, in->reg, in->vec_off, in->size, data,
			  in->vec_zero);
		break;
	case X86_VEC_STORE:
		vregs_of(uc, &v);
		if (!v.fx)
			return "no FPU state in the signal frame";
		vec_read(&v, in->reg, in->vec_off, in->size, data);
		region_write_bytes(s, off, in->size, data);
		break;
	default:
		return "internal: unknown kind";
	}
	return NULL;
}

/* ---- the handler ---------------------------------------------------------- */

static void report(const char *why, const struct slot *s, uint64_t off,
		   uint64_t rip, const uint8_t *code, size_t ncode)
{
	struct msg m = { .len = 0 };
	size_t i;

	msg_str(&m, "uiommufd: mmio trap: cannot emulate the access to region '");
	msg_str(&m, s->name);
	msg_str(&m, "' (id ");
	msg_dec(&m, (uint64_t)slot_id(s));
	msg_str(&m, ") at offset 0x");
	msg_hex(&m, off, 1);
	msg_str(&m, ": ");
	msg_str(&m, why);
	msg_str(&m, "; instruction at 0x");
	msg_hex(&m, rip, 1);
	msg_str(&m, ":");
	for (i = 0; i < ncode; i++) {
		msg_str(&m, " ");
		msg_hex(&m, code[i], 2);
	}
	if (!ncode)
		msg_str(&m, " (bytes unreadable)");
	msg_flush(&m);
}

/* The program's disposition for a fault we do not handle. */
static void chain(int sig, siginfo_t *si, ucontext_t *uc)
{
	struct prog_action *pa = prog_of(sig);
	bool sent = si->si_code <= 0;
	struct prog_snap snap;
	struct sigaction dfl;
	sigset_t mask, saved;

	atomic_fetch_add_explicit(&stats.chained, 1, memory_order_relaxed);
	pa_read(pa, &snap);
	if (snap.handler == (uintptr_t)SIG_IGN && sent)
		return;
	if (snap.handler == (uintptr_t)SIG_DFL ||
	    snap.handler == (uintptr_t)SIG_IGN) {
		/*
		 * Fatal: give the kernel the default back.  A fault runs the
		 * instruction again on return and dies of it; a sent signal is
		 * sent again (it is not blocked: our handler is SA_NODEFER).
		 */
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		pa_lock(pa, &saved);
		pa_store(pa, (uintptr_t)SIG_DFL, 0, 0);
		atomic_store(&pa->owned, false);
		call_real(sig, &dfl, NULL);
		pa_unlock(pa, &saved);
		if (sent)
			syscall(SYS_tgkill, (long)syscall(SYS_getpid),
				(long)syscall(SYS_gettid), sig);
		return;
	}

	if (snap.flags & SA_RESETHAND) {
		pa_lock(pa, &saved);
		pa_store(pa, (uintptr_t)SIG_DFL, 0, 0);
		pa_unlock(pa, &saved);
	}
	/*
	 * The mask the kernel would have given the program's handler.  Only
	 * the first 64 bits of uc_sigmask are the kernel's (the rest of
	 * glibc's sigset_t lies past the end of the kernel's ucontext).
	 */
	sigemptyset(&mask);
	mask_add(&mask, mask_bits(&uc->uc_sigmask) | snap.mask);
	if (!(snap.flags & SA_NODEFER))
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (snap.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))snap.handler)(sig, si, uc);
	else
		((void (*)(int))snap.handler)(sig);
	/* sigreturn restores the interrupted mask (uc_mask). */
}

static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	uint8_t code[X86_MAX_INSN];
	size_t avail = 0, i;
	struct x86_insn in;
	const char *why;
	struct slot *s;
	uint64_t gpr[16], rip, ea, off, base, last;
	int rc;

	/* A fault of the in-process copy of a caller's memory (ucopy.c). */
	if (si->si_code > 0 && shim_ucopy_fixup(uc)) {
		errno = saved_errno;
		return;
	}
	if (si->si_code <= 0 || !(s = slot_get(addr))) {
		chain(sig, si, uc);
		errno = saved_errno;
		return;
	}
	base = atomic_load_explicit(&s->base, memory_order_relaxed);
	last = atomic_load_explicit(&s->last, memory_order_relaxed);
	off = addr - base;
	rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	/*
	 * The instruction's bytes: the CPU fetched them, so they are
	 * readable; past its end, only the rest of its page is sure to be.
	 */
	if (rip >= base && rip <= last) {
		why = "instruction fetch from the region";
		goto unhandled;
	}
	avail = 4096 - (rip & 4095);
	if (avail > X86_MAX_INSN)
		avail = X86_MAX_INSN;
	if (rip < base && base - rip < avail)
		avail = base - rip;
	for (i = 0; i < avail; i++)
		code[i] = ((const volatile uint8_t *)rip)[i];
	rc = x86_decode(code, avail, &in);
	if (rc == X86_ETRUNC && avail < X86_MAX_INSN &&
	    !(rip < base && base - rip <= X86_MAX_INSN)) {
		for (; avail < X86_MAX_INSN; avail++)
			code[avail] = ((const volatile uint8_t *)rip)[avail];
		rc = x86_decode(code, avail, &in);
	}
	if (rc != X86_OK) {
		why = rc == X86_ETRUNC ? "truncated instruction" : in.why;
		goto unhandled;
	}
	avail = in.len;

	for (i = 0; i < 16; i++)
		gpr[i] = (uint64_t)uc->uc_mcontext.gregs[greg_of[i]];
	ea = x86_effective_address(&in, gpr, rip);
	if (ea < base || ea + in.size - 1 < ea || ea + in.size - 1 > last) {
		why = "the access crosses the region's boundary";
		goto unhandled;
	}
	if (addr < ea || addr > ea + in.size - 1) {
		why = "the fault address is not the instruction's operand";
		goto unhandled;
	}
	off = ea - base;
	why = emulate(&in, s, off, uc);
	if (why)
		goto unhandled;
	slot_put(s);
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(rip + in.len);
	atomic_fetch_add_explicit(&stats.emulated, 1, memory_order_relaxed);
	errno = saved_errno;
	return;

unhandled:
	report(why, s, off, rip, code, avail);
	slot_put(s);
	atomic_fetch_add_explicit(&stats.unhandled, 1, memory_order_relaxed);
	chain(sig, si, uc);
	errno = saved_errno;
}

/* ---- the API -------------------------------------------------------------- */

static void xsave_offsets(void)
{
	unsigned int a, b, c, d;

	if (__get_cpuid_count(0xD, 2, &a, &b, &c, &d) && a >= 256)
		ymm_off = b;
	if (__get_cpuid_count(0xD, 6, &a, &b, &c, &d) && a >= 512)
		zmm_off = b;
}

static int uninstall_sig(int sig)
{
	struct prog_action *pa = prog_of(sig);
	struct prog_snap snap;
	struct sigaction act;
	sigset_t saved;
	int rc = 0;

	pa_lock(pa, &saved);
	pa_peek(pa, &snap);
	if (snap.owned) {
		snap_to_act(&snap, &act);
		rc = call_real(sig, &act, NULL) ? -errno : 0;
		atomic_store(&pa->owned, false);
	}
	pa_unlock(pa, &saved);
	return rc;
}

int mmio_trap_install(mmio_trap_sigaction_fn real)
{
	static const int sigs[2] = { SIGSEGV, SIGBUS };
	struct sigaction ours, old;
	struct prog_action *pa;
	sigset_t saved;
	int i, rc = 0;

	pthread_mutex_lock(&reg_lock);
	if (atomic_load(&installed)) {
		pthread_mutex_unlock(&reg_lock);
		return -EALREADY;
	}
	real_sa = real ? real : sigaction;
	xsave_offsets();

	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = trap_handler;
	ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
	sigfillset(&ours.sa_mask);
	sigdelset(&ours.sa_mask, SIGSEGV);
	sigdelset(&ours.sa_mask, SIGBUS);

	for (i = 0; i < 2 && !rc; i++) {
		pa = prog_of(sigs[i]);
		pa_lock(pa, &saved);
		if (call_real(sigs[i], &ours, &old)) {
			rc = -errno;
		} else {
			pa_store_act(pa, &old);
			atomic_store(&pa->owned, true);
		}
		pa_unlock(pa, &saved);
	}
	if (rc) {
		uninstall_sig(SIGSEGV);
	} else {
		atomic_store(&installed, true);
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

int mmio_trap_uninstall(void)
{
	unsigned int i;
	int rc, rc2;

	pthread_mutex_lock(&reg_lock);
	if (!atomic_load(&installed)) {
		pthread_mutex_unlock(&reg_lock);
		return -EINVAL;
	}
	for (i = 0; i < MMIO_TRAP_MAX_REGIONS; i++) {
		if (atomic_load(&slots[i].state) != SLOT_FREE) {
			pthread_mutex_unlock(&reg_lock);
			return -EBUSY;
		}
	}
	rc = uninstall_sig(SIGSEGV);
	rc2 = uninstall_sig(SIGBUS);
	atomic_store(&installed, false);
	pthread_mutex_unlock(&reg_lock);
	return rc ? rc : rc2;
}

bool mmio_trap_installed(void)
{
	return atomic_load(&installed);
}

int mmio_trap_register(void *base, size_t len, const struct mmio_trap_ops *ops,
		       void *opaque, const char *name)
{
	uintptr_t b = (uintptr_t)base, l = b + len - 1;
	struct slot *s = NULL;
	unsigned int i;
	int id;

	if (!len || l < b || !ops || !ops->read || !ops->write)
		return -EINVAL;
	pthread_mutex_lock(&reg_lock);
	if (!atomic_load(&installed)) {
		pthread_mutex_unlock(&reg_lock);
		return -EINVAL;
	}
	for (i = 0; i < MMIO_TRAP_MAX_REGIONS; i++) {
		struct slot *t = &slots[i];

		if (atomic_load(&t->state) == SLOT_FREE) {
			if (!s)
				s = t;
			continue;
		}
		if (b <= atomic_load(&t->last) && atomic_load(&t->base) <= l) {
			pthread_mutex_unlock(&reg_lock);
			return -EEXIST;
		}
	}
	if (!s) {
		pthread_mutex_unlock(&reg_lock);
		return -ENOSPC;
	}
	s->ops = *ops;
	s->opaque = opaque;
	memset(s->name, 0, sizeof(s->name));
	if (name)
		strncpy(s->name, name, MMIO_TRAP_NAME_MAX);
	s->gen = s->gen % GEN_MAX + 1;
	atomic_store_explicit(&s->base, b, memory_order_relaxed);
	atomic_store_explicit(&s->last, l, memory_order_relaxed);
	atomic_store(&s->state, SLOT_LIVE);
	i = (unsigned int)(s - slots) + 1;
	if (atomic_load(&nslots) < i)
		atomic_store(&nslots, i);
	id = slot_id(s);
	pthread_mutex_unlock(&reg_lock);
	return id;
}

int mmio_trap_unregister(int id)
{
	struct slot *s;

	if (id < 0)
		return -ENOENT;
	s = &slots[(unsigned int)id % MMIO_TRAP_MAX_REGIONS];
	pthread_mutex_lock(&reg_lock);
	if (atomic_load(&s->state) != SLOT_LIVE || slot_id(s) != id) {
		pthread_mutex_unlock(&reg_lock);
		return -ENOENT;
	}
	atomic_store(&s->state, SLOT_DYING);
	while (atomic_load(&s->readers))
		sched_yield();
	atomic_store(&s->state, SLOT_FREE);
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

int mmio_trap_sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct prog_action *pa = prog_of(sig);
	struct prog_snap snap;
	sigset_t saved;

	if (!pa)
		return call_real(sig, act, old);
	pa_lock(pa, &saved);
	pa_peek(pa, &snap);
	if (!snap.owned) {
		/* Not ours (any more): the kernel's disposition is the program's. */
		pa_unlock(pa, &saved);
		return call_real(sig, act, old);
	}
	if (old)
		snap_to_act(&snap, old);
	if (act)
		pa_store_act(pa, act);
	pa_unlock(pa, &saved);
	return 0;
}

__sighandler_t mmio_trap_signal(int sig, __sighandler_t handler)
{
	struct sigaction act, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	act.sa_flags = SA_RESTART;
	if (mmio_trap_sigaction(sig, &act, &old))
		return SIG_ERR;
	return old.sa_handler;
}

void mmio_trap_get_stats(struct mmio_trap_stats *st)
{
	st->emulated = atomic_load_explicit(&stats.emulated, memory_order_relaxed);
	st->unhandled =
		atomic_load_explicit(&stats.unhandled, memory_order_relaxed);
	st->chained = atomic_load_explicit(&stats.chained, memory_order_relaxed);
}
