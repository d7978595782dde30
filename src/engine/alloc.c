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
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/engine.h"

static atomic_ulong fail_countdown; /* 0: off; 1: the next one fails */
static atomic_ulong alloc_count;
static __thread unsigned long thread_countdown; /* 0: off */

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
	unsigned long c = atomic_load(&fail_countdown);

	atomic_fetch_add(&alloc_count, 1);
	if (thread_countdown)
		return --thread_countdown == 0;
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

void *ufd_zalloc(size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(1, size);
}

void *ufd_calloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n, size);
}

void *ufd_realloc_array(void *p, size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, (n && size) ? n * size : 1);
}
