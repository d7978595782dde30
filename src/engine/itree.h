/* SPDX-License-Identifier: MIT */
/*
 * Interval trees.  A node covers [start, last], last inclusive; nodes may
 * overlap.  The tree is a treap ordered by start, each node augmented with
 * the largest `last` of its subtree, so "first node intersecting [a, b]" and
 * "next such node" are O(log n).  Nodes are embedded in their owners
 * (container_of), the tree allocates nothing.  No locking: the owner's lock
 * guards the tree.
 *
 * Span iteration walks [a, b] of the union of one or more trees as an
 * alternation of maximal "used" spans and "holes" (the kernel's
 * interval_tree_span_iter and double_span, written for any number of
 * trees).
 */
#ifndef UFD_ITREE_H
#define UFD_ITREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct itree_node {
	uint64_t start;
	uint64_t last;
	uint64_t subtree_last;
	uint32_t prio;
	struct itree_node *left, *right, *parent;
};

struct itree {
	struct itree_node *root;
	size_t count;
};

#define ITREE_INIT { NULL, 0 }

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

void itree_insert(struct itree *t, struct itree_node *n);
void itree_remove(struct itree *t, struct itree_node *n);
static inline bool itree_empty(const struct itree *t) { return !t->root; }

/* First node (lowest start) intersecting [start, last], or NULL. */
struct itree_node *itree_iter_first(const struct itree *t, uint64_t start,
				    uint64_t last);
/* The node after @n (in start order) intersecting [start, last]. */
struct itree_node *itree_iter_next(struct itree_node *n, uint64_t start,
				   uint64_t last);

#define itree_for_each(n, t, s, l) \
	for ((n) = itree_iter_first((t), (s), (l)); (n); \
	     (n) = itree_iter_next((n), (s), (l)))

/*
 * A span of [start, last] over the union of trees: is_used tells whether
 * it is covered.  Iterate with:
 *
 *   struct itree_span sp;
 *   for (itree_span_first(&sp, trees, ntrees, a, b); !sp.done;
 *        itree_span_next(&sp))
 */
struct itree_span {
	const struct itree *const *trees;
	unsigned int ntrees;
	uint64_t last_index; /* end of the whole walk */
	uint64_t start, last; /* the current span */
	bool is_used;
	bool done;
};

void itree_span_first(struct itree_span *sp, const struct itree *const *trees,
		      unsigned int ntrees, uint64_t start, uint64_t last);
void itree_span_next(struct itree_span *sp);

/* Invariant check for tests: ordered, augmented, parent links, count. */
int itree_check(const struct itree *t);

#endif
