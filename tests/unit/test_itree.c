/* SPDX-License-Identifier: MIT */
/*
 * The interval tree against a plain array model: random inserts and
 * removals, then every query (first/next intersecting, spans over one and
 * two trees) compared with a brute-force answer.
 */
#include "engine/itree.h"
#include "harness.h"

#define N 600

struct item {
	struct itree_node node;
	bool in;
};

static struct item items[N];
static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Brute force: lowest-start (then lowest index) item intersecting. */
static int model_count(uint64_t s, uint64_t l)
{
	int i, c = 0;

	for (i = 0; i != N; i++)
		if (items[i].in && items[i].node.start <= l &&
		    items[i].node.last >= s)
			c++;
	return c;
}

static bool model_covered(uint64_t p)
{
	int i;

	for (i = 0; i != N; i++)
		if (items[i].in && items[i].node.start <= p &&
		    items[i].node.last >= p)
			return true;
	return false;
}

static void test_random_model(void)
{
	struct itree t = ITREE_INIT;
	int round, i;

	for (round = 0; round != 4000; round++) {
		struct item *it = &items[rnd() % N];

		if (it->in) {
			itree_remove(&t, &it->node);
			it->in = false;
		} else {
			it->node.start = rnd() % 5000;
			it->node.last = it->node.start + rnd() % 40;
			itree_insert(&t, &it->node);
			it->in = true;
		}
		if (round % 97 == 0)
			REQUIRE(itree_check(&t) == 0);
		if (round % 13 == 0) {
			uint64_t s = rnd() % 5100, l = s + rnd() % 200;
			struct itree_node *n;
			uint64_t prev = 0;
			int c = 0;

			itree_for_each(n, &t, s, l) {
				CHECK(n->start <= l && n->last >= s);
				CHECK(n->start >= prev);
				prev = n->start;
				c++;
			}
			CHECK_EQ(c, model_count(s, l));
		}
	}
	REQUIRE(itree_check(&t) == 0);

	/* Spans of [0, 5100] alternate and match coverage point by point. */
	{
		const struct itree *trees[] = { &t };
		struct itree_span sp;
		uint64_t expect = 0;
		bool prev_used = false, first = true;

		for (itree_span_first(&sp, trees, 1, 0, 5100); !sp.done;
		     itree_span_next(&sp)) {
			uint64_t p;

			CHECK_EQ(sp.start, expect);
			if (!first)
				CHECK(sp.is_used != prev_used);
			for (p = sp.start; p <= sp.last; p++)
				CHECK(model_covered(p) == sp.is_used);
			expect = sp.last + 1;
			prev_used = sp.is_used;
			first = false;
		}
		CHECK_EQ(expect, 5101);
	}

	for (i = 0; i != N; i++)
		if (items[i].in) {
			itree_remove(&t, &items[i].node);
			items[i].in = false;
		}
	CHECK(itree_empty(&t));
	CHECK_EQ(t.count, 0);
}

static void test_two_tree_spans_and_edges(void)
{
	struct itree a = ITREE_INIT, b = ITREE_INIT;
	struct itree_node x = { .start = 10, .last = 19 };
	struct itree_node y = { .start = 20, .last = 29 };
	struct itree_node z = { .start = UINT64_MAX - 5, .last = UINT64_MAX };
	const struct itree *trees[] = { &a, &b };
	struct itree_span sp;

	itree_insert(&a, &x);
	itree_insert(&b, &y);
	itree_insert(&b, &z);
	itree_span_first(&sp, trees, 2, 0, UINT64_MAX);
	CHECK(!sp.is_used && sp.start == 0 && sp.last == 9);
	itree_span_next(&sp);
	/* Adjacent intervals of two trees merge into one used span. */
	CHECK(sp.is_used && sp.start == 10 && sp.last == 29);
	itree_span_next(&sp);
	CHECK(!sp.is_used && sp.start == 30 && sp.last == UINT64_MAX - 6);
	itree_span_next(&sp);
	CHECK(sp.is_used && sp.last == UINT64_MAX);
	itree_span_next(&sp);
	CHECK(sp.done);
}

int main(void)
{
	RUN(test_random_model);
	RUN(test_two_tree_spans_and_edges);
	HARNESS_EXIT();
}
