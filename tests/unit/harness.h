/* SPDX-License-Identifier: MIT */
/*
 * A minimal test harness: each test program runs its TEST()s in order and
 * exits 0 (all passed), 1 (a failure) or 77 (skipped), like liburing's
 * test programs.  CHECK() records a failure and goes on; REQUIRE() stops
 * the test.
 */
#ifndef UFD_TEST_HARNESS_H
#define UFD_TEST_HARNESS_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed;
static const char *harness_test;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",   \
				__FILE__, __LINE__, harness_test, #cond);  \
			harness_failed = 1;                                \
		}                                                          \
	} while (0)

#define REQUIRE(cond)                                                      \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: %s: required: %s\n",       \
				__FILE__, __LINE__, harness_test, #cond);  \
			harness_failed = 1;                                \
			return;                                            \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long _a = (long long)(a), _b = (long long)(b);        \
		if (_a != _b) {                                            \
			fprintf(stderr,                                    \
				"%s:%d: %s: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, harness_test, #a, _a,  \
				#b, _b);                                   \
			harness_failed = 1;                                \
		}                                                          \
	} while (0)

#define RUN(fn)                                                            \
	do {                                                               \
		int _before = harness_failed;                              \
		harness_test = #fn;                                        \
		harness_failed = 0;                                        \
		fn();                                                      \
		fprintf(stderr, "%s %s\n", harness_failed ? "FAIL" : "ok", \
			#fn);                                              \
		harness_failed |= _before;                                 \
	} while (0)

#define HARNESS_EXIT() return harness_failed ? 1 : 0

#ifdef HARNESS_MMAP
#include <stdint.h>
#include <sys/mman.h>

/*
 * @len bytes of shared anonymous memory at a 2 MiB aligned address (IOVA
 * allocation and superpages follow the address's alignment).  The whole
 * reservation is returned in *area for munmap(area, len + 2 MiB).
 */
static inline uint8_t *harness_map_aligned(size_t len, uint8_t **area)
{
	const uintptr_t align = 2u << 20;
	uint8_t *a, *p;

	a = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (a == MAP_FAILED)
		return NULL;
	p = (uint8_t *)(((uintptr_t)a + align - 1) & ~(align - 1));
	if (mmap(p, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p) {
		munmap(a, len + align);
		return NULL;
	}
	*area = a;
	return p;
}
#endif

#endif
