/* SPDX-License-Identifier: MIT */
/*
 * The MMIO trap (src/shim/mmio_trap.c, x86_decode.c): PROT_NONE regions
 * whose accesses reach callbacks that model a small register file.
 *
 * The core of it is differential: each instruction of a table of encodings
 * is run twice from a small JIT page, with the same registers, flags and
 * vector registers, once on ordinary memory and once on a trapped region
 * whose register file holds the same bytes; the CPU's own result is the
 * oracle for the emulation (GPRs, arithmetic flags, xmm/ymm/zmm, memory).
 * Around it: accesses the compiler emits for volatile pointers, inline asm
 * with specific registers, the program's own SIGSEGV/SIGBUS dispositions
 * (handlers, SA_RESETHAND, masks, SIG_DFL and SIG_IGN in fork children),
 * an instruction we do not emulate, and threads hammering regions while
 * another one registers and unregisters a region under them.
 */
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim/mmio_trap.h"
#include "shim/x86_decode.h"
#include "harness.h"

#define PS 4096u
#define DEV_SIZE (2 * PS)

/* ---- a register file ------------------------------------------------------ */

struct dev {
	uint8_t mem[DEV_SIZE];
	atomic_ulong reads, writes, wide;
	uint64_t last_off;
	unsigned int last_size;
	atomic_int inflight;
	int spin;
};

static uint64_t dev_read(void *opaque, uint64_t off, unsigned int size)
{
	struct dev *d = opaque;
	uint64_t v = 0;
	volatile int i;

	atomic_fetch_add(&d->inflight, 1);
	for (i = 0; i < d->spin; i++)
		;
	memcpy(&v, d->mem + off, size);
	d->last_off = off;
	d->last_size = size;
	atomic_fetch_add(&d->reads, 1);
	atomic_fetch_sub(&d->inflight, 1);
	return v;
}

static void dev_write(void *opaque, uint64_t off, unsigned int size,
		      uint64_t v)
{
	struct dev *d = opaque;

	memcpy(d->mem + off, &v, size);
	d->last_off = off;
	d->last_size = size;
	atomic_fetch_add(&d->writes, 1);
}

static void dev_read_wide(void *opaque, uint64_t off, unsigned int size,
			  void *data)
{
	struct dev *d = opaque;

	memcpy(data, d->mem + off, size);
	d->last_off = off;
	d->last_size = size;
	atomic_fetch_add(&d->wide, 1);
}

static void dev_write_wide(void *opaque, uint64_t off, unsigned int size,
			   const void *data)
{
	struct dev *d = opaque;

	memcpy(d->mem + off, data, size);
	d->last_off = off;
	d->last_size = size;
	atomic_fetch_add(&d->wide, 1);
}

static const struct mmio_trap_ops dev_ops = {
	.read = dev_read, .write = dev_write,
};
static const struct mmio_trap_ops dev_ops_wide = {
	.read = dev_read, .write = dev_write,
	.read_wide = dev_read_wide, .write_wide = dev_write_wide,
};

static uint8_t *reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t emulated(void)
{
	struct mmio_trap_stats st;

	mmio_trap_get_stats(&st);
	return st.emulated;
}

/* ---- the program's own SIGSEGV handler ------------------------------------ */

static __thread sigjmp_buf *volatile tl_jmp; /* set around faulting accesses */
static __thread void *volatile tl_addr;
static __thread volatile int tl_sig;
static __thread sigset_t tl_mask;
static atomic_int prog_calls;

static void prog_handler(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add(&prog_calls, 1);
	tl_sig = sig;
	tl_addr = si->si_addr;
	pthread_sigmask(SIG_BLOCK, NULL, &tl_mask);
	if (tl_jmp)
		siglongjmp(*tl_jmp, 1);
	static const char msg[] = "test_mmio_trap: unexpected fault\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void set_prog_handler(int sig, int extra_flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prog_handler;
	sa.sa_flags = SA_SIGINFO | extra_flags;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	mmio_trap_sigaction(sig, &sa, NULL);
}

/* ---- the JIT harness ------------------------------------------------------- */

struct cpu {
	uint64_t r[16];
	uint64_t flags;
	uint64_t pad[7];
	uint8_t v[16][64] __attribute__((aligned(64)));
};
_Static_assert(offsetof(struct cpu, flags) == 128, "cpu layout");
_Static_assert(offsetof(struct cpu, v) == 192, "cpu layout");

/*
 * Pieces of the JIT function void f(struct cpu *): save the callee-saved
 * registers and the argument, load the vector registers (one of three
 * widths), then RFLAGS and every GPR but rsp; after the instruction, the
 * reverse.  All position-independent, copied around the instruction.
 */
#define JIT_PIECE(name, body) \
	".globl " name "\n.hidden " name "\n" name ":\n" body \
	".globl " name "_end\n.hidden " name "_end\n" name "_end:\n"
__asm__(".pushsection .text.ufd_jit, \"ax\"\n"
	JIT_PIECE("ufd_jit_pre_a",
		"push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\n"
		"push %r15\npush %rdi\n")
	JIT_PIECE("ufd_jit_vld_x",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"movdqu (192+64*\\i)(%rdi), %xmm\\i\n.endr\n")
	JIT_PIECE("ufd_jit_vld_y",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"vmovdqu (192+64*\\i)(%rdi), %ymm\\i\n.endr\n")
	JIT_PIECE("ufd_jit_vld_z",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"vmovdqu64 (192+64*\\i)(%rdi), %zmm\\i\n.endr\n")
	JIT_PIECE("ufd_jit_pre_b",
		"pushq 128(%rdi)\npopfq\n"
		"mov 0(%rdi), %rax\nmov 8(%rdi), %rcx\nmov 16(%rdi), %rdx\n"
		"mov 24(%rdi), %rbx\nmov 40(%rdi), %rbp\nmov 48(%rdi), %rsi\n"
		"mov 64(%rdi), %r8\nmov 72(%rdi), %r9\nmov 80(%rdi), %r10\n"
		"mov 88(%rdi), %r11\nmov 96(%rdi), %r12\nmov 104(%rdi), %r13\n"
		"mov 112(%rdi), %r14\nmov 120(%rdi), %r15\nmov 56(%rdi), %rdi\n")
	JIT_PIECE("ufd_jit_post_a",
		"pushfq\npush %rdi\nmov 16(%rsp), %rdi\n"
		"mov %rax, 0(%rdi)\nmov %rcx, 8(%rdi)\nmov %rdx, 16(%rdi)\n"
		"mov %rbx, 24(%rdi)\nmov %rbp, 40(%rdi)\nmov %rsi, 48(%rdi)\n"
		"mov %r8, 64(%rdi)\nmov %r9, 72(%rdi)\nmov %r10, 80(%rdi)\n"
		"mov %r11, 88(%rdi)\nmov %r12, 96(%rdi)\nmov %r13, 104(%rdi)\n"
		"mov %r14, 112(%rdi)\nmov %r15, 120(%rdi)\n"
		"pop %rax\nmov %rax, 56(%rdi)\npop %rax\nmov %rax, 128(%rdi)\n")
	JIT_PIECE("ufd_jit_vst_x",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"movdqu %xmm\\i, (192+64*\\i)(%rdi)\n.endr\n")
	JIT_PIECE("ufd_jit_vst_y",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"vmovdqu %ymm\\i, (192+64*\\i)(%rdi)\n.endr\nvzeroupper\n")
	JIT_PIECE("ufd_jit_vst_z",
		".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
		"vmovdqu64 %zmm\\i, (192+64*\\i)(%rdi)\n.endr\nvzeroupper\n")
	JIT_PIECE("ufd_jit_post_b",
		"add $8, %rsp\npop %r15\npop %r14\npop %r13\npop %r12\n"
		"pop %rbp\npop %rbx\nret\n")
	".popsection\n");

#define JIT_DECL(n) extern const uint8_t n[], n##_end[]
JIT_DECL(ufd_jit_pre_a);
JIT_DECL(ufd_jit_vld_x);
JIT_DECL(ufd_jit_vld_y);
JIT_DECL(ufd_jit_vld_z);
JIT_DECL(ufd_jit_pre_b);
JIT_DECL(ufd_jit_post_a);
JIT_DECL(ufd_jit_vst_x);
JIT_DECL(ufd_jit_vst_y);
JIT_DECL(ufd_jit_vst_z);
JIT_DECL(ufd_jit_post_b);

enum { VEC_X = 16, VEC_Y = 32, VEC_Z = 64 };
static unsigned int vec_width;
static bool have_avx, have_movbe;

/* One reservation: the JIT page, then ordinary memory, then the region. */
static uint8_t *area, *jit, *plain, *region;
static struct dev *jdev;
static int jdev_id = -1;

static void cpu_features(void)
{
	unsigned int a, b, c, d;

	__builtin_cpu_init();
	have_avx = __builtin_cpu_supports("avx");
	if (__get_cpuid(1, &a, &b, &c, &d))
		have_movbe = (c >> 22) & 1;
	vec_width = __builtin_cpu_supports("avx512f") ? VEC_Z
		    : have_avx ? VEC_Y : VEC_X;
}

static size_t put(uint8_t *dst, const uint8_t *from, const uint8_t *to)
{
	memcpy(dst, from, (size_t)(to - from));
	return (size_t)(to - from);
}

/* Builds f = pre + @insn + post in the JIT page; returns @insn's address. */
static uint8_t *jit_build(const uint8_t *insn, size_t n)
{
	size_t pos = 0;
	uint8_t *at;

	mprotect(jit, PS, PROT_READ | PROT_WRITE);
	pos += put(jit + pos, ufd_jit_pre_a, ufd_jit_pre_a_end);
	if (vec_width == VEC_Z)
		pos += put(jit + pos, ufd_jit_vld_z, ufd_jit_vld_z_end);
	else if (vec_width == VEC_Y)
		pos += put(jit + pos, ufd_jit_vld_y, ufd_jit_vld_y_end);
	else
		pos += put(jit + pos, ufd_jit_vld_x, ufd_jit_vld_x_end);
	pos += put(jit + pos, ufd_jit_pre_b, ufd_jit_pre_b_end);
	at = jit + pos;
	memcpy(jit + pos, insn, n);
	pos += n;
	pos += put(jit + pos, ufd_jit_post_a, ufd_jit_post_a_end);
	if (vec_width == VEC_Z)
		pos += put(jit + pos, ufd_jit_vst_z, ufd_jit_vst_z_end);
	else if (vec_width == VEC_Y)
		pos += put(jit + pos, ufd_jit_vst_y, ufd_jit_vst_y_end);
	else
		pos += put(jit + pos, ufd_jit_vst_x, ufd_jit_vst_x_end);
	pos += put(jit + pos, ufd_jit_post_b, ufd_jit_post_b_end);
	mprotect(jit, PS, PROT_READ | PROT_EXEC);
	return at;
}

/* Runs the JIT function; false if it faulted to the program's handler. */
static bool jit_run(struct cpu *c)
{
	sigjmp_buf jb;
	void (*fn)(struct cpu *);

	memcpy(&fn, &jit, sizeof(fn));
	if (sigsetjmp(jb, 1)) {
		tl_jmp = NULL;
		return false;
	}
	tl_jmp = &jb;
	fn(c);
	tl_jmp = NULL;
	return true;
}

enum { FIX_NONE, FIX_RIP32, FIX_ABS64 };

struct jcase {
	const char *name;
	uint8_t n;
	uint8_t b[15];
	int8_t ptr;     /* GPR that holds buffer + bias, or -1 */
	uint16_t bias;  /* where the pointer (or the fixup's target) points */
	int8_t index;   /* GPR set to @ival, or -1 */
	uint8_t ival;
	uint8_t fix, fixpos;
	bool avx, movbe;
};

#define B(...) .n = sizeof((uint8_t[]){ __VA_ARGS__ }), .b = { __VA_ARGS__ }
#define RDI 7
#define RBX 3
#define RCX 1
#define R12 12
#define R13 13
#define NOPTR -1

/*
 * The table.  Unless said otherwise the memory operand is (%rdi) pointing
 * 0x100 bytes into the buffer; the register operand is whatever the
 * encoding names, loaded with a pattern.
 */
static const struct jcase jcases[] = {
	/* MOV loads, all widths, byte registers with and without REX */
	{ "mov (%rdi),%al", B(0x8a, 0x07), RDI, 0x100, -1 },
	{ "mov (%rdi),%ah", B(0x8a, 0x27), RDI, 0x101, -1 },
	{ "mov (%rdi),%dh", B(0x8a, 0x37), RDI, 0x102, -1 },
	{ "mov (%rdi),%sil", B(0x40, 0x8a, 0x37), RDI, 0x103, -1 },
	{ "mov (%rdi),%r8b", B(0x44, 0x8a, 0x07), RDI, 0x104, -1 },
	{ "mov (%rdi),%ax", B(0x66, 0x8b, 0x07), RDI, 0x106, -1 },
	{ "mov (%rdi),%eax", B(0x8b, 0x07), RDI, 0x108, -1 },
	{ "mov (%rdi),%rax", B(0x48, 0x8b, 0x07), RDI, 0x110, -1 },
	{ "mov (%rdi),%r15", B(0x4c, 0x8b, 0x3f), RDI, 0x118, -1 },
	{ "mov (%rdi),%r10w", B(0x66, 0x44, 0x8b, 0x17), RDI, 0x11a, -1 },
	/* base registers */
	{ "mov (%rbx),%eax", B(0x8b, 0x03), RBX, 0x120, -1 },
	{ "mov (%rcx),%edx", B(0x8b, 0x11), RCX, 0x124, -1 },
	{ "mov (%rsi),%eax", B(0x8b, 0x06), 6, 0x128, -1 },
	{ "mov 0(%rbp),%eax", B(0x8b, 0x45, 0x00), 5, 0x12c, -1 },
	{ "mov (%r8),%eax", B(0x41, 0x8b, 0x00), 8, 0x130, -1 },
	{ "mov (%r9),%ecx", B(0x41, 0x8b, 0x09), 9, 0x134, -1 },
	{ "mov (%r10),%eax", B(0x41, 0x8b, 0x02), 10, 0x138, -1 },
	{ "mov (%r11),%eax", B(0x41, 0x8b, 0x03), 11, 0x13c, -1 },
	{ "mov (%r12),%eax", B(0x41, 0x8b, 0x04, 0x24), R12, 0x140, -1 },
	{ "mov 0(%r13),%eax", B(0x41, 0x8b, 0x45, 0x00), R13, 0x144, -1 },
	{ "mov (%r14),%eax", B(0x41, 0x8b, 0x06), 14, 0x148, -1 },
	{ "mov (%r15),%r9", B(0x4d, 0x8b, 0x0f), 15, 0x150, -1 },
	/* displacements and SIB */
	{ "mov 0x10(%rdi),%eax", B(0x8b, 0x47, 0x10), RDI, 0x100, -1 },
	{ "mov -0x10(%rdi),%eax", B(0x8b, 0x47, 0xf0), RDI, 0x100, -1 },
	{ "mov 0x1000(%rdi),%eax", B(0x8b, 0x87, 0x00, 0x10, 0x00, 0x00),
	  RDI, 0x100, -1 },
	{ "mov (%rbx,%rcx,4),%eax", B(0x8b, 0x04, 0x8b), RBX, 0x100, RCX, 3 },
	{ "mov (%rbx,%r8,8),%eax", B(0x42, 0x8b, 0x04, 0xc3), RBX, 0x100, 8, 5 },
	{ "mov 0x8(%r12,%r13,4),%rax", B(0x4b, 0x8b, 0x44, 0xac, 0x08),
	  R12, 0x100, R13, 7 },
	{ "mov 0x0(,%rcx,1),%eax", B(0x8b, 0x04, 0x0d, 0, 0, 0, 0),
	  RCX, 0x160, -1 },
	{ "mov -0x100(%rdi,%rdi,1) (ptr twice)", B(0x8b, 0x84, 0x3f, 0x00,
	  0xff, 0xff, 0xff), NOPTR, 0, -1 },
	/* RIP-relative and moffs */
	{ "mov rel(%rip),%eax", B(0x8b, 0x05, 0, 0, 0, 0), NOPTR, 0x170, -1,
	  0, FIX_RIP32, 2 },
	{ "mov rel(%rip),%r11", B(0x4c, 0x8b, 0x1d, 0, 0, 0, 0), NOPTR, 0x178,
	  -1, 0, FIX_RIP32, 3 },
	{ "mov %ecx,rel(%rip)", B(0x89, 0x0d, 0, 0, 0, 0), NOPTR, 0x17c, -1, 0,
	  FIX_RIP32, 2 },
	{ "movl $imm,rel(%rip)", B(0xc7, 0x05, 0, 0, 0, 0, 0x78, 0x56, 0x34,
	  0x12), NOPTR, 0x180, -1, 0, FIX_RIP32, 2 },
	{ "mov moffs,%al", B(0xa0, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x181, -1, 0,
	  FIX_ABS64, 1 },
	{ "mov moffs,%eax", B(0xa1, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x184, -1,
	  0, FIX_ABS64, 1 },
	{ "mov moffs,%ax", B(0x66, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x186,
	  -1, 0, FIX_ABS64, 2 },
	{ "mov moffs,%rax", B(0x48, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x188,
	  -1, 0, FIX_ABS64, 2 },
	{ "mov %al,moffs", B(0xa2, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x190, -1, 0,
	  FIX_ABS64, 1 },
	{ "mov %eax,moffs", B(0xa3, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x194, -1,
	  0, FIX_ABS64, 1 },
	{ "mov %rax,moffs", B(0x48, 0xa3, 0, 0, 0, 0, 0, 0, 0, 0), NOPTR, 0x198,
	  -1, 0, FIX_ABS64, 2 },
	/* MOV stores */
	{ "mov %al,(%rdi)", B(0x88, 0x07), RDI, 0x100, -1 },
	{ "mov %ah,(%rdi)", B(0x88, 0x27), RDI, 0x101, -1 },
	{ "mov %sil,(%rdi)", B(0x40, 0x88, 0x37), RDI, 0x102, -1 },
	{ "mov %r8b,(%rdi)", B(0x44, 0x88, 0x07), RDI, 0x103, -1 },
	{ "mov %ax,(%rdi)", B(0x66, 0x89, 0x07), RDI, 0x104, -1 },
	{ "mov %eax,(%rdi)", B(0x89, 0x07), RDI, 0x108, -1 },
	{ "mov %rax,(%rdi)", B(0x48, 0x89, 0x07), RDI, 0x110, -1 },
	{ "mov %r9,8(%rdi)", B(0x4c, 0x89, 0x4f, 0x08), RDI, 0x110, -1 },
	{ "mov %esi,(%r12)", B(0x41, 0x89, 0x34, 0x24), R12, 0x120, -1 },
	{ "movb $0x5a,(%rdi)", B(0xc6, 0x07, 0x5a), RDI, 0x100, -1 },
	{ "movw $0x1234,(%rdi)", B(0x66, 0xc7, 0x07, 0x34, 0x12), RDI, 0x102,
	  -1 },
	{ "movl $0x12345678,(%rdi)", B(0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), RDI,
	  0x104, -1 },
	{ "movq $-2,(%rdi)", B(0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff), RDI,
	  0x108, -1 },
	{ "movq $0x92345678,8(%rdi)", B(0x48, 0xc7, 0x47, 0x08, 0x78, 0x56,
	  0x34, 0x92), RDI, 0x108, -1 },
	/* MOVZX, MOVSX, MOVSXD */
	{ "movzbl (%rdi),%eax", B(0x0f, 0xb6, 0x07), RDI, 0x1f0, -1 },
	{ "movzwl (%rdi),%eax", B(0x0f, 0xb7, 0x07), RDI, 0x1f0, -1 },
	{ "movsbl (%rdi),%eax", B(0x0f, 0xbe, 0x07), RDI, 0x1f1, -1 },
	{ "movswl (%rdi),%eax", B(0x0f, 0xbf, 0x07), RDI, 0x1f2, -1 },
	{ "movsbq (%rdi),%rax", B(0x48, 0x0f, 0xbe, 0x07), RDI, 0x1f3, -1 },
	{ "movswq (%rdi),%rax", B(0x48, 0x0f, 0xbf, 0x07), RDI, 0x1f4, -1 },
	{ "movsbw (%rdi),%ax", B(0x66, 0x0f, 0xbe, 0x07), RDI, 0x1f5, -1 },
	{ "movzbw (%rdi),%ax", B(0x66, 0x0f, 0xb6, 0x07), RDI, 0x1f6, -1 },
	{ "movzbq (%rdi),%r8", B(0x4c, 0x0f, 0xb6, 0x07), RDI, 0x1f7, -1 },
	{ "movzbl (%rdi),%r14d", B(0x44, 0x0f, 0xb6, 0x37), RDI, 0x1f8, -1 },
	{ "movslq (%rdi),%rax", B(0x48, 0x63, 0x07), RDI, 0x1fc, -1 },
	{ "movslq (%rdi),%r8", B(0x4c, 0x63, 0x07), RDI, 0x1f8, -1 },
	{ "movsxd (%rdi),%eax (no REX.W)", B(0x63, 0x07), RDI, 0x1f8, -1 },
	/* ALU with a register */
	{ "or %esi,(%rdi)", B(0x09, 0x37), RDI, 0x200, -1 },
	{ "or (%rdi),%esi", B(0x0b, 0x37), RDI, 0x200, -1 },
	{ "and %esi,(%rdi)", B(0x21, 0x37), RDI, 0x200, -1 },
	{ "and (%rdi),%esi", B(0x23, 0x37), RDI, 0x204, -1 },
	{ "add %esi,(%rdi)", B(0x01, 0x37), RDI, 0x208, -1 },
	{ "add (%rdi),%esi", B(0x03, 0x37), RDI, 0x208, -1 },
	{ "sub %esi,(%rdi)", B(0x29, 0x37), RDI, 0x20c, -1 },
	{ "sub (%rdi),%esi", B(0x2b, 0x37), RDI, 0x20c, -1 },
	{ "xor %esi,(%rdi)", B(0x31, 0x37), RDI, 0x210, -1 },
	{ "xor (%rdi),%esi", B(0x33, 0x37), RDI, 0x210, -1 },
	{ "cmp %esi,(%rdi)", B(0x39, 0x37), RDI, 0x214, -1 },
	{ "cmp (%rdi),%esi", B(0x3b, 0x37), RDI, 0x214, -1 },
	{ "adc %esi,(%rdi)", B(0x11, 0x37), RDI, 0x218, -1 },
	{ "sbb %esi,(%rdi)", B(0x19, 0x37), RDI, 0x218, -1 },
	{ "add %dh,(%rdi)", B(0x00, 0x37), RDI, 0x21c, -1 },
	{ "add %sil,(%rdi)", B(0x40, 0x00, 0x37), RDI, 0x21d, -1 },
	{ "add %rsi,(%rdi)", B(0x48, 0x01, 0x37), RDI, 0x220, -1 },
	{ "add %si,(%rdi)", B(0x66, 0x01, 0x37), RDI, 0x228, -1 },
	{ "or (%rdi),%r10", B(0x4c, 0x0b, 0x17), RDI, 0x230, -1 },
	{ "test %esi,(%rdi)", B(0x85, 0x37), RDI, 0x238, -1 },
	{ "test %dh,(%rdi)", B(0x84, 0x37), RDI, 0x23c, -1 },
	/* ALU with an immediate */
	{ "orb $0x80,(%rdi)", B(0x80, 0x0f, 0x80), RDI, 0x240, -1 },
	{ "cmpb $0,(%rdi)", B(0x80, 0x3f, 0x00), RDI, 0x241, -1 },
	{ "orl $4,(%rdi)", B(0x83, 0x0f, 0x04), RDI, 0x244, -1 },
	{ "andl $-5,(%rdi)", B(0x83, 0x27, 0xfb), RDI, 0x248, -1 },
	{ "addl $1,(%rdi)", B(0x83, 0x07, 0x01), RDI, 0x24c, -1 },
	{ "addl $1,(%rdi) (overflow)", B(0x83, 0x07, 0x01), RDI, 0x2f8, -1 },
	{ "cmpl $0,(%rdi)", B(0x83, 0x3f, 0x00), RDI, 0x250, -1 },
	{ "cmpl $0,(%rdi) (zero)", B(0x83, 0x3f, 0x00), RDI, 0x2f0, -1 },
	{ "orl $0x10000,(%rdi)", B(0x81, 0x0f, 0x00, 0x00, 0x01, 0x00), RDI,
	  0x254, -1 },
	{ "addq $-2^31,(%rdi)", B(0x48, 0x81, 0x07, 0x00, 0x00, 0x00, 0x80),
	  RDI, 0x258, -1 },
	{ "addw $0x1234,(%rdi)", B(0x66, 0x81, 0x07, 0x34, 0x12), RDI, 0x260,
	  -1 },
	{ "addw $-1,(%rdi)", B(0x66, 0x83, 0x07, 0xff), RDI, 0x262, -1 },
	{ "adcl $0,(%rdi)", B(0x83, 0x17, 0x00), RDI, 0x264, -1 },
	{ "sbbl $0,(%rdi)", B(0x83, 0x1f, 0x00), RDI, 0x268, -1 },
	{ "subl $1,(%rdi)", B(0x83, 0x2f, 0x01), RDI, 0x26c, -1 },
	{ "sbbl $0,(%rdi) (zero, carry in)", B(0x83, 0x1f, 0x00), RDI, 0x2f0,
	  -1 },
	{ "adcl $-1,(%rdi) (carry in)", B(0x83, 0x17, 0xff), RDI, 0x26c, -1 },
	{ "adcb $0,(%rdi) (0xff, carry in)", B(0x80, 0x17, 0x00), RDI, 0x2fa,
	  -1 },
	{ "subl $1,(%rdi) (borrow)", B(0x83, 0x2f, 0x01), RDI, 0x2f0, -1 },
	{ "xorl $-1,(%rdi)", B(0x83, 0x37, 0xff), RDI, 0x270, -1 },
	{ "testl $1,(%rdi)", B(0xf7, 0x07, 0x01, 0x00, 0x00, 0x00), RDI, 0x274,
	  -1 },
	{ "testb $0x80,(%rdi)", B(0xf6, 0x07, 0x80), RDI, 0x275, -1 },
	{ "testq $-1,(%rdi)", B(0x48, 0xf7, 0x07, 0xff, 0xff, 0xff, 0xff), RDI,
	  0x278, -1 },
	{ "testw $0x8000,(%rdi)", B(0x66, 0xf7, 0x07, 0x00, 0x80), RDI, 0x27a,
	  -1 },
	{ "incl (%rdi)", B(0xff, 0x07), RDI, 0x27c, -1 },
	{ "decl (%rdi)", B(0xff, 0x0f), RDI, 0x280, -1 },
	{ "decl (%rdi) (to zero, CF kept)", B(0xff, 0x0f), RDI, 0x2e8, -1 },
	{ "incb (%rdi)", B(0xfe, 0x07), RDI, 0x284, -1 },
	{ "decq (%rdi)", B(0x48, 0xff, 0x0f), RDI, 0x288, -1 },
	{ "incw (%rdi)", B(0x66, 0xff, 0x07), RDI, 0x290, -1 },
	{ "incl (%rdi) (overflow)", B(0xff, 0x07), RDI, 0x2f8, -1 },
	/* MOVBE, MOVNTI */
	{ "movbe (%rdi),%eax", B(0x0f, 0x38, 0xf0, 0x07), RDI, 0x300, -1, 0, 0,
	  0, false, true },
	{ "movbe (%rdi),%ax", B(0x66, 0x0f, 0x38, 0xf0, 0x07), RDI, 0x304, -1,
	  0, 0, 0, false, true },
	{ "movbe %rax,(%rdi)", B(0x48, 0x0f, 0x38, 0xf1, 0x07), RDI, 0x308, -1,
	  0, 0, 0, false, true },
	{ "movnti %eax,(%rdi)", B(0x0f, 0xc3, 0x07), RDI, 0x310, -1 },
	{ "movnti %rax,(%rdi)", B(0x48, 0x0f, 0xc3, 0x07), RDI, 0x318, -1 },
	/* SSE */
	{ "movups (%rdi),%xmm0", B(0x0f, 0x10, 0x07), RDI, 0x400, -1 },
	{ "movups %xmm0,(%rdi)", B(0x0f, 0x11, 0x07), RDI, 0x400, -1 },
	{ "movupd (%rdi),%xmm3", B(0x66, 0x0f, 0x10, 0x1f), RDI, 0x404, -1 },
	{ "movss (%rdi),%xmm0", B(0xf3, 0x0f, 0x10, 0x07), RDI, 0x410, -1 },
	{ "movss %xmm0,(%rdi)", B(0xf3, 0x0f, 0x11, 0x07), RDI, 0x410, -1 },
	{ "movsd (%rdi),%xmm0", B(0xf2, 0x0f, 0x10, 0x07), RDI, 0x418, -1 },
	{ "movsd %xmm0,(%rdi)", B(0xf2, 0x0f, 0x11, 0x07), RDI, 0x418, -1 },
	{ "movaps (%rdi),%xmm1", B(0x0f, 0x28, 0x0f), RDI, 0x420, -1 },
	{ "movaps %xmm1,(%rdi)", B(0x0f, 0x29, 0x0f), RDI, 0x420, -1 },
	{ "movapd (%rdi),%xmm2", B(0x66, 0x0f, 0x28, 0x17), RDI, 0x430, -1 },
	{ "movlps (%rdi),%xmm0", B(0x0f, 0x12, 0x07), RDI, 0x440, -1 },
	{ "movlps %xmm0,(%rdi)", B(0x0f, 0x13, 0x07), RDI, 0x440, -1 },
	{ "movhps (%rdi),%xmm0", B(0x0f, 0x16, 0x07), RDI, 0x448, -1 },
	{ "movhps %xmm0,(%rdi)", B(0x0f, 0x17, 0x07), RDI, 0x448, -1 },
	{ "movhpd (%rdi),%xmm4", B(0x66, 0x0f, 0x16, 0x27), RDI, 0x450, -1 },
	{ "movntps %xmm0,(%rdi)", B(0x0f, 0x2b, 0x07), RDI, 0x460, -1 },
	{ "movd (%rdi),%xmm0", B(0x66, 0x0f, 0x6e, 0x07), RDI, 0x470, -1 },
	{ "movq (%rdi),%xmm0 (66 REX.W 6E)", B(0x66, 0x48, 0x0f, 0x6e, 0x07),
	  RDI, 0x478, -1 },
	{ "movd %xmm0,(%rdi)", B(0x66, 0x0f, 0x7e, 0x07), RDI, 0x480, -1 },
	{ "movq %xmm0,(%rdi) (66 REX.W 7E)", B(0x66, 0x48, 0x0f, 0x7e, 0x07),
	  RDI, 0x488, -1 },
	{ "movq (%rdi),%xmm5 (F3 7E)", B(0xf3, 0x0f, 0x7e, 0x2f), RDI, 0x490,
	  -1 },
	{ "movq %xmm5,(%rdi) (66 D6)", B(0x66, 0x0f, 0xd6, 0x2f), RDI, 0x498,
	  -1 },
	{ "movdqa (%rdi),%xmm0", B(0x66, 0x0f, 0x6f, 0x07), RDI, 0x4a0, -1 },
	{ "movdqa %xmm0,(%rdi)", B(0x66, 0x0f, 0x7f, 0x07), RDI, 0x4a0, -1 },
	{ "movdqu (%rdi),%xmm0", B(0xf3, 0x0f, 0x6f, 0x07), RDI, 0x4b3, -1 },
	{ "movdqu %xmm0,(%rdi)", B(0xf3, 0x0f, 0x7f, 0x07), RDI, 0x4b3, -1 },
	{ "movntdq %xmm0,(%rdi)", B(0x66, 0x0f, 0xe7, 0x07), RDI, 0x4c0, -1 },
	{ "movdqu (%rdi),%xmm9", B(0xf3, 0x44, 0x0f, 0x6f, 0x0f), RDI, 0x4d0,
	  -1 },
	{ "movdqu (%r11),%xmm15", B(0xf3, 0x45, 0x0f, 0x6f, 0x3b), 11, 0x4e0,
	  -1 },
	{ "movdqu %xmm12,0x10(%rbx,%rcx,8)", B(0xf3, 0x44, 0x0f, 0x7f, 0x64,
	  0xcb, 0x10), RBX, 0x4f0, RCX, 2 },
	{ "movups rel(%rip),%xmm7", B(0x0f, 0x10, 0x3d, 0, 0, 0, 0), NOPTR,
	  0x500, -1, 0, FIX_RIP32, 3 },
	/* AVX (VEX) */
	{ "vmovdqu (%rdi),%xmm0", B(0xc5, 0xfa, 0x6f, 0x07), RDI, 0x600, -1, 0,
	  0, 0, true },
	{ "vmovdqu (%rdi),%ymm0", B(0xc5, 0xfe, 0x6f, 0x07), RDI, 0x600, -1, 0,
	  0, 0, true },
	{ "vmovdqu %xmm0,(%rdi)", B(0xc5, 0xfa, 0x7f, 0x07), RDI, 0x620, -1, 0,
	  0, 0, true },
	{ "vmovdqu %ymm0,(%rdi)", B(0xc5, 0xfe, 0x7f, 0x07), RDI, 0x620, -1, 0,
	  0, 0, true },
	{ "vmovdqa (%rdi),%xmm1", B(0xc5, 0xf9, 0x6f, 0x0f), RDI, 0x640, -1, 0,
	  0, 0, true },
	{ "vmovdqa (%rdi),%ymm1", B(0xc5, 0xfd, 0x6f, 0x0f), RDI, 0x640, -1, 0,
	  0, 0, true },
	{ "vmovups (%rdi),%xmm2", B(0xc5, 0xf8, 0x10, 0x17), RDI, 0x661, -1, 0,
	  0, 0, true },
	{ "vmovups %ymm2,(%rdi)", B(0xc5, 0xfc, 0x11, 0x17), RDI, 0x661, -1, 0,
	  0, 0, true },
	{ "vmovaps (%rdi),%xmm3", B(0xc5, 0xf8, 0x28, 0x1f), RDI, 0x680, -1, 0,
	  0, 0, true },
	{ "vmovss (%rdi),%xmm4", B(0xc5, 0xfa, 0x10, 0x27), RDI, 0x6a0, -1, 0,
	  0, 0, true },
	{ "vmovsd (%rdi),%xmm4", B(0xc5, 0xfb, 0x10, 0x27), RDI, 0x6a8, -1, 0,
	  0, 0, true },
	{ "vmovsd %xmm4,(%rdi)", B(0xc5, 0xfb, 0x11, 0x27), RDI, 0x6b0, -1, 0,
	  0, 0, true },
	{ "vmovd (%rdi),%xmm5", B(0xc5, 0xf9, 0x6e, 0x2f), RDI, 0x6c0, -1, 0,
	  0, 0, true },
	{ "vmovq (%rdi),%xmm5 (C4 W1 6E)", B(0xc4, 0xe1, 0xf9, 0x6e, 0x2f), RDI,
	  0x6c8, -1, 0, 0, 0, true },
	{ "vmovd %xmm5,(%rdi)", B(0xc5, 0xf9, 0x7e, 0x2f), RDI, 0x6d0, -1, 0,
	  0, 0, true },
	{ "vmovq (%rdi),%xmm6 (F3 7E)", B(0xc5, 0xfa, 0x7e, 0x37), RDI, 0x6d8,
	  -1, 0, 0, 0, true },
	{ "vmovq %xmm6,(%rdi) (D6)", B(0xc5, 0xf9, 0xd6, 0x37), RDI, 0x6e0, -1,
	  0, 0, 0, true },
	{ "vmovdqa (%rdi),%xmm9", B(0xc5, 0x79, 0x6f, 0x0f), RDI, 0x700, -1, 0,
	  0, 0, true },
	{ "vmovdqu (%r11),%xmm9", B(0xc4, 0x41, 0x7a, 0x6f, 0x0b), 11, 0x710,
	  -1, 0, 0, 0, true },
	{ "vmovdqu (%r11),%ymm14", B(0xc4, 0x41, 0x7e, 0x6f, 0x33), 11, 0x720,
	  -1, 0, 0, 0, true },
	{ "vmovntdq %ymm7,(%rdi)", B(0xc5, 0xfd, 0xe7, 0x3f), RDI, 0x740, -1, 0,
	  0, 0, true },
};

static void cpu_init(struct cpu *c, unsigned int seed)
{
	unsigned int i, j;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 16; i++)
		c->r[i] = 0x0123456789abcdefULL * (i + 1) ^ ((uint64_t)seed << 40);
	c->r[4] = 0;
	/* CF set, so ADC/SBB see a carry in, DEC/INC must keep it */
	c->flags = 0x202 | X86_CF;
	for (i = 0; i < 16; i++)
		for (j = 0; j < 64; j++)
			c->v[i][j] = (uint8_t)(0xA0 + i * 7 + j * 13 + seed);
}

static void fill_pattern(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 37 + 11);
	/* special values for the flag cases */
	memset(p + 0x2e8, 0, 8);
	p[0x2e8] = 1;                       /* dec to 0 */
	memset(p + 0x2f0, 0, 8);            /* cmp 0, sub borrow */
	memcpy(p + 0x2f8, "\xff\xff\xff\x7f\0\0\0\0", 8); /* inc/add overflow */
}

/* Sets up @c for @jc on buffer @buf; fixes up the JIT instruction. */
static void jit_prepare(const struct jcase *jc, struct cpu *c, uint8_t *buf)
{
	uint8_t insn[15];
	uint8_t *at;
	uint64_t target = (uint64_t)(uintptr_t)(buf + jc->bias);
	int32_t rel;

	memcpy(insn, jc->b, jc->n);
	if (jc->index >= 0)
		c->r[jc->index] = jc->ival;
	if (jc->ptr >= 0)
		c->r[jc->ptr] = target;
	else if (!jc->fix) /* "ptr twice": rdi + rdi - 0x100 */
		c->r[RDI] = (target + 0x100) / 2;
	if (jc->fix == FIX_ABS64)
		memcpy(insn + jc->fixpos, &target, 8);
	at = jit_build(insn, jc->n);
	if (jc->fix == FIX_RIP32) {
		rel = (int32_t)(int64_t)(target - (uint64_t)(uintptr_t)(at + jc->n));
		mprotect(jit, PS, PROT_READ | PROT_WRITE);
		memcpy(at + jc->fixpos, &rel, 4);
		mprotect(jit, PS, PROT_READ | PROT_EXEC);
	}
}

static bool jit_setup(void)
{
	area = reserve(PS + 2 * DEV_SIZE);
	if (!area)
		return false;
	jit = area;
	plain = area + PS;
	region = plain + DEV_SIZE;
	if (mprotect(plain, DEV_SIZE, PROT_READ | PROT_WRITE))
		return false;
	jdev = calloc(1, sizeof(*jdev));
	jdev_id = mmio_trap_register(region, DEV_SIZE, &dev_ops, jdev, "jit");
	return jdev_id >= 0;
}

static void run_jcase(const struct jcase *jc)
{
	struct cpu cn, cr;
	uint64_t before;
	unsigned int i;
	bool ok;

	if ((jc->avx && !have_avx) || (jc->movbe && !have_movbe))
		return;
	fill_pattern(plain, DEV_SIZE);
	fill_pattern(jdev->mem, DEV_SIZE);
	cpu_init(&cn, 1);
	cpu_init(&cr, 1);
	/* The plain run needs its own copy of rdi for "ptr twice". */
	jit_prepare(jc, &cn, plain);
	ok = jit_run(&cn);
	if (!ok) {
		fprintf(stderr, "  %s: faulted on plain memory\n", jc->name);
		harness_failed = 1;
		return;
	}
	jit_prepare(jc, &cr, region);
	before = emulated();
	ok = jit_run(&cr);
	if (!ok || emulated() != before + 1) {
		fprintf(stderr, "  %s: not emulated (%s)\n", jc->name,
			ok ? "no trap" : "reached the program's handler");
		harness_failed = 1;
		return;
	}
	for (i = 0; i < 16; i++) {
		uint64_t a = cn.r[i], b = cr.r[i];

		if (i == 4)
			continue;
		if ((jc->ptr >= 0 && (int)i == jc->ptr) ||
		    (jc->ptr < 0 && !jc->fix && i == RDI)) {
			if (jc->ptr < 0) {
				a *= 2;
				b *= 2;
			}
			a -= (uint64_t)(uintptr_t)plain;
			b -= (uint64_t)(uintptr_t)region;
		}
		if (a != b) {
			fprintf(stderr, "  %s: r%u 0x%016" PRIx64
				" (CPU) != 0x%016" PRIx64 " (trap)\n", jc->name,
				i, a, b);
			harness_failed = 1;
		}
	}
	if ((cn.flags & X86_ARITH_FLAGS) != (cr.flags & X86_ARITH_FLAGS)) {
		fprintf(stderr, "  %s: flags 0x%03" PRIx64 " (CPU) != 0x%03" PRIx64
			" (trap)\n", jc->name, cn.flags & X86_ARITH_FLAGS,
			cr.flags & X86_ARITH_FLAGS);
		harness_failed = 1;
	}
	for (i = 0; i < 16; i++) {
		if (memcmp(cn.v[i], cr.v[i], vec_width)) {
			fprintf(stderr, "  %s: vector register %u differs\n",
				jc->name, i);
			harness_failed = 1;
		}
	}
	if (memcmp(plain, jdev->mem, DEV_SIZE)) {
		fprintf(stderr, "  %s: memory differs\n", jc->name);
		harness_failed = 1;
	}
}

/* Every encoding of the table, against the CPU. */
static void test_jit_differential(void)
{
	size_t i;

	REQUIRE(jdev_id >= 0);
	set_prog_handler(SIGSEGV, 0);
	for (i = 0; i < sizeof(jcases) / sizeof(jcases[0]); i++)
		run_jcase(&jcases[i]);
	fprintf(stderr, "  %zu encodings, vector state %u bytes wide%s%s\n", i,
		vec_width, have_avx ? ", AVX" : "", have_movbe ? ", MOVBE" : "");
}

/* The same with read_wide/write_wide: 16/32-byte moves in one call. */
static void test_jit_wide_ops(void)
{
	unsigned long before;
	size_t i;

	REQUIRE(mmio_trap_unregister(jdev_id) == 0);
	jdev_id = mmio_trap_register(region, DEV_SIZE, &dev_ops_wide, jdev,
				     "jit-wide");
	REQUIRE(jdev_id >= 0);
	before = atomic_load(&jdev->wide);
	for (i = 0; i < sizeof(jcases) / sizeof(jcases[0]); i++)
		if (jcases[i].b[0] == 0x0f || jcases[i].b[0] == 0xf3 ||
		    jcases[i].b[0] == 0xc5 || jcases[i].b[0] == 0xc4 ||
		    jcases[i].b[0] == 0x66)
			run_jcase(&jcases[i]);
	CHECK(atomic_load(&jdev->wide) > before);
	/* A split 32-byte store without wide ops is 4 ascending 8-byte ones. */
	if (have_avx) {
		static const struct jcase st = {
			"vmovdqu %ymm0,(%rdi)", B(0xc5, 0xfe, 0x7f, 0x07), RDI,
			0x620, -1, 0, 0, 0, true };
		REQUIRE(mmio_trap_unregister(jdev_id) == 0);
		jdev_id = mmio_trap_register(region, DEV_SIZE, &dev_ops, jdev,
					     "jit");
		REQUIRE(jdev_id >= 0);
		before = atomic_load(&jdev->writes);
		run_jcase(&st);
		CHECK_EQ(atomic_load(&jdev->writes) - before, 4);
		CHECK_EQ(jdev->last_off, 0x620 + 24);
		CHECK_EQ(jdev->last_size, 8);
	}
}

/* ---- the decoder on its own ------------------------------------------------ */

static void test_decode(void)
{
	struct x86_insn in;
	static const uint8_t lock_or[] = { 0xf0, 0x83, 0x0f, 0x01 };
	static const uint8_t fs_mov[] = { 0x64, 0x8b, 0x07 };
	static const uint8_t movs[] = { 0xa5 };
	static const uint8_t rep_movs[] = { 0xf3, 0xa4 };
	static const uint8_t evex[] = { 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x07 };
	static const uint8_t regreg[] = { 0x8b, 0xc1 };
	static const uint8_t xchg[] = { 0x87, 0x07 };
	static const uint8_t call[] = { 0xff, 0x17 };
	static const uint8_t mmx[] = { 0x0f, 0x6f, 0x07 };
	static const uint8_t long16[] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x8b, 0x07 };
	static const uint8_t a32[] = { 0x67, 0x8b, 0x47, 0x10 };
	static const uint8_t a32moffs[] = { 0x67, 0xa1, 0x44, 0x33, 0x22, 0x11 };
	static const uint8_t rexlost[] = { 0x48, 0x66, 0x8b, 0x07 };
	static const uint8_t sib[] = { 0x4b, 0x8b, 0x44, 0xac, 0x08 };
	static const uint8_t rip[] = { 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00 };
	static const uint8_t imm[] = { 0x48, 0xc7, 0x47, 0x08, 0x78, 0x56, 0x34,
		0x92 };
	uint64_t gpr[16] = { 0 };

	CHECK_EQ(x86_decode(lock_or, sizeof(lock_or), &in), X86_EUNSUPP);
	CHECK(in.why && strstr(in.why, "LOCK"));
	CHECK_EQ(x86_decode(fs_mov, sizeof(fs_mov), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(movs, sizeof(movs), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(rep_movs, sizeof(rep_movs), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(evex, sizeof(evex), &in), X86_EUNSUPP);
	CHECK(in.why && strstr(in.why, "EVEX"));
	CHECK_EQ(x86_decode(regreg, sizeof(regreg), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(xchg, sizeof(xchg), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(call, sizeof(call), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(mmx, sizeof(mmx), &in), X86_EUNSUPP);
	CHECK_EQ(x86_decode(long16, sizeof(long16), &in), X86_EUNSUPP);
	/* truncated at every length */
	for (size_t n = 0; n < sizeof(imm); n++)
		CHECK_EQ(x86_decode(imm, n, &in), X86_ETRUNC);
	REQUIRE(x86_decode(imm, sizeof(imm), &in) == X86_OK);
	CHECK_EQ(in.len, 8);
	CHECK_EQ(in.kind, X86_STORE_IMM);
	CHECK_EQ(in.size, 8);
	CHECK_EQ(in.imm, (int64_t)(int32_t)0x92345678);
	CHECK_EQ(in.disp, 8);

	REQUIRE(x86_decode(a32, sizeof(a32), &in) == X86_OK);
	CHECK(in.addr32);
	gpr[7] = 0xffffffff00000ff0ULL;
	CHECK_EQ(x86_effective_address(&in, gpr, 0), 0x1000);
	REQUIRE(x86_decode(a32moffs, sizeof(a32moffs), &in) == X86_OK);
	CHECK_EQ(in.len, 6);
	CHECK_EQ(x86_effective_address(&in, gpr, 0), 0x11223344);
	/* a REX before a legacy prefix is ignored */
	REQUIRE(x86_decode(rexlost, sizeof(rexlost), &in) == X86_OK);
	CHECK_EQ(in.size, 2);
	CHECK(!in.rex);
	REQUIRE(x86_decode(sib, sizeof(sib), &in) == X86_OK);
	CHECK_EQ(in.base, 12);
	CHECK_EQ(in.index, 13);
	CHECK_EQ(in.scale, 4);
	CHECK_EQ(in.disp, 8);
	CHECK_EQ(in.size, 8);
	gpr[12] = 0x1000;
	gpr[13] = 3;
	CHECK_EQ(x86_effective_address(&in, gpr, 0), 0x1000 + 12 + 8);
	REQUIRE(x86_decode(rip, sizeof(rip), &in) == X86_OK);
	CHECK_EQ(in.base, X86_REG_RIP);
	CHECK_EQ(x86_effective_address(&in, gpr, 0x5000), 0x5000 + 6 + 0x10);
}

/* ---- the compiler's own accesses ------------------------------------------ */

static struct dev *cdev;
static uint8_t *cbase;
static int cdev_id = -1;

static void test_compiled_volatile(void)
{
	volatile uint8_t *p8;
	volatile uint16_t *p16;
	volatile uint32_t *p32;
	volatile uint64_t *p64;
	uint64_t before = emulated();

	cbase = reserve(DEV_SIZE);
	REQUIRE(cbase);
	cdev = calloc(1, sizeof(*cdev));
	cdev_id = mmio_trap_register(cbase, DEV_SIZE, &dev_ops_wide, cdev,
				     "compiled");
	REQUIRE(cdev_id >= 0);
	p8 = cbase;
	p16 = (volatile uint16_t *)cbase;
	p32 = (volatile uint32_t *)cbase;
	p64 = (volatile uint64_t *)cbase;

	p8[3] = 0xa5;
	CHECK_EQ(cdev->mem[3], 0xa5);
	CHECK_EQ(cdev->last_off, 3);
	CHECK_EQ(cdev->last_size, 1);
	CHECK_EQ(p8[3], 0xa5);
	p16[5] = 0xbeef;
	CHECK_EQ(cdev->last_size, 2);
	CHECK_EQ(p16[5], 0xbeef);
	p32[7] = 0xdeadbeef;
	CHECK_EQ(cdev->last_off, 28);
	CHECK_EQ(cdev->last_size, 4);
	CHECK_EQ(p32[7], 0xdeadbeef);
	p64[9] = 0x0123456789abcdefULL;
	CHECK_EQ(cdev->last_off, 72);
	CHECK_EQ(cdev->last_size, 8);
	CHECK(p64[9] == 0x0123456789abcdefULL);
	/* sign and zero extension */
	p8[100] = 0x80;
	CHECK_EQ((int)*(volatile int8_t *)&p8[100], -128);
	CHECK_EQ((unsigned int)p8[100], 128);
	p16[60] = 0x8001;
	CHECK_EQ((long)*(volatile int16_t *)&p16[60], -32767);
	p32[40] = 0x80000000u;
	CHECK_EQ((long long)*(volatile int32_t *)&p32[40], -2147483648LL);
	CHECK_EQ((long long)p32[40], 2147483648LL);
	/* immediates */
	p8[200] = 0x7f;
	p16[150] = 0x1234;
	p32[120] = 0x89abcdefu;
	p64[80] = (uint64_t)-2;
	CHECK_EQ(cdev->mem[200], 0x7f);
	CHECK_EQ(p16[150], 0x1234);
	CHECK_EQ(p32[120], 0x89abcdefu);
	CHECK(p64[80] == (uint64_t)-2);
	/* read-modify-write as C writes it (clang folds it into OR/AND) */
	p32[10] = 1;
	p32[10] |= 4;
	p32[10] &= ~1u;
	CHECK_EQ(p32[10], 4);
	/* index registers, large offsets */
	for (long i = 0; i < 4; i++)
		p32[1000 + i] = (uint32_t)(i * 3);
	for (long i = 0; i < 4; i++)
		CHECK_EQ(p32[1000 + i], i * 3);
	CHECK_EQ(cdev->last_off, 4 * 1003);
	CHECK(emulated() > before + 30);
}

static void test_inline_asm(void)
{
	uint64_t v;
	uint32_t w;

	REQUIRE(cdev_id >= 0);
	memcpy(cdev->mem + 0x800, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	/* r8-r15 as base and destination */
	__asm__ volatile("mov %1, %%r9\n\tmovl 0x800(%%r9), %%r10d\n\t"
			 "mov %%r10, %0"
			 : "=r"(v) : "r"(cbase) : "r9", "r10", "memory");
	CHECK(v == 0x44332211);
	/* a 32-bit load zeroes the upper half of its register */
	v = ~0ULL;
	__asm__ volatile("movl 0x800(%1), %k0" : "+r"(v) : "r"(cbase) : "memory");
	CHECK(v == 0x44332211);
	/* an 8-bit load keeps the rest; %ah is bits 8-15 of rax */
	v = 0xffffffffffffffffULL;
	__asm__ volatile("movb 0x801(%1), %%ah" : "+a"(v) : "r"(cbase) : "memory");
	CHECK(v == 0xffffffffffff22ffULL);
	v = 0xffffffffffffffffULL;
	__asm__ volatile("movw 0x802(%1), %w0" : "+r"(v) : "r"(cbase) : "memory");
	CHECK(v == 0xffffffffffff4433ULL);
	/* SIB with an index and disp32 */
	__asm__ volatile("movl 0x7f0(%1,%2,8), %0"
			 : "=r"(w) : "r"(cbase), "r"(2L) : "memory");
	CHECK_EQ(w, 0x44332211);
	/* stores from r12-r15 */
	__asm__ volatile("mov %0, %%r13\n\tmovq %%r13, 0x810(%1)"
			 :: "r"(0x1122334455667788ULL), "r"(cbase)
			 : "r13", "memory");
	CHECK_EQ(cdev->last_size, 8);
	CHECK(!memcmp(cdev->mem + 0x810, "\x88\x77\x66\x55\x44\x33\x22\x11", 8));
	/* SSE: a 16-byte store and load */
	{
		uint8_t in[16], out[16];

		for (int i = 0; i < 16; i++)
			in[i] = (uint8_t)(i * 17);
		__asm__ volatile("movdqu %1, %%xmm3\n\tmovdqu %%xmm3, 0x820(%0)"
				 :: "r"(cbase), "m"(in) : "xmm3", "memory");
		CHECK(!memcmp(cdev->mem + 0x820, in, 16));
		CHECK_EQ(cdev->last_size, 16);
		__asm__ volatile("movups 0x820(%1), %%xmm4\n\tmovups %%xmm4, %0"
				 : "=m"(out) : "r"(cbase) : "xmm4", "memory");
		CHECK(!memcmp(out, in, 16));
	}
	/* OR and flags */
	{
		uint8_t zf;

		*(volatile uint32_t *)(cbase + 0x830) = 0;
		__asm__ volatile("orl $0, 0x830(%1)\n\tsetz %0"
				 : "=r"(zf) : "r"(cbase) : "cc", "memory");
		CHECK_EQ(zf, 1);
		__asm__ volatile("orl $0x100, 0x830(%1)\n\tsetz %0"
				 : "=r"(zf) : "r"(cbase) : "cc", "memory");
		CHECK_EQ(zf, 0);
		CHECK_EQ(*(volatile uint32_t *)(cbase + 0x830), 0x100);
	}
}

/* A region's ops that access another trapped region (nested faults). */
static uint64_t nested_read(void *opaque, uint64_t off, unsigned int size)
{
	return *(volatile uint32_t *)(cbase + off) + 1;
}

static void nested_write(void *opaque, uint64_t off, unsigned int size,
			 uint64_t v)
{
	*(volatile uint32_t *)(cbase + off) = (uint32_t)v;
}

static void test_nested_regions(void)
{
	static const struct mmio_trap_ops ops = { nested_read, nested_write,
						  NULL, NULL };
	uint8_t *p = reserve(PS);
	int id;

	REQUIRE(p && cdev_id >= 0);
	id = mmio_trap_register(p, PS, &ops, NULL, "nested");
	REQUIRE(id >= 0);
	*(volatile uint32_t *)(p + 0x40) = 41;
	CHECK_EQ(*(volatile uint32_t *)(cbase + 0x40), 41);
	CHECK_EQ(*(volatile uint32_t *)(p + 0x40), 42);
	CHECK_EQ(mmio_trap_unregister(id), 0);
	munmap(p, PS);
}

/* ---- the program's dispositions ------------------------------------------- */

static void test_foreign_fault_reaches_program(void)
{
	uint8_t *hole = reserve(PS);
	struct sigaction old;
	sigjmp_buf jb;
	int calls;

	REQUIRE(hole);
	set_prog_handler(SIGSEGV, 0);
	calls = atomic_load(&prog_calls);
	if (!sigsetjmp(jb, 1)) {
		tl_jmp = &jb;
		(void)*(volatile uint32_t *)(hole + 8);
		tl_jmp = NULL;
		CHECK(!"no fault");
	}
	tl_jmp = NULL;
	CHECK_EQ(atomic_load(&prog_calls), calls + 1);
	CHECK_EQ(tl_sig, SIGSEGV);
	CHECK(tl_addr == hole + 8);
	/* the kernel's mask for it: sa_mask and the signal itself */
	CHECK(sigismember(&tl_mask, SIGUSR1) == 1);
	CHECK(sigismember(&tl_mask, SIGSEGV) == 1);

	/* SA_NODEFER leaves the signal unblocked; SA_RESETHAND resets */
	set_prog_handler(SIGSEGV, SA_NODEFER | SA_RESETHAND);
	if (!sigsetjmp(jb, 1)) {
		tl_jmp = &jb;
		(void)*(volatile uint8_t *)hole;
		tl_jmp = NULL;
		CHECK(!"no fault");
	}
	tl_jmp = NULL;
	CHECK(sigismember(&tl_mask, SIGSEGV) == 0);
	CHECK_EQ(mmio_trap_sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_handler == SIG_DFL);
	/* the kernel still has ours */
	{
		struct sigaction k;

		sigaction(SIGSEGV, NULL, &k);
		CHECK(k.sa_handler != SIG_DFL);
		CHECK(k.sa_sigaction != prog_handler);
	}

	/* the old action as the program set it */
	set_prog_handler(SIGSEGV, 0);
	CHECK_EQ(mmio_trap_sigaction(SIGSEGV, NULL, &old), 0);
	CHECK(old.sa_sigaction == prog_handler);
	CHECK(old.sa_flags & SA_SIGINFO);
	CHECK(sigismember(&old.sa_mask, SIGUSR1) == 1);
	CHECK(sigismember(&old.sa_mask, SIGUSR2) == 0);
	/* other signals pass through to the kernel */
	{
		struct sigaction a, k;

		memset(&a, 0, sizeof(a));
		a.sa_handler = SIG_IGN;
		CHECK_EQ(mmio_trap_sigaction(SIGUSR2, &a, NULL), 0);
		sigaction(SIGUSR2, NULL, &k);
		CHECK(k.sa_handler == SIG_IGN);
		a.sa_handler = SIG_DFL;
		mmio_trap_sigaction(SIGUSR2, &a, NULL);
	}
	munmap(hole, PS);
}

static volatile sig_atomic_t plain_calls;
static sigjmp_buf plain_jb;

static void plain_handler(int sig)
{
	plain_calls++;
	siglongjmp(plain_jb, sig);
}

static void test_signal_plain_handler(void)
{
	uint8_t *hole = reserve(PS);
	__sighandler_t prev;

	REQUIRE(hole);
	prev = mmio_trap_signal(SIGSEGV, plain_handler);
	CHECK(prev != SIG_ERR);
	if (!sigsetjmp(plain_jb, 1)) {
		(void)*(volatile uint32_t *)hole;
		CHECK(!"no fault");
	}
	CHECK_EQ(plain_calls, 1);
	CHECK(mmio_trap_signal(SIGSEGV, prev) == plain_handler);
	set_prog_handler(SIGSEGV, 0);
	munmap(hole, PS);
}

static void test_sigbus_reaches_program(void)
{
	int fd = memfd_create("ufd-test-bus", 0);
	uint8_t *p;
	sigjmp_buf jb;

	REQUIRE(fd >= 0);
	p = mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0); /* file size 0 */
	close(fd);
	REQUIRE(p != MAP_FAILED);
	set_prog_handler(SIGBUS, 0);
	tl_sig = 0;
	if (!sigsetjmp(jb, 1)) {
		tl_jmp = &jb;
		(void)*(volatile uint8_t *)p;
		tl_jmp = NULL;
		CHECK(!"no SIGBUS");
	}
	tl_jmp = NULL;
	CHECK_EQ(tl_sig, SIGBUS);
	munmap(p, PS);
}

/* Reads what was written to fd 2 while @fn ran. */
static void capture_stderr(void (*fn)(void), char *buf, size_t len)
{
	int pfd[2], saved;
	ssize_t n;

	buf[0] = 0;
	if (pipe(pfd))
		return;
	fflush(stderr);
	saved = dup(2);
	dup2(pfd[1], 2);
	fn();
	dup2(saved, 2);
	close(saved);
	close(pfd[1]);
	n = read(pfd[0], buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(pfd[0]);
}

static bool unknown_reached;

static void do_unknown(void)
{
	sigjmp_buf jb;

	unknown_reached = false;
	if (!sigsetjmp(jb, 1)) {
		tl_jmp = &jb;
		__asm__ volatile("lock orl $1, 0x44(%0)" :: "D"(cbase) : "memory");
		tl_jmp = NULL;
		return;
	}
	tl_jmp = NULL;
	unknown_reached = true;
}

static void test_unknown_instruction(void)
{
	struct mmio_trap_stats a, b;
	char out[512];

	REQUIRE(cdev_id >= 0);
	set_prog_handler(SIGSEGV, 0);
	mmio_trap_get_stats(&a);
	capture_stderr(do_unknown, out, sizeof(out));
	mmio_trap_get_stats(&b);
	CHECK(unknown_reached);
	CHECK(tl_addr == cbase + 0x44);
	CHECK_EQ(b.unhandled, a.unhandled + 1);
	CHECK(strstr(out, "region 'compiled'"));
	CHECK(strstr(out, "offset 0x44"));
	CHECK(strstr(out, "LOCK"));
	CHECK(strstr(out, "f0 83 4f 44 01"));
	fprintf(stderr, "  message: %s", out);
}

/* ---- fatal dispositions, in fork children ---------------------------------- */

enum child_case { C_DFL_FAULT, C_IGN_FAULT, C_DFL_UNKNOWN, C_IGN_SENT,
		  C_DFL_SENT, C_BUS_DFL };

static int child_status(enum child_case cc)
{
	struct sigaction a;
	struct rlimit rl = { 0, 0 };
	uint8_t *hole;
	pid_t pid;
	int st, fd;

	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid) {
		waitpid(pid, &st, 0);
		return st;
	}
	setrlimit(RLIMIT_CORE, &rl);
	hole = reserve(PS);
	memset(&a, 0, sizeof(a));
	a.sa_handler = (cc == C_IGN_FAULT || cc == C_IGN_SENT) ? SIG_IGN
							       : SIG_DFL;
	mmio_trap_sigaction(SIGSEGV, &a, NULL);
	mmio_trap_sigaction(SIGBUS, &a, NULL);
	switch (cc) {
	case C_DFL_FAULT: case C_IGN_FAULT:
		(void)*(volatile uint32_t *)hole;
		break;
	case C_DFL_UNKNOWN:
		dup2(open("/dev/null", O_WRONLY), 2);
		__asm__ volatile("lock orl $1, 0x44(%0)" :: "D"(cbase) : "memory");
		break;
	case C_IGN_SENT:
		kill(getpid(), SIGSEGV);
		_exit(0);
	case C_DFL_SENT:
		kill(getpid(), SIGSEGV);
		break;
	case C_BUS_DFL:
		fd = memfd_create("ufd-test-bus", 0);
		hole = mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
		(void)*(volatile uint8_t *)hole;
		break;
	}
	_exit(0);
}

static void test_fatal_dispositions(void)
{
	int st;

	REQUIRE(cdev_id >= 0);
	st = child_status(C_DFL_FAULT);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = child_status(C_IGN_FAULT);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = child_status(C_DFL_UNKNOWN);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = child_status(C_IGN_SENT);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_status(C_DFL_SENT);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = child_status(C_BUS_DFL);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
}

/* ---- threads ---------------------------------------------------------------- */

struct hammer {
	uint8_t *base;
	long iters;
	int seed;
	int fails;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	volatile uint32_t *p32 = (volatile uint32_t *)h->base;
	volatile uint64_t *p64 = (volatile uint64_t *)h->base;
	long i;

	for (i = 0; i < h->iters; i++) {
		uint32_t v = (uint32_t)(i * 2654435761u) ^ (uint32_t)h->seed;
		unsigned int slot = (unsigned int)(i & 63);

		p32[slot] = v;
		if (p32[slot] != v)
			h->fails++;
		p64[64 + slot] = ((uint64_t)v << 32) | (uint32_t)h->seed;
		if (p64[64 + slot] != (((uint64_t)v << 32) | (uint32_t)h->seed))
			h->fails++;
	}
	return NULL;
}

static atomic_bool churn_stop;
static atomic_long churn_hits, churn_misses;
static uint8_t *churn_base;

static void *churn_reader(void *arg)
{
	sigjmp_buf jb;

	(void)arg;
	while (!atomic_load(&churn_stop)) {
		if (!sigsetjmp(jb, 1)) {
			tl_jmp = &jb;
			(void)*(volatile uint32_t *)(churn_base + 16);
			tl_jmp = NULL;
			atomic_fetch_add(&churn_hits, 1);
		} else {
			tl_jmp = NULL;
			atomic_fetch_add(&churn_misses, 1);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct dev *da = calloc(1, sizeof(*da)), *db = calloc(1, sizeof(*db));
	struct dev *dc = calloc(1, sizeof(*dc));
	uint8_t *ra = reserve(DEV_SIZE), *rb = reserve(DEV_SIZE);
	struct hammer ha = { ra, 20000, 0x1111, 0 }, hb = { rb, 20000, 0x2222, 0 };
	pthread_t ta, tb, tc;
	int ida, idb, idc, rounds = 0, early = 0;

	churn_base = reserve(PS);
	REQUIRE(da && db && dc && ra && rb && churn_base);
	dc->spin = 2000;
	set_prog_handler(SIGSEGV, 0);
	ida = mmio_trap_register(ra, DEV_SIZE, &dev_ops, da, "thread-a");
	idb = mmio_trap_register(rb, DEV_SIZE, &dev_ops, db, "thread-b");
	REQUIRE(ida >= 0 && idb >= 0);
	atomic_store(&churn_stop, false);
	pthread_create(&ta, NULL, hammer_main, &ha);
	pthread_create(&tb, NULL, hammer_main, &hb);
	pthread_create(&tc, NULL, churn_reader, NULL);

	/* This thread: register and unregister a third region under them. */
	while (rounds < 3000 || atomic_load(&churn_hits) < 10 ||
	       atomic_load(&churn_misses) < 10) {
		idc = mmio_trap_register(churn_base, PS, &dev_ops, dc, "churn");
		if (idc < 0) {
			CHECK(idc >= 0);
			break;
		}
		for (volatile int i = 0; i < (rounds & 255) * 20; i++)
			;
		CHECK_EQ(mmio_trap_unregister(idc), 0);
		/* No callback of the region may still be running. */
		if (atomic_load(&dc->inflight))
			early++;
		/* A stale id is refused. */
		if (mmio_trap_unregister(idc) != -ENOENT)
			early++;
		if (++rounds > 200000)
			break;
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	atomic_store(&churn_stop, true);
	pthread_join(tc, NULL);

	CHECK_EQ(ha.fails, 0);
	CHECK_EQ(hb.fails, 0);
	CHECK_EQ(early, 0);
	CHECK(atomic_load(&churn_hits) > 0);
	CHECK(atomic_load(&churn_misses) > 0);
	CHECK_EQ(atomic_load(&da->reads), 2 * ha.iters);
	CHECK_EQ(atomic_load(&db->writes), 2 * hb.iters);
	fprintf(stderr, "  %d register/unregister rounds; churn region: %ld hits, "
		"%ld misses\n", rounds, atomic_load(&churn_hits),
		atomic_load(&churn_misses));
	CHECK_EQ(mmio_trap_unregister(ida), 0);
	CHECK_EQ(mmio_trap_unregister(idb), 0);
	munmap(ra, DEV_SIZE);
	munmap(rb, DEV_SIZE);
	munmap(churn_base, PS);
	free(da);
	free(db);
	free(dc);
}

/* ---- the API's edges --------------------------------------------------------- */

static void test_register_edges(void)
{
	uint8_t *p = reserve(4 * PS);
	struct mmio_trap_ops no_read = { NULL, dev_write, NULL, NULL };
	struct dev *d = calloc(1, sizeof(*d));
	int ids[MMIO_TRAP_MAX_REGIONS + 1], id, n = 0, i;

	REQUIRE(p && d);
	CHECK_EQ(mmio_trap_install(NULL), -EALREADY);
	CHECK_EQ(mmio_trap_register(p, 0, &dev_ops, d, "x"), -EINVAL);
	CHECK_EQ(mmio_trap_register(p, PS, &no_read, d, "x"), -EINVAL);
	CHECK_EQ(mmio_trap_register((void *)((uintptr_t)0 - PS), 2 * PS, &dev_ops, d,
				    "x"), -EINVAL);
	id = mmio_trap_register(p + PS, PS, &dev_ops, d,
				"a name that is longer than thirty-one bytes");
	REQUIRE(id >= 0);
	CHECK_EQ(mmio_trap_register(p, 2 * PS, &dev_ops, d, "x"), -EEXIST);
	CHECK_EQ(mmio_trap_register(p + 2 * PS - 1, 1, &dev_ops, d, "x"), -EEXIST);
	CHECK_EQ(mmio_trap_uninstall(), -EBUSY);
	CHECK_EQ(mmio_trap_unregister(id), 0);
	CHECK_EQ(mmio_trap_unregister(id), -ENOENT);
	CHECK_EQ(mmio_trap_unregister(-1), -ENOENT);
	/* the table fills up */
	for (i = 0; i <= MMIO_TRAP_MAX_REGIONS; i++) {
		ids[i] = mmio_trap_register(p + i % 4 * PS / 4 + i / 4 % 4 * PS +
					    i / 16, 1, &dev_ops, d, NULL);
		if (ids[i] >= 0)
			n++;
	}
	CHECK(ids[MMIO_TRAP_MAX_REGIONS] == -ENOSPC);
	CHECK(n < MMIO_TRAP_MAX_REGIONS);
	for (i = 0; i <= MMIO_TRAP_MAX_REGIONS; i++)
		if (ids[i] >= 0)
			CHECK_EQ(mmio_trap_unregister(ids[i]), 0);
	munmap(p, 4 * PS);
	free(d);
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Not a timed test: a figure for the record. */
static void report_cost(void)
{
	struct timespec a, b;
	const long n = 20000;
	long i;
	double ns;

	REQUIRE(cdev_id >= 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
		(void)*(volatile uint32_t *)(cbase + 0x100);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	     (double)n;
	fprintf(stderr, "  %.0f ns per trapped 4-byte read (%s build)\n", ns,
		SANITIZED ? "ASan+UBSan" : "plain");
}

static void test_uninstall(void)
{
	struct sigaction k;

	CHECK_EQ(mmio_trap_unregister(cdev_id), 0);
	CHECK_EQ(mmio_trap_unregister(jdev_id), 0);
	set_prog_handler(SIGSEGV, 0);
	CHECK_EQ(mmio_trap_uninstall(), 0);
	CHECK(!mmio_trap_installed());
	/* the kernel has the program's handler back */
	sigaction(SIGSEGV, NULL, &k);
	CHECK(k.sa_sigaction == prog_handler);
	CHECK(sigismember(&k.sa_mask, SIGUSR1) == 1);
	CHECK_EQ(mmio_trap_register(cbase, PS, &dev_ops, cdev, "x"), -EINVAL);
	CHECK_EQ(mmio_trap_uninstall(), -EINVAL);
}

int main(void)
{
	int rc;

	cpu_features();
	rc = mmio_trap_install(NULL);
	if (rc) {
		fprintf(stderr, "mmio_trap_install: %d\n", rc);
		return 1;
	}
	if (!jit_setup()) {
		fprintf(stderr, "jit setup failed\n");
		return 1;
	}
	RUN(test_decode);
	RUN(test_jit_differential);
	RUN(test_jit_wide_ops);
	RUN(test_compiled_volatile);
	RUN(test_inline_asm);
	RUN(test_nested_regions);
	RUN(test_foreign_fault_reaches_program);
	RUN(test_signal_plain_handler);
	RUN(test_sigbus_reaches_program);
	RUN(test_unknown_instruction);
	RUN(test_fatal_dispositions);
	RUN(test_threads);
	RUN(test_register_edges);
	RUN(report_cost);
	RUN(test_uninstall);
	free(cdev);
	free(jdev);
	HARNESS_EXIT();
}
