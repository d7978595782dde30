/* SPDX-License-Identifier: MIT */
/*
 * Every engine allocation goes through here, so tests can make the Nth
 * one fail (ufd_fail_nth) and check that the failed call changed nothing
 * and leaked nothing, as iommufd_fail_nth does for the kernel.
 * Two countdowns: the process-wide one (ufd_fail_nth, atomics, no lock)
 * and one per thread (ufd_fail_nth_thread, thread-local: the kernel's
 * per-task fail-nth, which the preload library and the daemon set around
 * one emulated call of the thread that armed it).  The thread's own is
 * consulted first.
 *
 * Object caches (struct ufd_objcache): a few freed objects of one size
 * kept on a list for the next allocation of that size, for the objects
 * every map makes and every unmap frees (areas, pages objects, pin
 * users).  A cached allocation is an allocation all the same: it counts
 * and may be made to fail.  The owner's lock (eng->lock) guards a cache;
 * under AddressSanitizer the objects on the list are poisoned, so a use
 * after free is still caught.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#if defined(__SANITIZE_ADDRESS__)
#define UFD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UFD_ASAN 1
#endif
#endif
#ifdef UFD_ASAN
#include <sanitizer/asan_interface.h>
/*
 * All of a cached object but its link word: LeakSanitizer does not look
 * for pointers in poisoned memory, and the link is what keeps the rest of
 * the cache reachable.
 */
#define cache_poison(p, n)                                           \
	ASAN_POISON_MEMORY_REGION((char *)(p) + sizeof(void *),      \
				  (n) - sizeof(void *))
#define cache_unpoison(p, n)                                         \
	ASAN_UNPOISON_MEMORY_REGION((char *)(p) + sizeof(void *),    \
				    (n) - sizeof(void *))
#else
#define cache_poison(p, n) ((void)(p), (void)(n))
#define cache_unpoison(p, n) ((void)(p), (void)(n))
#endif

static atomic_ulong fail_countdown; /* 0: off; 1: the next one fails */
/* Counted without a locked instruction (every allocation counts): exact
 * for one thread, may miss counts of allocations made at once. */
static atomic_ulong alloc_count;
static __thread unsigned long thread_countdown /* 0: off */
#if defined(__has_attribute)
#if __has_attribute(tls_model)
	__attribute__((tls_model("initial-exec")))
#endif
#endif
	;

void ufd_fail_nth(unsigned long nth)
{
	atomic_store(&fail_countdown, nth);
}

void ufd_fail_nth_thread(unsigned long nth)
{
	thread_countdown = nth;
}

unsigned long ufd_fail_nth_thread_left(void)
{
	return thread_countdown;
}

unsigned long ufd_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

static bool should_fail(void)
{
	unsigned long c;

	atomic_store_explicit(&alloc_count,
			      atomic_load_explicit(&alloc_count,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (thread_countdown)
		return --thread_countdown == 0;
	c = atomic_load(&fail_countdown);
	while (c) {
		if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
			return c == 1;
	}
	return false;
}

bool ufd_inject_fail(void)
{
	return should_fail();
}

/*
 * malloc and memset rather than calloc: glibc's calloc does not use the
 * thread cache (tcache), so each call took the arena's lock and every
 * free past the cache's seven slots went back the long way; the engine's
 * objects are small and made and freed per map.
 */
void *ufd_zalloc(size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = malloc(size ? size : 1);
	if (p)
		memset(p, 0, size);
	return p;
}

void *ufd_calloc(size_t n, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	if (size && n > SIZE_MAX / size)
		return NULL;
	size *= n;
	p = malloc(size ? size : 1);
	if (p)
		memset(p, 0, size);
	return p;
}

void *ufd_realloc_array(void *p, size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, (n && size) ? n * size : 1);
}

void *ufd_cache_zalloc(struct ufd_objcache *c, size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = c->head;
	if (p) {
		cache_unpoison(p, size);
		c->head = *(void **)p;
		c->n--;
	} else {
		p = malloc(size);
		if (!p)
			return NULL;
	}
	memset(p, 0, size);
	return p;
}

void ufd_cache_free(struct ufd_objcache *c, void *p, size_t size)
{
	if (!p)
		return;
	if (c->n == UFD_OBJCACHE_MAX) {
		free(p);
		return;
	}
	*(void **)p = c->head;
	c->head = p;
	c->n++;
	cache_poison(p, size);
}

void ufd_cache_drain(struct ufd_objcache *c, size_t size)
{
	while (c->head) {
		void *p = c->head;

		cache_unpoison(p, size);
		c->head = *(void **)p;
		free(p);
	}
	c->n = 0;
}
