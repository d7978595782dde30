// SPDX-License-Identifier: MIT
/*
 * The MMIO trap's x86-64 decoder (see x86_decode.h for what it returns).
 *
 * Model.  An instruction is: legacy prefixes, an optional REX, the opcode
 * (one byte, 0F xx or 0F 38 xx; or a VEX prefix and its opcode), ModRM,
 * SIB, displacement, immediate.  We walk it in that order with a cursor
 * that never passes @avail, and accept only opcodes whose memory operand
 * the trap can emulate; a register-only form (ModRM.mod == 3) never faults
 * on memory, so it is refused too.  Mandatory prefixes of SSE opcodes
 * (66, F2, F3) select the instruction, the last of F2/F3 winning over 66,
 * as in the SDM.  Segment overrides CS/DS/ES/SS are no-ops in 64-bit mode
 * and are accepted; FS/GS (a non-zero segment base we would have to read)
 * and LOCK are refused, as are EVEX (AVX-512), string instructions, x87
 * and MMX.
 *
 * Written from the Intel SDM's opcode tables; no code from elsewhere.
 * No state, no locks: safe in a signal handler.
 */
#include "shim/x86_decode.h"

struct cursor {
	const uint8_t *code;
	size_t avail;
	size_t pos;
};

static int take(struct cursor *c, uint8_t *b)
{
	if (c->pos >= X86_MAX_INSN)
		return X86_EUNSUPP;
	if (c->pos >= c->avail)
		return X86_ETRUNC;
	*b = c->code[c->pos++];
	return X86_OK;
}

/* @n little-endian bytes, sign-extended when @sx. */
static int take_le(struct cursor *c, unsigned int n, bool sx, int64_t *out)
{
	uint64_t v = 0;
	unsigned int i;
	uint8_t b;
	int rc;

	for (i = 0; i < n; i++) {
		rc = take(c, &b);
		if (rc)
			return rc;
		v |= (uint64_t)b << (8 * i);
	}
	if (sx && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~0ULL << (8 * n);
	*out = (int64_t)v;
	return X86_OK;
}

static int unsupp(struct x86_insn *insn, const char *why)
{
	insn->why = why;
	return X86_EUNSUPP;
}

/*
 * ModRM (and SIB, displacement) of a memory operand.  *regf gets the reg
 * field, extended by REX.R / VEX.R.
 */
static int modrm(struct cursor *c, struct x86_insn *insn, unsigned int rex,
		 unsigned int *regf)
{
	unsigned int mod, rm;
	int64_t disp = 0;
	uint8_t m, sib;
	int rc;

	rc = take(c, &m);
	if (rc)
		return rc;
	mod = m >> 6;
	rm = m & 7;
	*regf = ((m >> 3) & 7) | ((rex & 4) ? 8 : 0);
	if (mod == 3)
		return unsupp(insn, "register operand, no memory access");

	insn->index = X86_REG_NONE;
	insn->scale = 1;
	if (rm == 4) {
		unsigned int idx, base;

		rc = take(c, &sib);
		if (rc)
			return rc;
		insn->scale = (uint8_t)(1u << (sib >> 6));
		idx = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
		base = (sib & 7) | ((rex & 1) ? 8 : 0);
		if (idx != 4)
			insn->index = (int8_t)idx;
		if ((sib & 7) == 5 && mod == 0) {
			insn->base = X86_REG_NONE;
			mod = 2; /* a disp32 follows */
		} else {
			insn->base = (int8_t)base;
		}
	} else if (rm == 5 && mod == 0) {
		insn->base = X86_REG_RIP;
		mod = 2;
	} else {
		insn->base = (int8_t)(rm | ((rex & 1) ? 8 : 0));
	}
	if (mod == 1)
		rc = take_le(c, 1, true, &disp);
	else if (mod == 2)
		rc = take_le(c, 4, true, &disp);
	if (rc)
		return rc;
	insn->disp = disp;
	return X86_OK;
}

/* The immediate of an operand of @size bytes (imm32 sign-extended for 8). */
static int imm_for(struct cursor *c, struct x86_insn *insn, unsigned int size)
{
	return take_le(c, size == 8 ? 4 : size, true, &insn->imm);
}

/* One-byte opcode map. */
static int map0(struct cursor *c, struct x86_insn *insn, uint8_t op,
		unsigned int rex, unsigned int opsize)
{
	unsigned int regf;
	int rc;

	/* ALU r/m, reg and reg, r/m: 00-03, 08-0B, ..., 38-3B. */
	if (op < 0x40 && (op & 7) < 4) {
		insn->alu = op >> 3;
		insn->size = (op & 1) ? (uint8_t)opsize : 1;
		insn->reg_size = insn->size;
		insn->kind = (op & 2) ? X86_ALU_REG : X86_ALU_MEM;
		insn->src_reg = true;
		rc = modrm(c, insn, rex, &regf);
		insn->reg = (uint8_t)regf;
		return rc;
	}

	switch (op) {
	case 0x63: /* MOVSXD r, r/m32 (without REX.W: a plain move) */
		rc = modrm(c, insn, rex, &regf);
		insn->kind = X86_LOAD;
		insn->reg = (uint8_t)regf;
		insn->reg_size = (uint8_t)opsize;
		insn->size = (rex & 8) ? 4 : (uint8_t)opsize;
		insn->sign_extend = true;
		return rc;
	case 0x80: case 0x81: case 0x83: /* ALU r/m, imm */
		rc = modrm(c, insn, rex, &regf);
		if (rc)
			return rc;
		insn->kind = X86_ALU_MEM;
		insn->alu = regf & 7;
		insn->size = op == 0x80 ? 1 : (uint8_t)opsize;
		insn->reg_size = insn->size;
		if (op == 0x81)
			return imm_for(c, insn, insn->size);
		return take_le(c, 1, true, &insn->imm);
	case 0x84: case 0x85: /* TEST r/m, reg */
		rc = modrm(c, insn, rex, &regf);
		insn->kind = X86_ALU_MEM;
		insn->alu = X86_TEST;
		insn->src_reg = true;
		insn->reg = (uint8_t)regf;
		insn->size = op == 0x84 ? 1 : (uint8_t)opsize;
		insn->reg_size = insn->size;
		return rc;
	case 0x88: case 0x89: case 0x8A: case 0x8B: /* MOV */
		rc = modrm(c, insn, rex, &regf);
		insn->kind = (op & 2) ? X86_LOAD : X86_STORE;
		insn->reg = (uint8_t)regf;
		insn->size = (op & 1) ? (uint8_t)opsize : 1;
		insn->reg_size = insn->size;
		return rc;
	case 0xA0: case 0xA1: case 0xA2: case 0xA3: /* MOV al/eax, moffs */
		insn->kind = (op & 2) ? X86_STORE : X86_LOAD;
		insn->reg = 0;
		insn->size = (op & 1) ? (uint8_t)opsize : 1;
		insn->reg_size = insn->size;
		insn->base = X86_REG_NONE;
		insn->index = X86_REG_NONE;
		insn->scale = 1;
		/* The address is 8 bytes (4 with 0x67), not sign-extended. */
		return take_le(c, insn->addr32 ? 4 : 8, false, &insn->disp);
	case 0xC6: case 0xC7: /* MOV r/m, imm */
		rc = modrm(c, insn, rex, &regf);
		if (rc)
			return rc;
		if ((regf & 7) != 0)
			return unsupp(insn, "C6/C7 with reg != 0");
		insn->kind = X86_STORE_IMM;
		insn->size = op == 0xC6 ? 1 : (uint8_t)opsize;
		insn->reg_size = insn->size;
		return imm_for(c, insn, insn->size);
	case 0xF6: case 0xF7: /* group 3: only TEST r/m, imm */
		rc = modrm(c, insn, rex, &regf);
		if (rc)
			return rc;
		if ((regf & 7) > 1)
			return unsupp(insn, "NOT/NEG/MUL/DIV on memory");
		insn->kind = X86_ALU_MEM;
		insn->alu = X86_TEST;
		insn->size = op == 0xF6 ? 1 : (uint8_t)opsize;
		insn->reg_size = insn->size;
		return imm_for(c, insn, insn->size);
	case 0xFE: case 0xFF: /* groups 4/5: only INC, DEC */
		rc = modrm(c, insn, rex, &regf);
		if (rc)
			return rc;
		if ((regf & 7) > 1)
			return unsupp(insn, "CALL/JMP/PUSH through memory");
		insn->kind = X86_ALU_MEM;
		insn->alu = (regf & 7) ? X86_DEC : X86_INC;
		insn->size = op == 0xFE ? 1 : (uint8_t)opsize;
		insn->reg_size = insn->size;
		return X86_OK;
	case 0x86: case 0x87:
		return unsupp(insn, "XCHG with memory (implicitly locked)");
	case 0xA4: case 0xA5: case 0xA6: case 0xA7: case 0xAA: case 0xAB:
	case 0xAC: case 0xAD: case 0xAE: case 0xAF:
		return unsupp(insn, "string instruction");
	}
	return unsupp(insn, "opcode not emulated");
}

static void vec(struct x86_insn *insn, unsigned int kind, unsigned int size,
		unsigned int off, unsigned int zero)
{
	insn->kind = (uint8_t)kind;
	insn->size = (uint8_t)size;
	insn->vec_off = (uint8_t)off;
	insn->vec_zero = (uint8_t)zero;
}

/*
 * Two-byte opcode map (0F xx), legacy-encoded.  @pfx is the mandatory
 * prefix in effect: 0, 0x66, 0xF3 or 0xF2.
 */
static int map1(struct cursor *c, struct x86_insn *insn, uint8_t op,
		unsigned int rex, unsigned int opsize, unsigned int pfx)
{
	unsigned int regf;
	int rc;

	switch (op) {
	case 0xB6: case 0xB7: case 0xBE: case 0xBF: /* MOVZX, MOVSX */
		rc = modrm(c, insn, rex, &regf);
		insn->kind = X86_LOAD;
		insn->reg = (uint8_t)regf;
		insn->reg_size = (uint8_t)opsize;
		insn->size = (op & 1) ? 2 : 1;
		insn->sign_extend = op >= 0xBE;
		return rc;
	case 0xC3: /* MOVNTI m, r32/r64 */
		if (pfx)
			return unsupp(insn, "prefixed 0F C3");
		rc = modrm(c, insn, rex, &regf);
		insn->kind = X86_STORE;
		insn->reg = (uint8_t)regf;
		insn->size = insn->reg_size = (rex & 8) ? 8 : 4;
		return rc;
	}

	/* SSE moves: all that is left. */
	switch (op) {
	case 0x10: case 0x11: /* MOVUPS/MOVUPD/MOVSS/MOVSD */
		if (pfx == 0xF3)
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 4, 0,
			    X86_VZ_XMM);
		else if (pfx == 0xF2)
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 8, 0,
			    X86_VZ_XMM);
		else
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 16, 0,
			    X86_VZ_XMM);
		break;
	case 0x12: case 0x13: case 0x16: case 0x17: /* MOVLPS/D, MOVHPS/D */
		if (pfx != 0 && pfx != 0x66)
			return unsupp(insn, "MOVDDUP/MOVSLDUP/MOVSHDUP");
		vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 8,
		    op >= 0x16 ? 8 : 0, X86_VZ_KEEP);
		break;
	case 0x28: case 0x29: /* MOVAPS/MOVAPD */
	case 0x2B:            /* MOVNTPS/MOVNTPD */
		if (pfx != 0 && pfx != 0x66)
			return unsupp(insn, "scalar SSE conversion");
		vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 16, 0,
		    X86_VZ_XMM);
		break;
	case 0x6E: /* MOVD/MOVQ xmm, r/m */
		if (pfx != 0x66)
			return unsupp(insn, "MMX move");
		vec(insn, X86_VEC_LOAD, (rex & 8) ? 8 : 4, 0, X86_VZ_XMM);
		break;
	case 0x7E:
		if (pfx == 0x66) /* MOVD/MOVQ r/m, xmm */
			vec(insn, X86_VEC_STORE, (rex & 8) ? 8 : 4, 0, 0);
		else if (pfx == 0xF3) /* MOVQ xmm, m64 */
			vec(insn, X86_VEC_LOAD, 8, 0, X86_VZ_XMM);
		else
			return unsupp(insn, "MMX move");
		break;
	case 0x6F: case 0x7F: /* MOVDQA (66), MOVDQU (F3) */
		if (pfx != 0x66 && pfx != 0xF3)
			return unsupp(insn, "MMX move");
		vec(insn, op == 0x7F ? X86_VEC_STORE : X86_VEC_LOAD, 16, 0,
		    X86_VZ_XMM);
		break;
	case 0xD6: /* MOVQ m64, xmm */
		if (pfx != 0x66)
			return unsupp(insn, "MOVQ2DQ/MOVDQ2Q");
		vec(insn, X86_VEC_STORE, 8, 0, 0);
		break;
	case 0xE7: /* MOVNTDQ */
		if (pfx != 0x66)
			return unsupp(insn, "MMX MOVNTQ");
		vec(insn, X86_VEC_STORE, 16, 0, 0);
		break;
	default:
		return unsupp(insn, "0F opcode not emulated");
	}
	rc = modrm(c, insn, rex, &regf);
	insn->reg = (uint8_t)regf;
	return rc;
}

/* VEX-encoded (C4/C5) moves of the 0F map. */
static int vex_op(struct cursor *c, struct x86_insn *insn, uint8_t first)
{
	unsigned int rex = 0, map = 1, w = 0, l, pp, vvvv, regf;
	uint8_t b1, b2, op;
	int rc;

	rc = take(c, &b1);
	if (rc)
		return rc;
	if (first == 0xC4) {
		rc = take(c, &b2);
		if (rc)
			return rc;
		/* R, X, B are stored inverted. */
		rex = ((~b1 >> 5) & 7);
		map = b1 & 0x1F;
		w = b2 >> 7;
	} else {
		rex = (~b1 >> 5) & 4;
		b2 = b1;
	}
	vvvv = (~b2 >> 3) & 15;
	l = (b2 >> 2) & 1;
	pp = b2 & 3;
	if (map != 1)
		return unsupp(insn, "VEX opcode map not emulated");
	rc = take(c, &op);
	if (rc)
		return rc;
	insn->vex = true;
	if (vvvv != 0)
		return unsupp(insn, "VEX.vvvv used (not a plain move)");
	if (w)
		rex |= 8;

	switch (op) {
	case 0x10: case 0x11:
		if (pp == 2) /* VMOVSS */
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 4, 0,
			    X86_VZ_ALL);
		else if (pp == 3) /* VMOVSD */
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 8, 0,
			    X86_VZ_ALL);
		else /* VMOVUPS/VMOVUPD */
			vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD,
			    16u << l, 0, X86_VZ_ALL);
		break;
	case 0x28: case 0x29: case 0x2B: /* VMOVAPS/PD, VMOVNTPS/PD */
		if (pp > 1)
			return unsupp(insn, "VEX scalar conversion");
		vec(insn, op & 1 ? X86_VEC_STORE : X86_VEC_LOAD, 16u << l, 0,
		    X86_VZ_ALL);
		break;
	case 0x6F: case 0x7F: /* VMOVDQA (66), VMOVDQU (F3) */
		if (pp != 1 && pp != 2)
			return unsupp(insn, "VEX 0F 6F/7F without 66/F3");
		vec(insn, op == 0x7F ? X86_VEC_STORE : X86_VEC_LOAD, 16u << l,
		    0, X86_VZ_ALL);
		break;
	case 0x6E: /* VMOVD/VMOVQ xmm, r/m */
		if (pp != 1 || l)
			return unsupp(insn, "VEX 0F 6E form");
		vec(insn, X86_VEC_LOAD, w ? 8 : 4, 0, X86_VZ_ALL);
		break;
	case 0x7E:
		if (pp == 1 && !l) /* VMOVD/VMOVQ r/m, xmm */
			vec(insn, X86_VEC_STORE, w ? 8 : 4, 0, 0);
		else if (pp == 2 && !l) /* VMOVQ xmm, m64 */
			vec(insn, X86_VEC_LOAD, 8, 0, X86_VZ_ALL);
		else
			return unsupp(insn, "VEX 0F 7E form");
		break;
	case 0xD6: /* VMOVQ m64, xmm */
		if (pp != 1 || l)
			return unsupp(insn, "VEX 0F D6 form");
		vec(insn, X86_VEC_STORE, 8, 0, 0);
		break;
	case 0xE7: /* VMOVNTDQ */
		if (pp != 1)
			return unsupp(insn, "VEX 0F E7 form");
		vec(insn, X86_VEC_STORE, 16u << l, 0, 0);
		break;
	default:
		return unsupp(insn, "VEX opcode not emulated");
	}
	rc = modrm(c, insn, rex, &regf);
	insn->reg = (uint8_t)regf;
	return rc;
}

int x86_decode(const uint8_t *code, size_t avail, struct x86_insn *insn)
{
	struct cursor c = { code, avail, 0 };
	unsigned int rex = 0, pfx = 0, opsize;
	bool has66 = false;
	uint8_t b;
	int rc;

	*insn = (struct x86_insn){ .base = X86_REG_NONE,
				   .index = X86_REG_NONE, .scale = 1 };

	/* Prefixes.  A REX counts only right before the opcode. */
	for (;;) {
		rc = take(&c, &b);
		if (rc)
			return rc == X86_EUNSUPP ? unsupp(insn, "too long") : rc;
		if ((b & 0xF0) == 0x40) {
			rex = b;
			continue;
		}
		switch (b) {
		case 0x66:
			has66 = true;
			break;
		case 0x67:
			insn->addr32 = true;
			break;
		case 0xF2: case 0xF3:
			pfx = b;
			break;
		case 0x2E: case 0x36: case 0x3E: case 0x26:
			break;
		case 0xF0:
			return unsupp(insn, "LOCK prefix");
		case 0x64: case 0x65:
			return unsupp(insn, "FS/GS segment override");
		default:
			goto opcode;
		}
		rex = 0;
	}
opcode:
	insn->rex = rex != 0;
	opsize = (rex & 8) ? 8 : has66 ? 2 : 4;
	if (!pfx && has66)
		pfx = 0x66;

	if (b == 0xC4 || b == 0xC5) {
		if (rex || pfx)
			return unsupp(insn, "VEX after a 66/F2/F3/REX prefix");
		insn->rex = true;
		rc = vex_op(&c, insn, b);
	} else if (b == 0x62) {
		return unsupp(insn, "EVEX (AVX-512) encoding");
	} else if (b == 0x0F) {
		rc = take(&c, &b);
		if (rc == X86_OK && b == 0x38) {
			rc = take(&c, &b);
			if (rc == X86_OK && (b == 0xF0 || b == 0xF1) &&
			    (pfx == 0 || pfx == 0x66)) {
				unsigned int regf;

				rc = modrm(&c, insn, rex, &regf);
				insn->kind = b == 0xF0 ? X86_LOAD : X86_STORE;
				insn->reg = (uint8_t)regf;
				insn->size = insn->reg_size = (uint8_t)opsize;
				insn->bswap = true;
			} else if (rc == X86_OK) {
				rc = unsupp(insn, "0F 38 opcode not emulated");
			}
		} else if (rc == X86_OK) {
			rc = map1(&c, insn, b, rex, opsize, pfx);
		}
	} else {
		if (pfx == 0xF2 || pfx == 0xF3) {
			/* REP/REPNE on a plain move is a no-op, except on strings. */
			if ((b >= 0xA4 && b <= 0xA7) || (b >= 0xAA && b <= 0xAF))
				return unsupp(insn, "string instruction");
		}
		rc = map0(&c, insn, b, rex, opsize);
	}
	if (rc == X86_EUNSUPP && !insn->why)
		insn->why = "too long";
	if (rc)
		return rc;
	insn->len = (uint8_t)c.pos;
	return X86_OK;
}

uint64_t x86_effective_address(const struct x86_insn *insn,
			       const uint64_t gpr[16], uint64_t rip)
{
	uint64_t ea = (uint64_t)insn->disp;

	if (insn->base == X86_REG_RIP)
		ea += rip + insn->len;
	else if (insn->base >= 0)
		ea += gpr[insn->base];
	if (insn->index >= 0)
		ea += gpr[insn->index] * insn->scale;
	if (insn->addr32)
		ea &= 0xFFFFFFFFu;
	return ea;
}

static uint64_t size_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

uint64_t x86_alu(unsigned int op, unsigned int size, uint64_t a, uint64_t b,
		 uint64_t *rflags)
{
	const uint64_t mask = size_mask(size);
	const uint64_t sign = 1ULL << (8 * size - 1);
	uint64_t f = *rflags, r, cin = f & X86_CF;
	bool cf = false, of = false, af = false, keep_cf = false;

	a &= mask;
	b &= mask;
	switch (op) {
	case X86_INC: case X86_DEC:
		keep_cf = true;
		b = 1;
		cin = 0;
		op = op == X86_INC ? X86_ADD : X86_SUB;
		break;
	case X86_ADD: case X86_SUB: case X86_CMP:
		cin = 0;
		break;
	}
	switch (op) {
	case X86_ADD: case X86_ADC:
		r = (a + b + cin) & mask;
		cf = r < a || (cin && r == a);
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	case X86_SUB: case X86_CMP: case X86_SBB:
		r = (a - b - cin) & mask;
		cf = a < b || (cin && a == b);
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	case X86_OR:
		r = a | b;
		break;
	case X86_AND: case X86_TEST:
		r = a & b;
		break;
	case X86_XOR:
		r = a ^ b;
		break;
	default:
		return a;
	}

	f &= ~(uint64_t)(X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF);
	if (!keep_cf)
		f &= ~(uint64_t)X86_CF;
	if (cf && !keep_cf)
		f |= X86_CF;
	if (of)
		f |= X86_OF;
	if (af)
		f |= X86_AF;
	if (r == 0)
		f |= X86_ZF;
	if (r & sign)
		f |= X86_SF;
	if (!(__builtin_popcount((unsigned int)(r & 0xFF)) & 1))
		f |= X86_PF;
	*rflags = f;
	return r;
}
