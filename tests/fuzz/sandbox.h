/* SPDX-License-Identifier: MIT */
/*
 * A sandbox memory source for the fuzz targets: a heap arena presented at
 * the fake, page-aligned address ARENA_BASE, so that no address a fuzzer
 * input makes up can reach the fuzzer's own memory.  read/write/pin
 * succeed only for ranges fully inside [ARENA_BASE, ARENA_BASE +
 * ARENA_SIZE) (intervals here are half-open byte ranges), pins are counted
 * per page so that a target can check the engine's own counts, and an
 * armed countdown makes the k-th access fail (source fault injection).
 * Optionally (dirty != NULL) the pages that write() reached or that pin()
 * handed out (the engine writes pinned pages through their host pointer)
 * are marked, so that a target can clear only those between inputs.
 *
 * The including file defines PAGE, ARENA_BASE, ARENA_SIZE, NPAGES and a
 * printf-like die(), and includes engine/engine.h (container_of, the
 * source ops).  Single-threaded, as the targets are.
 */
#ifndef UFD_FUZZ_SANDBOX_H
#define UFD_FUZZ_SANDBOX_H

struct sandbox {
	struct ufd_source src;
	uint8_t *mem;            /* ARENA_SIZE bytes, page aligned */
	uint32_t pins[NPAGES];   /* model: source pins per page */
	unsigned long fail_countdown; /* 1: the next access fails */
	bool released;
	uint8_t *dirty;          /* NPAGES flags, or NULL: not tracked */
};

/* ---- the sandbox memory source ------------------------------------------- */

static struct sandbox *sb_of(struct ufd_source *src)
{
	return container_of(src, struct sandbox, src);
}

/* Source fault injection: the armed k-th access fails. */
static bool sb_should_fail(struct sandbox *sb)
{
	if (!sb->fail_countdown)
		return false;
	return --sb->fail_countdown == 0;
}

/* Mark the pages of arena bytes [off, off + len) as possibly written. */
static void sb_mark(struct sandbox *sb, uint64_t off, uint64_t len)
{
	uint64_t p;

	if (!sb->dirty || !len)
		return;
	for (p = off / PAGE; p <= (off + len - 1) / PAGE; p++)
		sb->dirty[p] = 1;
}

/* Offset of [uaddr, uaddr + len) in the arena, or -1 if not fully inside. */
static int64_t sb_offset(uint64_t uaddr, uint64_t len)
{
	uint64_t end;

	if (uaddr < ARENA_BASE || __builtin_add_overflow(uaddr, len, &end) ||
	    end > ARENA_BASE + ARENA_SIZE)
		return -1;
	return (int64_t)(uaddr - ARENA_BASE);
}

static int sb_read(struct ufd_source *src, void *dst, uint64_t uaddr,
		   size_t len)
{
	struct sandbox *sb = sb_of(src);
	int64_t off = sb_offset(uaddr, len);

	if (off < 0 || sb_should_fail(sb))
		return -EFAULT;
	memcpy(dst, sb->mem + off, len);
	return 0;
}

static int sb_write(struct ufd_source *src, uint64_t uaddr, const void *buf,
		    size_t len)
{
	struct sandbox *sb = sb_of(src);
	int64_t off = sb_offset(uaddr, len);

	if (off < 0 || sb_should_fail(sb))
		return -EFAULT;
	sb_mark(sb, (uint64_t)off, len);
	memmove(sb->mem + off, buf, len);
	return 0;
}

static void sb_check_aligned(const char *what, uint64_t uaddr, size_t len)
{
	if (uaddr % PAGE || len % PAGE || !len)
		die("%s(0x%llx, 0x%zx): not page aligned (source contract)",
		    what, (unsigned long long)uaddr, len);
}

static int sb_pin(struct ufd_source *src, uint64_t uaddr, size_t len,
		  bool writable, void **host)
{
	struct sandbox *sb = sb_of(src);
	int64_t off;
	uint64_t i;

	(void)writable;
	sb_check_aligned("pin", uaddr, len);
	off = sb_offset(uaddr, len);
	if (off < 0 || sb_should_fail(sb))
		return -EFAULT;
	for (i = 0; i != len / PAGE; i++)
		sb->pins[off / PAGE + i]++;
	sb_mark(sb, (uint64_t)off, len);
	*host = sb->mem + off;
	return 0;
}

static void sb_unpin(struct ufd_source *src, uint64_t uaddr, size_t len,
		     void *host)
{
	struct sandbox *sb = sb_of(src);
	int64_t off;
	uint64_t i;

	(void)host;
	sb_check_aligned("unpin", uaddr, len);
	off = sb_offset(uaddr, len);
	if (off < 0)
		die("unpin(0x%llx, 0x%zx): never pinned (outside the arena)",
		    (unsigned long long)uaddr, len);
	for (i = 0; i != len / PAGE; i++) {
		if (!sb->pins[off / PAGE + i])
			die("unpin(0x%llx, 0x%zx): page 0x%llx is not pinned",
			    (unsigned long long)uaddr, len,
			    (unsigned long long)(uaddr + i * PAGE));
		sb->pins[off / PAGE + i]--;
	}
}

static int sb_page_ident(struct ufd_source *src, uint64_t uaddr,
			 uint64_t *ident)
{
	struct sandbox *sb = sb_of(src);
	int64_t off = sb_offset(uaddr, 1);

	if (off < 0 || sb_should_fail(sb))
		return -EFAULT;
	*ident = (uint64_t)off / PAGE * PAGE;
	return 0;
}

static int sb_host_ident(struct ufd_source *src, const void *host,
			 uint64_t *ident)
{
	struct sandbox *sb = sb_of(src);
	uintptr_t h = (uintptr_t)host, m = (uintptr_t)sb->mem;

	if (h < m || h >= m + ARENA_SIZE)
		die("host_ident(%p): not a pointer pin() returned (the arena "
		    "is at %p)", host, (void *)sb->mem);
	*ident = (h - m) / PAGE * PAGE;
	return 0;
}

static void sb_release(struct ufd_source *src)
{
	sb_of(src)->released = true;
}

static const struct ufd_source_ops sb_ops = {
	.read = sb_read,
	.write = sb_write,
	.pin = sb_pin,
	.unpin = sb_unpin,
	.page_ident = sb_page_ident,
	.host_ident = sb_host_ident,
	.release = sb_release,
};

#endif
