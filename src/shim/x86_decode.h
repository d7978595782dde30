/* SPDX-License-Identifier: MIT */
/*
 * A small x86-64 instruction decoder for the MMIO trap (mmio_trap.c): it
 * recognises only the instructions that access one memory operand in a way
 * the trap can emulate (moves of every width, zero/sign-extending loads,
 * SSE/AVX moves, ALU read-modify-write and compare), and describes each as
 * "what to do" rather than as text: the kind of access, its size, the
 * register involved, the immediate and the addressing form of the memory
 * operand.  Everything else is refused with a short static reason.
 *
 * Conventions.  Registers are numbered as the encoding numbers them: GPRs
 * 0-15 are rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15; vector
 * registers 0-15 are xmm/ymm0-15.  Sizes are in bytes.  Immediates are
 * stored sign-extended to 64 bits (as the instruction uses them).  The
 * decoder reads only the bytes the instruction is made of, in order, and
 * never more than it has been given (@avail): a caller that cannot know
 * how many bytes are readable passes what it is sure of and retries with
 * more on X86_ETRUNC.
 *
 * The decoder is pure: no allocation, no global state, no library call.
 * It and the helpers below are async-signal-safe and reentrant.
 */
#ifndef UFD_SHIM_X86_DECODE_H
#define UFD_SHIM_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_MAX_INSN 15

/* Return values of x86_decode(). */
#define X86_OK     0
#define X86_ETRUNC 1 /* needs more bytes than @avail */
#define X86_EUNSUPP 2 /* not an instruction the trap emulates: see ->why */

enum x86_kind {
	X86_LOAD,      /* reg <- mem, zero/sign-extended to reg_size */
	X86_STORE,     /* mem <- low @size bytes of reg */
	X86_STORE_IMM, /* mem <- imm */
	X86_ALU_MEM,   /* mem <- mem op src (src: reg, imm, or none: INC/DEC) */
	X86_ALU_REG,   /* reg <- reg op mem */
	X86_VEC_LOAD,  /* vector reg bytes [vec_off, vec_off + size) <- mem */
	X86_VEC_STORE, /* mem <- vector reg bytes [vec_off, vec_off + size) */
};

/* ALU operations; 0-7 are the encoding's own numbering (/digit, opcode>>3). */
enum x86_alu {
	X86_ADD, X86_OR, X86_ADC, X86_SBB, X86_AND, X86_SUB, X86_XOR, X86_CMP,
	X86_TEST, X86_INC, X86_DEC,
};

/* Memory-operand base register values besides 0-15. */
#define X86_REG_NONE (-1)
#define X86_REG_RIP 16

/* X86_VEC_LOAD: what happens to the bytes of the register not loaded. */
#define X86_VZ_KEEP 0  /* left alone (MOVLPS, MOVHPS) */
#define X86_VZ_XMM 1   /* zeroed up to byte 16; upper YMM/ZMM kept (SSE) */
#define X86_VZ_ALL 2   /* zeroed up to the widest register (VEX) */

struct x86_insn {
	uint8_t len;      /* bytes, prefixes included */
	uint8_t kind;     /* enum x86_kind */
	uint8_t size;     /* bytes of memory accessed: 1, 2, 4, 8, 16 or 32 */
	uint8_t reg_size; /* GPR operand width (LOAD: the destination) */
	uint8_t reg;      /* GPR or vector register number, 0-15 */
	uint8_t alu;      /* enum x86_alu, for the ALU kinds */
	uint8_t vec_off;  /* vector kinds: first byte of the register used */
	uint8_t vec_zero; /* X86_VEC_LOAD: X86_VZ_* */
	bool rex;         /* a REX prefix: byte registers 4-7 are spl-dil */
	bool sign_extend; /* X86_LOAD */
	bool bswap;       /* MOVBE: the value is byte-swapped on its way */
	bool src_reg;     /* X86_ALU_MEM: source is reg (else imm, or none) */
	bool vex;         /* VEX encoded */
	int64_t imm;
	/* The memory operand: [base + index * scale + disp], or disp alone. */
	int8_t base;      /* 0-15, X86_REG_RIP or X86_REG_NONE */
	int8_t index;     /* 0-15 or X86_REG_NONE */
	uint8_t scale;    /* 1, 2, 4, 8 */
	bool addr32;      /* 0x67: the address is truncated to 32 bits */
	int64_t disp;     /* sign-extended; a moffs address as is */
	const char *why;  /* X86_EUNSUPP: a static string */
};

/*
 * Decodes the instruction at @code, of which @avail bytes may be read.
 * Returns X86_OK (and fills @insn), X86_ETRUNC or X86_EUNSUPP.
 */
int x86_decode(const uint8_t *code, size_t avail, struct x86_insn *insn);

/*
 * The effective address of @insn's memory operand, given the values of
 * the 16 GPRs and the address of the instruction itself.
 */
uint64_t x86_effective_address(const struct x86_insn *insn,
			       const uint64_t gpr[16], uint64_t rip);

/* RFLAGS bits an ALU operation writes. */
#define X86_CF 0x001u
#define X86_PF 0x004u
#define X86_AF 0x010u
#define X86_ZF 0x040u
#define X86_SF 0x080u
#define X86_OF 0x800u
#define X86_ARITH_FLAGS (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

/*
 * a op b on @size-byte operands, as the CPU does it: returns the result
 * (masked to @size) and updates *rflags (CF is read by ADC/SBB; INC/DEC
 * keep it; logic operations clear CF, OF and AF).
 */
uint64_t x86_alu(unsigned int op, unsigned int size, uint64_t a, uint64_t b,
		 uint64_t *rflags);

/* Does the operation write its destination (CMP and TEST do not)? */
static inline bool x86_alu_writes(unsigned int op)
{
	return op != X86_CMP && op != X86_TEST;
}

#endif
